"""Index paths: the "true" price of an underlying and the constituent feeds quoting it.

Synthetic paths are a seeded Merton jump-diffusion in log price on the run's step grid, with a
scheduled crash (a linear log drop over ``crash_minutes``) followed by a rebound over
``rebound_hours``. Each constituent quotes the true price times its own small persistent bias
and per-step noise, rounded to ``decimals`` places, and now and then misses an update (the index
then reuses its previous quote, as on a real feed outage). A CSV path replays constituent
prices: a ``ts_ms`` column (milliseconds from the run start) and one column per constituent, an
empty cell meaning "no update"; each step takes the last row at or before it.

Feeds are held as a float array with NaN for "no quote this step"; rounding to ``decimals``
keeps every quote a short decimal, which the index reads exactly.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass

import numpy as np

from perpex.errors import InvalidConfigError
from perpex.sim.scenario import HOUR_MS, IndexPathConfig

__all__ = ["IndexPath", "build_path"]

DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class IndexPath:
    """``truth[k]`` and ``feeds[k, j]`` (NaN: no quote) at step ``k``, time ``k * step_ms``."""

    names: tuple[str, ...]
    truth: np.ndarray
    feeds: np.ndarray


def _synthetic(cfg: IndexPathConfig, steps: int, step_ms: int, rng: np.random.Generator) -> np.ndarray:
    dt = step_ms / DAY_MS
    sigma = cfg.daily_vol * math.sqrt(dt)
    diffusion = rng.normal(-0.5 * sigma * sigma, sigma, steps)
    jumps = rng.poisson(cfg.jump_rate_per_day * dt, steps)
    sizes = rng.normal(0.0, cfg.jump_sigma, steps) * np.sqrt(jumps)
    dlog = diffusion + np.where(jumps > 0, sizes, 0.0)
    if cfg.crash_at_hours is not None:
        t = np.arange(1, steps + 1) * step_ms
        c0 = cfg.crash_at_hours * HOUR_MS
        c1 = c0 + cfg.crash_minutes * 60_000
        r1 = c1 + cfg.rebound_hours * HOUR_MS
        crash = math.log1p(-cfg.crash_pct) * step_ms / (c1 - c0)
        rebound = math.log1p(cfg.rebound_pct) * step_ms / (r1 - c1)
        dlog = dlog + np.where((t > c0) & (t <= c1), crash, 0.0) + np.where((t > c1) & (t <= r1), rebound, 0.0)
    return cfg.start_price * np.exp(np.concatenate([[0.0], np.cumsum(dlog)]))


def _from_csv(cfg: IndexPathConfig, steps: int, step_ms: int) -> tuple[np.ndarray, np.ndarray]:
    names = [n for n, _ in cfg.constituents]
    field = "csv_path"
    assert cfg.csv_path is not None
    with open(cfg.csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][:1] != ["ts_ms"]:
        raise InvalidConfigError(f"index {field} {cfg.csv_path!r}: the first column must be ts_ms")
    header = rows[0]
    missing = [n for n in names if n not in header]
    if missing:
        raise InvalidConfigError(f"index {field} {cfg.csv_path!r} has no column(s) {', '.join(missing)}")
    cols = [header.index(n) for n in names]
    feeds = np.full((steps + 1, len(names)), np.nan)
    last_ts = -1
    k = 0
    for line, row in enumerate(rows[1:], start=2):
        try:
            ts = int(row[0])
            vals = [float(row[c]) if c < len(row) and row[c].strip() else math.nan for c in cols]
        except ValueError:
            raise InvalidConfigError(f"index {field} {cfg.csv_path!r} line {line}: not a number") from None
        if ts < last_ts:
            raise InvalidConfigError(f"index {field} {cfg.csv_path!r} line {line}: ts_ms={ts} goes back in time")
        if any(v <= 0 or not math.isfinite(v) for v in vals if not math.isnan(v)):
            raise InvalidConfigError(f"index {field} {cfg.csv_path!r} line {line}: prices must be > 0")
        last_ts = ts
        k = max(0, -(-ts // step_ms))
        if k > steps:
            break
        for j, v in enumerate(vals):
            if not math.isnan(v):
                feeds[k, j] = round(v, cfg.decimals)
    if np.isnan(feeds[0]).all():
        raise InvalidConfigError(f"index {field} {cfg.csv_path!r} must quote at least one constituent at ts_ms=0")
    filled = feeds.copy()
    for k in range(1, steps + 1):
        row = filled[k]
        row[np.isnan(row)] = filled[k - 1][np.isnan(row)]
    truth = np.array([float(np.median(r[~np.isnan(r)])) for r in filled])
    return truth, feeds


def build_path(cfg: IndexPathConfig, steps: int, step_ms: int, seed: int | np.random.SeedSequence) -> IndexPath:
    """The path of one underlying over ``steps`` steps (``steps + 1`` points)."""
    rng = np.random.default_rng(seed)
    names = tuple(n for n, _ in cfg.constituents)
    if cfg.kind == "csv":
        truth, feeds = _from_csv(cfg, steps, step_ms)
        return IndexPath(names, truth, feeds)
    truth = _synthetic(cfg, steps, step_ms, rng)
    n = len(names)
    bias = rng.normal(0.0, cfg.feed_noise, n)
    noise = rng.normal(0.0, cfg.feed_noise, (steps + 1, n))
    feeds = np.round(truth[:, None] * np.exp(bias[None, :] + noise), cfg.decimals)
    drop = rng.random((steps + 1, n)) < cfg.feed_dropout
    drop[0] = False
    feeds[drop] = np.nan
    return IndexPath(names, truth, feeds)
