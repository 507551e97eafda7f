"""Crash-test worker: journals and applies a command file until it is killed.

Run as ``python -m tests.recovery.worker DIR``. It reads ``DIR/cmds.npy`` (CMD_DTYPE rows) and
processes them in small groups: append the group to ``DIR/data/journal.log`` with fsync, then
record the group's last seq in ``DIR/acked`` (so that file never claims more than is durable),
then apply the group to the book; every ``SNAPSHOT_EVERY`` commands it writes a snapshot. The
test kills it with SIGKILL at a seeded moment; nothing here may rely on cleanup running.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np

from perpex._native import OrderBook
from perpex.journal import Journal, write_snapshot

SNAPSHOT_EVERY = 2_000
GROUP = 16
TS_STEP_MS = 10


def main(directory: Path) -> None:
    cmds = np.load(directory / "cmds.npy")
    data = directory / "data"
    book = OrderBook()
    journal = Journal(data, fsync="always")
    fd = os.open(directory / "acked", os.O_WRONLY | os.O_CREAT, 0o644)
    next_snap = SNAPSHOT_EVERY
    for lo in range(0, len(cmds), GROUP):
        group = cmds[lo:lo + GROUP]
        seqs = np.arange(lo + 1, lo + 1 + len(group))
        journal.append_many(lo + 1, seqs * TS_STEP_MS, group)
        # One aligned 8-byte pwrite: readers see the old or the new value, never a mix.
        os.pwrite(fd, struct.pack("<Q", journal.durable_seq), 0)
        book.submit_batch(group)
        if journal.last_seq >= next_snap:
            write_snapshot(data, journal.last_seq, book.state_hash(), book.dump())
            next_snap += SNAPSHOT_EVERY
    os.close(fd)
    journal.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
