"""Scenario files: the default validates, errors name the field, overrides edit the text."""

from __future__ import annotations

import pytest

from perpex.errors import InvalidConfigError
from perpex.sim.paths import build_path
from perpex.sim.scenario import load_scenario, parse_scenario, set_param

TINY = """
name = "tiny"
[run]
hours = 0.25
seed = 3
[[instruments]]
preset = "XBTUSD"
[instruments.index]
start_price = 10000.0
crash_at_hours = 0.05
crash_minutes = 3.0
rebound_hours = 0.05
[[agents]]
kind = "market_maker"
spread_ticks = 2
[[agents]]
kind = "noise"
rate_per_min = 6.0
[[agents]]
kind = "trend"
fast_ms = 60000
slow_ms = 300000
threshold = 0.0005
"""


def test_the_built_in_default_scenario_validates_with_all_five_agent_kinds() -> None:
    sc = load_scenario()
    assert sc.name == "default" and sc.run.hours == 24
    assert [i.symbol for i in sc.instruments] == ["XBTUSD", "ETHUSD"]
    assert {a.kind for a in sc.agents} == {"market_maker", "noise", "trend", "funding_arb", "whale"}


@pytest.mark.parametrize("edit, message", [
    (("agents[0].spread_ticks", 0), "scenario.agents[0].spread_ticks must be > 0, got 0"),
    (("agents[2].kind", "sniper"), "scenario.agents[2].kind must be one of"),
    (("agents[1].symbol", "DOGEUSD"), "scenario.agents[1].symbol must be a listed instrument"),
    (("agents[1].limit_fraction", 1.5), "scenario.agents[1].limit_fraction must be <= 1, got 1.5"),
    (("agents[2].fast_ms", 400000), "scenario.agents[2].fast_ms must be < slow_ms=300000"),
    (("agents[0].size", 2.5), "scenario.agents[0].size must be an integer, got 2.5"),
    (("agents[0].size", True), "scenario.agents[0].size must be a number, got True"),
    (("agents[0].colour", "red"), "scenario.agents[0] has unknown field(s) colour"),
    (("run.hours", -1.0), "scenario.run.hours must be > 0, got -1.0"),
    (("run.sample_ms", 7000), "scenario.run.sample_ms must be a multiple of run.step_ms=5000"),
    (("risk.mode", "ftx"), "scenario.risk.mode must be one of bitmex, okex, huobi, got 'ftx'"),
    (("instruments[0].preset", "XBTZ"), "scenario.instruments[0].preset must be one of"),
    (("instruments[0].index.kind", "csv"), "scenario.instruments[0].index.csv_path is required"),
    (("instruments[0].index.start_price", 0.0), "scenario.instruments[0].index.start_price must be > 0"),
    (("instruments[0].contract.tick_size", "0"), "scenario.instruments[0].contract is not a valid"),
    (("instruments[0].contract.wings", 2), "scenario.instruments[0].contract.wings is not an instrument field"),
])
def test_a_bad_field_is_rejected_with_a_message_naming_it(edit: tuple[str, object], message: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_scenario(set_param(TINY, *edit))
    assert message in str(info.value)


def test_broken_toml_and_missing_instruments_are_clear_errors() -> None:
    with pytest.raises(InvalidConfigError, match="not valid TOML"):
        parse_scenario("name = ")
    with pytest.raises(InvalidConfigError, match="scenario.instruments must be a non-empty array"):
        parse_scenario('name = "x"')
    with pytest.raises(InvalidConfigError, match="cannot be read"):
        load_scenario("/nonexistent/scenario.toml")


def test_a_custom_contract_overrides_preset_fields() -> None:
    sc = parse_scenario(set_param(TINY, "instruments[0].contract.maint_margin", 0.004))
    assert sc.instruments[0].instrument.maint_margin == 0.004
    assert sc.agents[0].get("spread_ticks") == 2


def test_set_param_names_a_missing_array_element() -> None:
    with pytest.raises(InvalidConfigError, match=r"scenario.agents\[9\] does not exist"):
        set_param(TINY, "agents[9].size", 1)


def test_the_synthetic_path_crashes_and_rebounds_on_schedule_and_is_seeded() -> None:
    cfg = load_scenario().instruments[0].index
    steps, step = 24 * 720, 5000
    a, b = build_path(cfg, steps, step, 11), build_path(cfg, steps, step, 11)
    assert (a.truth == b.truth).all() and ((a.feeds == b.feeds) | (a.feeds != a.feeds)).all()
    before = a.truth[int(9 * 720)]
    bottom = a.truth[int(9 * 720) + 8 * 60]  # 40 minutes later
    assert bottom < before * 0.92  # the 15% scheduled drop dominates the diffusion
    assert a.truth[12 * 720] > bottom * 1.05  # the rebound
    assert (a.feeds != a.feeds).any()  # some feeds miss updates
    assert build_path(cfg, steps, step, 12).truth[100] != a.truth[100]


def test_a_csv_index_replays_constituent_prices(tmp_path) -> None:
    csv = tmp_path / "px.csv"
    csv.write_text("ts_ms,A,B\n0,100.5,101\n5000,,102\n12000,103,104\n")
    text = set_param(TINY, "instruments[0].index", {"kind": "csv", "csv_path": "px.csv",
                                                    "constituents": {"A": 1.0, "B": 1.0}})
    sc = parse_scenario(text, base=tmp_path)
    p = build_path(sc.instruments[0].index, 4, 5000, 0)
    assert p.feeds[0].tolist() == [100.5, 101.0]
    assert p.feeds[1][1] == 102.0 and p.feeds[1][0] != p.feeds[1][0]
    assert p.feeds[3].tolist() == [103.0, 104.0]
    assert p.truth[1] == 101.25  # median of the last known quotes


def test_the_insurance_fund_defaults_to_ten_xbt_and_takes_major_units_per_settle_currency() -> None:
    assert parse_scenario(TINY).insurance_fund == (("XBt", 1_000_000_000),)
    assert parse_scenario(set_param(TINY, "risk.insurance_fund", {"XBt": 2.5})).insurance_fund == \
        (("XBt", 250_000_000),)


@pytest.mark.parametrize("value, message", [
    ({"USDt": 1.0}, "scenario.risk.insurance_fund.USDt is not a settle currency of the listed instruments"),
    ({"XBt": -1.0}, "scenario.risk.insurance_fund.XBt must be >= 0, got -1.0"),
    ({"XBt": True}, "scenario.risk.insurance_fund.XBt must be a number, got True"),
    (5, "scenario.risk.insurance_fund must be a table, got int"),
])
def test_a_bad_insurance_fund_is_rejected_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message.replace(".", r"\.")):
        parse_scenario(set_param(TINY, "risk.insurance_fund", value))


def test_price_bands_and_position_limits_accept_their_names_in_any_case() -> None:
    sc = parse_scenario(set_param(set_param(TINY, "overload.price_bands", "Huobi"),
                                  "overload.position_limits", "huobi"))
    assert (sc.price_bands, sc.position_limits, sc.circuit_breaker) == ("huobi", "huobi", None)
    assert parse_scenario(TINY).price_bands == parse_scenario(TINY).position_limits == "none"


@pytest.mark.parametrize("field, value, message", [
    ("price_bands", "bitmex", "scenario.overload.price_bands must be one of none, okex, huobi, got 'bitmex'"),
    ("price_bands", 1, "scenario.overload.price_bands must be one of none, okex, huobi, got 1"),
    ("position_limits", "okex", "scenario.overload.position_limits must be one of none, huobi, got 'okex'"),
])
def test_unknown_overload_names_are_rejected_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message.replace(".", r"\.")):
        parse_scenario(set_param(TINY, f"overload.{field}", value))


def test_a_circuit_breaker_is_given_in_seconds_and_kept_in_milliseconds() -> None:
    text = set_param(TINY, "overload.circuit_breaker", {"max_move": 0.05, "window_s": 300, "halt_s": 1.5})
    assert parse_scenario(text).circuit_breaker == (0.05, 300_000, 1_500)


@pytest.mark.parametrize("value, message", [
    ({"max_move": 0.0, "window_s": 60, "halt_s": 60}, "circuit_breaker.max_move must be > 0, got 0.0"),
    ({"max_move": 1.5, "window_s": 60, "halt_s": 60}, "circuit_breaker.max_move must be <= 1, got 1.5"),
    ({"max_move": 0.1, "window_s": -1, "halt_s": 60}, "circuit_breaker.window_s must be > 0, got -1.0"),
    ({"max_move": 0.1, "window_s": 60}, "circuit_breaker.halt_s is required"),
    ({"max_move": 0.1, "window_s": 60, "halt_s": 60, "size": 1}, "circuit_breaker has unknown field"),
    ("yes", "circuit_breaker must be a table, got str"),
])
def test_a_bad_circuit_breaker_is_rejected_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(InvalidConfigError, match="scenario.overload." + message.replace(".", r"\.")):
        parse_scenario(set_param(TINY, "overload.circuit_breaker", value))


def test_okex_resting_liquidation_orders_wait_in_seconds_and_reach_the_exchange() -> None:
    from perpex.sim.runner import build_exchange
    text = set_param(set_param(TINY, "risk.mode", "okex"), "risk.repost_after_s", 60)
    sc = parse_scenario(text)
    assert sc.repost_after_ms == 60_000
    assert build_exchange(sc).risk_config.repost_after_ms == 60_000
    assert parse_scenario(set_param(TINY, "risk.mode", "okex")).repost_after_ms is None
    assert build_exchange(parse_scenario(TINY)).risk_config.repost_after_ms is None


@pytest.mark.parametrize("mode, value, message", [
    ("bitmex", 60, "scenario.risk.repost_after_s applies only to mode = \"okex\", not 'bitmex'"),
    ("okex", 0, "scenario.risk.repost_after_s must be > 0, got 0"),
    ("okex", "1m", "scenario.risk.repost_after_s must be a number, got '1m'"),
    ("okex", 0.0001, "scenario.risk.repost_after_s must be at least 0.001"),
])
def test_a_bad_liquidation_wait_is_rejected_naming_the_field(mode: str, value: object, message: str) -> None:
    text = set_param(set_param(TINY, "risk.mode", mode), "risk.repost_after_s", value)
    with pytest.raises(InvalidConfigError, match=message.replace(".", r"\.")):
        parse_scenario(text)
