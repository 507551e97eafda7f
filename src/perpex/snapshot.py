"""Atomic, versioned snapshots of an engine's state (RELIABILITY.md B2.7).

Snapshot file, little-endian::

    magic "PXSN" (4) | version u16 | reserved u16 | last_seq u64 | state_hash u64 |
    length u64 | crc u32 | payload (length bytes)

where ``crc`` is CRC-32C over every header byte before it plus the payload. The payload is
opaque here; :mod:`perpex.journal` pairs snapshots with the command journal for recovery.
"""

from __future__ import annotations

import numbers
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from perpex.checksum import crc32c
from perpex.errors import CorruptSnapshotError

__all__ = ["Snapshot", "load_snapshot", "load_snapshots", "write_snapshot"]

SNAP_MAGIC = b"PXSN"
# the payload is the pickled engine, so a change to its objects' layout is a new version: an
# older snapshot is refused when loaded rather than restored into objects the code no longer
# matches (2: the native order-margin index on ContractValue, band clocks, overload module;
# 3: Instrument's derived _inverse; 4: OrderRecord an extension type; 5: the engine's typed
# fields; 6: the order-margin index entry on OrderRecord; 7: Position an extension type;
# 8: the engine without its per-command table of finished orders; 9: the order-margin index's
# levels as sorted arrays; 10: the live orders in an OrderTable; 11: a key's live orders a
# LiveOrders)
SNAP_VERSION = 11
_SNAP_HEAD = struct.Struct("<4sHHQQQ")  # magic, version, reserved, last_seq, state_hash, length
_SNAP_CRC = struct.Struct("<I")
SNAP_HEADER_SIZE = _SNAP_HEAD.size + _SNAP_CRC.size
SNAP_PREFIX = "snap-"
SNAP_SUFFIX = ".snap"


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    n = int(value)
    if not lo <= n <= hi:
        raise ValueError(f"{name}={n} is outside [{lo}, {hi}]")
    return n


def fsync_dir(path: Path) -> None:
    """Makes a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



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
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    head = _SNAP_HEAD.pack(SNAP_MAGIC, SNAP_VERSION, 0, last_seq, state_hash, len(payload))
    crc = _SNAP_CRC.pack(crc32c(payload, crc32c(head)))
    final = d / _snap_name(last_seq)
    tmp = d / f".{final.name}.tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        f.write(crc)
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(d)
    stale = _snap_files(d)[keep:]
    for old in stale:
        old.unlink()
    if stale:
        fsync_dir(d)
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
    view = memoryview(data)
    if crc32c(view[SNAP_HEADER_SIZE:], crc32c(view[:_SNAP_HEAD.size])) != crc:
        raise CorruptSnapshotError(f"snapshot {p} (last_seq {last_seq}) fails its checksum")
    return Snapshot(last_seq, state_hash, data[SNAP_HEADER_SIZE:], p)


def load_snapshots(directory: str | os.PathLike[str]) -> list[Snapshot]:
    """Every snapshot in ``directory`` that verifies, newest first; bad ones are skipped."""
    out = []
    for p in _snap_files(Path(directory)):
        try:
            out.append(load_snapshot(p))
        except CorruptSnapshotError:
            continue
    return out
