"""Write-ahead command journal and crash recovery (RELIABILITY.md B2.7).

The journal is generic: it stores opaque, already validated command payloads together with a
``seq`` and the command's input timestamp, so any engine whose state can be dumped to bytes and
whose commands can be serialised can plug in (:mod:`perpex.exchange_journal` does so for the
Exchange; :mod:`perpex.snapshot` holds the snapshot format).

Journal record, little-endian::

    magic "PXJR" (4) | length u32 | seq u64 | ts i64 | crc u32 | payload (length bytes)

``crc`` is CRC-32C (Castagnoli) over ``length | seq | ts | payload``: covering the header fields as
well as the payload means a flipped timestamp or length cannot pass as a valid record.

Acknowledgement: a command counts as acknowledged once its record has been ``fsync``-ed, which
``durable_seq`` reports. With ``fsync="always"`` that is when :meth:`Journal.append` returns; with
``"batch"`` it is when the next :meth:`Journal.sync` returns, or when the background fsync that
the next :meth:`Journal.commit` starts completes (group commit); with ``"never"`` nothing is ever
acknowledged as durable (records survive a process kill once flushed to the OS, but not a power
loss).

Group commit runs its fsync on a native background thread (:class:`perpex._native.FsyncThread`,
which never needs the GIL) so that the writer keeps working while the disk syncs. At most one is
in flight: :meth:`Journal.commit` first waits for the one before it, so the records not yet
acknowledged are at most two groups. An fsync that fails leaves the journal failed: a failed
fsync may have dropped the unwritten pages, so a later one that succeeds would not prove them
durable, and every later write raises the error instead.

Reading is one native pass (:func:`perpex._wal.walk_records`): the whole file is one buffer,
walked record by record along the lengths, each checksum verified as it is reached, into NumPy
columns of offsets, lengths, seqs and timestamps, so a replay pays no Python step per record
until it decodes the payloads.
"""

from __future__ import annotations

import gc
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, NamedTuple, Sequence, TypeVar

import numpy as np

from perpex._native import FsyncThread
from perpex._wal import (
    BATCH_FLUSH_BYTES as _BATCH_FLUSH_BYTES, JournalTail, build_records, walk_records)
from perpex.checksum import crc32c, crc32c_rows
from perpex.errors import CorruptJournalError
from perpex.rounding import INT64_MAX, INT64_MIN
from perpex.snapshot import (
    Snapshot, _check_int, fsync_dir, load_snapshot, load_snapshots, write_snapshot)

__all__ = [
    "JOURNAL_FILE", "Journal", "Record", "Snapshot", "crc32c", "iter_records", "load_snapshot",
    "load_snapshots", "read_journal", "recover", "write_snapshot",
]

S = TypeVar("S")
FsyncMode = Literal["always", "batch", "never"]

JOURNAL_FILE = "journal.log"
REC_MAGIC = b"PXJR"
_REC_HEAD = struct.Struct("<4sIQqI")
_REC_BODY = struct.Struct("<IQq")       # the header fields the checksum covers
REC_HEADER_SIZE = _REC_HEAD.size        # 28


def _record_crc(length: int, seq: int, ts: int, payload: bytes | memoryview) -> int:
    return crc32c(payload, crc32c(_REC_BODY.pack(length, seq, ts)))


# ----------------------------------------------------------------------------- records


class Record(NamedTuple):
    """One journal record; ``offset`` is where it starts in the journal file."""

    seq: int
    ts: int
    payload: bytes
    offset: int


def _valid_at(data: bytes, off: int) -> bool:
    """Whether a whole record with a matching checksum starts at ``off``."""
    if off + REC_HEADER_SIZE > len(data) or data[off:off + 4] != REC_MAGIC:
        return False
    _, n, seq, ts, crc = _REC_HEAD.unpack_from(data, off)
    end = off + REC_HEADER_SIZE + n
    if end > len(data):
        return False
    return _record_crc(n, seq, ts, memoryview(data)[off + REC_HEADER_SIZE:end]) == crc


def _next_valid(data: bytes, start: int) -> int:
    """Offset of the first valid record at or after ``start``, or -1."""
    pos = data.find(REC_MAGIC, start)
    while pos != -1:
        if _valid_at(data, pos):
            return pos
        pos = data.find(REC_MAGIC, pos + 1)
    return -1


@dataclass(frozen=True)
class Image:
    """A verified journal image, column-wise: record ``i`` starts at ``offs[i]`` in ``data``."""

    data: bytes
    offs: np.ndarray   # int64
    lens: np.ndarray   # int64, payload lengths
    seqs: np.ndarray   # uint64
    tss: np.ndarray    # int64
    end: int           # offset just past the last whole record

    def __len__(self) -> int:
        return int(self.offs.size)

    def records(self, start: int = 0) -> list[Record]:
        """Records ``start`` onwards as :class:`Record` tuples."""
        # A million small objects at once would set the cyclic collector scanning every few
        # thousand allocations; none of them can form a cycle.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return build_records(Record, self.data, self.offs[start:], self.lens[start:],
                                 self.seqs[start:], self.tss[start:])
        finally:
            if enabled:
                gc.enable()


def _scan(data: bytes, expect_first: int | None) -> Image:
    """Parses and verifies ``data``; a torn tail is left out of the returned image."""
    offs_b, lens_b, seqs_b, tss_b, stop, failed = walk_records(data)
    offs = np.frombuffer(offs_b, dtype="<i8")
    lens = np.frombuffer(lens_b, dtype="<i8")
    seqs = np.frombuffer(seqs_b, dtype="<u8")
    tss = np.frombuffer(tss_b, dtype="<i8")
    count = offs.size if failed == -1 else failed
    bad = stop if stop < len(data) else -1     # where parsing stopped short of the end
    if bad != -1:
        follow = _next_valid(data, bad + 1)
        if follow != -1:
            what = f"seq {int(seqs[count])}" if count < seqs.size else "unreadable header"
            raise CorruptJournalError(
                f"journal record at offset {bad} ({what}{_expected(seqs, count, expect_first)}) "
                f"is corrupt but a valid record follows at offset {follow}")
    _check_sequence(seqs, offs, count, expect_first)
    end = int(offs[count - 1] + REC_HEADER_SIZE + lens[count - 1]) if count else 0
    return Image(data, offs[:count], lens[:count], seqs[:count], tss[:count], end)


def _check_sequence(seqs: np.ndarray, offs: np.ndarray, count: int,
                    expect_first: int | None) -> None:
    """Raises on the first record whose seq is not its predecessor's plus one."""
    if not count:
        return
    a = seqs[:count]
    bad = np.flatnonzero(a[1:] != a[:-1] + np.uint64(1)) + 1
    if expect_first is not None and int(a[0]) != expect_first:
        first, expected = 0, expect_first
    elif bad.size:
        first = int(bad[0])
        expected = int(a[first - 1]) + 1
    else:
        return
    seq, off = int(a[first]), int(offs[first])
    if seq < expected:
        kind = "duplicate" if seq == expected - 1 else "out-of-order"
        raise CorruptJournalError(
            f"{kind} journal record seq {seq} at offset {off} (expected seq {expected})")
    raise CorruptJournalError(
        f"journal sequence gap at offset {off}: expected seq {expected}, found seq {seq}")


def _expected(seqs: np.ndarray, count: int, expect_first: int | None) -> str:
    if count:
        return f", expected seq {int(seqs[count - 1]) + 1}"
    return "" if expect_first is None else f", expected seq {expect_first}"


def scan_journal(path: str | os.PathLike[str], *, expect_first: int | None = None) -> Image:
    """Reads and verifies a journal file (or the journal inside a directory) column-wise."""
    p = Path(path)
    if p.is_dir():
        p = p / JOURNAL_FILE
    return _scan(p.read_bytes() if p.exists() else b"", expect_first)


def iter_records(data: bytes, *, expect_first: int | None = None) -> Iterator[Record]:
    """Yields the records of a journal image in order.

    A short or checksum-failing final record (a torn tail) ends the iteration quietly. A bad
    record followed by a valid one, a sequence gap, a duplicate or a step backwards raises
    :class:`CorruptJournalError` naming the seq and offset, before anything is yielded.
    ``expect_first`` (when given) is the seq the first record must carry.
    """
    yield from _scan(bytes(data), expect_first).records()


def read_journal(path: str | os.PathLike[str], *,
                 expect_first: int | None = None) -> list[Record]:
    """Reads a journal file (or the journal inside a directory); see :func:`iter_records`."""
    return scan_journal(path, expect_first=expect_first).records()


# ----------------------------------------------------------------------------- writer


class Journal(JournalTail):
    """Append-only writer of the command journal in ``directory/journal.log``.

    Opening an existing journal verifies it, cuts a torn tail off (so new records never follow
    garbage) and continues after its last seq. See the module docstring for when a command is
    acknowledged. The state every append touches, and the appending, are its C base
    (:class:`perpex._wal.JournalTail`).
    """

    def __init__(self, directory: str | os.PathLike[str], *, fsync: FsyncMode = "always",
                 first_seq: int = 1) -> None:
        if fsync not in ("always", "batch", "never"):
            raise ValueError(f"fsync={fsync!r} must be 'always', 'batch' or 'never'")
        first_seq = _check_int("first_seq", first_seq, 1, 2**64 - 1)
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL_FILE
        self.mode: FsyncMode = fsync
        existed = self.path.exists()
        image = _scan(self.path.read_bytes() if existed else b"", None)
        end = image.end
        self._last_seq = int(image.seqs[-1]) if len(image) else first_seq - 1
        self._file = open(self.path, "ab", buffering=0)
        if existed and self._file.tell() != end:
            self._file.truncate(end)
            os.fsync(self._file.fileno())
        if not existed:
            fsync_dir(self.dir)
        self._buf = bytearray()
        self._buf_last = self._last_seq
        self._durable_seq = self._last_seq
        self._committed_seq = self._last_seq
        # a background fsync is in flight while _committed_seq > _durable_seq (and no fsync failed)
        self._syncer: FsyncThread | None = None
        self._failed: OSError | None = None

    @property
    def last_seq(self) -> int:
        """The seq of the last appended record (``first_seq - 1`` when empty)."""
        return self._last_seq

    @property
    def durable_seq(self) -> int:
        """The last seq that has been fsync-ed: every command up to it is acknowledged."""
        if self._committed_seq != self._durable_seq and self._failed is None \
                and self._syncer is not None and self._syncer.idle():
            self.wait()
        return self._durable_seq

    @property
    def committed_seq(self) -> int:
        """The last seq handed to an fsync (done or still in flight)."""
        return self._committed_seq

    def append(self, seq: int, ts: int, payload: bytes) -> None:
        """Appends one record; ``seq`` must be ``last_seq + 1``."""
        if self._failed is not None:
            raise self._failed
        if type(seq) is not int or type(ts) is not int or not 0 <= seq < 2**64 \
                or not INT64_MIN <= ts <= INT64_MAX:
            seq = _check_int("seq", seq, 0, 2**64 - 1)
            ts = _check_int("ts", ts, INT64_MIN, INT64_MAX)
        if seq != self._last_seq + 1:
            raise ValueError(f"seq={seq} must be last_seq + 1 = {self._last_seq + 1}")
        if type(payload) is not bytes:
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
            payload = bytes(payload)
        self._append(seq, ts, payload)  # raises for an oversized payload

    def append_many(self, first_seq: int, ts: Sequence[int] | np.ndarray,
                    payloads: np.ndarray) -> None:
        """Appends ``len(payloads)`` records of equal size with seqs ``first_seq, +1, ...``.

        ``payloads`` is a 1-D structured array (one row per command) or a 2-D uint8 array.
        Checksums are computed in bulk; with ``fsync="always"`` one fsync covers the batch.
        """
        first_seq = _check_int("first_seq", first_seq, 0, 2**64 - 1)
        if self._failed is not None:
            raise self._failed
        if first_seq != self._last_seq + 1:
            raise ValueError(f"first_seq={first_seq} must be last_seq + 1 = "
                             f"{self._last_seq + 1}")
        rows = np.ascontiguousarray(payloads)
        n = rows.shape[0]
        rows = rows.view(np.uint8).reshape(n, -1) if n else rows.reshape(0, 0).astype(np.uint8)
        ts_a = np.asarray(ts, dtype=np.int64)
        if ts_a.shape != (n,):
            raise ValueError(f"ts has shape {ts_a.shape}, expected ({n},)")
        if n == 0:
            return
        width = rows.shape[1]
        head = np.zeros(n, dtype=[("magic", "S4"), ("length", "<u4"), ("seq", "<u8"),
                                  ("ts", "<i8"), ("crc", "<u4")])
        head["magic"] = REC_MAGIC
        head["length"] = width
        head["seq"] = np.arange(first_seq, first_seq + n, dtype=np.uint64)
        head["ts"] = ts_a
        hb = head.view(np.uint8).reshape(n, REC_HEADER_SIZE)
        head["crc"] = crc32c_rows(np.concatenate([hb[:, 4:24], rows], axis=1))
        self._buf += np.concatenate([head.view(np.uint8).reshape(n, -1), rows],
                                    axis=1).tobytes()
        self._last_seq = first_seq + n - 1
        if self.mode == "always":
            self.sync()
        elif len(self._buf) >= _BATCH_FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hands buffered records to the operating system (survives a process kill)."""
        if self._buf:
            self._file.write(self._buf)
            self._buf.clear()
        self._buf_last = self._last_seq

    def sync(self) -> None:
        """Flushes and fsyncs; every record appended so far is then acknowledged."""
        self.flush()
        self.wait()
        seq = self._last_seq
        try:
            os.fsync(self._file.fileno())
        except OSError as e:
            self._failed = e
            raise
        self._committed_seq = self._durable_seq = seq

    def commit(self) -> None:
        """Group commit in the background: hands every record appended so far to the OS and
        starts their fsync on the journal's fsync thread, after waiting for the one in flight;
        :attr:`durable_seq` reaches them when it completes (:meth:`wait` blocks until then)."""
        self.flush()
        self.wait()
        seq = self._last_seq
        if seq == self._committed_seq:
            return
        if self._syncer is None:
            self._syncer = FsyncThread(self._file.fileno())
        self._syncer.start(seq)
        self._committed_seq = seq

    def wait(self) -> None:
        """Blocks until the background fsync in flight, if any, completes; raises its error
        (and every later call does: the journal has failed, see the module docstring)."""
        if self._failed is not None:
            raise self._failed
        if self._committed_seq == self._durable_seq or self._syncer is None:
            return
        seq, err = self._syncer.wait()
        if err:
            self._failed = OSError(err, f"fsync of {self.path}: {os.strerror(err)}")
            raise self._failed
        self._durable_seq = seq

    def close(self) -> None:
        if not self._file.closed:
            try:
                if self.mode == "never":
                    self.flush()
                else:
                    self.sync()
            finally:
                if self._syncer is not None:
                    self._syncer.close()  # nothing may still use the descriptor
                    self._syncer = None
                self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- recovery


def recover(directory: str | os.PathLike[str], *, restore: Callable[[bytes], S],
            fresh: Callable[[], S], apply: Callable[[S, int, int, bytes], None] | None = None,
            apply_batch: Callable[[S, Sequence[Record]], None] | None = None,
            batch_size: int = 65536,
            state_hash: Callable[[S], int] | None = None,
            apply_image: Callable[[S, Image, int], None] | None = None) -> tuple[S, int]:
    """Rebuilds the state from ``directory``: newest usable snapshot, then the journal tail.

    A snapshot is usable when it verifies, ``restore`` accepts it, its recorded hash matches
    ``state_hash(restored)`` (when ``state_hash`` is given), and the journal continues right after
    its ``last_seq``; otherwise the next older one is tried, and finally ``fresh()`` with a replay
    of the whole journal. Returns ``(state, last_seq)``. A corrupt journal raises
    :class:`CorruptJournalError` whatever the snapshot.

    Exactly one of ``apply`` (one record at a time), ``apply_batch`` (consecutive records in
    chunks of ``batch_size``, for engines with a vectorised submit) and ``apply_image`` (the
    verified :class:`Image` and the index of the first record to replay, for an engine that
    reads the records' columns itself) must be given.
    """
    if sum(f is not None for f in (apply, apply_batch, apply_image)) != 1:
        raise TypeError("recover needs exactly one of apply=, apply_batch= and apply_image=")
    batch_size = _check_int("batch_size", batch_size, 1, 2**31)

    def replay(state: S, image: Image, skip: int) -> None:
        if apply_image is not None:
            apply_image(state, image, skip)
            return
        tail = image.records(skip)
        if apply is not None:
            for r in tail:
                apply(state, r.seq, r.ts, r.payload)
        else:
            assert apply_batch is not None
            for lo in range(0, len(tail), batch_size):
                apply_batch(state, tail[lo:lo + batch_size])

    d = Path(directory)
    path = d / JOURNAL_FILE
    image = _scan(path.read_bytes() if path.exists() else b"", None)
    first = int(image.seqs[0]) if len(image) else None
    last = int(image.seqs[-1]) if len(image) else 0
    for snap in load_snapshots(d):
        if first is not None and not first <= snap.last_seq + 1:
            continue  # the journal no longer reaches back to this snapshot
        try:
            state = restore(snap.payload)
        except Exception:  # noqa: BLE001 - an unloadable snapshot is skipped like a bad one
            continue
        if state_hash is not None and state_hash(state) != snap.state_hash:
            continue
        skip = 0 if first is None else snap.last_seq + 1 - first
        replay(state, image, skip)
        return state, max(snap.last_seq, last)
    if first is not None and first != 1:
        raise CorruptJournalError(
            f"no usable snapshot and the journal starts at seq {first}, not seq 1")
    state = fresh()
    replay(state, image, 0)
    return state, last
