"""Compact binary payloads of the Exchange's commands, for the journal.

A payload is one kind byte, then the command's fields: small fixed fields struct-packed
(accounts u32, order ids and amounts i64, symbols and enum spellings as one-byte codes), and
the free-form ones (quantities, human prices, optional strings) as tagged values. A tagged value
keeps its Python type, so the command replays exactly as it was given: a Decimal as its string,
a float as its 8 IEEE bytes, an int as i64 (its decimal digits when wider). A batch of
``submit_orders`` rows is its raw ORDER_DTYPE bytes.

Only commands the Exchange accepted are encoded, so every field already passed validation; the
encoder therefore never has to reject anything. Types the engine does not use for commands
(none today) would fall back to pickle inside a tagged value: the journal is a trusted local
file, never read from an untrusted source.
"""

from __future__ import annotations

import numbers
import pickle
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Mapping

import numpy as np

from perpex._front import replay_place
from perpex._wal import PlainPlaces, read_plain_place
from perpex.book import ORD_TYPES, SIDES, TIFS
from perpex.exchange_batch import ORDER_DTYPE
from perpex.rounding import INT64_MAX, INT64_MIN

__all__ = ["Codec", "K_ADVANCE", "K_AMEND", "K_BATCH", "K_CANCEL", "K_CANCEL_ALL", "K_DEPOSIT",
           "K_INDEX", "K_INTEREST", "K_LEVERAGE", "K_PLACE", "K_RISK_LIMIT", "K_SET_MARK",
           "K_SET_MARK_E8", "K_TRANSFER", "K_WITHDRAW", "KIND_NAMES"]

(K_DEPOSIT, K_WITHDRAW, K_PLACE, K_AMEND, K_CANCEL, K_CANCEL_ALL, K_LEVERAGE, K_RISK_LIMIT,
 K_TRANSFER, K_SET_MARK, K_SET_MARK_E8, K_INDEX, K_ADVANCE, K_BATCH, K_INTEREST) = range(1, 16)
KIND_NAMES = {K_DEPOSIT: "deposit", K_WITHDRAW: "withdraw", K_PLACE: "place", K_AMEND: "amend",
              K_CANCEL: "cancel", K_CANCEL_ALL: "cancel_all", K_LEVERAGE: "set_leverage",
              K_RISK_LIMIT: "set_risk_limit", K_TRANSFER: "transfer_margin",
              K_SET_MARK: "set_mark", K_SET_MARK_E8: "set_mark_e8", K_INDEX: "update_index",
              K_ADVANCE: "advance", K_BATCH: "submit_orders", K_INTEREST: "set_interest_rates"}

# value tags
_NONE, _INT, _FLOAT, _DEC, _STR, _BIGINT, _TRUE, _FALSE, _FRAC, _TUPLE, _PICKLE = range(11)
_NO_CODE = 255

_U8 = struct.Struct("<B")
_TAG_I64 = struct.Struct("<Bq")
_TAG_F64 = struct.Struct("<Bd")
_TAG_LEN = struct.Struct("<BI")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
_HEAD_ACCT = struct.Struct("<BI")            # kind, account
_HEAD_ACCT_SYM = struct.Struct("<BIB")       # kind, account, symbol
_HEAD_PLACE = struct.Struct("<BIBBBB")       # kind, account, symbol, side, ord_type, tif
_HEAD_ORDER = struct.Struct("<BIq")          # kind, account, order id
_HEAD_MARK_E8 = struct.Struct("<BBq")        # kind, symbol, mark_e8
_HEAD_BATCH = struct.Struct("<BB")           # kind, events flag

_SIDE_NAMES = list(SIDES)
_ORD_NAMES = list(ORD_TYPES)
_TIF_NAMES = list(TIFS)
_SIDE_CODE = {n: i for i, n in enumerate(_SIDE_NAMES)}
_SIDE_NATIVE = [SIDES[n] for n in _SIDE_NAMES]     # the engine's codes by payload code
_TIF_NATIVE = [TIFS[n] for n in _TIF_NAMES]
_ORD_CODE = {n: i for i, n in enumerate(_ORD_NAMES)}
_TIF_CODE = {n: i for i, n in enumerate(_TIF_NAMES)}


def _put(out: bytearray, v: object) -> None:
    """Appends one tagged value."""
    t = type(v)
    if v is None:
        out.append(_NONE)
    elif t is int:
        if INT64_MIN <= v <= INT64_MAX:  # type: ignore[operator]
            out += _TAG_I64.pack(_INT, v)
        else:
            _put_bytes(out, _BIGINT, str(v).encode())
    elif t is float:
        out += _TAG_F64.pack(_FLOAT, v)
    elif t is str:
        _put_bytes(out, _STR, v.encode())  # type: ignore[attr-defined]
    elif t is Decimal:
        _put_bytes(out, _DEC, str(v).encode())
    elif isinstance(v, bool):
        out.append(_TRUE if v else _FALSE)
    elif isinstance(v, numbers.Integral):   # NumPy integers: the engine reads them as int
        _put(out, int(v))
    elif isinstance(v, float):
        _put(out, float(v))
    elif isinstance(v, Decimal):
        _put_bytes(out, _DEC, str(v).encode())
    elif isinstance(v, str):
        _put_bytes(out, _STR, str(v).encode())
    elif isinstance(v, Fraction):
        _put_bytes(out, _FRAC, f"{v.numerator}/{v.denominator}".encode())
    elif isinstance(v, tuple):
        out += _TAG_LEN.pack(_TUPLE, len(v))
        for x in v:
            _put(out, x)
    else:
        _put_bytes(out, _PICKLE, pickle.dumps(v, protocol=5))


def _put_bytes(out: bytearray, tag: int, b: bytes) -> None:
    out += _TAG_LEN.pack(tag, len(b))
    out += b


def _get(buf: bytes, pos: int) -> tuple[Any, int]:
    """Reads one tagged value at ``pos``; returns it and the position after it."""
    tag = buf[pos]
    if tag == _INT:
        return _I64.unpack_from(buf, pos + 1)[0], pos + 9
    if tag == _NONE:
        return None, pos + 1
    if tag == _FLOAT:
        return _F64.unpack_from(buf, pos + 1)[0], pos + 9
    if tag == _TRUE or tag == _FALSE:
        return tag == _TRUE, pos + 1
    (n,) = _U32.unpack_from(buf, pos + 1)
    start = pos + 5
    if tag == _TUPLE:
        items = []
        for _ in range(n):
            x, start = _get(buf, start)
            items.append(x)
        return tuple(items), start
    raw = buf[start:start + n]
    end = start + n
    if tag == _STR:
        return raw.decode(), end
    if tag == _DEC:
        return Decimal(raw.decode()), end
    if tag == _BIGINT:
        return int(raw.decode()), end
    if tag == _FRAC:
        num, den = raw.decode().split("/")
        return Fraction(int(num), int(den)), end
    if tag == _PICKLE:
        return pickle.loads(raw), end
    raise ValueError(f"unknown value tag {tag} at byte {pos}")


def _map(out: bytearray, m: Mapping[Any, Any]) -> None:
    """A mapping as its item count and tagged (key, value) pairs, in its own order; a value
    that is itself a mapping nests."""
    out += _U32.pack(len(m))
    for k, v in m.items():
        _put(out, k)
        if isinstance(v, Mapping):
            out.append(1)
            _map(out, v)
        else:
            out.append(0)
            _put(out, v)


def _get_map(buf: bytes, pos: int) -> tuple[dict[Any, Any], int]:
    (n,) = _U32.unpack_from(buf, pos)
    pos += 4
    d: dict[Any, Any] = {}
    for _ in range(n):
        k, pos = _get(buf, pos)
        nested = buf[pos]
        if nested:
            v, pos = _get_map(buf, pos + 1)
        else:
            v, pos = _get(buf, pos + 1)
        d[k] = v
    return d, pos


class Codec:
    """Encodes accepted commands of one Exchange and replays payloads into an Exchange.

    Symbols travel as their index in the exchange's (sorted) symbol list, so a codec belongs
    to one set of listed instruments.
    """

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = list(symbols)
        self.code = {s: i for i, s in enumerate(self.symbols)}
        # a plain order's payload, natively (Codec.place's first step, and the journaled
        # exchange's order call's)
        self.plain = PlainPlaces(self.code, _SIDE_CODE, _ORD_CODE, _TIF_CODE, _NO_CODE)
        self._replay: dict[int, Callable[[Any, bytes, int], object]] = {
            K_DEPOSIT: self._r_money, K_WITHDRAW: self._r_money, K_PLACE: self._r_place,
            K_AMEND: self._r_amend, K_CANCEL: self._r_cancel, K_CANCEL_ALL: self._r_cancel_all,
            K_LEVERAGE: self._r_leverage, K_RISK_LIMIT: self._r_risk_limit,
            K_TRANSFER: self._r_transfer, K_SET_MARK: self._r_set_mark,
            K_SET_MARK_E8: self._r_set_mark_e8, K_INDEX: self._r_index, K_ADVANCE: self._r_advance,
            K_BATCH: self._r_batch, K_INTEREST: self._r_interest}
        # the same, with a plain order run through the engine's own place without its outcome
        # (perpex._front.replay_place): the dispatch of a recovery into an Exchange whose
        # place is Exchange.place (perpex.exchange_journal)
        self._quiet = dict(self._replay)
        self._quiet[K_PLACE] = self._q_place

    # ------------------------------------------------------------------ encoders
    def money(self, kind: int, account: int, amount: int, currency: str, tx_id: object) -> bytes:
        out = bytearray(_HEAD_ACCT.pack(kind, account))
        _put(out, amount)
        _put(out, currency)
        _put(out, tx_id)
        return bytes(out)

    def place(self, account: int, symbol: str, side: str, qty: object, price: object,
              ord_type: str | None, time_in_force: str, exec_inst: object, display_qty: object,
              stop_px: object, peg_price_type: object, peg_offset_value: object,
              cl_ord_id: object) -> bytes:
        # the common order, written in one native step (the same bytes as place_full's)
        fast = self.plain(account, symbol, side, qty, price, ord_type, time_in_force, exec_inst,
                          display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id)
        if fast is not None:
            return fast
        return self.place_full(account, symbol, side, qty, price, ord_type, time_in_force,
                               exec_inst, display_qty, stop_px, peg_price_type,
                               peg_offset_value, cl_ord_id)

    def place_full(self, account: int, symbol: str, side: str, qty: object, price: object,
                   ord_type: str | None, time_in_force: str, exec_inst: object,
                   display_qty: object, stop_px: object, peg_price_type: object,
                   peg_offset_value: object, cl_ord_id: object) -> bytes:
        """``place`` without its native first step, for a caller that has tried that already
        (any order; the plain ones come out as that step writes them)."""
        sym, sd = self.code[symbol], _SIDE_CODE[side]
        ot, tif = _NO_CODE if ord_type is None else _ORD_CODE[ord_type], _TIF_CODE[time_in_force]
        out = bytearray(_HEAD_PLACE.pack(K_PLACE, account, sym, sd, ot, tif))
        _put(out, qty)
        _put(out, price)
        if exec_inst == ():
            out.append(_NONE)
        else:
            _put(out, exec_inst)
        if display_qty is None and stop_px is None and peg_price_type is None \
                and peg_offset_value is None and cl_ord_id is None:
            out.append(0)      # the common plain order: no optional fields follow
            return bytes(out)
        out.append(1)
        for v in (display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id):
            _put(out, v)
        return bytes(out)

    def amend(self, account: int, order_id: int, qty: object, leaves_qty: object,
              price: object, stop_px: object) -> bytes:
        out = bytearray(_HEAD_ORDER.pack(K_AMEND, account, order_id))
        for v in (qty, leaves_qty, price, stop_px):
            _put(out, v)
        return bytes(out)

    def cancel(self, account: int, order_id: int) -> bytes:
        return _HEAD_ORDER.pack(K_CANCEL, account, order_id)

    def cancel_all(self, account: int, symbol: str | None) -> bytes:
        return _HEAD_ACCT_SYM.pack(K_CANCEL_ALL, account,
                                   _NO_CODE if symbol is None else self.code[symbol])

    def account_symbol(self, kind: int, account: int, symbol: str, value: object) -> bytes:
        out = bytearray(_HEAD_ACCT_SYM.pack(kind, account, self.code[symbol]))
        _put(out, value)
        return bytes(out)

    def set_mark(self, symbol: str, price: object) -> bytes:
        out = bytearray((K_SET_MARK, self.code[symbol]))
        _put(out, price)
        return bytes(out)

    def set_mark_e8(self, symbol: str, mark_e8: int) -> bytes:
        return _HEAD_MARK_E8.pack(K_SET_MARK_E8, self.code[symbol], mark_e8)

    def update_index(self, quotes: Mapping[str, Any]) -> bytes:
        out = bytearray((K_INDEX,))
        _map(out, quotes)
        return bytes(out)

    def advance(self) -> bytes:
        return bytes((K_ADVANCE,))

    def interest(self, symbol: str, quote_daily: float, base_daily: float) -> bytes:
        out = bytearray((K_INTEREST, self.code[symbol]))
        _put(out, quote_daily)
        _put(out, base_daily)
        return bytes(out)

    def batch(self, cmds: np.ndarray, events: bool) -> bytes:
        return _HEAD_BATCH.pack(K_BATCH, 1 if events else 0) + cmds.tobytes()

    # ------------------------------------------------------------------ replay
    def replay_tables(self) -> tuple[list[str], list[str], list[int], list[int]]:
        """The symbols, order type names, and the engine's side and time-in-force codes, by
        payload code: the tables of the native replay of plain orders (perpex._replay)."""
        return self.symbols, _ORD_NAMES, _SIDE_NATIVE, _TIF_NATIVE

    def apply(self, ex: Any, payload: bytes, ts: int) -> object:
        """Runs the command in ``payload`` on ``ex`` at ``ts`` through its public method."""
        return self._replay[payload[0]](ex, payload, ts)

    @staticmethod
    def kind_name(payload: bytes) -> str:
        return KIND_NAMES.get(payload[0], f"unknown kind {payload[0]}") if payload else "empty"

    def _sym(self, code: int) -> str | None:
        return None if code == _NO_CODE else self.symbols[code]

    def _r_money(self, ex: Any, p: bytes, ts: int) -> object:
        kind, account = _HEAD_ACCT.unpack_from(p, 0)
        amount, pos = _get(p, _HEAD_ACCT.size)
        currency, pos = _get(p, pos)
        tx_id, _ = _get(p, pos)
        fn = ex.deposit if kind == K_DEPOSIT else ex.withdraw
        return fn(account, amount, currency=currency, tx_id=tx_id, ts=ts)

    def _r_place(self, ex: Any, p: bytes, ts: int) -> object:
        plain = read_plain_place(p)
        if plain is None:
            return self._r_place_full(ex, p, ts)
        account, sym, side, ot, tif, qty, price = plain  # the common order, read natively
        return ex.place(account, self.symbols[sym], _SIDE_NAMES[side], qty, price,
                        None if ot == _NO_CODE else _ORD_NAMES[ot], _TIF_NAMES[tif], ts=ts)

    def _q_place(self, ex: Any, p: bytes, ts: int) -> object:
        plain = read_plain_place(p)
        if plain is None:
            return self._r_place_full(ex, p, ts)
        account, sym, side, ot, tif, qty, price = plain
        replay_place(ex, account, self.symbols[sym], _SIDE_NATIVE[side],
                     None if ot == _NO_CODE else _ORD_NAMES[ot], _TIF_NATIVE[tif], qty, price, ts)
        return None

    def _r_place_full(self, ex: Any, p: bytes, ts: int) -> object:
        """A place payload that is not the plain one, through the general decoder."""
        # (one call below with every argument spelled out: a *args call would cost the replay
        # a tuple and a dict per order)
        _, account, sym, side, ot, tif = _HEAD_PLACE.unpack_from(p, 0)
        qty, pos = _get(p, _HEAD_PLACE.size)
        price, pos = _get(p, pos)
        exec_inst, pos = _get(p, pos)
        disp = stop_px = peg_type = peg_offset = cl_ord_id = None
        if p[pos]:
            disp, pos = _get(p, pos + 1)
            stop_px, pos = _get(p, pos)
            peg_type, pos = _get(p, pos)
            peg_offset, pos = _get(p, pos)
            cl_ord_id, pos = _get(p, pos)
        return ex.place(account, self.symbols[sym], _SIDE_NAMES[side], qty, price,
                        None if ot == _NO_CODE else _ORD_NAMES[ot], _TIF_NAMES[tif],
                        () if exec_inst is None else exec_inst, disp, stop_px, peg_type,
                        peg_offset, cl_ord_id, ts=ts)

    def _r_amend(self, ex: Any, p: bytes, ts: int) -> object:
        _, account, oid = _HEAD_ORDER.unpack_from(p, 0)
        pos = _HEAD_ORDER.size
        vals = []
        for _ in range(4):
            v, pos = _get(p, pos)
            vals.append(v)
        return ex.amend(account, oid, *vals, ts=ts)

    def _r_cancel(self, ex: Any, p: bytes, ts: int) -> object:
        _, account, oid = _HEAD_ORDER.unpack_from(p, 0)
        return ex.cancel(account, oid, ts=ts)

    def _r_cancel_all(self, ex: Any, p: bytes, ts: int) -> object:
        _, account, sym = _HEAD_ACCT_SYM.unpack_from(p, 0)
        return ex.cancel_all(account, self._sym(sym), ts=ts)

    def _acct_sym_value(self, p: bytes) -> tuple[int, str, Any]:
        _, account, sym = _HEAD_ACCT_SYM.unpack_from(p, 0)
        value, _ = _get(p, _HEAD_ACCT_SYM.size)
        return account, self.symbols[sym], value

    def _r_leverage(self, ex: Any, p: bytes, ts: int) -> object:
        return ex.set_leverage(*self._acct_sym_value(p), ts=ts)

    def _r_risk_limit(self, ex: Any, p: bytes, ts: int) -> object:
        return ex.set_risk_limit(*self._acct_sym_value(p), ts=ts)

    def _r_transfer(self, ex: Any, p: bytes, ts: int) -> object:
        return ex.transfer_margin(*self._acct_sym_value(p), ts=ts)

    def _r_set_mark(self, ex: Any, p: bytes, ts: int) -> object:
        price, _ = _get(p, 2)
        return ex.set_mark(self.symbols[p[1]], price, ts=ts)

    def _r_set_mark_e8(self, ex: Any, p: bytes, ts: int) -> object:
        _, sym, mark_e8 = _HEAD_MARK_E8.unpack_from(p, 0)
        return ex.set_mark_e8(self.symbols[sym], mark_e8, ts=ts)

    def _r_index(self, ex: Any, p: bytes, ts: int) -> object:
        quotes, _ = _get_map(p, 1)
        return ex.update_index(ts, quotes)

    def _r_advance(self, ex: Any, p: bytes, ts: int) -> object:
        return ex.advance(ts)

    def _r_interest(self, ex: Any, p: bytes, ts: int) -> object:
        quote_daily, pos = _get(p, 2)
        base_daily, _ = _get(p, pos)
        return ex.set_interest_rates(self.symbols[p[1]], quote_daily, base_daily, ts=ts)

    def _r_batch(self, ex: Any, p: bytes, ts: int) -> object:
        # the rows read in place from an aligned copy of their bytes (a copy of the array
        # itself would move them field by field)
        cmds = np.frombuffer(p[_HEAD_BATCH.size:], dtype=ORDER_DTYPE)
        return ex.submit_orders(cmds, events=bool(p[1]))
