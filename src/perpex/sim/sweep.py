"""Parameter sweeps: one scenario, a parameter's values x seeds, run on dask.distributed.

Every combination is validated before any worker starts. By default a LocalCluster of two
single-threaded worker processes runs them; a scheduler address scales out to an existing
cluster; ``workers=0`` runs them in this process (no dask), which is handy for quick checks.
Results come back as one row per run (the flattened summary plus ``param``/``value``), sorted
by value then seed, so the table does not depend on which worker finished first.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

from perpex.errors import InvalidConfigError
from perpex.sim.report import flat_summary
from perpex.sim.scenario import parse_scenario, set_param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SWEEP_COLUMNS", "parse_values", "run_one", "sweep", "sweep_table", "write_sweep"]

SWEEP_COLUMNS = ("param", "value", "seed", "trades", "volume_contracts", "fees_net", "funding_paid",
                 "liquidations", "adl_events", "insurance_fund_end", "commands", "state_hash")


def parse_values(spec: str) -> tuple[str, list[Any]]:
    """``NAME=V1,V2`` -> (NAME, [V1, V2]); each value is read as a TOML value, else a string."""
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise InvalidConfigError(f"--param {spec!r} must look like NAME=V1,V2")
    values: list[Any] = []
    for raw in rest.split(","):
        raw = raw.strip()
        if not raw:
            raise InvalidConfigError(f"--param {spec!r} has an empty value")
        try:
            values.append(tomllib.loads(f"v = {raw}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(raw)
    return name.strip(), values


def _text(text: str, param: str, value: Any, seed: int) -> str:
    return set_param(set_param(text, param, value), "run.seed", seed)


def run_one(text: str, param: str, value: Any, seed: int, base: str | None = None) -> dict[str, Any]:
    """One run of the sweep (the function the workers execute)."""
    from perpex.sim.runner import run_scenario

    sc = parse_scenario(_text(text, param, value, seed), base=Path(base) if base else None)
    res = run_scenario(sc, journal=False)
    row = {"param": param, "value": value, **flat_summary(res.summary)}
    row["wall_seconds"] = round(res.wall_seconds, 3)
    return row


def sweep(text: str, param: str, values: Sequence[Any], seeds: int, *, scheduler: str | None = None,
          workers: int = 2, base: str | None = None) -> list[dict[str, Any]]:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise InvalidConfigError(f"seeds={seeds!r} must be an int >= 1")
    first = parse_scenario(text, base=Path(base) if base else None).run.seed
    jobs = [(v, first + i) for v in values for i in range(seeds)]
    for v, s in jobs:  # every combination is checked before anything runs
        parse_scenario(_text(text, param, v, s), base=Path(base) if base else None)
    if scheduler is None and workers == 0:
        rows = [run_one(text, param, v, s, base) for v, s in jobs]
    else:
        from dask.distributed import Client, LocalCluster

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        try:
            with Client(scheduler if cluster is None else cluster) as client:
                futures = [client.submit(run_one, text, param, v, s, base, pure=False) for v, s in jobs]
                rows = client.gather(futures)
        finally:
            if cluster is not None:
                cluster.close()
    return sorted(rows, key=lambda r: (str(r["value"]), r["seed"]))


def _pick(row: dict[str, Any], key: str) -> str:
    parts = [f"{k.split('.', 1)[1]} {v}" for k, v in row.items() if k.startswith(key + ".")]
    return ", ".join(parts) if parts else str(row.get(key, ""))


def sweep_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    t = Table(title="perpex sweep")
    for c in SWEEP_COLUMNS:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(*(_pick(r, c) for c in SWEEP_COLUMNS))
    return t


def write_sweep(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """``sweep.csv`` (every summary field) and ``sweep.png`` (trades and volume by value)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    p = out / "sweep.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, keys, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted({str(r["value"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key in zip(axes, ("trades", "liquidations")):
        xs = [values.index(str(r["value"])) for r in rows]
        ax.scatter(xs, [r[key] for r in rows], s=16)
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(rows[0]["param"] if rows else "")
        ax.set_title(f"{key} by value (one point per seed)")
    fig.tight_layout()
    png = out / "sweep.png"
    fig.savefig(png, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return [p, png]
