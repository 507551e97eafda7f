"""Side-by-side replay of one realistic flow through perpex and its peers.

    python bench/compare.py [--messages N] [--seed S] [--repeat R] [--peers a,b,...]

Generates the flow once, replays it through every available peer, fails loudly (exit 1)
unless all of them agree on trade count, traded quantity, fill tape digest and final best
bid/ask, then prints throughput, the ratios against the sortedcontainers baseline and
liquibook, the cost of a no-op pybind11 call measured in the same run, and the targets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import decode, load_native  # noqa: E402
from flow import FlowConfig, generate_with_stats  # noqa: E402
from peers import (  # noqa: E402
    PEERS,
    PeerResult,
    PeerUnavailable,
    measure_noop,
    run_perpex_batch,
)

TARGET_VS_SORTED = 3.0
TARGET_VS_LIQUIBOOK = 5.0
TARGET_VS_NOOP = 2.0
TARGET_BATCH_MSGS = 20e6


def _best(results: list[PeerResult]) -> PeerResult:
    first = results[0].outcome()
    for r in results[1:]:
        if r.outcome() != first:
            raise SystemExit(f"{r.name} is not deterministic across repeats: {r} vs {results[0]}")
    return min(results, key=lambda r: r.seconds)


def _check_agreement(results: list[PeerResult]) -> None:
    reference = results[0]
    bad = [r for r in results[1:] if r.outcome() != reference.outcome()]
    if bad:
        lines = [f"  {r.name:<22} trades={r.trades} qty={r.traded_qty} tape={r.tape_hash} "
                 f"bid={r.best_bid} ask={r.best_ask}" for r in [reference, *bad]]
        raise SystemExit("PEERS DISAGREE on the same flow:\n" + "\n".join(lines))


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=FlowConfig.messages)
    parser.add_argument("--seed", type=int, default=FlowConfig.seed)
    parser.add_argument("--repeat", type=int, default=1, help="best of R timed replays per peer")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peer names")
    parser.add_argument("--chunk", type=int, default=65_536,
                        help="also time submit_batch on slices of this many rows (0: skip)")
    args = parser.parse_args(argv)

    cmds, stats = generate_with_stats(FlowConfig(messages=args.messages, seed=args.seed))
    rows = decode(cmds)
    n = len(rows)
    print(f"flow: {n:,} messages, seed {args.seed}: {stats.limit_adds / n:.1%} limit adds, "
          f"{stats.cancels / n:.1%} cancels, {stats.markets / n:.1%} market orders; "
          f"{stats.fills:,} fills, {stats.traded_qty:,} contracts; live orders mean "
          f"{stats.mean_live:,.0f}, final {stats.final_live:,}; "
          f"{stats.levels_per_market:.2f} levels per market order")

    results: dict[str, PeerResult] = {}
    names = [p.strip() for p in args.peers.split(",") if p.strip()]
    for name in names:
        if name not in PEERS:
            raise SystemExit(f"--peers: unknown peer {name!r}; known: {', '.join(PEERS)}")
        try:
            results[name] = _best([PEERS[name](cmds, rows) for _ in range(args.repeat)])
        except PeerUnavailable as why:
            print(f"note: {name} skipped: {why}")
            continue
        print(f"  ran {name}: {results[name].seconds:.3f} s", flush=True)
    native = load_native()
    if native is not None and "perpex batch" in names:
        variants = [(None, True)]
        if args.chunk:
            variants += [(args.chunk, False), (args.chunk, True)]
        for chunk, reuse in variants:
            r = _best([run_perpex_batch(cmds, rows, chunk=chunk, reuse_out=reuse)
                       for _ in range(args.repeat)])
            results[r.name] = r
    if not results:
        raise SystemExit("no peer could run")
    ordered = list(results.values())
    _check_agreement(ordered)
    ref = ordered[0]
    print(f"\nall {len(ordered)} runs agree: {ref.trades:,} trades, {ref.traded_qty:,} contracts, "
          f"tape {ref.tape_hash}, final bid/ask {ref.best_bid}/{ref.best_ask}\n")

    base = results.get("sortedcontainers")
    lqb = results.get("liquibook")
    print(f"{'peer':<22}{'msgs/s':>14}{'ns/msg':>10}{'vs sorted':>11}{'vs liquibook':>14}")
    for r in sorted(ordered, key=lambda r: r.seconds):
        vs_base = f"{base.seconds / r.seconds:.2f}x" if base else "-"
        vs_lqb = f"{lqb.seconds / r.seconds:.2f}x" if lqb else "-"
        print(f"{r.name:<22}{r.ops_per_second:>14,.0f}{r.ns_per_message:>10,.0f}"
              f"{vs_base:>11}{vs_lqb:>14}")

    if native is None:
        print("\nperpex._native is not built: no perpex figures, no targets checked")
        return 0
    print(f"\nNODE_BYTES (bytes per resting order): {native.NODE_BYTES}")
    noop = min((measure_noop(rows) for _ in range(args.repeat)), key=lambda d: d["replay"])
    print(f"no-op pybind11 call: {noop['bare']:.0f} ns bare; {noop['replay']:.0f} ns/msg as the "
          f"replay loop with every command a no-op; the order methods' own fast-call no-op: "
          f"{noop['fast']:.0f} ns bare")
    call = results.get("perpex per-call")
    print("\ntargets:")
    if call is not None:
        if base is not None:
            ratio = base.seconds / call.seconds
            print(f"  per-call >= {TARGET_VS_SORTED:g}x sortedcontainers: {ratio:.2f}x "
                  f"{_verdict(ratio >= TARGET_VS_SORTED)}")
        if lqb is not None:
            ratio = lqb.seconds / call.seconds
            print(f"  per-call >= {TARGET_VS_LIQUIBOOK:g}x liquibook: {ratio:.2f}x "
                  f"{_verdict(ratio >= TARGET_VS_LIQUIBOOK)}")
        over_loop = call.ns_per_message / noop["replay"]
        over_bare = call.ns_per_message / noop["bare"]
        print(f"  per-call within {TARGET_VS_NOOP:g}x of a no-op call: {call.ns_per_message:.0f} ns/msg"
              f" = {over_loop:.2f}x the no-op replay loop "
              f"{_verdict(over_loop <= TARGET_VS_NOOP)} ({over_bare:.2f}x a bare no-op call)")
    # The fastest way through the batch API counts: a fresh events array per call, or a
    # caller's reused one; both are printed in the table above.
    batches = [r for name, r in results.items() if name.startswith("perpex batch")]
    if batches:
        batch = min(batches, key=lambda r: r.seconds)
        print(f"  batch >= {TARGET_BATCH_MSGS / 1e6:g} M msgs/s: {batch.ops_per_second / 1e6:.1f} M "
              f"msgs/s, {batch.ns_per_message:.1f} ns/msg ({batch.name}) "
              f"{_verdict(batch.ops_per_second >= TARGET_BATCH_MSGS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
