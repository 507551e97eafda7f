"""A recovery's replay loop over the journal image (perpex._replay, through
perpex.exchange_journal._replay_image): the state the codec's replay of each Record leaves
(``_apply_all``), on the recovery flow's journal and on journals built to fail. The plain
orders and cancels it reads in place are compared with the same records through the codec."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from perpex._wal import plain_place
from perpex.errors import CorruptJournalError
from perpex.exchange import Exchange
from perpex.exchange_codec import Codec
from perpex.exchange_journal import JournaledExchange, _apply_all, _replay_image
from perpex.journal import Journal, scan_journal
from tests.recovery.exchange_worker import START_TS, XBT, make_exchange, run_flow

pytestmark = pytest.mark.recovery


class OwnPlace(Exchange):
    """An exchange whose place is not the engine's own: the loop hands every record to the
    codec's dispatch (the subclass's place must see them)."""

    def place(self, *args: Any, **kw: Any) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        return super().place(*args, **kw)


def _by_records(ex: Exchange, d: Path, skip: int = 0) -> Exchange:
    ex._emit = False
    _apply_all(Codec(ex.symbols), ex, scan_journal(d).records(skip))
    return ex


def _by_image(ex: Exchange, d: Path, skip: int = 0) -> Exchange:
    ex._emit = False
    _replay_image(Codec(ex.symbols), ex, scan_journal(d), skip)
    return ex


@pytest.fixture(scope="module")
def flow_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    d = tmp_path_factory.mktemp("image") / "j"
    jx = JournaledExchange(make_exchange(), d, fsync="never")
    run_flow(jx, 11, 1_200)
    jx.sync()
    h = jx.state_hash()
    jx.close()
    return d, h


def test_the_flow_replays_to_the_state_the_records_replay_to(flow_journal: Any) -> None:
    d, live = flow_journal
    image = scan_journal(d)
    kinds = {Codec.kind_name(image.data[o + 28:o + 29]) for o in image.offs.tolist()}
    assert {"place", "cancel", "amend", "submit_orders", "set_mark"} <= kinds
    a, b = _by_image(make_exchange(), d), _by_records(make_exchange(), d)
    assert a.state_hash() == b.state_hash() == live
    assert a.last_seq == b.last_seq
    a.check_invariants()


def test_a_subclass_place_sees_every_order_and_reaches_the_same_state(flow_journal: Any) -> None:
    d, live = flow_journal
    got = _by_image(_from(make_exchange(), OwnPlace), d)
    places = sum(1 for r in scan_journal(d).records() if r.payload[0] == 3)
    assert got.calls == places > 100
    assert got.state_hash() == live


def _from(ex: Exchange, cls: type[Exchange]) -> Exchange:
    """``ex`` as an instance of its subclass ``cls``, the same state."""
    from perpex.exchange_journal import dump_exchange, load_exchange
    state = load_exchange(dump_exchange(ex))
    state.__class__ = cls
    return state


def test_a_start_past_the_end_replays_nothing(flow_journal: Any) -> None:
    d, _ = flow_journal
    ex = make_exchange()
    before = (ex.state_hash(), ex.last_seq)
    _by_image(ex, d, len(scan_journal(d)) + 5)
    assert (ex.state_hash(), ex.last_seq) == before


# ----------------------------------------------------------------------------- failures

ACCOUNT_SYM = struct.Struct("<BIq")


def _base() -> Exchange:
    """The recovery flow's exchange with three funded accounts and an XBTUSD mark."""
    ex = make_exchange()
    for a in (1, 2, 3):
        ex.deposit(a, 10 * XBT, ts=START_TS)
    ex.set_mark("XBTUSD", 10_000, ts=START_TS)
    return ex


def _journal(tmp_path: Path, bad: bytes) -> Path:
    """Four good commands (two plain orders that trade, one that rests and its cancel), then
    ``bad``, then one more good order."""
    codec = Codec(make_exchange().symbols)
    good = [codec.place(1, "XBTUSD", "Sell", 100, 10_000.5, None, "GoodTillCancel", (), None,
                        None, None, None, None),
            codec.place(2, "XBTUSD", "Buy", 100, 10_001, None, "ImmediateOrCancel", (), None,
                        None, None, None, None),
            codec.place(3, "XBTUSD", "Buy", 10, 9_000, "Limit", "GoodTillCancel", (), None,
                        None, None, None, None)]
    ex = _base()
    for i, p in enumerate(good, 1):
        codec.apply(ex, p, START_TS + 100 + i)
    (resting,) = [o for o, r in ex._orders.items() if r.account == 3]
    good.append(codec.cancel(3, resting))
    d = tmp_path / "j"
    with Journal(d, fsync="never") as j:
        for i, p in enumerate([*good, bad, good[2]], 1):
            j.append(i, START_TS + 100 + i, p)
    return d


_PLAIN = (1, 0, 0, 255, 0, 10, 10_000)  # account, symbol, side, ord_type, tif, qty, price


def _plain(**kw: int) -> bytes:
    f = dict(zip(("account", "symbol", "side", "ord_type", "tif", "qty", "price"), _PLAIN))
    f.update(kw)
    out = plain_place(*f.values())
    assert out is not None
    return out


@pytest.mark.parametrize("bad, error", [
    (_plain(symbol=7), "IndexError"),                       # no such symbol code
    (_plain(side=9), "IndexError"),                         # no such side code
    (_plain(tif=40), "IndexError"),
    (_plain(ord_type=60), "IndexError"),
    (_plain(account=99), "UnknownAccountError"),
    (_plain(qty=0), "InvalidQuantityError"),
    (_plain(price=-5), "InvalidPriceError"),
    (ACCOUNT_SYM.pack(5, 3, 10**9), "UnknownOrderError"),  # a cancel of an order never placed
    (ACCOUNT_SYM.pack(5, 2, 1), "UnknownOrderError"),      # another account's order
    (ACCOUNT_SYM.pack(5, 3, 1)[:9], "error"),              # a short cancel: the codec's struct
    (b"", "IndexError"),
    (bytes([99]), "KeyError"),                              # no such command kind
])
def test_a_record_that_does_not_replay_fails_both_loops_alike(tmp_path: Path, bad: bytes,
                                                              error: str) -> None:
    d = _journal(tmp_path, bad)
    seen = []
    for replay in (_by_image, _by_records):
        ex = _base()
        with pytest.raises(CorruptJournalError, match=rf"seq 5 .*{error}") as info:
            replay(ex, d)
        # (the message up to the error's own words: Python and Cython word an empty bytes
        # index differently)
        seen.append((str(info.value).split(": ")[:2], ex.state_hash(), ex.last_seq))
    assert seen[0] == seen[1]
    assert seen[0][2] == _base().last_seq + 4   # the four good commands ran


def test_a_record_with_an_earlier_ts_fails_both_loops_alike(tmp_path: Path) -> None:
    codec = Codec(make_exchange().symbols)
    d = tmp_path / "j"
    with Journal(d, fsync="never") as j:
        j.append(1, START_TS + 50, _plain())
        j.append(2, START_TS + 40, _plain(side=1))
        j.append(3, START_TS + 30, codec.cancel(1, 1))
    seen = []
    for replay in (_by_image, _by_records):
        ex = _base()
        with pytest.raises(CorruptJournalError, match="seq 2 .*NonMonotonicTimeError"):
            replay(ex, d)
        seen.append((ex.state_hash(), ex.last_seq))
    assert seen[0] == seen[1]


def test_a_halted_engine_replays_past_every_command_without_change(flow_journal: Any) -> None:
    """A command that halts the engine was journaled (it took a seq), so a replay goes on past
    the halt; every later command raises EngineHaltedError and changes nothing."""
    d, _ = flow_journal
    ex = make_exchange()
    ex._halted = "a broken invariant, on purpose"
    before = (ex.state_hash(), ex.last_seq)
    _by_image(ex, d)
    assert (ex.state_hash(), ex.last_seq) == before


def test_recovery_replays_through_the_image_loop(flow_journal: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import perpex.exchange_journal as ej
    d, live = flow_journal
    calls = []
    real = ej._replay_image
    monkeypatch.setattr(ej, "_replay_image", lambda *a: calls.append(a[3]) or real(*a))
    back = JournaledExchange.recover(d)
    assert calls == [0] and back.state_hash() == live
    assert back.exchange._emit
    back.close()
