"""What the recovery suites share: the worker's acknowledged-seq file, running a worker until it
has acknowledged something then killing it at a seeded random moment, and damaging a snapshot."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import time
from pathlib import Path

from perpex.snapshot import Snapshot, write_snapshot

ROOT = Path(__file__).resolve().parents[2]


def read_acked_seq(directory: Path) -> int:
    """The last seq the worker reported as acknowledged (0 before the first one)."""
    p = Path(directory) / "acked"
    data = p.read_bytes() if p.exists() else b""
    return struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else 0


def kill_mid_run(module: str, args: list[str], directory: Path, seed: int, *,
                 startup_s: float, window_s: float) -> int:
    """Runs ``python -m module *args``, waits for its first acknowledgement, lets it run a
    seeded random while longer, kills it with SIGKILL and returns the last acknowledged seq."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT)
    try:
        deadline = time.monotonic() + startup_s
        while read_acked_seq(directory) == 0 and proc.poll() is None:
            assert time.monotonic() < deadline, "worker never acknowledged a command"
            time.sleep(0.005)
        time.sleep(random.Random(seed).uniform(0.0, window_s))
    finally:
        proc.kill()
        proc.wait()
    return read_acked_seq(directory)


def damage_snapshot(directory: Path, snap: Snapshot, damage: str) -> None:
    """``flip``: one payload bit; ``truncate``: cut to 100 bytes; ``wrong_hash``: a file that
    verifies but whose restored state does not hash to the recorded value."""
    if damage == "flip":
        data = bytearray(snap.path.read_bytes())
        data[len(data) // 2] ^= 0x10
        snap.path.write_bytes(bytes(data))
    elif damage == "truncate":
        snap.path.write_bytes(snap.path.read_bytes()[:100])
    else:
        snap.path.unlink()
        write_snapshot(directory, snap.last_seq, snap.state_hash ^ 1, snap.payload)
