"""A seeded, realistic perpetual-swap order flow as a command array.

The flow imitates an XBTUSD-like book on integer ticks (tick 0.5 USD, so 20,000 USD is
40,000 ticks): a mean-reverting random-walk fair price, passive limit orders placed mostly
within a few ticks of it with a geometric distance and a few placed far away, cancels drawn
uniformly over the orders that are live at that moment, market orders sized to sweep one to
three levels, and optionally small quantity reductions (amends).

Generation drives the pure-Python baseline book, so every cancel or amend targets an order
that is still resting *in the simulation*: a peer that matches correctly never sees an
unknown order id. Ids of new orders are 1, 2, 3, ... in message order. The generator uses
only a seeded NumPy ``Generator`` and deterministic containers, so a (config, seed) pair
always gives the identical array.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from baseline_sorted import SortedBook
from commands import BUY, GTC, LIMIT, MARKET, MASK_QTY, NO_DISPLAY, OP_ADD, OP_AMEND, OP_CANCEL
from commands import SELL, cmd_dtype

_BLOCK = 65_536


@dataclass(frozen=True)
class FlowConfig:
    """Knobs of the generated flow; the defaults give the comparison flow."""

    messages: int = 1_000_000
    seed: int = 20_000
    start_price: int = 40_000  # ticks of 0.5 USD
    market_share: float = 0.04
    cancel_share: float = 0.40  # at the target live count; scales with the live count
    amend_share: float = 0.0  # 0 keeps the flow to operations every peer supports
    target_live: int = 2_500
    accounts: int = 200
    near_mean_ticks: float = 8.0  # mean geometric distance from the fair price
    near_cap_ticks: int = 20
    deep_share: float = 0.10  # adds placed 21..400 ticks away
    deep_max_ticks: int = 400
    cross_share: float = 0.05  # adds allowed to cross when the fair price has moved through
    sigma_ticks: float = 0.12  # fair-price step per message
    reversion: float = 2e-5  # pull back towards start_price per message
    sweep_probs: tuple[float, float, float] = (0.75, 0.2, 0.05)  # whole levels taken: 0, 1, 2
    partial_max: float = 0.6  # then up to this share of the next level
    size_log_mean: float = 4.0  # order sizes are lognormal contracts (median ~55)
    size_log_sd: float = 1.2

    def __post_init__(self) -> None:
        if isinstance(self.messages, bool) or self.messages <= 0:
            raise ValueError(f"messages={self.messages!r} must be a positive int")
        for name in ("market_share", "cancel_share", "amend_share", "deep_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value!r} must be in [0, 1)")
        if self.market_share + self.cancel_share + self.amend_share >= 0.9:
            raise ValueError("market_share + cancel_share + amend_share must leave room for adds")
        if self.start_price <= self.deep_max_ticks + 1000:
            raise ValueError(f"start_price={self.start_price} leaves no room below the book")


@dataclass(frozen=True)
class FlowStats:
    """What the generated flow turned out to be (for README tables and sanity checks)."""

    messages: int
    limit_adds: int
    cancels: int
    markets: int
    amends: int
    fills: int
    traded_qty: int
    mean_live: float
    final_live: int
    levels_per_market: float


class _LiveSet:
    """Live order ids with O(1) insert, remove and uniform draw (swap-with-last removal)."""

    __slots__ = ("ids", "pos")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, order_id: int) -> None:
        self.pos[order_id] = len(self.ids)
        self.ids.append(order_id)

    def remove(self, order_id: int) -> None:
        i = self.pos.pop(order_id)
        last = self.ids.pop()
        if last != order_id:
            self.ids[i] = last
            self.pos[last] = i

    def __len__(self) -> int:
        return len(self.ids)


def generate(config: FlowConfig | None = None) -> np.ndarray[Any, Any]:
    """The command array of ``config`` (defaults: 1,000,000 messages, seed 20000)."""
    return generate_with_stats(config)[0]


def generate_with_stats(
    config: FlowConfig | None = None,
) -> tuple[np.ndarray[Any, Any], FlowStats]:
    cfg = config or FlowConfig()
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    n = cfg.messages
    out = np.zeros(n, dtype=cmd_dtype())
    out["display_qty"] = NO_DISPLAY
    op_col = np.zeros(n, dtype=np.uint8)
    side_col = np.zeros(n, dtype=np.uint8)
    type_col = np.zeros(n, dtype=np.uint8)
    acct_col = np.zeros(n, dtype=np.uint32)
    id_col = np.zeros(n, dtype=np.uint64)
    price_col = np.zeros(n, dtype=np.int64)
    qty_col = np.zeros(n, dtype=np.int64)

    book = SortedBook()
    live = _LiveSet()
    fills = book.fills
    seen_fills = 0
    next_id = 1
    fair = float(cfg.start_price)
    p_geo = 1.0 / (1.0 + cfg.near_mean_ticks)
    counts = {"limit": 0, "cancel": 0, "market": 0, "amend": 0}
    live_sum = 0
    levels_swept = 0

    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        u_kind = rng.random(m).tolist()
        u_side = rng.random(m).tolist()
        u_pick = rng.random(m).tolist()
        u_deep = rng.random(m).tolist()
        steps = rng.standard_normal(m).tolist()
        near = np.minimum(rng.geometric(p_geo, m) - 1, cfg.near_cap_ticks).tolist()
        deep = rng.integers(cfg.near_cap_ticks + 1, cfg.deep_max_ticks + 1, m).tolist()
        sizes = np.maximum(
            1, np.rint(rng.lognormal(cfg.size_log_mean, cfg.size_log_sd, m))
        ).astype(np.int64).tolist()
        accounts = rng.integers(1, cfg.accounts + 1, m).tolist()
        sweep = rng.choice(3, m, p=cfg.sweep_probs).tolist()
        for j in range(m):
            i = start + j
            fair += cfg.sigma_ticks * steps[j] - cfg.reversion * (fair - cfg.start_price)
            n_live = len(live)
            live_sum += n_live
            p_cancel = min(2 * cfg.cancel_share, cfg.cancel_share * n_live / cfg.target_live)
            u = u_kind[j]
            side = BUY if u_side[j] < 0.5 else SELL
            if u < cfg.market_share:
                # size: the whole of the first k levels plus part of the next one
                opposite = SELL if side == BUY else BUY
                k = sweep[j]
                levels = book.level_quantities(opposite, k + 1)
                if not levels:
                    kind = "limit"
                else:
                    kind = "market"
                    qty = sum(levels[:k]) + 1 + int(u_pick[j] * levels[-1] * cfg.partial_max)
                    op_col[i] = OP_ADD
                    side_col[i] = side
                    type_col[i] = MARKET
                    acct_col[i] = accounts[j]
                    id_col[i] = next_id
                    qty_col[i] = qty
                    before = len(fills)
                    book.add_market(next_id, accounts[j], side, qty)
                    levels_swept += len({f[2] for f in fills[before:]})
                    next_id += 1
                    counts["market"] += 1
            elif u < cfg.market_share + p_cancel and n_live:
                kind = "cancel"
                target = live.ids[int(u_pick[j] * n_live)]
                op_col[i] = OP_CANCEL
                id_col[i] = target
                acct_col[i] = book.account_of(target)
                book.cancel(target)
                live.remove(target)
                counts["cancel"] += 1
            elif u < cfg.market_share + p_cancel + cfg.amend_share and n_live:
                target = live.ids[int(u_pick[j] * n_live)]
                leaves = book.leaves(target)
                if leaves > 1:
                    kind = "amend"
                    new_qty = leaves - max(1, int(leaves * 0.25 * u_deep[j]))
                    op_col[i] = OP_AMEND
                    id_col[i] = target
                    acct_col[i] = book.account_of(target)
                    qty_col[i] = new_qty
                    out["mask"][i] = MASK_QTY
                    book.amend_qty(target, new_qty)
                    counts["amend"] += 1
                else:
                    kind = "limit"
            else:
                kind = "limit"
            if kind == "limit":
                dist = deep[j] if u_deep[j] < cfg.deep_share else near[j]
                anchor = math.floor(fair)
                if side == BUY:
                    price = anchor - dist
                    ask = book.best_ask()
                    if ask and price >= ask and u_pick[j] >= cfg.cross_share:
                        price = ask - 1 - dist
                else:
                    price = anchor + 1 + dist
                    bid = book.best_bid()
                    if price <= bid and u_pick[j] >= cfg.cross_share:
                        price = bid + 1 + dist
                op_col[i] = OP_ADD
                side_col[i] = side
                type_col[i] = LIMIT
                acct_col[i] = accounts[j]
                id_col[i] = next_id
                price_col[i] = price
                qty_col[i] = sizes[j]
                if book.add_limit(next_id, accounts[j], side, price, sizes[j]):
                    live.add(next_id)
                next_id += 1
                counts["limit"] += 1
            if len(fills) != seen_fills:
                for f in fills[seen_fills:]:
                    if f[0] in live.pos and not book.is_live(f[0]):
                        live.remove(f[0])
                seen_fills = len(fills)

    out["op"] = op_col
    out["side"] = side_col
    out["ord_type"] = type_col
    out["tif"] = GTC
    out["account"] = acct_col
    out["order_id"] = id_col
    out["price"] = price_col
    out["qty"] = qty_col
    stats = FlowStats(
        messages=n,
        limit_adds=counts["limit"],
        cancels=counts["cancel"],
        markets=counts["market"],
        amends=counts["amend"],
        fills=len(fills),
        traded_qty=sum(f[3] for f in fills),
        mean_live=live_sum / n,
        final_live=len(live),
        levels_per_market=levels_swept / max(1, counts["market"]),
    )
    return out, stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the benchmark order flow.")
    parser.add_argument("--messages", type=int, default=FlowConfig.messages)
    parser.add_argument("--seed", type=int, default=FlowConfig.seed)
    parser.add_argument("--amend-share", type=float, default=0.0)
    parser.add_argument("--out", help="save the command array to this .npy file")
    args = parser.parse_args(argv)
    cmds, stats = generate_with_stats(
        FlowConfig(messages=args.messages, seed=args.seed, amend_share=args.amend_share)
    )
    print(stats)
    if args.out:
        np.save(args.out, cmds)


if __name__ == "__main__":
    main()
