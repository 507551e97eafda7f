"""The `perpex` command."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal


def _demo(args: argparse.Namespace) -> int:
    from perpex.sim.demo import run

    r = run(args.messages, args.seed)
    tick = Decimal("0.5")
    rows = [
        ("messages", f"{r.messages:,}"),
        ("fills", f"{r.fills:,}"),
        ("traded contracts", f"{r.traded_qty:,}"),
        ("late cancels (already filled)", f"{r.rejected_rows:,}"),
        ("best bid / ask", f"{r.best_bid * tick} / {r.best_ask * tick}"),
        ("resting / conditional orders", f"{r.resting_orders:,} / {r.conditional_orders:,}"),
        ("throughput (batch)", f"{r.messages / r.seconds / 1e6:.2f} M msgs/s"),
        ("fill tape digest", f"{r.tape_digest:016x}"),
        ("state hash", f"{r.state_hash:016x}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"perpex order-book demo (seed {args.seed})")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    return 0


def _console() -> object:
    from rich.console import Console

    return Console()


def _scenario(args: argparse.Namespace) -> object:
    from pathlib import Path

    from perpex.sim.scenario import load_scenario, parse_scenario, set_param

    sc = load_scenario(args.scenario)
    text = sc.source
    if args.seed is not None:
        text = set_param(text, "run.seed", args.seed)
    if args.hours is not None:
        text = set_param(text, "run.hours", args.hours)
    base = Path(args.scenario).parent if args.scenario else None
    return parse_scenario(text, base=base)


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from perpex.sim.report import summary_table, write_outputs
    from perpex.sim.runner import run_scenario

    sc = _scenario(args)
    out = Path(args.out)
    base = Path(args.scenario).parent if args.scenario else None
    res = run_scenario(sc, out=out, journal=True,  # type: ignore[arg-type]
                       progress=sys.stdout.isatty() and not args.quiet, base=base)
    files = write_outputs(res, out, fmt=args.format, figures=not args.no_figures)
    con = _console()
    con.print(summary_table(res))  # type: ignore[attr-defined]
    con.print(f"wrote {len(files)} files and the journal to {out}")  # type: ignore[attr-defined]
    return 0


def _replay(args: argparse.Namespace) -> int:
    from perpex.sim.runner import replay_journal

    got, expected, n = replay_journal(args.journal)
    print(f"replayed {n:,} commands: state hash {got:016x}")
    if expected is None:
        print("no recorded state hash to compare with")
        return 0
    if got != expected:
        print(f"MISMATCH: the run recorded {expected:016x}")
        return 1
    print("matches the recorded state hash")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from perpex.sim.scenario import load_scenario, set_param
    from perpex.sim.sweep import parse_values, sweep, sweep_table, write_sweep

    name, values = parse_values(args.param)
    text = load_scenario(args.scenario).source
    if args.hours is not None:
        text = set_param(text, "run.hours", args.hours)
    base = str(Path(args.scenario).resolve().parent)
    rows = sweep(text, name, values, args.seeds, scheduler=args.scheduler, workers=args.workers,
                 base=base)
    files = write_sweep(rows, Path(args.out))
    con = _console()
    con.print(sweep_table(rows))  # type: ignore[attr-defined]
    con.print(f"wrote {', '.join(str(f) for f in files)}")  # type: ignore[attr-defined]
    return 0


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perpex", description="perpex exchange engine")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="replay a seeded order flow through the native book")
    demo.add_argument("--messages", type=int, default=200_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_demo)

    sim = sub.add_parser("simulate", help="run a scenario (the built-in default when none is given)")
    sim.add_argument("scenario", nargs="?", default=None, help="scenario TOML file")
    sim.add_argument("--seed", type=int, default=None, help="overrides run.seed")
    sim.add_argument("--hours", type=_positive_float, default=None, help="overrides run.hours")
    sim.add_argument("--out", default="perpex-run", help="output directory (default perpex-run)")
    sim.add_argument("--format", choices=("csv", "parquet"), default="csv",
                     help="format of the trades, events, series and depth tables")
    sim.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_simulate)

    rep = sub.add_parser("replay", help="rebuild a simulation from its journal and check the state hash")
    rep.add_argument("journal", help="a run's journal directory (or the run directory)")
    rep.set_defaults(func=_replay)

    sw = sub.add_parser("sweep", help="run a scenario over parameter values and seeds on dask")
    sw.add_argument("scenario", help="scenario TOML file")
    sw.add_argument("--param", required=True, help="NAME=V1,V2 (e.g. agents[0].spread_ticks=2,8)")
    sw.add_argument("--seeds", type=int, default=1, help="seeds per value (run.seed, +1, ...)")
    sw.add_argument("--scheduler", default=None, help="dask scheduler address (default: a LocalCluster)")
    sw.add_argument("--workers", type=int, default=2, help="LocalCluster workers (0: run in-process)")
    sw.add_argument("--hours", type=_positive_float, default=None, help="overrides run.hours")
    sw.add_argument("--out", default="perpex-sweep", help="output directory (default perpex-sweep)")
    sw.set_defaults(func=_sweep)

    args = parser.parse_args(argv)
    if getattr(args, "messages", 1) <= 0:
        parser.error("--messages must be > 0")
    if getattr(args, "seeds", 1) < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if getattr(args, "workers", 0) < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    if getattr(args, "seed", None) is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    from perpex.errors import InvalidConfigError

    try:
        return int(args.func(args))
    except (InvalidConfigError, FileNotFoundError) as exc:
        print(f"perpex {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
