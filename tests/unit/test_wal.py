"""perpex._wal writes the journal's bytes natively: each function against the Python
definition of its format (perpex.journal's record, perpex.exchange_codec's tagged values)."""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpex import _wal
from perpex.checksum import _crc32c_pure, crc32c
from perpex.exchange_codec import _HEAD_PLACE, _NONE, K_PLACE, Codec, _put
from perpex.journal import REC_MAGIC, Journal, Record, _scan, read_journal

INT64 = st.integers(-(2**63), 2**63 - 1)


@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_crc32c_equals_the_table_definition_on_both_paths(data: bytes, start: int) -> None:
    want = _crc32c_pure(data, start)
    assert _wal.crc32c(data, start) == want
    assert _wal.crc32c_portable(data, start) == want
    assert crc32c(data, start) == want


def test_crc32c_check_value_and_chaining() -> None:
    assert _wal.crc32c(b"123456789") == 0xE3069283
    assert _wal.crc32c_portable(b"123456789") == 0xE3069283
    assert _wal.crc32c(b"56789", _wal.crc32c(b"1234")) == 0xE3069283
    assert _wal.crc32c(b"") == 0


@given(st.lists(st.tuples(INT64, st.binary(max_size=80)), max_size=8),
       st.integers(0, 2**64 - 20))
def test_append_record_frames_as_the_journal_format_defines(
        recs: list[tuple[int, bytes]], first: int) -> None:
    buf = bytearray(b"prefix")
    want = bytearray(b"prefix")
    for i, (ts, payload) in enumerate(recs):
        seq = first + i
        body = struct.pack("<IQq", len(payload), seq, ts)
        want += REC_MAGIC + body + struct.pack("<I", _crc32c_pure(payload, _crc32c_pure(body)))
        want += payload
        assert _wal.append_record(buf, seq, ts, payload) == len(want)
    assert buf == want


def test_append_record_refuses_what_the_format_cannot_hold() -> None:
    buf = bytearray()
    with pytest.raises(OverflowError):
        _wal.append_record(buf, -1, 0, b"x")
    with pytest.raises(OverflowError):
        _wal.append_record(buf, 0, 2**63, b"x")
    with pytest.raises(TypeError):
        _wal.append_record(buf, 0, 0, bytearray(b"x"))  # type: ignore[arg-type]
    assert buf == b""


def test_journal_records_written_natively_read_back(tmp_path: Path) -> None:
    payloads = [b"", b"a", bytes(range(256)) * 3]
    with Journal(tmp_path, fsync="never") as j:
        for i, p in enumerate(payloads, 1):
            j.append(i, -i, p)
    back = read_journal(tmp_path)
    assert [(r.seq, r.ts, r.payload) for r in back] == [
        (i, -i, p) for i, p in enumerate(payloads, 1)]


def test_append_next_writes_what_append_writes_and_commits_per_group(tmp_path: Path) -> None:
    payloads = [bytes([i]) * i for i in range(1, 12)]
    with Journal(tmp_path / "a", fsync="never") as a:
        for i, p in enumerate(payloads, 1):
            a.append(i, 10 * i, p)
    commits: list[int] = []
    with Journal(tmp_path / "b", fsync="batch") as b:
        commit = b.commit

        def watched() -> None:
            commits.append(b.last_seq)
            commit()
        b.commit = watched  # type: ignore[method-assign]
        b.group_commit = 4
        for i, p in enumerate(payloads, 1):
            b.append_next(10 * i, p)
            assert b.last_seq == i
        b.wait()
        assert commits == [4, 8] and b.durable_seq == 8
    assert (tmp_path / "a" / "journal.log").read_bytes() == \
        (tmp_path / "b" / "journal.log").read_bytes()


def test_append_next_refuses_after_a_failed_fsync_and_at_the_last_seq(tmp_path: Path) -> None:
    with Journal(tmp_path / "a", fsync="never") as j:
        j.append_next(0, b"x")
        j._failed = OSError(5, "fsync failed")
        with pytest.raises(OSError, match="fsync failed"):
            j.append_next(1, b"y")
        assert j.last_seq == 1
        j._failed = None
    with Journal(tmp_path / "b", fsync="never", first_seq=2**64 - 1) as j:
        j.append_next(0, b"x")
        assert j.last_seq == 2**64 - 1
        with pytest.raises(ValueError, match="exhausted"):
            j.append_next(0, b"y")
    assert [r.seq for r in read_journal(tmp_path / "b")] == [2**64 - 1]


PRICES = st.one_of(st.none(), INT64, st.floats(allow_nan=False),
                   st.integers(2**63, 2**70), st.booleans(),
                   st.decimals(allow_nan=False, allow_infinity=False, places=2))


@given(st.integers(1, 2**32 - 1), st.integers(0, 254), st.integers(0, 1), st.integers(0, 255),
       st.integers(0, 2), st.one_of(st.none(), INT64, st.integers(2**63, 2**70)), PRICES)
def test_plain_place_is_the_general_encoding_or_declines(
        account: int, sym: int, side: int, ord_type: int, tif: int, qty: object,
        price: object) -> None:
    general = bytearray(_HEAD_PLACE.pack(K_PLACE, account, sym, side, ord_type, tif))
    _put(general, qty)
    _put(general, price)
    general += bytes((_NONE, 0))
    fast = _wal.plain_place(account, sym, side, ord_type, tif, qty, price)
    simple = all(v is None or type(v) is float or (type(v) is int and -(2**63) <= v < 2**63)
                 for v in (qty, price))
    assert fast == (bytes(general) if simple else None)


@pytest.mark.parametrize("price", [10_000.5, 10_000, None, Decimal("10000.5")])
def test_codec_place_replays_what_it_encoded(price: object) -> None:
    codec = Codec(["ETHUSD", "XBTUSD"])
    payload = codec.place(7, "XBTUSD", "Sell", 25, price, None, "GoodTillCancel", (), None,
                          None, None, None, None)
    calls: list[tuple[object, ...]] = []

    class Recorder:
        def place(self, *args: object, **kw: object) -> None:
            calls.append(args)

    codec._r_place(Recorder(), payload, 1)
    assert calls[0][:5] == (7, "XBTUSD", "Sell", 25, price)
    assert type(calls[0][4]) is type(price)


# ----------------------------------------------------------------------------- reading


def _walk_by_definition(data: bytes) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """The record chain of perpex.journal's format, one record at a time in Python."""
    out: list[tuple[int, int, int, int]] = []
    o = 0
    while o + 28 <= len(data) and data[o:o + 4] == REC_MAGIC:
        _, n, seq, ts, crc = struct.unpack_from("<4sIQqI", data, o)
        if o + 28 + n > len(data):
            break
        out.append((o, n, seq, ts))
        if _crc32c_pure(data[o + 28:o + 28 + n], _crc32c_pure(data[o + 4:o + 24])) != crc:
            return out, o, len(out) - 1
        o += 28 + n
    return out, o, -1


@given(st.lists(st.tuples(INT64, st.binary(max_size=60)), max_size=12),
       st.lists(st.tuples(st.integers(0, 2_000), st.integers(1, 255)), max_size=3),
       st.integers(0, 2_000), st.binary(max_size=40))
def test_walk_records_reads_the_chain_as_the_format_defines(
        recs: list[tuple[int, bytes]], flips: list[tuple[int, int]], cut: int,
        tail: bytes) -> None:
    buf = bytearray()
    for i, (ts, payload) in enumerate(recs, 1):
        _wal.append_record(buf, i, ts, payload)
    for at, mask in flips:          # damage anywhere: header, checksum, payload
        if at < len(buf):
            buf[at] ^= mask
    data = bytes(buf[:cut] if cut < len(buf) else buf + tail)
    offs, lens, seqs, tss, stop, failed = _wal.walk_records(data)
    want, want_stop, want_failed = _walk_by_definition(data)
    got = list(zip(*(struct.unpack(f"<{len(b) // 8}{f}", b)
                     for b, f in ((offs, "q"), (lens, "q"), (seqs, "Q"), (tss, "q")))))
    assert got == want
    assert (stop, failed) == (want_stop, want_failed)


def test_walk_records_of_nothing_and_of_a_lone_header() -> None:
    assert _wal.walk_records(b"") == (bytearray(), bytearray(), bytearray(), bytearray(), 0, -1)
    buf = bytearray()
    _wal.append_record(buf, 1, 5, b"xyz")
    assert _wal.walk_records(bytes(buf[:27]))[4:] == (0, -1)    # the header does not fit
    assert _wal.walk_records(bytes(buf[:30]))[4:] == (0, -1)    # the payload does not fit
    assert _wal.walk_records(bytes(buf))[4:] == (31, -1)


@given(st.lists(st.tuples(INT64, st.binary(max_size=60)), max_size=12), st.integers(0, 12))
def test_build_records_cuts_the_payloads_a_walk_found(recs: list[tuple[int, bytes]],
                                                      start: int) -> None:
    buf = bytearray()
    for i, (ts, payload) in enumerate(recs, 1):
        _wal.append_record(buf, i, ts, payload)
    data = bytes(buf)
    image = _scan(data, None)
    got = image.records(min(start, len(recs)))
    want, o = [], 0
    for i, (ts, payload) in enumerate(recs, 1):
        want.append(Record(i, ts, payload, o))
        o += 28 + len(payload)
    assert got == want[min(start, len(recs)):]
    assert all(type(r) is Record and r.payload == w.payload for r, w in zip(got, want[start:]))


def test_build_records_refuses_columns_beyond_the_image() -> None:
    buf = bytearray()
    _wal.append_record(buf, 1, 5, b"xyz")
    cols = [np.array([v], dtype=d) for v, d in ((0, "<i8"), (3, "<i8"), (1, "<u8"), (5, "<i8"))]
    assert _wal.build_records(Record, bytes(buf), *cols) == [Record(1, 5, b"xyz", 0)]
    for bad in ((1, 3), (0, 4), (-1, 3), (0, -1)):
        offs, lens = (np.array([v], dtype="<i8") for v in bad)
        with pytest.raises(ValueError, match="beyond the image"):
            _wal.build_records(Record, bytes(buf), offs, lens, *cols[2:])
    with pytest.raises(ValueError, match="one length"):
        _wal.build_records(Record, bytes(buf), cols[0], cols[1], cols[2][:0], cols[3])
    with pytest.raises(ValueError, match="tuple type"):
        _wal.build_records(dict, bytes(buf), *cols)


VALUE = st.one_of(st.none(), INT64, st.floats(allow_nan=False))


@given(st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 1), st.integers(0, 255),
       st.integers(0, 255), VALUE, VALUE)
def test_read_plain_place_reads_back_what_plain_place_wrote(
        account: int, sym: int, side: int, ot: int, tif: int, qty: object,
        price: object) -> None:
    payload = _wal.plain_place(account, sym, side, ot, tif, qty, price)
    assert payload is not None
    assert _wal.read_plain_place(payload) == (account, sym, side, ot, tif, qty, price)
    for cut in range(len(payload)):     # a shorter payload is not a plain order
        assert _wal.read_plain_place(payload[:cut]) is None
    assert _wal.read_plain_place(payload + b"\x00") is None


def test_read_plain_place_leaves_every_other_payload_to_the_general_decoder() -> None:
    codec = Codec(["XBTUSD"])
    for args in ((1, "XBTUSD", "Buy", 10, Decimal("100.5")),       # a Decimal price
                 (1, "XBTUSD", "Buy", 2**70, 100.5),                # a qty beyond int64
                 (1, "XBTUSD", "Sell", 10, 100.5, None, "GoodTillCancel", ("ReduceOnly",)),
                 (1, "XBTUSD", "Sell", 10, 100.5, None, "GoodTillCancel", (), None, None,
                  None, None, "client-id")):
        full = args + (None, "GoodTillCancel", (), None, None, None, None, None)[len(args) - 5:]
        assert _wal.read_plain_place(codec.place(*full)) is None
    assert _wal.read_plain_place(codec.cancel(1, 5)) is None
