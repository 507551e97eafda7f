"""Journal, snapshot and recovery tests (RELIABILITY.md B2.7, R1-R7) driven by the native book.

Each command is one CMD_DTYPE row stored as an opaque journal payload; replay feeds the rows back
through ``OrderBook.submit_batch``. Small versions run by default; the long kill -9 runs carry
the ``recovery_long`` marker.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from perpex import journal as journal_mod
from perpex._native import CMD_DTYPE, FsyncThread, OrderBook
from perpex.errors import CorruptJournalError, CorruptSnapshotError
from perpex.checksum import _crc32c_pure, crc32c_rows
from perpex.journal import (
    JOURNAL_FILE, REC_HEADER_SIZE, REC_MAGIC, Journal, Record, crc32c, iter_records,
    load_snapshot, load_snapshots, read_journal, recover, write_snapshot,
)
from perpex.snapshot import SNAP_VERSION
from tests.recovery.common import damage_snapshot, kill_mid_run
from tests.recovery.worker import TS_STEP_MS
from tests.stress.gen import generate

pytestmark = pytest.mark.recovery

REC_SIZE = REC_HEADER_SIZE + CMD_DTYPE.itemsize

def apply_one(book: OrderBook, seq: int, ts: int, payload: bytes) -> None:
    book.submit_batch(np.frombuffer(payload, dtype=CMD_DTYPE))


def apply_chunk(book: OrderBook, records: Sequence[Record]) -> None:
    book.submit_batch(np.frombuffer(b"".join(r.payload for r in records), dtype=CMD_DTYPE))


def recover_book(directory: Path, *, batch: bool = True) -> tuple[OrderBook, int]:
    kw = {"apply_batch": apply_chunk} if batch else {"apply": apply_one}
    return recover(directory, restore=OrderBook.load, fresh=OrderBook,
                   state_hash=lambda b: b.state_hash(), **kw)


def prefix_hash(cmds: np.ndarray, n: int) -> int:
    book = OrderBook()
    book.submit_batch(cmds[:n])
    return book.state_hash()


def journal_commands(directory: Path, cmds: np.ndarray, *, snapshot_at: Sequence[int] = (),
                     fsync: str = "never") -> tuple[OrderBook, bytes]:
    """Journals and applies `cmds` one at a time; returns the book and its event bytes."""
    book = OrderBook()
    events = []
    with Journal(directory, fsync=fsync) as j:  # type: ignore[arg-type]
        for i, row in enumerate(cmds):
            seq = i + 1
            j.append(seq, seq * TS_STEP_MS, row.tobytes())
            ev, _ = book.submit_batch(cmds[i:i + 1])
            events.append(ev.tobytes())
            if seq in snapshot_at:
                write_snapshot(directory, seq, book.state_hash(), book.dump())
    return book, b"".join(events)


@pytest.fixture(scope="module")
def cmds() -> np.ndarray:
    return generate(3_000, seed=7)


# ----------------------------------------------------------------------------- format


def test_crc32c_matches_the_standard_check_value() -> None:
    assert _crc32c_pure(b"123456789") == 0xE3069283
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert _crc32c_pure(b"6789", _crc32c_pure(b"12345")) == 0xE3069283
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283
    rows = np.frombuffer(b"123456789" * 2, dtype=np.uint8).reshape(2, 9)
    assert crc32c_rows(rows).tolist() == [0xE3069283, 0xE3069283]


def test_append_rejects_a_seq_that_is_not_last_plus_one(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.append(1, 0, b"a")
        with pytest.raises(ValueError, match="seq=3"):
            j.append(3, 0, b"b")
        with pytest.raises(ValueError, match="seq=1"):
            j.append(1, 0, b"b")
        with pytest.raises(TypeError, match="seq"):
            j.append(True, 0, b"b")  # type: ignore[arg-type]
        assert j.last_seq == 1
    assert [(r.seq, r.payload) for r in read_journal(tmp_path)] == [(1, b"a")]


def test_acknowledgement_follows_fsync_in_batch_mode(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync="batch") as j:
        j.append(1, 5, b"x")
        j.append(2, 6, b"y")
        assert (j.last_seq, j.durable_seq) == (2, 0)
        j.sync()
        assert j.durable_seq == 2
    with Journal(tmp_path, fsync="always") as j:
        assert j.last_seq == 2
        j.append(3, 7, b"z")
        assert j.durable_seq == 3
    assert [(r.seq, r.ts, r.payload) for r in read_journal(tmp_path)] == [
        (1, 5, b"x"), (2, 6, b"y"), (3, 7, b"z")]


class HeldSyncer:
    """Stands in for FsyncThread: its fsync finishes only when the test says so."""

    def __init__(self, fd: int, errno_: int = 0) -> None:
        self.fd, self.errno, self.started, self.busy = fd, errno_, [], False

    def start(self, seq: int) -> None:
        assert not self.busy, "a second fsync started while one was in flight"
        self.started.append(seq)
        self.busy = True

    def idle(self) -> bool:
        return not self.busy

    def finish(self) -> None:
        os.fsync(self.fd)
        self.busy = False

    def wait(self) -> tuple[int, int]:
        if self.busy:
            self.finish()
        return self.started[-1], self.errno

    def close(self) -> None:
        self.busy = False


def test_group_commit_syncs_in_the_background_one_group_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncers: list[HeldSyncer] = []
    monkeypatch.setattr(journal_mod, "FsyncThread", lambda fd: syncers.append(HeldSyncer(fd))
                        or syncers[-1])
    j = Journal(tmp_path, fsync="batch")
    j.append(1, 5, b"x")
    j.append(2, 6, b"y")
    j.commit()                          # returns with the fsync still in flight
    (s,) = syncers
    assert (s.started, j.committed_seq, j.durable_seq) == ([2], 2, 0)
    j.append(3, 7, b"z")                # the writer goes on meanwhile
    s.finish()
    assert j.durable_seq == 2           # seen once the fsync is done
    j.commit()
    j.commit()                          # nothing new since: no second fsync of seq 3
    assert (s.started, j.committed_seq) == ([2, 3], 3)
    j.append(4, 8, b"w")
    j.commit()                          # waits for seq 3's fsync before starting seq 4's
    assert (s.started, j.durable_seq) == ([2, 3, 4], 3)
    j.wait()
    assert j.durable_seq == 4
    j.close()
    assert [r.seq for r in read_journal(tmp_path)] == [1, 2, 3, 4]


def test_a_failed_fsync_fails_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "FsyncThread", lambda fd: HeldSyncer(fd, errno.EIO))
    j = Journal(tmp_path, fsync="batch")
    j.append(1, 5, b"x")
    j.commit()
    with pytest.raises(OSError, match="Input/output error"):
        j.wait()
    for call in (lambda: j.append(2, 6, b"y"), j.commit, j.sync, j.close):
        with pytest.raises(OSError, match="Input/output error"):
            call()
    assert (j.last_seq, j.durable_seq) == (1, 0)


def test_fsync_thread_syncs_in_order_and_reports_errors(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        t = FsyncThread(f.fileno())
        assert t.idle() and t.wait() == (0, 0)
        f.write(b"x")
        f.flush()
        t.start(7)
        assert t.wait() == (7, 0) and t.idle()
        t.close()
        t.close()
        with pytest.raises(ValueError, match="closed"):
            t.start(9)
    r, w = os.pipe()                    # fsync of a pipe fails with EINVAL
    t = FsyncThread(w)
    t.start(1)
    assert t.wait() == (1, errno.EINVAL)
    t.close()
    os.close(r)
    os.close(w)


# An fsync that returns only when a byte arrives on the descriptor in PERPEX_TEST_GATE: it holds
# the native thread's fsync in flight for as long as the test needs.
_GATED_FSYNC = r"""
#include <stdlib.h>
#include <unistd.h>
int fsync(int fd) {
  (void)fd;
  const char* gate = getenv("PERPEX_TEST_GATE");
  char c;
  if (gate != NULL && read(atoi(gate), &c, 1) != 1) return -1;
  return 0;
}
"""

_IN_FLIGHT = """
import os, sys
from perpex._native import FsyncThread
r, w = os.pipe()
os.environ["PERPEX_TEST_GATE"] = str(r)
with open(sys.argv[1], "wb") as f:
    t = FsyncThread(f.fileno())
    t.start(1)
    assert not t.idle()             # held at the gate: still in flight, however long this takes
    try:
        t.start(2)
    except ValueError as exc:
        print("refused:", exc)
    os.write(w, b"1")
    print("first:", t.wait(), t.idle())
    t.start(2)                      # free again
    os.write(w, b"2")
    print("second:", t.wait())
    t.close()
"""


@pytest.mark.spawns
def test_fsync_thread_refuses_a_second_fsync_while_one_is_in_flight(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the gated fsync")
    src, lib = tmp_path / "gate.c", tmp_path / "libgate.so"
    src.write_text(_GATED_FSYNC)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    env = {"PATH": os.environ.get("PATH", ""), "LD_PRELOAD": str(lib),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", _IN_FLIGHT, str(tmp_path / "f")], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.splitlines() == [
        "refused: an fsync is already in flight: wait() first",
        "first: (1, 0) True",
        "second: (2, 0)",
    ]


def test_reopening_cuts_a_torn_tail_so_new_records_follow_whole_ones(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        for s in range(1, 4):
            j.append(s, s, bytes([s]) * 10)
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(path.read_bytes()[:-5])
    with Journal(tmp_path) as j:
        assert j.last_seq == 2
        j.append(3, 3, b"new")
    assert [r.payload for r in read_journal(tmp_path)][-1] == b"new"


# ----------------------------------------------------------------------------- R1-R3


def test_replaying_the_whole_journal_gives_the_same_hash_and_events(tmp_path: Path,
                                                                    cmds: np.ndarray) -> None:
    live, live_events = journal_commands(tmp_path, cmds)
    replayed = OrderBook()
    events = []
    for r in read_journal(tmp_path, expect_first=1):
        ev, _ = replayed.submit_batch(np.frombuffer(r.payload, dtype=CMD_DTYPE))
        events.append(ev.tobytes())
    assert replayed.state_hash() == live.state_hash()
    assert b"".join(events) == live_events
    assert len(live_events) > 0


def test_snapshot_plus_tail_recovers_the_final_state(tmp_path: Path, cmds: np.ndarray) -> None:
    live, _ = journal_commands(tmp_path, cmds, snapshot_at=(1_000,))
    book, last = recover_book(tmp_path)
    assert last == len(cmds)
    assert book.state_hash() == live.state_hash()
    book.check_invariants()


def test_snapshot_only_restart_then_identical_further_commands(tmp_path: Path,
                                                               cmds: np.ndarray) -> None:
    live = OrderBook()
    live.submit_batch(cmds[:2_000])
    write_snapshot(tmp_path, 2_000, live.state_hash(), live.dump())
    book, last = recover_book(tmp_path)
    assert (last, book.state_hash()) == (2_000, live.state_hash())
    ev_live, _ = live.submit_batch(cmds[2_000:])
    ev_book, _ = book.submit_batch(cmds[2_000:])
    assert book.state_hash() == live.state_hash()
    assert ev_book.tobytes() == ev_live.tobytes()


# ----------------------------------------------------------------------------- R5


def test_truncation_anywhere_in_the_last_three_records_recovers_the_whole_prefix(
        tmp_path: Path) -> None:
    cmds = generate(300, seed=11)
    journal_commands(tmp_path / "src", cmds)
    full = (tmp_path / "src" / JOURNAL_FILE).read_bytes()
    n = len(cmds)
    assert len(full) == n * REC_SIZE
    hashes = {k: prefix_hash(cmds, k) for k in range(n - 3, n + 1)}
    work = tmp_path / "cut"
    work.mkdir()
    for cut in range((n - 3) * REC_SIZE, len(full) + 1):
        (work / JOURNAL_FILE).write_bytes(full[:cut])
        book, last = recover_book(work)
        assert last == cut // REC_SIZE, cut
        assert book.state_hash() == hashes[last], cut


def test_a_failing_checksum_on_the_final_record_is_a_torn_tail(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        for s in range(1, 6):
            j.append(s, s, b"p%d" % s)
    data = bytearray((tmp_path / JOURNAL_FILE).read_bytes())
    data[-1] ^= 0xFF
    assert [r.seq for r in iter_records(bytes(data))] == [1, 2, 3, 4]


# ----------------------------------------------------------------------------- R6


def _five_records(tmp_path: Path) -> bytes:
    with Journal(tmp_path) as j:
        for s in range(1, 6):
            j.append(s, 100 + s, bytes([s]) * 16)
    return (tmp_path / JOURNAL_FILE).read_bytes()


@pytest.mark.parametrize("field_offset", [0, 4, 8, 16, 24, REC_HEADER_SIZE + 3])
def test_a_flipped_byte_in_a_middle_record_is_corruption_naming_its_seq(
        tmp_path: Path, field_offset: int) -> None:
    data = bytearray(_five_records(tmp_path))
    size = REC_HEADER_SIZE + 16
    data[2 * size + field_offset] ^= 0x40   # inside seq 3
    (tmp_path / JOURNAL_FILE).write_bytes(bytes(data))
    with pytest.raises(CorruptJournalError, match=r"seq 3\b"):
        read_journal(tmp_path)
    with pytest.raises(CorruptJournalError, match=r"seq 3\b"):
        recover_book(tmp_path)


def test_a_sequence_gap_is_corruption_naming_the_missing_seq(tmp_path: Path) -> None:
    data = _five_records(tmp_path)
    size = REC_HEADER_SIZE + 16
    gapped = data[:2 * size] + data[3 * size:]
    with pytest.raises(CorruptJournalError, match=r"gap.*expected seq 3, found seq 4"):
        list(iter_records(gapped))


def test_a_duplicated_record_is_corruption_naming_its_seq(tmp_path: Path) -> None:
    data = _five_records(tmp_path)
    size = REC_HEADER_SIZE + 16
    duplicated = data[:3 * size] + data[2 * size:3 * size] + data[3 * size:]
    with pytest.raises(CorruptJournalError, match=r"duplicate journal record seq 3\b"):
        list(iter_records(duplicated))


def test_a_journal_not_starting_at_the_expected_seq_is_a_gap(tmp_path: Path) -> None:
    data = _five_records(tmp_path)
    with pytest.raises(CorruptJournalError, match="expected seq 1, found seq 2"):
        list(iter_records(data[REC_HEADER_SIZE + 16:], expect_first=1))


# ----------------------------------------------------------------------------- R7 + snapshots


def test_snapshots_keep_the_newest_three_and_verify(tmp_path: Path) -> None:
    for seq in (10, 20, 30, 40):
        write_snapshot(tmp_path, seq, seq * 7, b"state%d" % seq)
    snaps = load_snapshots(tmp_path)
    assert [(s.last_seq, s.state_hash, s.payload) for s in snaps] == [
        (40, 280, b"state40"), (30, 210, b"state30"), (20, 140, b"state20")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [s.path.name for s in snaps[::-1]]


def test_a_corrupt_snapshot_raises_only_when_loaded_directly(tmp_path: Path) -> None:
    write_snapshot(tmp_path, 1, 1, b"old")
    path = write_snapshot(tmp_path, 2, 2, b"new")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshotError, match="checksum"):
        load_snapshot(path)
    assert [s.last_seq for s in load_snapshots(tmp_path)] == [1]


def test_a_snapshot_of_an_older_format_version_is_refused(tmp_path: Path) -> None:
    """The payload is the pickled engine: a snapshot of an older layout is refused when
    loaded, not restored into objects the code no longer matches."""
    path = write_snapshot(tmp_path, 1, 1, b"state")
    data = bytearray(path.read_bytes())
    data[4:6] = (SNAP_VERSION - 1).to_bytes(2, "little")  # the version field of the format before
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshotError,
                       match=f"format version {SNAP_VERSION - 1}, expected {SNAP_VERSION}"):
        load_snapshot(path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong_hash"])
def test_a_bad_newest_snapshot_falls_back_to_the_previous_one(
        tmp_path: Path, cmds: np.ndarray, damage: str) -> None:
    live, _ = journal_commands(tmp_path, cmds, snapshot_at=(1_000, 2_000))
    newest = load_snapshots(tmp_path)[0]
    assert newest.last_seq == 2_000
    damage_snapshot(tmp_path, newest, damage)
    used: list[int] = []

    def restore(payload: bytes) -> OrderBook:
        book = OrderBook.load(payload)
        used.append(book.order_count)
        return book

    book, last = recover(tmp_path, restore=restore, fresh=OrderBook, apply_batch=apply_chunk,
                         state_hash=lambda b: b.state_hash())
    assert (last, book.state_hash()) == (len(cmds), live.state_hash())
    assert len(used) == (2 if damage == "wrong_hash" else 1)


def test_recovery_with_no_usable_snapshot_replays_from_empty(tmp_path: Path,
                                                             cmds: np.ndarray) -> None:
    live, _ = journal_commands(tmp_path, cmds[:500], snapshot_at=(250,))
    next(tmp_path.glob("snap-*")).write_bytes(b"garbage")
    book, last = recover_book(tmp_path, batch=False)
    assert (last, book.state_hash()) == (500, live.state_hash())


# ----------------------------------------------------------------------------- R4


def _kill9_run(tmp_path: Path, seed: int, n: int) -> None:
    cmds = generate(n, seed=seed)
    np.save(tmp_path / "cmds.npy", cmds)
    acked = kill_mid_run("tests.recovery.worker", [str(tmp_path)], tmp_path, seed,
                         startup_s=30, window_s=0.6)
    book, last = recover_book(tmp_path / "data")
    assert last >= acked > 0
    assert book.state_hash() == prefix_hash(cmds, last)
    book.check_invariants()


@pytest.mark.parametrize("seed", [101, 202])
def test_kill9_loses_no_acknowledged_command(tmp_path: Path, seed: int) -> None:
    _kill9_run(tmp_path, seed, 20_000)


@pytest.mark.recovery_long
@pytest.mark.parametrize("seed", range(50))
def test_kill9_loses_no_acknowledged_command_long(tmp_path: Path, seed: int) -> None:
    _kill9_run(tmp_path, seed, 200_000)


# ----------------------------------------------------------------------------- bulk reading


def _mixed_journal(directory: Path, n: int) -> list[bytes]:
    rng = random.Random(3)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 13, 40, 2_000))))
                for _ in range(n)]
    payloads[n // 2] = REC_MAGIC * 3 + payloads[n // 2]   # the magic inside a payload
    payloads[n // 3] = b"\x00" * 4 + REC_MAGIC + (40).to_bytes(4, "little") + b"\x00" * 60
    with Journal(directory, fsync="never") as j:
        for s, p in enumerate(payloads, 1):
            j.append(s, -s, p)
    return payloads


def test_mixed_record_sizes_and_magic_bytes_in_payloads_read_back_exactly(
        tmp_path: Path) -> None:
    payloads = _mixed_journal(tmp_path, 400)
    recs = read_journal(tmp_path, expect_first=1)
    assert [(r.seq, r.ts, r.payload) for r in recs] == [
        (s, -s, p) for s, p in enumerate(payloads, 1)]
    data = (tmp_path / JOURNAL_FILE).read_bytes()
    for cut in range(recs[-2].offset - 3, len(data) + 1):
        whole = sum(1 for r in recs if r.offset + REC_HEADER_SIZE + len(r.payload) <= cut)
        assert [r.seq for r in iter_records(data[:cut])] == list(range(1, whole + 1)), cut
    bad = bytearray(data)
    bad[recs[200].offset + REC_HEADER_SIZE - 1] ^= 1       # inside seq 201's checksum
    with pytest.raises(CorruptJournalError, match=r"seq 201\b"):
        list(iter_records(bytes(bad)))


def test_a_journal_of_one_record_size_then_another_reads_whole(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.append_many(1, np.zeros(50, dtype=np.int64), np.zeros((50, 12), dtype=np.uint8))
        j.append(51, 0, b"longer payload than the rest")
        j.append(52, 0, b"")
    assert [len(r.payload) for r in read_journal(tmp_path)] == [12] * 50 + [28, 0]
