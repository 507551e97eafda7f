"""Write-ahead command journal, atomic snapshots and crash recovery (RELIABILITY.md B2.7).

The journal is generic: it stores opaque, already validated command payloads together with the
engine-assigned ``seq`` and the command's input timestamp, so any engine whose state can be
dumped to bytes and whose commands can be serialised can plug in.

Journal record, little-endian::

    magic "PXJR" (4) | length u32 | seq u64 | ts i64 | crc u32 | payload (length bytes)

``crc`` is CRC-32C (Castagnoli) over ``length | seq | ts | payload``: covering the header fields as
well as the payload means a flipped timestamp or length cannot pass as a valid record.

Acknowledgement: a command counts as acknowledged once its record has been ``fsync``-ed, which
``durable_seq`` reports. With ``fsync="always"`` that is when :meth:`Journal.append` returns; with
``"batch"`` it is when the next :meth:`Journal.sync` returns (group commit); with ``"never"``
nothing is ever acknowledged as durable (records survive a process kill once flushed to the OS,
but not a power loss).

Snapshot file, little-endian::

    magic "PXSN" (4) | version u16 | reserved u16 | last_seq u64 | state_hash u64 |
    length u64 | crc u32 | payload (length bytes)

where ``crc`` is CRC-32C over every header byte before it plus the payload.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, NamedTuple, Sequence, TypeVar

import numpy as np

from perpex.errors import CorruptJournalError, CorruptSnapshotError

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
MAX_PAYLOAD = 2**32 - 1

SNAP_MAGIC = b"PXSN"
SNAP_VERSION = 1
_SNAP_HEAD = struct.Struct("<4sHHQQQ")  # magic, version, reserved, last_seq, state_hash, length
_SNAP_CRC = struct.Struct("<I")
SNAP_HEADER_SIZE = _SNAP_HEAD.size + _SNAP_CRC.size
SNAP_PREFIX = "snap-"
SNAP_SUFFIX = ".snap"

_BATCH_FLUSH_BYTES = 1 << 20

# ----------------------------------------------------------------------------- CRC-32C


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_NP_TABLE = np.array(_TABLE, dtype=np.uint32)


def _crc32c_pure(data: bytes, crc: int = 0) -> int:
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # the optional C implementation; results are identical, only faster
    import crc32c as _crc_ext  # type: ignore[import-not-found]

    def _crc32c_fast(data: bytes, crc: int = 0) -> int:
        return int(_crc_ext.crc32c(data, crc))

    crc32c: Callable[..., int] = _crc32c_fast
except ImportError:  # pragma: no cover - depends on the environment
    crc32c = _crc32c_pure


def _crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-32C of every row of a 2-D uint8 array at once: one table lookup per byte column."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    table = _NP_TABLE
    for j in range(rows.shape[1]):
        crc = table[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def _record_crc(length: int, seq: int, ts: int, payload: bytes) -> int:
    return crc32c(_REC_BODY.pack(length, seq, ts) + payload)


# ----------------------------------------------------------------------------- records


class Record(NamedTuple):
    """One journal record; ``offset`` is where it starts in the journal file."""

    seq: int
    ts: int
    payload: bytes
    offset: int


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v} is outside [{lo}, {hi}]")
    return v


def _encode(seq: int, ts: int, payload: bytes) -> bytes:
    n = len(payload)
    return _REC_HEAD.pack(REC_MAGIC, n, seq, ts, _record_crc(n, seq, ts, payload)) + payload


def _valid_at(data: bytes | memoryview, off: int) -> bool:
    """Whether a whole record with a matching checksum starts at ``off``."""
    if off + REC_HEADER_SIZE > len(data) or bytes(data[off:off + 4]) != REC_MAGIC:
        return False
    _, n, seq, ts, crc = _REC_HEAD.unpack_from(data, off)
    end = off + REC_HEADER_SIZE + n
    if end > len(data):
        return False
    return bool(_record_crc(n, seq, ts, bytes(data[off + REC_HEADER_SIZE:end])) == crc)


def _next_valid(data: bytes, start: int) -> int:
    """Offset of the first valid record at or after ``start``, or -1."""
    pos = data.find(REC_MAGIC, start)
    while pos != -1:
        if _valid_at(data, pos):
            return pos
        pos = data.find(REC_MAGIC, pos + 1)
    return -1


def _scan(data: bytes, expect_first: int | None) -> tuple[list[Record], int]:
    """Parses ``data`` into records; returns them and the end offset of the last whole one.

    Checksums are verified in bulk, grouped by record size, which keeps a million-record replay
    from spending its time in a per-byte Python loop.
    """
    offs, lens, seqs, tss, crcs = _uniform_prefix(data)
    size = len(data)
    off = offs[-1] + REC_HEADER_SIZE + lens[-1] if offs else 0
    unpack = _REC_HEAD.unpack_from
    while off + REC_HEADER_SIZE <= size:
        magic, n, seq, ts, crc = unpack(data, off)
        if magic != REC_MAGIC or off + REC_HEADER_SIZE + n > size:
            break
        offs.append(off)
        lens.append(n)
        seqs.append(seq)
        tss.append(ts)
        crcs.append(crc)
        off += REC_HEADER_SIZE + n
    bad = off if off < size else -1     # where parsing stopped short of the end

    first_crc_fail = _first_crc_failure(data, offs, lens, crcs)
    if first_crc_fail is not None:
        bad = offs[first_crc_fail]
        count = first_crc_fail
    else:
        count = len(offs)
    if bad != -1:
        follow = _next_valid(data, bad + 1)
        if follow != -1:
            hseq = seqs[count] if count < len(seqs) else None
            what = f"seq {hseq}" if hseq is not None else "unreadable header"
            raise CorruptJournalError(
                f"journal record at offset {bad} ({what}{_expected(seqs, count, expect_first)}) "
                f"is corrupt but a valid record follows at offset {follow}")
    _check_sequence(seqs, offs, count, expect_first)
    h = REC_HEADER_SIZE
    records = [Record(seqs[i], tss[i], data[offs[i] + h:offs[i] + h + lens[i]], offs[i])
               for i in range(count)]
    end = offs[count - 1] + REC_HEADER_SIZE + lens[count - 1] if count else 0
    return records, end


def _check_sequence(seqs: list[int], offs: list[int], count: int,
                    expect_first: int | None) -> None:
    """Raises on the first record whose seq is not its predecessor's plus one."""
    if not count:
        return
    a = np.asarray(seqs[:count], dtype=np.uint64)
    bad = np.flatnonzero(a[1:] != a[:-1] + np.uint64(1)) + 1
    if expect_first is not None and seqs[0] != expect_first:
        first, expected = 0, expect_first
    elif bad.size:
        first = int(bad[0])
        expected = seqs[first - 1] + 1
    else:
        return
    seq, off = seqs[first], offs[first]
    if seq < expected:
        kind = "duplicate" if seq == expected - 1 else "out-of-order"
        raise CorruptJournalError(
            f"{kind} journal record seq {seq} at offset {off} (expected seq {expected})")
    raise CorruptJournalError(
        f"journal sequence gap at offset {off}: expected seq {expected}, found seq {seq}")


def _expected(seqs: list[int], count: int, expect_first: int | None) -> str:
    if count:
        return f", expected seq {seqs[count - 1] + 1}"
    return "" if expect_first is None else f", expected seq {expect_first}"


def _uniform_prefix(data: bytes) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """Header fields of the leading run of same-size records, parsed with one numpy view.

    Command payloads usually have a fixed size, so this covers the whole journal in the common
    case; the per-record loop in :func:`_scan` picks up wherever the run ends.
    """
    size = len(data)
    if size < REC_HEADER_SIZE or data[:4] != REC_MAGIC:
        return [], [], [], [], []
    n0 = int.from_bytes(data[4:8], "little")
    rec = REC_HEADER_SIZE + n0
    k = size // rec
    arr = np.frombuffer(data, dtype=np.uint8, count=k * rec).reshape(k, rec)
    magic_ok = (arr[:, :4] == np.frombuffer(REC_MAGIC, dtype=np.uint8)).all(axis=1)
    len_ok = np.ascontiguousarray(arr[:, 4:8]).view("<u4").ravel() == n0
    ok = magic_ok & len_ok
    m = k if ok.all() else int(np.argmin(ok))
    head = np.ascontiguousarray(arr[:m, 8:REC_HEADER_SIZE])
    seqs = head[:, 0:8].copy().view("<u8").ravel().tolist()
    tss = head[:, 8:16].copy().view("<i8").ravel().tolist()
    crcs = head[:, 16:20].copy().view("<u4").ravel().tolist()
    return list(range(0, m * rec, rec)), [n0] * m, seqs, tss, crcs


def _first_crc_failure(data: bytes, offs: list[int], lens: list[int],
                       crcs: list[int]) -> int | None:
    if not offs:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    off_a = np.asarray(offs, dtype=np.int64)
    len_a = np.asarray(lens, dtype=np.int64)
    crc_a = np.asarray(crcs, dtype=np.uint32)
    first: int | None = None
    for n in np.unique(len_a):
        idx = np.flatnonzero(len_a == n)
        cols = np.concatenate([np.arange(4, 24), np.arange(REC_HEADER_SIZE,
                                                           REC_HEADER_SIZE + int(n))])
        for lo in range(0, idx.size, 65536):
            part = idx[lo:lo + 65536]
            rows = buf[off_a[part, None] + cols[None, :]]
            fails = np.flatnonzero(_crc32c_rows(rows) != crc_a[part])
            if fails.size:
                cand = int(part[fails[0]])
                first = cand if first is None else min(first, cand)
                break
    return first


def iter_records(data: bytes, *, expect_first: int | None = None) -> Iterator[Record]:
    """Yields the records of a journal image in order.

    A short or checksum-failing final record (a torn tail) ends the iteration quietly. A bad
    record followed by a valid one, a sequence gap, a duplicate or a step backwards raises
    :class:`CorruptJournalError` naming the seq and offset, before anything is yielded.
    ``expect_first`` (when given) is the seq the first record must carry.
    """
    records, _ = _scan(bytes(data), expect_first)
    yield from records


def read_journal(path: str | os.PathLike[str], *,
                 expect_first: int | None = None) -> list[Record]:
    """Reads a journal file (or the journal inside a directory); see :func:`iter_records`."""
    p = Path(path)
    if p.is_dir():
        p = p / JOURNAL_FILE
    if not p.exists():
        return []
    return list(iter_records(p.read_bytes(), expect_first=expect_first))


# ----------------------------------------------------------------------------- writer


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only writer of the command journal in ``directory/journal.log``.

    Opening an existing journal verifies it, cuts a torn tail off (so new records never follow
    garbage) and continues after its last seq. See the module docstring for when a command is
    acknowledged.
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
        records, end = _scan(self.path.read_bytes(), None) if existed else ([], 0)
        self._last_seq = records[-1].seq if records else first_seq - 1
        self._file = open(self.path, "ab", buffering=0)
        if existed and self._file.tell() != end:
            self._file.truncate(end)
            os.fsync(self._file.fileno())
        if not existed:
            _fsync_dir(self.dir)
        self._buf = bytearray()
        self._buf_last = self._last_seq
        self._durable_seq = self._last_seq

    @property
    def last_seq(self) -> int:
        """The seq of the last appended record (``first_seq - 1`` when empty)."""
        return self._last_seq

    @property
    def durable_seq(self) -> int:
        """The last seq that has been fsync-ed: every command up to it is acknowledged."""
        return self._durable_seq

    def append(self, seq: int, ts: int, payload: bytes) -> None:
        """Appends one record; ``seq`` must be ``last_seq + 1``."""
        seq = _check_int("seq", seq, 0, 2**64 - 1)
        ts = _check_int("ts", ts, -2**63, 2**63 - 1)
        if seq != self._last_seq + 1:
            raise ValueError(f"seq={seq} must be last_seq + 1 = {self._last_seq + 1}")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
        payload = bytes(payload)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"payload length {len(payload)} exceeds {MAX_PAYLOAD}")
        self._buf += _encode(seq, ts, payload)
        self._last_seq = seq
        if self.mode == "always":
            self.sync()
        elif len(self._buf) >= _BATCH_FLUSH_BYTES:
            self.flush()

    def append_many(self, first_seq: int, ts: Sequence[int] | np.ndarray,
                    payloads: np.ndarray) -> None:
        """Appends ``len(payloads)`` records of equal size with seqs ``first_seq, +1, ...``.

        ``payloads`` is a 1-D structured array (one row per command) or a 2-D uint8 array.
        Checksums are computed in bulk; with ``fsync="always"`` one fsync covers the batch.
        """
        first_seq = _check_int("first_seq", first_seq, 0, 2**64 - 1)
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
        head["crc"] = _crc32c_rows(np.concatenate([hb[:, 4:24], rows], axis=1))
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
        os.fsync(self._file.fileno())
        self._durable_seq = self._last_seq

    def close(self) -> None:
        if not self._file.closed:
            if self.mode == "never":
                self.flush()
            else:
                self.sync()
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- snapshots


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A verified snapshot: the state after command ``last_seq`` and its 64-bit hash."""

    last_seq: int
    state_hash: int
    payload: bytes
    path: Path


def _snap_name(last_seq: int) -> str:
    return f"{SNAP_PREFIX}{last_seq:020d}{SNAP_SUFFIX}"


def _snap_files(directory: Path) -> list[Path]:
    """Snapshot files, newest (highest last_seq in the name) first."""
    found = []
    for p in directory.glob(f"{SNAP_PREFIX}*{SNAP_SUFFIX}"):
        digits = p.name[len(SNAP_PREFIX):-len(SNAP_SUFFIX)]
        if digits.isdigit():
            found.append((int(digits), p.name, p))
    found.sort(reverse=True)
    return [p for _, _, p in found]


def write_snapshot(directory: str | os.PathLike[str], last_seq: int, state_hash: int,
                   payload: bytes, *, keep: int = 3) -> Path:
    """Writes a snapshot atomically and prunes all but the newest ``keep`` snapshots.

    The bytes go to a temporary file that is fsync-ed, renamed into place, and the directory is
    fsync-ed, so a crash leaves either the old set of snapshots or the new one, never a partial
    file under a snapshot name.
    """
    last_seq = _check_int("last_seq", last_seq, 0, 2**64 - 1)
    state_hash = _check_int("state_hash", state_hash, 0, 2**64 - 1)
    keep = _check_int("keep", keep, 1, 2**31)
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    head = _SNAP_HEAD.pack(SNAP_MAGIC, SNAP_VERSION, 0, last_seq, state_hash, len(payload))
    crc = _SNAP_CRC.pack(crc32c(head + payload))
    final = d / _snap_name(last_seq)
    tmp = d / f".{final.name}.tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        f.write(crc)
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(d)
    stale = _snap_files(d)[keep:]
    for old in stale:
        old.unlink()
    if stale:
        _fsync_dir(d)
    return final


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Reads and verifies one snapshot; raises :class:`CorruptSnapshotError` if it does not."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CorruptSnapshotError(f"snapshot {p} cannot be read: {e}") from e
    if len(data) < SNAP_HEADER_SIZE:
        raise CorruptSnapshotError(f"snapshot {p} is {len(data)} bytes, shorter than its "
                                   f"{SNAP_HEADER_SIZE}-byte header")
    magic, version, _, last_seq, state_hash, length = _SNAP_HEAD.unpack_from(data, 0)
    if magic != SNAP_MAGIC:
        raise CorruptSnapshotError(f"snapshot {p} has magic {magic!r}, expected {SNAP_MAGIC!r}")
    if version != SNAP_VERSION:
        raise CorruptSnapshotError(f"snapshot {p} has format version {version}, "
                                   f"expected {SNAP_VERSION}")
    if len(data) != SNAP_HEADER_SIZE + length:
        raise CorruptSnapshotError(f"snapshot {p} is {len(data)} bytes, header says "
                                   f"{SNAP_HEADER_SIZE + length}")
    (crc,) = _SNAP_CRC.unpack_from(data, _SNAP_HEAD.size)
    payload = data[SNAP_HEADER_SIZE:]
    if crc32c(data[:_SNAP_HEAD.size] + payload) != crc:
        raise CorruptSnapshotError(f"snapshot {p} (last_seq {last_seq}) fails its checksum")
    return Snapshot(last_seq, state_hash, payload, p)


def load_snapshots(directory: str | os.PathLike[str]) -> list[Snapshot]:
    """Every snapshot in ``directory`` that verifies, newest first; bad ones are skipped."""
    out = []
    for p in _snap_files(Path(directory)):
        try:
            out.append(load_snapshot(p))
        except CorruptSnapshotError:
            continue
    return out


# ----------------------------------------------------------------------------- recovery


def recover(directory: str | os.PathLike[str], *, restore: Callable[[bytes], S],
            fresh: Callable[[], S], apply: Callable[[S, int, int, bytes], None] | None = None,
            apply_batch: Callable[[S, Sequence[Record]], None] | None = None,
            batch_size: int = 65536,
            state_hash: Callable[[S], int] | None = None) -> tuple[S, int]:
    """Rebuilds the state from ``directory``: newest usable snapshot, then the journal tail.

    A snapshot is usable when it verifies, ``restore`` accepts it, its recorded hash matches
    ``state_hash(restored)`` (when ``state_hash`` is given), and the journal continues right after
    its ``last_seq``; otherwise the next older one is tried, and finally ``fresh()`` with a replay
    of the whole journal. Returns ``(state, last_seq)``. A corrupt journal raises
    :class:`CorruptJournalError` whatever the snapshot.

    Exactly one of ``apply`` (one record at a time) and ``apply_batch`` (consecutive records in
    chunks of ``batch_size``, for engines with a vectorised submit) must be given.
    """
    if (apply is None) == (apply_batch is None):
        raise TypeError("recover needs exactly one of apply= and apply_batch=")
    batch_size = _check_int("batch_size", batch_size, 1, 2**31)

    def replay(state: S, tail: Sequence[Record]) -> None:
        if apply is not None:
            for r in tail:
                apply(state, r.seq, r.ts, r.payload)
        else:
            assert apply_batch is not None
            for lo in range(0, len(tail), batch_size):
                apply_batch(state, tail[lo:lo + batch_size])

    d = Path(directory)
    path = d / JOURNAL_FILE
    records = _scan(path.read_bytes(), None)[0] if path.exists() else []
    first = records[0].seq if records else None
    last = records[-1].seq if records else 0
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
        replay(state, records[skip:])
        return state, max(snap.last_seq, last)
    if first is not None and first != 1:
        raise CorruptJournalError(
            f"no usable snapshot and the journal starts at seq {first}, not seq 1")
    state = fresh()
    replay(state, records)
    return state, last
