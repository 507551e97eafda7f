"""RefBook: a slow, readable, integers-only reference for the native ``perpex._native.OrderBook``.

It exposes the same public methods and emits the same event tuples, so that tests can drive both
with one command stream and compare them event by event. Every container is a list or an
insertion-ordered dict and every scan is sorted explicitly, so nothing depends on hash order.

An event is a plain tuple in ``EVENT_DTYPE`` field order::

    (type, side, reason, cmd, order_id, maker_id, account, maker_account,
     price, qty, leaves, maker_leaves)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import numpy as np

from perpex import errors

from tests.model import (
    BUY, CMD_DTYPE, Cmd, EV_ACCEPTED, EV_AMENDED, EV_CANCELED, EV_FILL, EV_REJECTED, EV_TRIGGERED,
    Event, FEED_LAST, FEED_MARK, FLAG_CONDITIONAL, FLAG_HELD, FLAG_POST_ONLY, FLAG_PUBLIC_MASK,
    FLAG_TRAILING, FOK, GTC, INT64_MAX, LIMIT_IF_TOUCHED, MARKET, MASK_ACCOUNT, MASK_PEG_OFFSET,
    MASK_PRICE, MASK_QTY, MASK_STOP_PX, MAX_QTY, MAX_TICKS, OP_ACTIVATE, OP_ADD, OP_AMEND,
    OP_CANCEL, OP_CANCEL_ALL, OP_SET_PRICE, REASON_CANCEL_ALL, REASON_DUPLICATE_ORDER_ID,
    REASON_FOK, REASON_INVALID_DISPLAY_QTY, REASON_INVALID_FEED, REASON_INVALID_FLAGS,
    REASON_INVALID_OP, REASON_INVALID_ORD_TYPE, REASON_INVALID_PEG_OFFSET, REASON_INVALID_PRICE,
    REASON_INVALID_QTY, REASON_INVALID_SIDE, REASON_INVALID_STOP_PX, REASON_INVALID_TIF,
    REASON_IOC, REASON_NONE, REASON_NOTHING_TO_AMEND, REASON_NOT_AMENDABLE, REASON_NOT_HELD,
    REASON_NO_LIQUIDITY, REASON_NO_REFERENCE_PRICE, REASON_OVERFLOW, REASON_POST_ONLY,
    REASON_ERRORS, REASON_PROTECTION_PRICE, REASON_UNKNOWN_ORDER, REASON_UNTRIGGERED,
    REASON_USER_CANCEL, Reject, SELL, check_int, cmd_from_row, crosses, is_conditional_type,
    is_market_type, trigger_rises,
)


@dataclass(eq=False)
class _Order:
    id: int
    account: int
    side: int
    ord_type: int
    tif: int
    flags: int
    leaves: int
    display: int
    visible: int = 0
    price: int = 0          # level price when resting; limit/protection price when conditional
    stop_px: int = 0
    peg_offset: int = 0
    feed: int = FEED_MARK
    rises: bool = False

    @property
    def conditional(self) -> bool:
        return bool(self.flags & FLAG_CONDITIONAL)

    @property
    def held(self) -> bool:
        return bool(self.flags & FLAG_HELD)


@dataclass(eq=False)
class _Level:
    price: int
    displayed: list[_Order]
    hidden: list[_Order]

    def queue_of(self, o: _Order) -> list[_Order]:
        return self.hidden if o.display == 0 else self.displayed


class RefBook:
    """Reference order book with the semantics of ``perpex._native.OrderBook``."""

    def __init__(self, hold_triggered: bool = False, capacity: int = 1024) -> None:
        self.hold_triggered = bool(hold_triggered)
        self._live: dict[int, _Order] = {}          # every live order, in acceptance order
        self._cond: dict[int, _Order] = {}          # the conditional ones (waiting or held)
        self._levels: tuple[dict[int, _Level], dict[int, _Level]] = ({}, {})
        self._lo = [0, 0, 0]
        self._hi = [0, 0, 0]
        self._last_id = 0
        self._events: list[Event] = []
        self._cmd = 0          # per-call command counter
        self._cur_cmd = 0      # tag of the command being applied
        self._traded = False

    # ----------------------------------------------------------------------------- per-call API
    def add(self, order_id: int, account: int, side: int, price: int, qty: int,
            ord_type: int = 0, tif: int = 0, flags: int = 0, display_qty: int = -1,
            stop_px: int = 0, peg_offset: int = 0, trigger: int = 1) -> int:
        c = Cmd(OP_ADD, order_id=check_int("order_id", order_id),
                account=check_int("account", account), side=check_int("side", side),
                price=check_int("price", price), qty=check_int("qty", qty),
                ord_type=check_int("ord_type", ord_type), tif=check_int("tif", tif),
                flags=check_int("flags", flags), display_qty=check_int("display_qty", display_qty),
                stop_px=check_int("stop_px", stop_px),
                peg_offset=check_int("peg_offset", peg_offset),
                trigger=check_int("trigger", trigger))
        self._call(c)
        return self._leaves_of(c.order_id)

    def add_limit(self, order_id: int, account: int, side: int, price: int, qty: int) -> int:
        return self.add(order_id, account, side, price, qty)

    def add_market(self, order_id: int, account: int, side: int, qty: int,
                   protect_price: int = 0) -> int:
        return self.add(order_id, account, side, protect_price, qty, ord_type=MARKET)

    def cancel(self, order_id: int, account: Optional[int] = None) -> int:
        c = Cmd(OP_CANCEL, order_id=check_int("order_id", order_id))
        if account is not None:
            c.account, c.mask = check_int("account", account), MASK_ACCOUNT
        leaves = self._live[c.order_id].leaves if c.order_id in self._live else 0
        self._call(c)
        return leaves

    def amend(self, order_id: int, qty: Optional[int] = None, price: Optional[int] = None,
              stop_px: Optional[int] = None, peg_offset: Optional[int] = None,
              account: Optional[int] = None) -> int:
        c = Cmd(OP_AMEND, order_id=check_int("order_id", order_id))
        for name, value, bit in (("qty", qty, MASK_QTY), ("price", price, MASK_PRICE),
                                 ("stop_px", stop_px, MASK_STOP_PX),
                                 ("peg_offset", peg_offset, MASK_PEG_OFFSET),
                                 ("account", account, MASK_ACCOUNT)):
            if value is not None:
                setattr(c, name, check_int(name, value))
                c.mask |= bit
        self._call(c)
        return self._leaves_of(c.order_id)

    def cancel_all(self, account: int) -> int:
        c = Cmd(OP_CANCEL_ALL, account=check_int("account", account))
        count = sum(1 for o in self._live.values() if o.account == c.account)
        self._call(c)
        return count

    def set_trigger_price(self, feed: int, price: int, price_ceil: Optional[int] = None) -> None:
        """A price between two ticks is given as its floor `price` and ceiling `price_ceil`."""
        ceil = 0 if price_ceil is None else check_int("price_ceil", price_ceil)
        self._call(Cmd(OP_SET_PRICE, trigger=check_int("feed", feed),
                       price=check_int("price", price), stop_px=ceil))

    def activate(self, order_id: int, qty: int) -> int:
        c = Cmd(OP_ACTIVATE, order_id=check_int("order_id", order_id), qty=check_int("qty", qty))
        self._call(c)
        return self._leaves_of(c.order_id)

    def submit_batch(self, cmds: np.ndarray) -> tuple[list[Event], np.ndarray]:
        """Applies the rows in order; a malformed row only gets its status. Events carry the row."""
        if not isinstance(cmds, np.ndarray):
            raise errors.InvalidInputError(
                f"cmds must be a numpy array of CMD_DTYPE, not {type(cmds).__name__}")
        if cmds.dtype != CMD_DTYPE:
            raise TypeError(f"cmds dtype {cmds.dtype} is not CMD_DTYPE")
        if cmds.ndim != 1:
            raise errors.InvalidInputError(f"cmds must be 1-D, got ndim={cmds.ndim}")
        if not cmds.flags.c_contiguous:
            raise errors.InvalidInputError("cmds must be C-contiguous")
        status = np.zeros(len(cmds), dtype=np.uint16)
        start = len(self._events)
        for i, row in enumerate(cmds.tolist()):
            status[i] = self.apply(cmd_from_row(row), i)
        batch = self._events[start:]
        del self._events[start:]
        return batch, status

    def drain_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    # ----------------------------------------------------------------------------- queries
    def best_bid(self) -> int:
        return max(self._levels[BUY], default=0)

    def best_ask(self) -> int:
        return min(self._levels[SELL], default=0)

    def last_price(self, feed: int) -> int:
        return self._lo[feed]

    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        out: list[list[tuple[int, int]]] = [[], []]
        for side in (BUY, SELL):
            for px in self._prices(side):
                if len(out[side]) >= n:
                    break
                shown = sum(o.visible for o in self._levels[side][px].displayed)
                if shown > 0:
                    out[side].append((px, shown))
        return out[0], out[1]

    def level_orders(self, side: int, price: int) -> list[tuple[int, int, int, int]]:
        lv = self._levels[side].get(price) if side in (BUY, SELL) else None
        if lv is None:
            return []
        return [(o.id, o.account, o.leaves, o.visible) for o in lv.displayed + lv.hidden]

    def order(self, order_id: int) -> Optional[dict]:
        o = self._live.get(order_id)
        if o is None:
            return None
        return {"order_id": o.id, "account": o.account, "side": o.side, "ord_type": o.ord_type,
                "tif": o.tif, "flags": o.flags & FLAG_PUBLIC_MASK, "price": o.price,
                "leaves": o.leaves, "visible": o.visible, "display_qty": o.display,
                "conditional": o.conditional, "held": o.held,
                "stop_px": o.stop_px if o.conditional else 0,
                "peg_offset": o.peg_offset if o.conditional else 0,
                "trigger": o.feed if o.conditional else 0}

    def account_orders(self, account: int) -> list[int]:
        return [o.id for o in self._live.values() if o.account == account]

    @property
    def order_count(self) -> int:
        return len(self._live) - len(self._cond)

    @property
    def conditional_count(self) -> int:
        return len(self._cond)

    def level_count(self, side: int) -> int:
        return len(self._levels[side])

    def account_order_count(self, account: int) -> int:
        return len(self.account_orders(account))

    def dump(self) -> bytes:
        """The native canonical serialization, byte for byte, so state hashes can be compared."""
        out = bytearray(b"PXBK")

        def put(v: int, n: int) -> None:
            out.extend((v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))

        def put_order(o: _Order) -> None:
            put(o.id, 8); put(o.account, 4); put(o.side, 1); put(o.flags, 1)  # noqa: E702
            put(o.tif, 1); put(o.ord_type, 1); put(o.leaves, 8); put(o.visible, 8)  # noqa: E702
            put(o.display, 8)

        put(1, 4)
        put(int(self.hold_triggered), 1)
        put(self._last_id, 8)
        for f in range(3):
            put(self._lo[f], 8)
            put(self._hi[f], 8)
        for side in (BUY, SELL):
            put(len(self._levels[side]), 8)
            for px in self._prices(side):
                lv = self._levels[side][px]
                put(px, 8)
                put(len(lv.displayed) + len(lv.hidden), 4)
                for o in lv.displayed + lv.hidden:
                    put_order(o)
        conds = sorted(self._cond.values(), key=lambda o: o.id)
        put(len(conds), 8)
        for o in conds:
            put_order(o)
            put(o.price, 8); put(o.stop_px, 8); put(o.peg_offset, 8)  # noqa: E702
            put(o.feed, 1); put(int(o.rises), 1)  # noqa: E702
        return bytes(out)

    def state_hash(self) -> int:
        """FNV-1a over dump(), as the native book computes it."""
        h = 0xCBF29CE484222325
        for ch in self.dump():
            h = ((h ^ ch) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        return h

    def snapshot(self) -> str:
        """A readable canonical state (for diffs in failing tests)."""
        return json.dumps({"last_id": self._last_id, "lo": self._lo, "hi": self._hi,
                           "orders": [vars(o) for o in self._live.values()]}, sort_keys=True)

    def check_invariants(self) -> None:
        resting = 0
        for side in (BUY, SELL):
            for px, lv in self._levels[side].items():
                if lv.price != px or not (lv.displayed or lv.hidden):
                    raise errors.InvariantViolation(f"empty or mislabelled level at {px}")
                for q, queue in enumerate((lv.displayed, lv.hidden)):
                    for o in queue:
                        ok = (o.side == side and o.price == px and not o.conditional
                              and 0 <= o.visible <= o.leaves and (q == 1) == (o.display == 0)
                              and (q == 1 or o.visible > 0) and self._live.get(o.id) is o)
                        if not ok:
                            raise errors.InvariantViolation(f"order {o.id} inconsistent at {px}")
                        resting += 1
        if resting != self.order_count:
            raise errors.InvariantViolation("resting orders and levels are not a bijection")
        bid, ask = self.best_bid(), self.best_ask()
        if bid and ask and bid >= ask:
            raise errors.InvariantViolation(f"crossed book at rest: bid {bid} >= ask {ask}")
        if any(self._live.get(i) is not o or not o.conditional for i, o in self._cond.items()):
            raise errors.InvariantViolation("conditional index and live orders disagree")
        ids = list(self._live)
        if ids != sorted(ids) or (ids and (ids[0] <= 0 or ids[-1] > self._last_id)):
            raise errors.InvariantViolation("live order ids are not increasing and accepted")

    # ----------------------------------------------------------------------------- dispatch
    def _call(self, c: Cmd) -> None:
        reason = self.apply(c, self._cmd)
        if reason:
            raise REASON_ERRORS[reason](self._message(c, reason))
        self._cmd += 1

    def _leaves_of(self, order_id: int) -> int:
        o = self._live.get(order_id)
        return o.leaves if o is not None else 0

    def apply(self, c: Cmd, cmd_index: int) -> int:
        """Validates, then applies one command. Returns 0 or the 1xxx reason (nothing changed)."""
        try:
            self._validate(c)
        except Reject as r:
            return r.reason
        self._cur_cmd = cmd_index
        self._traded = False
        if c.op == OP_ADD:
            self._do_add(c)
        elif c.op in (OP_CANCEL, OP_CANCEL_ALL):
            doomed = ([self._live[c.order_id]] if c.op == OP_CANCEL
                      else [o for o in self._live.values() if o.account == c.account])
            why = REASON_USER_CANCEL if c.op == OP_CANCEL else REASON_CANCEL_ALL
            for o in doomed:
                self._cancel(o, why)
        elif c.op == OP_AMEND:
            self._do_amend(c)
        elif c.op == OP_SET_PRICE:
            self._lo[c.trigger] = c.price
            self._hi[c.trigger] = c.stop_px or c.price
            self._run_triggers(c.trigger)
        elif c.op == OP_ACTIVATE:
            o = self._live[c.order_id]
            del self._cond[o.id]
            o.flags &= ~(FLAG_CONDITIONAL | FLAG_HELD)
            if c.qty < o.leaves:
                o.leaves = c.qty
                self._emit(EV_AMENDED, o, REASON_NONE, o.stop_px, c.qty)
            self._execute(o, o.price)
        if self._traded:
            self._run_triggers(FEED_LAST)
        return 0

    @staticmethod
    def _message(c: Cmd, reason: int) -> str:
        return (f"command op={c.op} order_id={c.order_id} rejected with reason {reason}: "
                f"price={c.price} qty={c.qty} display_qty={c.display_qty} stop_px={c.stop_px} "
                f"peg_offset={c.peg_offset} side={c.side} ord_type={c.ord_type} tif={c.tif} "
                f"flags={c.flags} trigger={c.trigger}")

    # ----------------------------------------------------------------------------- validation
    def _validate(self, c: Cmd) -> None:
        def bad(reason: int, what: str = "") -> None:
            raise Reject(reason, what)

        if c.op == OP_ADD:
            self._validate_add(c, bad)
        elif c.op in (OP_CANCEL, OP_ACTIVATE, OP_AMEND):
            o = self._live.get(c.order_id)
            if o is None or (c.mask & MASK_ACCOUNT and o.account != c.account):
                bad(REASON_UNKNOWN_ORDER)
            assert o is not None
            if c.op == OP_ACTIVATE:
                if not o.held:
                    bad(REASON_NOT_HELD)
                if c.qty <= 0 or c.qty > o.leaves:
                    bad(REASON_INVALID_QTY)
            elif c.op == OP_AMEND:
                self._validate_amend(c, o, bad)
        elif c.op == OP_SET_PRICE:
            if not 0 <= c.trigger < 3:
                bad(REASON_INVALID_FEED)
            if c.price <= 0 or c.price > MAX_TICKS:
                bad(REASON_INVALID_PRICE)
            hi = c.stop_px or c.price
            if hi < c.price or hi > MAX_TICKS:
                bad(REASON_INVALID_STOP_PX)
        elif c.op != OP_CANCEL_ALL:
            bad(REASON_INVALID_OP)

    def _validate_add(self, c: Cmd, bad) -> None:  # type: ignore[no-untyped-def]
        if c.order_id <= 0 or c.order_id <= self._last_id:
            bad(REASON_DUPLICATE_ORDER_ID)
        if c.side not in (BUY, SELL):
            bad(REASON_INVALID_SIDE)
        if not 0 <= c.ord_type <= LIMIT_IF_TOUCHED:
            bad(REASON_INVALID_ORD_TYPE)
        if not 0 <= c.tif <= FOK:
            bad(REASON_INVALID_TIF)
        if c.flags & ~FLAG_PUBLIC_MASK:
            bad(REASON_INVALID_FLAGS)
        if c.qty <= 0 or c.qty > MAX_QTY:
            bad(REASON_INVALID_QTY)
        market, cond = is_market_type(c.ord_type), is_conditional_type(c.ord_type)
        if (c.price < 0 if market else c.price <= 0) or c.price > MAX_TICKS:
            bad(REASON_INVALID_PRICE)
        if max(c.price, c.stop_px) * c.qty > INT64_MAX:
            bad(REASON_OVERFLOW)
        if c.display_qty < -1 or (c.display_qty >= 0 and market):
            bad(REASON_INVALID_DISPLAY_QTY)
        if c.flags & FLAG_POST_ONLY and (market or c.tif != GTC):
            bad(REASON_INVALID_FLAGS)
        trailing = bool(c.flags & FLAG_TRAILING)
        if not cond:
            if trailing:
                bad(REASON_INVALID_FLAGS)
            if c.stop_px != 0:
                bad(REASON_INVALID_STOP_PX)
            if c.peg_offset != 0:
                bad(REASON_INVALID_PEG_OFFSET)
            return
        if not 0 <= c.trigger < 3:
            bad(REASON_INVALID_FEED)
        if not trailing:
            if c.stop_px <= 0 or c.stop_px > MAX_TICKS:
                bad(REASON_INVALID_STOP_PX)
            if c.peg_offset != 0:
                bad(REASON_INVALID_PEG_OFFSET)
            return
        if c.stop_px != 0:
            bad(REASON_INVALID_STOP_PX)
        rises = trigger_rises(c.side, c.ord_type)
        if (c.peg_offset <= 0 if rises else c.peg_offset >= 0) or abs(c.peg_offset) > MAX_TICKS:
            bad(REASON_INVALID_PEG_OFFSET)
        ref = self._hi[c.trigger] if rises else self._lo[c.trigger]
        if ref and not 0 < ref + c.peg_offset <= MAX_TICKS:
            bad(REASON_INVALID_PEG_OFFSET)

    def _validate_amend(self, c: Cmd, o: _Order, bad) -> None:  # type: ignore[no-untyped-def]
        if not c.mask & (MASK_QTY | MASK_PRICE | MASK_STOP_PX | MASK_PEG_OFFSET):
            bad(REASON_NOTHING_TO_AMEND)
        if c.mask & MASK_QTY and not 0 < c.qty <= MAX_QTY:
            bad(REASON_INVALID_QTY)
        if c.mask & MASK_PRICE and not 0 < c.price <= MAX_TICKS:
            bad(REASON_INVALID_PRICE)
        if o.held:
            bad(REASON_NOT_AMENDABLE)
        qty = c.qty if c.mask & MASK_QTY else o.leaves
        price = c.price if c.mask & MASK_PRICE else o.price
        if not o.conditional:
            if c.mask & (MASK_STOP_PX | MASK_PEG_OFFSET):
                bad(REASON_NOT_AMENDABLE)
            if price * qty > INT64_MAX:
                bad(REASON_OVERFLOW)
            return
        trailing = bool(o.flags & FLAG_TRAILING)
        if c.mask & MASK_PRICE and is_market_type(o.ord_type):
            bad(REASON_NOT_AMENDABLE)
        if c.mask & MASK_STOP_PX:
            if trailing:
                bad(REASON_NOT_AMENDABLE)
            if not 0 < c.stop_px <= MAX_TICKS:
                bad(REASON_INVALID_STOP_PX)
        if c.mask & MASK_PEG_OFFSET:
            if not trailing:
                bad(REASON_NOT_AMENDABLE)
            ref = self._hi[o.feed] if o.rises else self._lo[o.feed]
            if ((c.peg_offset <= 0 if o.rises else c.peg_offset >= 0)
                    or abs(c.peg_offset) > MAX_TICKS or not 0 < ref + c.peg_offset <= MAX_TICKS):
                bad(REASON_INVALID_PEG_OFFSET)
        stop = c.stop_px if c.mask & MASK_STOP_PX else o.stop_px
        if max(price, stop) * qty > INT64_MAX:
            bad(REASON_OVERFLOW)

    # ----------------------------------------------------------------------------- commands
    def _emit(self, etype: int, o: _Order, reason: int, price: int, qty: int) -> None:
        self._events.append((etype, o.side, reason, self._cur_cmd, o.id, 0, o.account, 0,
                             price, qty, o.leaves, 0))

    @staticmethod
    def _shown_price(o: _Order, price: int) -> int:
        """Events of market-type orders carry price 0 (a protection price is not a limit)."""
        return 0 if is_market_type(o.ord_type) else price

    def _do_add(self, c: Cmd) -> None:
        self._last_id = c.order_id
        o = _Order(c.order_id, c.account, c.side, c.ord_type, c.tif, c.flags, c.qty, c.display_qty,
                   price=c.price, stop_px=c.stop_px, peg_offset=c.peg_offset, feed=c.trigger,
                   rises=trigger_rises(c.side, c.ord_type))
        if not is_conditional_type(c.ord_type):
            self._live[o.id] = o
            self._emit(EV_ACCEPTED, o, REASON_NONE, self._shown_price(o, c.price), c.qty)
            self._execute(o, c.price)
            return
        if o.flags & FLAG_TRAILING:
            ref = self._hi[o.feed] if o.rises else self._lo[o.feed]
            if ref == 0:
                o.leaves = 0
                self._emit(EV_REJECTED, o, REASON_NO_REFERENCE_PRICE, 0, c.qty)
                return
            o.stop_px = ref + o.peg_offset
        o.flags |= FLAG_CONDITIONAL
        self._live[o.id] = o
        self._cond[o.id] = o
        self._emit(EV_ACCEPTED, o, REASON_UNTRIGGERED, o.stop_px, c.qty)
        self._run_triggers(o.feed)  # already through its stop: fires at once

    def _cancel(self, o: _Order, reason: int) -> None:
        if o.conditional:
            price = o.stop_px
            del self._cond[o.id]
        else:
            price = o.price
            self._take_off_book(o)
        leaves, o.leaves = o.leaves, 0
        del self._live[o.id]
        self._emit(EV_CANCELED, o, reason, price, leaves)

    def _do_amend(self, c: Cmd) -> None:
        o = self._live[c.order_id]
        if o.conditional:
            if c.mask & MASK_QTY:
                o.leaves = c.qty
            if c.mask & MASK_PRICE:
                o.price = c.price
            if c.mask & MASK_STOP_PX:
                o.stop_px = c.stop_px
            if c.mask & MASK_PEG_OFFSET:
                o.peg_offset = c.peg_offset
                o.stop_px = (self._hi[o.feed] if o.rises else self._lo[o.feed]) + o.peg_offset
            self._emit(EV_AMENDED, o, REASON_NONE, o.stop_px, o.leaves)
            self._run_triggers(o.feed)
            return
        price = c.price if c.mask & MASK_PRICE else o.price
        leaves = c.qty if c.mask & MASK_QTY else o.leaves
        if price == o.price and leaves <= o.leaves:
            # Shrinking in place keeps time priority; an iceberg's slice shrinks with it.
            o.visible = leaves if o.display < 0 else min(o.visible, leaves)
            o.leaves = leaves
            self._emit(EV_AMENDED, o, REASON_NONE, price, leaves)
            return
        self._take_off_book(o)
        o.leaves = leaves
        self._emit(EV_AMENDED, o, REASON_NONE, price, leaves)
        self._execute(o, price, amended=True)

    # ----------------------------------------------------------------------------- matching
    def _prices(self, side: int) -> list[int]:
        """Level prices of one side, best first."""
        return sorted(self._levels[side], reverse=(side == BUY))

    def _execute(self, o: _Order, price: int, amended: bool = False) -> None:
        """Matches a live order that arrives (or re-arrives) at `price`, then rests or cancels."""
        market = is_market_type(o.ord_type) and not amended
        limit = price
        limited = not market or price > 0
        opp = 1 - o.side
        shown = self._shown_price(o, price) if not amended else price
        best = self._prices(opp)[0] if self._levels[opp] else 0
        if not market and o.flags & FLAG_POST_ONLY and best and crosses(o.side, best, limit):
            self._finish(o, REASON_POST_ONLY, shown)
            return
        if o.tif == FOK and self._available(o.side, limit, limited) < o.leaves:
            self._finish(o, REASON_FOK, shown)
            return
        self._match(o, limit, limited)
        if o.leaves == 0:
            del self._live[o.id]
            return
        if market or o.tif != GTC:
            why = REASON_IOC
            if market:
                stopped_early = price > 0 and bool(self._levels[opp])
                why = REASON_PROTECTION_PRICE if stopped_early else REASON_NO_LIQUIDITY
            self._finish(o, why, shown)
            return
        self._rest(o, price)

    def _finish(self, o: _Order, reason: int, price: int) -> None:
        leaves, o.leaves = o.leaves, 0
        del self._live[o.id]
        self._emit(EV_CANCELED, o, reason, price, leaves)

    def _available(self, side: int, limit: int, limited: bool) -> int:
        opp = 1 - side
        return sum(o.leaves for px in self._prices(opp)
                   if not limited or crosses(side, px, limit)
                   for o in self._levels[opp][px].displayed + self._levels[opp][px].hidden)

    def _fill(self, t: _Order, m: _Order, px: int, q: int) -> None:
        m.leaves -= q
        t.leaves -= q
        self._events.append((EV_FILL, t.side, REASON_NONE, self._cur_cmd, t.id, m.id, t.account,
                             m.account, px, q, t.leaves, m.leaves))
        self._traded = True
        self._lo[FEED_LAST] = self._hi[FEED_LAST] = px
        if m.leaves == 0:
            self._take_off_book(m)
            del self._live[m.id]

    def _match(self, t: _Order, limit: int, limited: bool) -> None:
        opp = 1 - t.side
        while t.leaves > 0 and self._levels[opp]:
            px = self._prices(opp)[0]
            if limited and not crosses(t.side, px, limit):
                break
            lv = self._levels[opp][px]
            # Displayed quantity first, in time priority; a used-up iceberg slice refreshes at
            # the back of the displayed queue.
            while t.leaves > 0 and lv.displayed:
                m = lv.displayed[0]
                q = min(t.leaves, m.visible)
                m.visible -= q
                self._fill(t, m, px, q)
                if m.leaves > 0 and m.visible == 0:
                    m.visible = min(m.display, m.leaves)
                    lv.displayed.append(lv.displayed.pop(0))
            while t.leaves > 0 and lv.hidden:
                self._fill(t, lv.hidden[0], px, min(t.leaves, lv.hidden[0].leaves))

    def _rest(self, o: _Order, price: int) -> None:
        o.price = price
        o.visible = o.leaves if o.display < 0 else min(o.display, o.leaves)
        lv = self._levels[o.side].setdefault(price, _Level(price, [], []))
        lv.queue_of(o).append(o)

    def _take_off_book(self, o: _Order) -> None:
        lv = self._levels[o.side][o.price]
        lv.queue_of(o).remove(o)
        if not lv.displayed and not lv.hidden:
            del self._levels[o.side][o.price]

    # ----------------------------------------------------------------------------- triggers
    def _waiting(self, feed: int) -> list[_Order]:
        return [o for o in self._cond.values() if not o.held and o.feed == feed]

    def _run_triggers(self, feed: int) -> None:
        """Fires one triggered order at a time, re-reading the feed after each (trades move it)."""
        if self._lo[feed] == 0:
            return
        while True:
            for o in self._waiting(feed):
                if o.flags & FLAG_TRAILING:
                    cand = (self._hi[feed] if o.rises else self._lo[feed]) + o.peg_offset
                    if (cand < o.stop_px) if o.rises else (cand > o.stop_px):
                        o.stop_px = cand
            up = sorted((o.stop_px, o.id) for o in self._waiting(feed)
                        if o.rises and o.stop_px <= self._lo[feed])
            down = sorted((-o.stop_px, o.id) for o in self._waiting(feed)
                          if not o.rises and o.stop_px >= self._hi[feed])
            if up:
                self._fire(self._live[up[0][1]])
            elif down:
                self._fire(self._live[down[0][1]])
            else:
                return

    def _fire(self, o: _Order) -> None:
        self._emit(EV_TRIGGERED, o, REASON_NONE, o.stop_px, o.leaves)
        if self.hold_triggered:
            o.flags |= FLAG_HELD
            return
        o.flags &= ~(FLAG_CONDITIONAL | FLAG_HELD)
        del self._cond[o.id]
        self._execute(o, o.price)
