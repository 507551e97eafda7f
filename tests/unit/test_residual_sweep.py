"""The sweep of the liquidation engine's rounding residual into the insurance fund, once the
engine is flat: a surplus goes to the fund whole; a shortfall is covered by the fund only up to
what it holds, the rest waiting on the engine's wallet, so the fund never goes negative."""

from __future__ import annotations

from perpex import presets
from perpex.accounts.ledger import INSURANCE, wallet
from perpex.exchange import LIQUIDATION_ACCOUNT, Exchange

ENGINE = wallet(LIQUIDATION_ACCOUNT)


def flat_engine(fund: int, engine_wallet: int) -> Exchange:
    """A flat engine whose wallet holds ``engine_wallet`` (as per-fill rounding leaves it)."""
    ex = Exchange([presets.XBTUSD()], insurance_fund={"XBt": fund})
    ex._ledger.transfer("XBt", ("external",), ENGINE, engine_wallet, "rounding left by fills")
    return ex


def sweep(ex: Exchange) -> tuple[int, int, int]:
    ex._sweep_residual("XBt")
    return (ex.insurance_fund(), ex._ledger.balance("XBt", ENGINE),
            ex.liquidation_stats()["residual"])


def test_a_surplus_goes_to_the_fund_whole():
    assert sweep(flat_engine(fund=10, engine_wallet=7)) == (17, 0, 7)


def test_a_shortfall_the_fund_covers_is_paid_whole():
    assert sweep(flat_engine(fund=10, engine_wallet=-3)) == (7, 0, -3)


def test_a_shortfall_beyond_the_fund_takes_only_what_it_holds_and_the_rest_waits():
    ex = flat_engine(fund=2, engine_wallet=-5)
    assert sweep(ex) == (0, -3, -2)
    assert all(v == 0 for v in ex.audit().ledger_sum.values())
    ex.check_invariants()
    ex._ledger.transfer("XBt", ("external",), INSURANCE, 10, "the fund is topped up")
    assert sweep(ex) == (7, 0, -5)  # the next sweep settles the rest


def test_an_empty_fund_leaves_the_whole_shortfall_on_the_engine():
    assert sweep(flat_engine(fund=0, engine_wallet=-4)) == (0, -4, 0)


def test_a_fund_already_below_zero_covers_nothing_and_takes_nothing_from_the_engine():
    # the fund can be overdrawn by the engine's funding; the sweep must not then move money
    # from the engine's wallet into it
    ex = flat_engine(fund=0, engine_wallet=-5)
    ex._ledger.transfer("XBt", INSURANCE, ("external",), 10, "the fund pays out beyond its balance")
    assert sweep(ex) == (-10, -5, 0)
    assert all(v == 0 for v in ex.audit().ledger_sum.values())
