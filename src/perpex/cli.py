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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perpex", description="perpex exchange engine")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="replay a seeded order flow through the native book")
    demo.add_argument("--messages", type=int, default=200_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    if getattr(args, "messages", 1) <= 0:
        parser.error("--messages must be > 0")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
