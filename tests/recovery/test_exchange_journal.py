"""R1-R7 (RELIABILITY.md B2.7) against the Exchange: the journaled wrapper, its codec, snapshots
of the whole exchange and recovery through the same public methods.

The seeded flow of :mod:`tests.recovery.exchange_worker` drives every command kind, including
liquidations, funding and bad input. Short versions run by default; the long kill -9 runs and
the every-byte truncation carry the ``recovery_long`` marker.
"""

from __future__ import annotations

import ast
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perpex import errors, presets
from perpex.exchange import Exchange
from perpex.exchange_batch import OP_LIMIT, ORDER_DTYPE
from perpex.exchange_codec import KIND_NAMES
from perpex.exchange_journal import (
    JournaledExchange, dump_exchange, journal_payloads, load_exchange, load_exchange_snapshot,
    replay_journal)
from perpex.journal import JOURNAL_FILE, read_journal
from perpex.snapshot import load_snapshots
from tests.recovery.exchange_worker import (
    START_TS, XBT, make_exchange, run_flow)
from tests.recovery.common import damage_snapshot, kill_mid_run

pytestmark = pytest.mark.recovery


class SeqCounter:
    """A plain Exchange that counts the commands that took a seq: the ones a journal keeps."""

    def __init__(self, ex: Exchange) -> None:
        self.ex, self.count = ex, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.ex, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            before = self.ex.last_seq
            try:
                return attr(*args, **kw)
            finally:
                self.count += self.ex.last_seq != before
        return call


def reference_hash(seed: int, n_journaled: int) -> int:
    """State hash of a plain Exchange after the flow's first ``n_journaled`` accepted commands."""
    ex = SeqCounter(make_exchange())
    run_flow(ex, seed, 10**9, after=lambda i: ex.count >= n_journaled)
    assert ex.count == n_journaled
    return ex.ex.state_hash()


def journaled_flow(directory: Path, seed: int, n: int, *, snapshot_at: tuple[int, ...] = (),
                   fsync: str = "never") -> tuple[JournaledExchange, list[dict[str, Any]]]:
    jx = JournaledExchange(make_exchange(), directory, fsync=fsync)  # type: ignore[arg-type]
    events: list[dict[str, Any]] = []

    def after(i: int) -> bool:
        if i in snapshot_at:
            jx.snapshot()
        return False
    run_flow(jx, seed, n, after=after, events=events)
    jx.sync()
    return jx, events


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[dict[str, Any]]]:
    d = tmp_path_factory.mktemp("flow")
    jx, events = journaled_flow(d, 5, 1_500, snapshot_at=(500, 1_000))
    h = jx.state_hash()
    jx.close()
    return d, h, events


# ----------------------------------------------------------------------------- R1-R3


def test_replaying_the_whole_journal_gives_the_same_hash_and_events(flow_dir: Any) -> None:
    d, live_hash, live_events = flow_dir
    ex = make_exchange()
    events: list[dict[str, Any]] = []
    last = replay_journal(d, ex, on_events=lambda seq, evs: events.extend(evs))
    assert last == len(read_journal(d))
    assert ex.state_hash() == live_hash
    assert events == live_events and len(events) > 1_000
    # the flow really covered liquidations, a funding instant and every common command kind
    assert ex.liquidation_stats()["takeovers"] + ex.liquidation_stats("USDt")["takeovers"] > 0
    assert ex.instrument_state("XBTUSD")["fundingTimestamp"] > START_TS + 5 * 60_000
    kinds = {name for _, name in journal_payloads(d)}
    assert kinds >= {"deposit", "withdraw", "place", "amend", "cancel", "cancel_all",
                     "set_leverage", "set_mark", "update_index", "advance", "submit_orders"}
    ex.check_invariants()


def test_the_flow_matches_a_plain_exchange_command_for_command(flow_dir: Any) -> None:
    d, live_hash, _ = flow_dir
    assert reference_hash(5, len(read_journal(d))) == live_hash


def test_snapshot_plus_tail_recovers_the_final_state(flow_dir: Any) -> None:
    d, live_hash, _ = flow_dir
    newest = load_snapshots(d)[0]
    assert 0 < newest.last_seq < len(read_journal(d))
    jx = JournaledExchange.recover(d)
    assert jx.state_hash() == live_hash
    assert jx.journal_seq == len(read_journal(d))
    jx.check_invariants()
    jx.close()


def further(ex: Any, ts: int) -> list[dict[str, Any]]:
    """Commands of every kind after a restart, with fills, triggers and liquidations in them."""
    ex.deposit(1, XBT, ts=ts, tx_id=77)
    bid = ex.place(1, "XBTUSD", "Buy", 500, Decimal("9000.5"), ts=ts, cl_ord_id="PXJR-payload")
    before = ex.position(5, "XBTUSD")["currentQty"]
    ex.place(5, "XBTUSD", "Sell", 50, ts=ts)        # fills against that bid at worst
    assert ex.position(5, "XBTUSD")["currentQty"] == before - 50 != 0
    ex.set_leverage(5, "XBTUSD", Decimal("20"), ts=ts + 1)
    ex.transfer_margin(5, "XBTUSD", XBT // 100, ts=ts + 1)
    ex.set_risk_limit(2, "XBTUSD", 300 * XBT, ts=ts + 2)
    ex.place(2, "XBTUSD", "Sell", 100, ts=ts + 2, ord_type="Stop", stop_px=8_000,
             exec_inst=(x for x in ["LastPrice"]))
    ex.place(3, "XBTUSD", "Sell", 20, 9_000.5, ts=ts + 3, display_qty=0)
    ex.amend(1, bid.order_id, qty=600, ts=ts + 4)
    rows = np.zeros(2, dtype=ORDER_DTYPE)
    rows["ts"], rows["account"], rows["op"], rows["qty"] = ts + 5, 6, OP_LIMIT, 10
    rows["side"], rows["price"] = [0, 1], [17_000, 17_000]
    ex.submit_orders(rows, events=True)
    ex.set_mark_e8("XBTUSD", 800_000_000_000, ts=ts + 6)
    ex.update_index(ts + 7, {"XBTUSD": {"Coinbase": 8_000.5}, "XBTUSDT": {"Kraken": 8_000}})
    ex.set_interest_rates("XBTUSD", 0.0006, 0.0003, ts=ts + 8)
    ex.advance(ts + 60_000)
    ex.cancel_all(3, ts=ts + 60_000)
    return ex.drain_events()


def test_snapshot_only_restart_then_identical_further_commands(tmp_path: Path) -> None:
    live, _ = journaled_flow(tmp_path, 9, 600)
    live.snapshot()
    live.close()
    back = JournaledExchange.recover(tmp_path)
    assert back.state_hash() == live.state_hash()
    ts = live.exchange._ts
    ev_live, ev_back = further(live.exchange, ts), further(back, ts)
    assert back.state_hash() == live.state_hash()
    assert ev_back == ev_live and ev_live
    back.close()
    again = JournaledExchange.recover(tmp_path)   # the further commands were journaled too
    assert again.state_hash() == live.state_hash()
    assert set(n for _, n in journal_payloads(tmp_path)) == set(KIND_NAMES.values())
    # the tail replayed without building events; commands after recovery have them again
    assert again.drain_events() == [] and again.executions() == []
    ts = live.exchange._ts + 1
    assert further(again, ts) == further(live.exchange, ts)
    again.close()


def _committing_methods(cls: type) -> set[str]:
    """Public methods of ``cls`` that call ``self._commit(...)`` or hand themselves to
    perpex._front (whose functions, imported as ``_front_<name>``, check a command and commit
    it), read from the class's source file (the module itself may be a compiled extension,
    which has no source to inspect)."""
    module = sys.modules[cls.__module__]
    source = Path(module.__file__).with_name(cls.__module__.rsplit(".", 1)[-1] + ".py")
    if not source.exists():  # an extension type from a .pyx (perpex._core.EngineCore)
        public = [name for name, v in vars(cls).items() if callable(v) and not name.startswith("_")]
        assert not public, f"{cls.__name__} defines public commands {public}: read its .pyx"
        return set()
    tree = ast.parse(source.read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__).body
    return {fn.name for fn in body if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_")
            and any(isinstance(c, ast.Call)
                    and ((isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name)
                          and c.func.attr == "_commit" and c.func.value.id == "self")
                         or (isinstance(c.func, ast.Name) and c.func.id.startswith("_front_")))
                    for c in ast.walk(fn))}


def test_every_exchange_command_that_takes_a_seq_is_journaled() -> None:
    # a command the wrapper does not define is forwarded unjournaled, and recovery would miss it
    committing = set().union(*(_committing_methods(cls) for cls in Exchange.__mro__
                               if cls.__module__.startswith("perpex.")))
    assert {"place", "cancel", "set_interest_rates", "advance"} <= committing
    assert committing <= set(KIND_NAMES.values())
    # defined by the wrapper itself or by its C base (place and cancel), not forwarded
    defined = {name for cls in JournaledExchange.__mro__[:-1] for name in vars(cls)}
    assert all(name in defined for name in committing)


def test_a_restored_snapshot_hashes_to_its_header_and_loads_the_native_books(
        flow_dir: Any) -> None:
    d, _, _ = flow_dir
    snap = load_snapshots(d)[0]
    ex = load_exchange_snapshot(snap.path)
    assert ex.state_hash() == snap.state_hash
    assert load_exchange(dump_exchange(ex)).state_hash() == snap.state_hash


# ----------------------------------------------------------------------------- R5


def _torn_tail(tmp_path: Path, every_byte: bool) -> None:
    src = tmp_path / "src"
    live, _ = journaled_flow(src, 3, 300, snapshot_at=(285,))
    n = live.journal_seq
    live.close()
    assert n - 20 < load_snapshots(src)[0].last_seq <= n - 3   # only the tail is replayed
    records = read_journal(src)
    hashes = {}
    for k in range(n - 3, n + 1):
        ex = make_exchange()
        replay_journal(src, ex, stop=k)
        hashes[k] = ex.state_hash()
    full = (src / JOURNAL_FILE).read_bytes()
    ends = [r.offset for r in records[1:]] + [len(full)]
    cuts = range(records[n - 3].offset, len(full) + 1)
    if not every_byte:
        cuts = sorted({*cuts[::23], *ends[n - 3:], *(e - 1 for e in ends[n - 3:])})
    work = tmp_path / "cut"
    for cut in cuts:
        work.mkdir()
        (work / JOURNAL_FILE).write_bytes(full[:cut])
        for snap in load_snapshots(src)[:1]:
            (work / snap.path.name).write_bytes(snap.path.read_bytes())
        jx = JournaledExchange.recover(work)
        whole = sum(1 for e in ends if e <= cut)
        assert jx.journal_seq == whole, cut
        assert jx.state_hash() == hashes[whole], cut
        jx.close()
        assert (work / JOURNAL_FILE).stat().st_size == ends[whole - 1], cut   # tail cut off
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


def test_a_torn_tail_is_dropped_and_the_whole_prefix_recovers(tmp_path: Path) -> None:
    _torn_tail(tmp_path, every_byte=False)


@pytest.mark.recovery_long
def test_truncation_at_every_byte_of_the_last_three_records_recovers_the_prefix(
        tmp_path: Path) -> None:
    _torn_tail(tmp_path, every_byte=True)


# ----------------------------------------------------------------------------- R6


@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_flipped_byte_in_a_middle_record_is_corruption_naming_its_seq(
        tmp_path: Path, where: str) -> None:
    live, _ = journaled_flow(tmp_path, 4, 200)
    live.close()
    victim = next(r for r in read_journal(tmp_path)[100:] if len(r.payload) > 8)
    data = bytearray((tmp_path / JOURNAL_FILE).read_bytes())
    data[victim.offset + (12 if where == "header" else 28 + len(victim.payload) - 1)] ^= 0x08
    (tmp_path / JOURNAL_FILE).write_bytes(bytes(data))
    with pytest.raises(errors.CorruptJournalError, match=rf"seq {victim.seq}\b"):
        read_journal(tmp_path)
    with pytest.raises(errors.CorruptJournalError, match=rf"seq {victim.seq}\b"):
        JournaledExchange.recover(tmp_path)


def test_a_missing_middle_record_is_a_sequence_gap(tmp_path: Path) -> None:
    live, _ = journaled_flow(tmp_path, 4, 200)
    live.close()
    recs = read_journal(tmp_path)
    data = (tmp_path / JOURNAL_FILE).read_bytes()
    (tmp_path / JOURNAL_FILE).write_bytes(data[:recs[50].offset] + data[recs[51].offset:])
    with pytest.raises(errors.CorruptJournalError, match="expected seq 51, found seq 52"):
        JournaledExchange.recover(tmp_path)


# ----------------------------------------------------------------------------- R7


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong_hash"])
def test_a_bad_newest_snapshot_falls_back_to_the_previous_one(
        flow_dir: Any, tmp_path: Path, damage: str) -> None:
    d, live_hash, _ = flow_dir
    for p in d.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    newest = load_snapshots(tmp_path)[0]
    damage_snapshot(tmp_path, newest, damage)
    with pytest.raises(errors.CorruptSnapshotError):
        load_exchange_snapshot(newest.path)
    jx = JournaledExchange.recover(tmp_path)
    assert jx.state_hash() == live_hash
    jx.close()


def test_with_no_usable_snapshot_recovery_needs_a_fresh_exchange(tmp_path: Path) -> None:
    live, _ = journaled_flow(tmp_path, 6, 150)
    live.close()
    for p in tmp_path.glob("snap-*"):
        p.write_bytes(b"garbage")
    with pytest.raises(errors.CorruptSnapshotError, match="fresh"):
        JournaledExchange.recover(tmp_path)
    jx = JournaledExchange.recover(tmp_path, fresh=make_exchange)
    assert jx.state_hash() == live.state_hash()
    jx.close()


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_and_leaves_the_journal_unchanged(tmp_path: Path) -> None:
    jx = JournaledExchange(make_exchange(), tmp_path, fsync="always")
    jx.deposit(1, XBT, ts=10, tx_id="a")
    jx.set_mark("XBTUSD", 10_000, ts=10)
    jx.place(1, "XBTUSD", "Buy", 10, 9_000, ts=11)
    path = tmp_path / JOURNAL_FILE
    size, seq, hash0 = path.stat().st_size, jx.journal_seq, jx.state_hash()
    bad = [
        (errors.InvalidQuantityError, lambda: jx.place(1, "XBTUSD", "Buy", 0, 9_000, ts=12)),
        (errors.InvalidPriceError, lambda: jx.place(1, "XBTUSD", "Buy", 1, 9_000.25, ts=12)),
        (errors.UnknownSymbolError, lambda: jx.place(1, "XBTUSDZ", "Buy", 1, 9_000, ts=12)),
        (errors.UnknownAccountError, lambda: jx.withdraw(3, 1, ts=12)),
        (errors.NonMonotonicTimeError, lambda: jx.set_mark("XBTUSD", 10_001, ts=5)),
        (errors.UnknownOrderError, lambda: jx.cancel(1, 999, ts=12)),
        (errors.InvalidInputError, lambda: jx.deposit(1, XBT * 2, ts=12, tx_id="a")),
        (TypeError, lambda: jx.submit_orders(np.zeros(1, dtype=np.int64))),
    ]
    for exc, call in bad:
        with pytest.raises(exc):
            call()
        assert (path.stat().st_size, jx.journal_seq) == (size, seq), exc
    repeat = jx.deposit(1, XBT, ts=12, tx_id="a")      # an idempotent repeat changes nothing
    assert repeat.seq == 1
    assert (path.stat().st_size, jx.journal_seq, jx.state_hash()) == (size, seq, hash0)
    jx.close()


class Overridden(Exchange):
    """An exchange whose place and cancel are its own: the journaled exchange must call them
    (it calls the engine's checks and commit directly only for the engine's own)."""

    def place(self, *args: Any, **kw: Any) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        return super().place(*args, **kw)

    def cancel(self, *args: Any, **kw: Any) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        return super().cancel(*args, **kw)


def test_a_subclass_s_order_calls_are_called_and_journaled(tmp_path: Path) -> None:
    ex = Overridden([presets.XBTUSD()])
    jx = JournaledExchange(ex, tmp_path, fsync="never")
    jx.deposit(1, XBT, ts=START_TS)
    jx.set_mark("XBTUSD", 10_000, ts=START_TS)
    oid = jx.place(1, "XBTUSD", "Buy", 10, 9_000, ts=START_TS + 1).order_id
    jx.cancel(1, oid, ts=START_TS + 2)
    assert ex.calls == 2 and jx.journal_seq == ex.last_seq
    h = jx.state_hash()
    jx.close()
    with JournaledExchange.recover(tmp_path) as back:
        assert type(back.exchange) is Overridden and back.state_hash() == h


def test_group_commit_acknowledges_every_group_of_commands(tmp_path: Path) -> None:
    jx = JournaledExchange(make_exchange(), tmp_path, fsync="batch", group_commit=3)
    for i in range(7):
        jx.deposit(1, XBT, ts=i)
    assert (jx.journal_seq, jx._journal.committed_seq) == (7, 6)
    assert jx.durable_seq in (3, 6)   # the fsync of the second group runs in the background
    jx._journal.wait()
    assert jx.durable_seq == 6
    jx.sync()
    assert jx.durable_seq == 7
    jx.close()
    with pytest.raises(ValueError, match="already holds a journal"):
        JournaledExchange(make_exchange(), tmp_path)


# ----------------------------------------------------------------------------- R4


def _kill9_run(tmp_path: Path, seed: int) -> None:
    acked = kill_mid_run("tests.recovery.exchange_worker", [str(tmp_path), str(seed), str(10**7)],
                         tmp_path, seed, startup_s=60, window_s=0.8)
    jx = JournaledExchange.recover(tmp_path / "data")
    print(f"seed {seed}: acknowledged {acked}, recovered {jx.journal_seq}, snapshots "
          f"{[s.last_seq for s in load_snapshots(tmp_path / 'data')]}")
    last = jx.journal_seq
    assert last >= acked > 0
    assert jx.state_hash() == reference_hash(seed, last)
    jx.check_invariants()
    jx.close()


@pytest.mark.parametrize("seed", [101, 202])
def test_kill9_loses_no_acknowledged_command(tmp_path: Path, seed: int) -> None:
    _kill9_run(tmp_path, seed)


@pytest.mark.recovery_long
@pytest.mark.parametrize("seed", range(50))
def test_kill9_loses_no_acknowledged_command_long(tmp_path: Path, seed: int) -> None:
    _kill9_run(tmp_path, seed)
