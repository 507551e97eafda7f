"""Simulation scenarios: TOML in, frozen dataclasses out, every error naming its field.

A scenario lists the instruments (a preset with overrides, or a custom contract), the index
path of each (synthetic jump-diffusion with a scheduled crash and rebound, or constituent
prices replayed from a CSV), the agents with their parameters, the risk mode and the overload
limits. :func:`load_scenario` validates everything before anything runs, raising
:class:`~perpex.errors.InvalidConfigError` with messages such as
``scenario.agents[2].spread_ticks must be > 0, got 0``.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from perpex import presets
from perpex.errors import InvalidConfigError
from perpex.instruments import ContractType, Instrument

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "AGENT_KINDS", "AgentConfig", "DEFAULT_INSURANCE_FUND", "IndexPathConfig", "InstrumentConfig",
    "POSITION_LIMITS", "PRICE_BANDS", "RISK_MODES",
    "RunConfig", "Scenario", "default_scenario_text", "load_scenario", "parse_scenario",
    "set_param",
]

HOUR_MS = 3_600_000
RISK_MODES = ("bitmex", "okex", "huobi")
PRICE_BANDS = ("none", "okex", "huobi")
POSITION_LIMITS = ("none", "huobi")
# Opening insurance fund per settle currency, in major units, when the scenario names none:
# a small exchange's fund (BitMEX's was ~10 XBT in its first months), non-zero so that the
# first deficits are paid by the fund before anything is auto-deleveraged.
DEFAULT_INSURANCE_FUND = {"XBt": 10.0, "USDt": 100_000.0}
PRESETS = {"XBTUSD": presets.XBTUSD, "ETHUSD": presets.ETHUSD, "XBTUSDT": presets.XBTUSDT}
MAJOR_UNITS = {"XBt": 100_000_000, "USDt": 1_000_000}

# kind -> parameter -> (type, minimum or None, exclusive minimum?, default)
_P = tuple[type, float | None, bool, Any]
AGENT_KINDS: dict[str, dict[str, _P]] = {
    "market_maker": {
        "spread_ticks": (int, 0, True, 4), "levels": (int, 0, True, 2),
        "level_step_ticks": (int, 0, True, 4), "size": (int, 0, True, 2_000),
        "max_inventory": (int, 0, True, 50_000), "skew_ticks": (float, 0, False, 6.0),
        "requote_ms": (int, 0, True, 20_000), "balance": (float, 0, True, 50.0),
        "leverage": (float, 0, False, 0.0),
    },
    "noise": {
        "rate_per_min": (float, 0, True, 2.0), "size_median": (int, 0, True, 500),
        "size_sigma": (float, 0, False, 1.0), "limit_fraction": (float, 0, False, 0.3),
        "balance": (float, 0, True, 20.0), "leverage": (float, 0, False, 0.0),
    },
    "trend": {
        "fast_ms": (int, 0, True, 10 * 60_000), "slow_ms": (int, 0, True, 60 * 60_000),
        "threshold": (float, 0, True, 0.002), "size": (int, 0, True, 20_000),
        "leverage": (float, 0, True, 20.0), "stop_pct": (float, 0, True, 0.02),
        "trail_pct": (float, 0, True, 0.015), "cooldown_ms": (int, 0, False, 30 * 60_000),
        "balance": (float, 0, True, 2.0), "trigger": (str, None, False, "LastPrice"),
    },
    "funding_arb": {
        "threshold": (float, 0, True, 0.001), "size": (int, 0, True, 5_000),
        "max_position": (int, 0, True, 50_000), "interval_ms": (int, 0, True, 60_000),
        "balance": (float, 0, True, 20.0), "leverage": (float, 0, False, 0.0),
    },
    "whale": {
        "sell_at_hours": (float, 0, False, 9.0), "buy_at_hours": (float, 0, False, 11.0),
        "qty": (int, 0, True, 400_000), "chunks": (int, 0, True, 20),
        "over_minutes": (float, 0, True, 20.0), "balance": (float, 0, True, 500.0),
        "leverage": (float, 0, False, 0.0),
    },
}
_TRIGGERS = ("LastPrice", "MarkPrice", "IndexPrice")


@dataclass(frozen=True)
class RunConfig:
    hours: float = 24.0
    step_ms: int = 5_000
    sample_ms: int = 60_000
    seed: int = 7
    start_ms: int = 1_577_836_800_000  # 2020-01-01 00:00 UTC, a funding-grid instant
    depth_levels: int = 20
    pricing: str = "auto"  # "auto": the Exchange's update_index when it has one; "mark": set_mark

    @property
    def end_ms(self) -> int:
        return self.start_ms + round(self.hours * HOUR_MS)


@dataclass(frozen=True)
class IndexPathConfig:
    kind: str = "synthetic"
    constituents: tuple[tuple[str, float], ...] = (("Bitstamp", 1.0), ("Coinbase", 1.0), ("Kraken", 1.0))
    start_price: float = 10_000.0
    daily_vol: float = 0.03
    jump_rate_per_day: float = 6.0
    jump_sigma: float = 0.006
    feed_noise: float = 0.0003
    feed_dropout: float = 0.02
    crash_at_hours: float | None = 9.0
    crash_pct: float = 0.15
    crash_minutes: float = 40.0
    rebound_pct: float = 0.10
    rebound_hours: float = 3.0
    csv_path: str | None = None
    decimals: int = 2


@dataclass(frozen=True)
class InstrumentConfig:
    instrument: Instrument
    index: IndexPathConfig

    @property
    def symbol(self) -> str:
        return self.instrument.symbol


@dataclass(frozen=True)
class AgentConfig:
    kind: str
    symbol: str
    count: int
    params: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        return dict(self.params)[name]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: RunConfig
    risk_mode: str
    rate_limit: tuple[int, float] | None
    max_open_orders: int
    max_stop_orders: int
    instruments: tuple[InstrumentConfig, ...]
    agents: tuple[AgentConfig, ...]
    source: str  # the TOML text it came from (journaled so a replay rebuilds the same run)
    insurance_fund: tuple[tuple[str, int], ...] = ()  # (settle currency, minor units), sorted
    price_bands: str = "none"
    position_limits: str = "none"
    circuit_breaker: tuple[float, int, int] | None = None  # (max_move, window_ms, halt_ms)
    repost_after_ms: int | None = None  # OKEx: resting partial-liquidation orders' wait

    def instrument(self, symbol: str) -> Instrument:
        return next(i.instrument for i in self.instruments if i.symbol == symbol)

    def with_seed(self, seed: int) -> Scenario:
        return parse_scenario(set_param(self.source, "run.seed", seed))

    def with_hours(self, hours: float) -> Scenario:
        return parse_scenario(set_param(self.source, "run.hours", hours))


# ----------------------------------------------------------------------------- validation
def _bad(field: str, msg: str) -> InvalidConfigError:
    return InvalidConfigError(f"scenario.{field} {msg}")


def _table(raw: object, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(field, f"must be a table, got {type(raw).__name__}")
    return dict(raw)


def _no_extra(raw: Mapping[str, Any], allowed: Mapping[str, Any] | tuple[str, ...], field: str) -> None:
    extra = sorted(set(raw) - set(allowed))
    if extra:
        where = f"scenario.{field}" if field else "scenario"
        raise InvalidConfigError(f"{where} has unknown field(s) {', '.join(extra)} "
                                 f"(allowed: {', '.join(sorted(allowed))})")


def _num(raw: Mapping[str, Any], key: str, field: str, kind: type, default: Any,
         low: float | None = None, exclusive: bool = False, high: float | None = None) -> Any:
    value = raw.get(key, default)
    name = f"{field}.{key}" if field else key
    if kind is str:
        if not isinstance(value, str) or not value:
            raise _bad(name, f"must be a non-empty string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, f"must be a number, got {value!r}")
    if kind is int:
        if not isinstance(value, int):
            raise _bad(name, f"must be an integer, got {value!r}")
    elif value != value or value in (float("inf"), float("-inf")):
        raise _bad(name, f"must be finite, got {value!r}")
    value = kind(value)
    if low is not None and (value <= low if exclusive else value < low):
        raise _bad(name, f"must be {'>' if exclusive else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise _bad(name, f"must be <= {high:g}, got {value!r}")
    return value


def _run(raw: Mapping[str, Any]) -> RunConfig:
    d = RunConfig()
    _no_extra(raw, d.__dataclass_fields__, "run")
    r = RunConfig(
        hours=_num(raw, "hours", "run", float, d.hours, 0, True, 24 * 365),
        step_ms=_num(raw, "step_ms", "run", int, d.step_ms, 0, True),
        sample_ms=_num(raw, "sample_ms", "run", int, d.sample_ms, 0, True),
        seed=_num(raw, "seed", "run", int, d.seed, 0),
        start_ms=_num(raw, "start_ms", "run", int, d.start_ms, 0),
        depth_levels=_num(raw, "depth_levels", "run", int, d.depth_levels, 0, True, 200),
        pricing=_num(raw, "pricing", "run", str, d.pricing))
    if r.pricing not in ("auto", "mark"):
        raise _bad("run.pricing", f"must be 'auto' or 'mark', got {r.pricing!r}")
    if r.sample_ms % r.step_ms:
        raise _bad("run.sample_ms", f"must be a multiple of run.step_ms={r.step_ms}, got {r.sample_ms}")
    if r.end_ms - r.start_ms < r.step_ms:
        raise _bad("run.hours", f"must cover at least one step of {r.step_ms} ms, got {r.hours}")
    return r


def _index(raw: Mapping[str, Any], field: str, base: Path | None) -> IndexPathConfig:
    d = IndexPathConfig()
    _no_extra(raw, d.__dataclass_fields__, field)
    kind = raw.get("kind", d.kind)
    if kind not in ("synthetic", "csv"):
        raise _bad(f"{field}.kind", f"must be 'synthetic' or 'csv', got {kind!r}")
    cons = raw.get("constituents", dict(d.constituents))
    if not isinstance(cons, Mapping) or not cons:
        raise _bad(f"{field}.constituents", f"must be a non-empty table name = weight, got {cons!r}")
    weights = tuple((str(k), _num(cons, k, f"{field}.constituents", float, None, 0, True))
                    for k in cons)
    csv_path = raw.get("csv_path")
    if kind == "csv":
        if not isinstance(csv_path, str) or not csv_path:
            raise _bad(f"{field}.csv_path", f"is required when kind = 'csv', got {csv_path!r}")
        p = Path(csv_path)
        if not p.is_absolute() and base is not None:
            p = base / p
        if not p.is_file():
            raise _bad(f"{field}.csv_path", f"names no readable file: {str(p)!r}")
        csv_path = str(p)
    crash = raw.get("crash_at_hours", d.crash_at_hours)
    f = field
    return IndexPathConfig(
        kind=kind, constituents=weights,
        start_price=_num(raw, "start_price", f, float, d.start_price, 0, True),
        daily_vol=_num(raw, "daily_vol", f, float, d.daily_vol, 0, False, 1.0),
        jump_rate_per_day=_num(raw, "jump_rate_per_day", f, float, d.jump_rate_per_day, 0),
        jump_sigma=_num(raw, "jump_sigma", f, float, d.jump_sigma, 0, False, 0.5),
        feed_noise=_num(raw, "feed_noise", f, float, d.feed_noise, 0, False, 0.1),
        feed_dropout=_num(raw, "feed_dropout", f, float, d.feed_dropout, 0, False, 0.9),
        crash_at_hours=None if crash is False else _num(raw, "crash_at_hours", f, float, crash, 0),
        crash_pct=_num(raw, "crash_pct", f, float, d.crash_pct, 0, False, 0.9),
        crash_minutes=_num(raw, "crash_minutes", f, float, d.crash_minutes, 0, True),
        rebound_pct=_num(raw, "rebound_pct", f, float, d.rebound_pct, 0, False, 10.0),
        rebound_hours=_num(raw, "rebound_hours", f, float, d.rebound_hours, 0, True),
        csv_path=csv_path if kind == "csv" else None,
        decimals=_num(raw, "decimals", f, int, d.decimals, 0, False, 8))


def _contract_value(key: str, value: Any, field: str) -> Any:
    if key in ("tick_size", "max_price"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _bad(f"{field}.{key}", f"must be a number or decimal string, got {value!r}")
        return Decimal(str(value))
    if key == "contract_type":
        names = [c.name for c in ContractType]
        if not isinstance(value, str) or value.upper() not in names:
            raise _bad(f"{field}.{key}", f"must be one of {', '.join(names)}, got {value!r}")
        return ContractType[value.upper()]
    return value


def _instrument(raw: Mapping[str, Any], field: str, base: Path | None) -> InstrumentConfig:
    _no_extra(raw, ("preset", "contract", "index"), field)
    contract = _table(raw.get("contract", {}), f"{field}.contract")
    fields = Instrument.__dataclass_fields__
    for key in contract:
        if key not in fields or key.startswith("_"):
            raise _bad(f"{field}.contract.{key}", "is not an instrument field")
    values = {k: _contract_value(k, v, f"{field}.contract") for k, v in contract.items()}
    preset = raw.get("preset")
    try:
        if preset is not None:
            if preset not in PRESETS:
                raise _bad(f"{field}.preset", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
            inst = PRESETS[preset](**values)
        else:
            inst = Instrument(**values)
    except InvalidConfigError as exc:
        if str(exc).startswith("scenario."):
            raise
        raise _bad(f"{field}.contract", f"is not a valid instrument: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _bad(f"{field}.contract", f"is not a valid instrument: {exc}") from None
    if not inst.is_perpetual:
        raise _bad(f"{field}.contract", f"must describe a perpetual swap ({inst.symbol} has an expiry)")
    if inst.settle_currency not in MAJOR_UNITS:
        raise _bad(f"{field}.contract.settle_currency",
                   f"must be one of {', '.join(MAJOR_UNITS)}, got {inst.settle_currency!r}")
    index = _index(_table(raw.get("index", {}), f"{field}.index"), f"{field}.index", base)
    return InstrumentConfig(inst, index)


def _agent(raw: Mapping[str, Any], field: str, symbols: list[str]) -> AgentConfig:
    kind = raw.get("kind")
    if kind not in AGENT_KINDS:
        raise _bad(f"{field}.kind", f"must be one of {', '.join(AGENT_KINDS)}, got {kind!r}")
    spec = AGENT_KINDS[kind]
    _no_extra(raw, ("kind", "symbol", "count", *spec), field)
    symbol = raw.get("symbol", symbols[0])
    if symbol not in symbols:
        raise _bad(f"{field}.symbol", f"must be a listed instrument ({', '.join(symbols)}), got {symbol!r}")
    count = _num(raw, "count", field, int, 1, 0, True, 1000)
    params = []
    for name, (typ, low, excl, default) in spec.items():
        params.append((name, _num(raw, name, field, typ, default, low, excl)))
    p = dict(params)
    if kind == "trend":
        if p["trigger"] not in _TRIGGERS:
            raise _bad(f"{field}.trigger", f"must be one of {', '.join(_TRIGGERS)}, got {p['trigger']!r}")
        if p["fast_ms"] >= p["slow_ms"]:
            raise _bad(f"{field}.fast_ms", f"must be < slow_ms={p['slow_ms']}, got {p['fast_ms']}")
    if kind == "whale" and p["buy_at_hours"] <= p["sell_at_hours"]:
        raise _bad(f"{field}.buy_at_hours",
                   f"must be > sell_at_hours={p['sell_at_hours']}, got {p['buy_at_hours']}")
    if kind in ("noise",) and p["limit_fraction"] > 1:
        raise _bad(f"{field}.limit_fraction", f"must be <= 1, got {p['limit_fraction']}")
    return AgentConfig(kind, symbol, count, tuple(params))


def parse_scenario(text: str, *, base: Path | None = None) -> Scenario:
    """Validates a scenario given as TOML text (``base``: where relative CSV paths start)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfigError(f"scenario is not valid TOML: {exc}") from None
    _no_extra(raw, ("name", "run", "risk", "overload", "instruments", "agents"), "")
    name = raw.get("name", "scenario")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.\- ]{1,64}", name):
        raise _bad("name", f"must be 1-64 letters, digits, spaces, '.', '-' or '_', got {name!r}")
    run = _run(_table(raw.get("run", {}), "run"))
    risk = _table(raw.get("risk", {}), "risk")
    _no_extra(risk, ("mode", "insurance_fund", "repost_after_s"), "risk")
    mode = risk.get("mode", "bitmex")
    if mode not in RISK_MODES:
        raise _bad("risk.mode", f"must be one of {', '.join(RISK_MODES)}, got {mode!r}")
    repost = None
    if "repost_after_s" in risk:
        if mode != "okex":
            raise _bad("risk.repost_after_s", f"applies only to mode = \"okex\", not {mode!r}")
        repost = round(_num(risk, "repost_after_s", "risk", float, None, 0, True) * 1000)
        if repost < 1:
            raise _bad("risk.repost_after_s", "must be at least 0.001 (one millisecond)")
    over = _table(raw.get("overload", {}), "overload")
    _no_extra(over, ("rate_limit_capacity", "rate_limit_per_s", "max_open_orders", "max_stop_orders",
                     "price_bands", "circuit_breaker", "position_limits"), "overload")
    bands = _choice_field(over, "price_bands", PRICE_BANDS)
    limits = _choice_field(over, "position_limits", POSITION_LIMITS)
    breaker = _breaker(over.get("circuit_breaker"))
    rate = None
    if "rate_limit_capacity" in over or "rate_limit_per_s" in over:
        rate = (_num(over, "rate_limit_capacity", "overload", int, 60, 0, True),
                _num(over, "rate_limit_per_s", "overload", float, 1.0, 0, True))
    insts = raw.get("instruments")
    if not isinstance(insts, list) or not insts:
        raise _bad("instruments", f"must be a non-empty array of tables, got {insts!r}")
    icfgs = tuple(_instrument(_table(x, f"instruments[{i}]"), f"instruments[{i}]", base)
                  for i, x in enumerate(insts))
    symbols = [i.symbol for i in icfgs]
    if len(set(symbols)) != len(symbols):
        raise _bad("instruments", f"symbols must be unique, got {symbols}")
    fund = _insurance_fund(risk.get("insurance_fund"),
                           sorted({i.instrument.settle_currency for i in icfgs}))
    agents = raw.get("agents", [])
    if not isinstance(agents, list):
        raise _bad("agents", f"must be an array of tables, got {agents!r}")
    acfgs = tuple(_agent(_table(x, f"agents[{i}]"), f"agents[{i}]", symbols) for i, x in enumerate(agents))
    return Scenario(
        name=name, run=run, risk_mode=mode, rate_limit=rate,
        max_open_orders=_num(over, "max_open_orders", "overload", int, 200, 0, True),
        max_stop_orders=_num(over, "max_stop_orders", "overload", int, 10, 0),
        instruments=icfgs, agents=acfgs, source=text, insurance_fund=fund, price_bands=bands,
        position_limits=limits, circuit_breaker=breaker, repost_after_ms=repost)


def _choice_field(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, "none")
    if not isinstance(value, str) or value.lower() not in allowed:
        raise _bad(f"overload.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
    return value.lower()


def _breaker(raw: object) -> tuple[float, int, int] | None:
    """``{max_move, window_s, halt_s}`` as (fraction, window ms, halt ms), or None when absent."""
    if raw is None:
        return None
    f = "overload.circuit_breaker"
    table = _table(raw, f)
    _no_extra(table, ("max_move", "window_s", "halt_s"), f)
    for key in ("max_move", "window_s", "halt_s"):
        if key not in table:
            raise _bad(f"{f}.{key}", "is required")
    move = _num(table, "max_move", f, float, None, 0, True, 1.0)
    window = _num(table, "window_s", f, float, None, 0, True, 86_400.0)
    halt = _num(table, "halt_s", f, float, None, 0, True, 86_400.0)
    window_ms, halt_ms = round(window * 1000), round(halt * 1000)
    if window_ms < 1:
        raise _bad(f"{f}.window_s", f"must be at least 0.001 s, got {window!r}")
    if halt_ms < 1:
        raise _bad(f"{f}.halt_s", f"must be at least 0.001 s, got {halt!r}")
    return (move, window_ms, halt_ms)


def _insurance_fund(raw: object, currencies: list[str]) -> tuple[tuple[str, int], ...]:
    """The opening fund in minor units per settle currency (given in major units: XBT, USDT);
    a currency left out gets :data:`DEFAULT_INSURANCE_FUND`."""
    f = "risk.insurance_fund"
    table = {} if raw is None else _table(raw, f)
    for ccy in table:
        if ccy not in currencies:
            raise _bad(f"{f}.{ccy}", f"is not a settle currency of the listed instruments "
                                     f"({', '.join(currencies)})")
    out = []
    for ccy in currencies:
        major = _num(table, ccy, f, float, DEFAULT_INSURANCE_FUND.get(ccy, 0.0), 0, False, 1e9)
        # exact decimal scaling: 10.5 XBT is 1_050_000_000 XBt, never a float product
        out.append((ccy, int((Decimal(repr(major)) * MAJOR_UNITS[ccy]).to_integral_value())))
    return tuple(out)


def default_scenario_text() -> str:
    return resources.files("perpex.sim").joinpath("default.toml").read_text(encoding="utf-8")


def load_scenario(path: str | Path | None = None) -> Scenario:
    """The scenario in ``path``, or the built-in default when None."""
    if path is None:
        return parse_scenario(default_scenario_text())
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidConfigError(f"scenario file {str(p)!r} cannot be read: {exc.strerror}") from None
    return parse_scenario(text, base=p.parent)


# ----------------------------------------------------------------------------- overrides
_STEP = re.compile(r"([A-Za-z_]\w*)(?:\[(\d+)\])?")


def set_param(text: str, name: str, value: Any) -> str:
    """The scenario text with the dotted field ``name`` (``agents[0].spread_ticks``,
    ``run.hours``) set to ``value``; an unknown path raises naming it."""
    raw = copy.deepcopy(tomllib.loads(text))
    parts = name.split(".")
    node: Any = raw
    for k, part in enumerate(parts):
        m = _STEP.fullmatch(part)
        if m is None:
            raise InvalidConfigError(f"parameter {name!r}: {part!r} is not a field name")
        key, idx = m.group(1), m.group(2)
        last = k == len(parts) - 1 and idx is None
        if last:
            if not isinstance(node, dict):
                raise InvalidConfigError(f"parameter {name!r}: scenario.{'.'.join(parts[:k])} is not a table")
            node[key] = value
            break
        if not isinstance(node, dict):
            raise InvalidConfigError(f"parameter {name!r}: scenario.{'.'.join(parts[:k])} is not a table")
        node = node.setdefault(key, {}) if idx is None else node.get(key)
        if idx is not None:
            if not isinstance(node, list) or int(idx) >= len(node):
                raise InvalidConfigError(f"parameter {name!r}: scenario.{key}[{idx}] does not exist")
            node = node[int(idx)]
            if k == len(parts) - 1:
                raise InvalidConfigError(f"parameter {name!r} must end with a field name")
    return dumps_toml(raw)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise InvalidConfigError(f"cannot write {type(v).__name__} {v!r} into a scenario")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def dumps_toml(raw: Mapping[str, Any]) -> str:
    """A small TOML writer for scenario data: top-level scalars, tables, arrays of tables
    (nested tables inline)."""
    lines = [f"{_key(k)} = {_toml_value(v)}" for k, v in raw.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_toml_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_toml_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"
