"""Positions linked through one wallet: a cross position's collateral counts the unrealised
losses of the account's other cross positions in the same settle currency, so a mark move in
one contract must re-check the account's positions in the others at that moment."""

from __future__ import annotations

from decimal import Decimal

from perpex import presets
from perpex.exchange import Exchange
from perpex.pricing import FundingConfig
from perpex.risk.liquidation import assess

XBT = 100_000_000
MAKER, TRADER = 1, 2


def hedged_book() -> Exchange:
    """The trader is cross and long 10,000 XBTUSD and 2,000 XBTZ at 10,000 with 0.1 XBT: the
    small XBTZ leg's collateral (wallet less the XBTUSD margin, plus its loss) runs out first
    when XBTUSD falls, while XBTZ's own mark stays put."""
    ex = Exchange([presets.XBTUSD(), presets.XBTZ()])
    for sym in ("XBTUSD", "XBTZ"):
        ex.set_mark(sym, 10_000)
    ex.deposit(MAKER, 100 * XBT, ts=0)
    ex.deposit(TRADER, XBT // 10, ts=0)
    for sym, qty in (("XBTUSD", 10_000), ("XBTZ", 2_000)):
        ex.place(MAKER, sym, "Sell", qty, 10_000)
        assert ex.place(TRADER, sym, "Buy", qty, 10_000).accepted
        ex.place(MAKER, sym, "Buy", 50_000, 9_000)  # depth the engine's lot can sell into
    return ex


def xbtz_below_maintenance(ex: Exchange) -> bool:
    pos = ex._positions[(TRADER, "XBTZ")]
    return bool(pos.qty) and assess(ex._risk_position(ex._inst["XBTZ"], pos),
                                    ex._marks["XBTZ"], ex.risk_config).liquidate


def test_a_fall_in_one_contract_liquidates_the_cross_position_it_endangers_in_another():
    ex = hedged_book()
    ex.set_mark("XBTUSD", 9_200)
    assert ex._positions[(TRADER, "XBTZ")].qty == 2_000 and not xbtz_below_maintenance(ex)
    ex.drain_events()
    ex.set_mark("XBTUSD", 9_180)  # XBTZ's mark does not move
    assert ex._positions[(TRADER, "XBTZ")].qty == 0
    assert ex._positions[(TRADER, "XBTUSD")].qty == 10_000  # the larger leg is still safe
    mine = [(e["execType"], e["symbol"], e.get("lastQty")) for e in ex.drain_events()
            if e.get("account") == TRADER]
    assert mine == [("Liquidation", "XBTZ", 2_000)]
    assert all(v == 0 for v in ex.audit().ledger_sum.values())
    ex.check_invariants()


def test_an_account_with_positions_in_two_contracts_is_linked_and_one_is_not():
    ex = hedged_book()
    assert set(ex._linked["XBt"]) == {MAKER, TRADER}  # the maker is short both
    ex.place(TRADER, "XBTZ", "Sell", 2_000, 9_000)  # closes the XBTZ leg into the maker's bid
    assert ex._positions[(TRADER, "XBTZ")].qty == 0
    assert TRADER not in ex._linked["XBt"]
    ex.check_invariants()



def test_a_funding_instant_re_indexes_the_payers_positions_in_the_other_contracts():
    h = 3_600_000
    day = 1_561_939_200_000
    start = day + 4 * h - 30 * 60_000
    inst = presets.XBTUSD()
    cfg = {"XBTUSD": FundingConfig.from_margins(inst.init_margin, inst.maint_margin,
                                                initial_rate=0.0005)}
    ex = Exchange([presets.XBTUSD(), presets.XBTZ()], funding=cfg)
    ex.update_index(start, {s: {n: Decimal(10_000) for n in ("Bitstamp", "Coinbase", "Kraken")}
                            for s in ("XBTUSD", "XBTZ")})
    ex.deposit(MAKER, 100 * XBT, ts=start)
    ex.deposit(TRADER, XBT // 10, ts=start)
    for sym in ("XBTUSD", "XBTZ"):
        ex.place(MAKER, sym, "Sell", 1_000, 10_000, ts=start)
        ex.place(TRADER, sym, "Buy", 1_000, 10_000, ts=start)
    queued: list[tuple[str, bool]] = []
    plain = ex._queue_linked

    def spy(sym: str, cross_only: bool) -> None:
        queued.append((sym, cross_only))
        plain(sym, cross_only)
    ex._queue_linked = spy  # type: ignore[method-assign]
    ex.advance(day + 4 * h)
    paid = [e for e in ex.drain_events() if e["execType"] == "Funding"]
    assert {e["account"] for e in paid} == {MAKER, TRADER}
    assert ("XBTUSD", False) in queued  # the payers' XBTZ positions re-index
    ex.check_invariants()
