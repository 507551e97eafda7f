"""Run outputs: the summary table (rich), CSV or Parquet tables, and PNG figures (matplotlib,
Agg backend).

Files written to the out directory: ``summary.json`` and ``summary.csv`` (deterministic: the
same seed gives the same bytes), ``trades``, ``events``, ``series`` and ``depth`` tables,
``timing.json`` (wall-clock figures, kept apart because they vary), and the figures
``prices.png`` (liquidations and ADL fills marked), ``funding.png``, ``open_interest.png``,
``insurance_fund.png`` (the fund per settle currency over cumulative liquidations and ADL
fills per contract) and ``depth_heatmap.png``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from perpex.sim.runner import (
    DEPTH_COLUMNS, EVENT_COLUMNS, SERIES_COLUMNS, TRADE_COLUMNS, RunResult)
from perpex.sim.scenario import MAJOR_UNITS

__all__ = ["FIGURES", "flat_summary", "summary_table", "write_outputs"]

FIGURES = ("prices.png", "funding.png", "open_interest.png", "insurance_fund.png", "depth_heatmap.png")


def flat_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """One level of keys (``fees_net.XBt``), for CSV rows and sweep tables."""
    out: dict[str, Any] = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) or "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def summary_table(result: RunResult) -> Any:
    """A rich Table of the run."""
    from rich.table import Table

    s = result.summary
    t = Table(title=f"perpex simulate: {s['scenario']} (seed {s['seed']}, {s['hours']:g} h)")
    t.add_column("figure", style="bold")
    t.add_column("value", justify="right")
    rows = [
        ("trades", s["trades"]), ("volume (contracts)", s["volume_contracts"]),
        ("turnover", s["turnover"]), ("fees, taker", s["taker_fees"]),
        ("fees, maker", s["maker_fees"]), ("fees, net to the exchange", s["fees_net"]),
        ("funding paid", s["funding_paid"]), ("funding payments", s["funding_events"]),
        ("liquidations", s["liquidations"]), ("ADL events", s["adl_events"]),
        ("liquidation engine", s["liquidation_stats"]),
        ("insurance fund start", s["insurance_fund_start"]),
        ("insurance fund end", s["insurance_fund_end"]),
        ("open interest at the end", s["open_interest_end"]),
        ("index low / end", {k: f"{s['index_low'][k]} / {s['index_end'][k]}" for k in s["index_low"]}),
        ("commands", s["commands"]), ("pricing", s["pricing"]),
        ("engine throughput", f"{result.throughput:,.0f} commands/s"),
        ("wall time", f"{result.wall_seconds:.1f} s"),
        ("ledgers balanced", s["ledgers_balanced"]), ("state hash", s["state_hash"]),
    ]
    for k, v in rows:
        t.add_row(k, _fmt(v))
    return t


def _write_table(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> Path:
    rows = list(rows)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in columns]
        table = pa.table({c: [("" if x is None else x) if not isinstance(x, (int, float, str))
                              else x for x in col] for c, col in zip(columns, cols)})
        out = path.with_suffix(".parquet")
        pq.write_table(table, out)
        return out
    out = path.with_suffix(".csv")
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
    return out


def write_outputs(result: RunResult, out: Path, *, fmt: str = "csv", figures: bool = True) -> list[Path]:
    """Writes every output file; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    p = out / "summary.json"
    p.write_text(json.dumps(result.summary, indent=1) + "\n", encoding="utf-8")
    written.append(p)
    flat = flat_summary(result.summary)
    written.append(_write_table(out / "summary", list(flat), [list(flat.values())], "csv"))
    written.append(_write_table(out / "trades", TRADE_COLUMNS, result.trades, fmt))
    written.append(_write_table(out / "events", EVENT_COLUMNS,
                                [[str(x) for x in row] for row in result.events], fmt))
    written.append(_write_table(out / "series", SERIES_COLUMNS, result.series, fmt))
    written.append(_write_table(out / "depth", DEPTH_COLUMNS, result.depth, fmt))
    p = out / "timing.json"
    p.write_text(json.dumps({"wall_seconds": round(result.wall_seconds, 3),
                             "engine_seconds": round(result.engine_seconds, 3),
                             "commands_per_second": round(result.throughput)}, indent=1) + "\n")
    written.append(p)
    if figures:
        written += write_figures(result, out)
    return written


def _hours(ts: Sequence[int], start: int) -> list[float]:
    return [(t - start) / 3_600_000 for t in ts]


def _num(x: str) -> float:
    return float(x) if x else float("nan")


def write_figures(result: RunResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    start = result.scenario.run.start_ms
    symbols = [i.symbol for i in result.scenario.instruments]
    by_sym = {s: [r for r in result.series if r[1] == s] for s in symbols}
    paths = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        p = out / name
        fig.savefig(p, dpi=90, metadata={"Software": None})
        plt.close(fig)
        paths.append(p)

    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 3.2 * len(symbols)), squeeze=False)
    for ax, s in zip(axes[:, 0], symbols):
        rows = by_sym[s]
        h = _hours([r[0] for r in rows], start)
        for col, label, style in ((2, "index", "-"), (3, "mark", "--"), (4, "last", ":")):
            ax.plot(h, [_num(r[col]) for r in rows], style, label=label, lw=1)
        liq = [(t, p) for t, sym, p in result.liquidations if sym == s and p]
        if liq:
            ax.scatter(_hours([t for t, _ in liq], start), [float(p) for _, p in liq], marker="x",
                       color="red", s=18, label="liquidations", zorder=3)
        ax.set_title(f"{s}: index, mark and last price")
        ax.set_xlabel("hours")
        ax.legend(loc="best", fontsize=8)
    save(fig, "prices.png")

    fig, ax = plt.subplots(figsize=(10, 3.5))
    for s in symbols:
        rows = by_sym[s]
        src = rows[-1][10] if rows else ""
        ax.plot(_hours([r[0] for r in rows], start), [float(r[9]) * 100 for r in rows],
                label=f"{s} ({src})", lw=1)
    ax.set_title("funding rate per interval (%)")
    ax.set_xlabel("hours")
    ax.legend(fontsize=8)
    save(fig, "funding.png")

    fig, ax = plt.subplots(figsize=(10, 3.5))
    for s in symbols:
        rows = by_sym[s]
        ax.plot(_hours([r[0] for r in rows], start), [r[7] for r in rows], label=s, lw=1)
    ax.set_title("open interest (contracts)")
    ax.set_xlabel("hours")
    ax.legend(fontsize=8)
    save(fig, "open_interest.png")

    # The fund is one balance per settle currency; the engine's takeovers and ADL fills are
    # counted per contract, so the lower panel shows where the fund's flows came from.
    fig, (top, low) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    seen: set[str] = set()
    for s in symbols:
        ccy = result.scenario.instrument(s).settle_currency
        if ccy in seen:
            continue
        seen.add(ccy)
        rows = by_sym[s]
        unit = MAJOR_UNITS.get(ccy, 1)
        top.plot(_hours([r[0] for r in rows], start), [r[8] / unit for r in rows],
                 label=ccy[:-1] + ccy[-1].upper(), lw=1.2)
    top.set_title("insurance fund (major units)")
    top.legend(fontsize=8)
    for s in symbols:
        rows = by_sym[s]
        h = _hours([r[0] for r in rows], start)
        low.step(h, [r[11] for r in rows], where="post", label=f"{s} liquidations", lw=1)
        if any(r[12] for r in rows):
            low.step(h, [r[12] for r in rows], where="post", ls="--", label=f"{s} ADL fills", lw=1)
    low.set_title("liquidations and auto-deleverage fills (cumulative)")
    low.set_xlabel("hours")
    low.legend(fontsize=8)
    save(fig, "insurance_fund.png")

    s = symbols[0]
    rows = [r for r in result.depth if r[1] == s]
    fig, ax = plt.subplots(figsize=(10, 4))
    if rows:
        ts = sorted({r[0] for r in rows})
        column = {t: i for i, t in enumerate(ts)}
        prices = np.array([float(r[3]) for r in rows])
        lo, hi = float(prices.min()), float(prices.max())
        bins = 120
        grid = np.zeros((bins, len(ts)))
        y = np.minimum(((prices - lo) / max(hi - lo, 1e-9) * bins).astype(int), bins - 1)
        for (t, _s, _side, _p, q), yi in zip(rows, y.tolist()):
            grid[yi, column[t]] += q
        ax.imshow(np.log1p(grid), aspect="auto", origin="lower", cmap="viridis",
                  extent=(_hours([ts[0]], start)[0], _hours([ts[-1]], start)[0], lo, hi))
    ax.set_title(f"{s}: resting depth (log contracts)")
    ax.set_xlabel("hours")
    ax.set_ylabel("price")
    save(fig, "depth_heatmap.png")
    return paths
