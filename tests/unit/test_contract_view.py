"""The engine loop reads a listed contract's book, constants and currency peers from one typed
view per contract (perpex._core.Contract), derived from the engine's own tables; a restored
engine builds its views again from its restored tables."""

from __future__ import annotations

import pytest

from perpex import presets
from perpex.exchange import Exchange
from perpex.exchange_journal import dump_exchange, load_exchange

XBT = 100_000_000
USDT = 10**6


def listed() -> Exchange:
    return Exchange([presets.XBTUSD(), presets.XBTZ(), presets.XBTUSDT(), presets.ETHUSD()])


def test_a_view_shows_the_engine_tables_of_its_contract():
    ex = listed()
    for sym, inst in ex._inst.items():
        c = ex._contract_view(sym)
        assert c.symbol == sym and c.inst is inst and c.book is ex._books[sym]
        assert c.cv is ex._cv[sym] and c.terms is ex._cv[sym].terms
        assert c.inverse == ex._cv[sym].inverse
        assert c.prices is inst._prices  # the price cache the reports read
        assert c.ticks is inst._ticks  # and the one the order checks read
        assert (c.lot, c.max_qty) == (inst.lot_size, inst.max_order_qty)
        assert (c.taker_rate, c.maker_rate) == ex._fee_ratios[sym]
        assert c.currency == inst.settle_currency and c.linked is ex._linked[c.currency]
        # its currency's contracts, in the engine's order, itself among them
        assert [p.symbol for p in c.peers] == ex._by_ccy[c.currency]
        assert all(p is ex._contract_view(p.symbol) for p in c.peers)
    assert [p.symbol for p in ex._contract_view("XBTUSDT").peers] == ["XBTUSDT"]


def test_an_unlisted_symbol_has_no_view():
    with pytest.raises(KeyError):
        listed()._contract_view("DOGEUSD")


def test_a_restored_engine_reads_its_own_books_and_matches_like_the_original():
    ex = listed()
    for a in (1, 2):
        ex.deposit(a, XBT, ts=1)
    ex.set_mark("XBTUSD", 10_000, ts=1)
    ex.place(1, "XBTUSD", "Buy", 100, 10_000, ts=2)
    ex._contract_view("XBTUSD")  # the original has built its views
    back = load_exchange(dump_exchange(ex))
    c = back._contract_view("XBTUSD")
    assert c.book is back._books["XBTUSD"] and c.book is not ex._books["XBTUSD"]
    assert c.linked is back._linked["XBt"]
    assert c.prices is back._inst["XBTUSD"]._prices and c.ticks is back._inst["XBTUSD"]._ticks
    # the restored engine's fill lands in its own book and accounts, not the original's
    for e in (ex, back):
        out = e.place(2, "XBTUSD", "Sell", 100, 10_000, ts=3)
        assert out.cum_qty == 100
    assert back.state_hash() == ex.state_hash()
    assert back.position(1, "XBTUSD")["currentQty"] == 100


def test_float_prices_convert_alike_through_the_contract_table():
    """The order checks remember the ticks of float prices on the contract (256 entries, one
    per hash of the float's bits): across more prices than entries, each order rests at the
    ticks the instrument's conversion gives, and a bad float still raises after good ones
    (a failed conversion never enters the table), leaving the book as it was."""
    ex = listed()
    ex.deposit(1, 10**4 * XBT, ts=0)
    ex.deposit(1, 10**9 * USDT, currency="USDt", ts=0)
    ex.set_mark("XBTUSD", 10_000, ts=0)
    ex.set_mark("XBTUSDT", 10_000, ts=0)
    for sym in ("XBTUSD", "XBTUSDT"):
        inst = ex._inst[sym]
        step = float(inst.tick_size)
        prices = [9_000.0 + step * k for k in range(0, 1_500, 3)]
        for round_ in range(2):  # the second round reads the table
            for px in prices:
                out = ex.place(1, sym, "Buy", inst.lot_size, px, ts=0)
                assert ex._orders[out.order_id].price == inst.price_to_ticks(px)
                ex.cancel(1, out.order_id, ts=0)
        seq = ex.last_seq
        for bad in (9_000.0 + step / 4, float("nan"), float("inf"), -9_000.0, 0.0,
                    float(inst.max_price) * 2):
            with pytest.raises(Exception) as err:
                ex.place(1, sym, "Buy", inst.lot_size, bad, ts=0)
            assert type(err.value).__module__ == "perpex.errors", (bad, err.value)
        assert ex.last_seq == seq and not ex._orders
