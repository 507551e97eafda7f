from typing import Iterable

from perpex.exchange import Exchange
from perpex.exchange_codec import Codec
from perpex.journal import Journal
from perpex.orders import Outcome

class JournaledCore:
    exchange: Exchange
    _journal: Journal
    _codec: Codec
    def place(self, account: int, symbol: str, side: str, qty: int | None, price: object = None,
              ord_type: str | None = None, time_in_force: str = "GoodTillCancel",
              exec_inst: Iterable[str] | str = (), display_qty: int | None = None,
              stop_px: object = None, peg_price_type: str | None = None,
              peg_offset_value: object = None, cl_ord_id: str | None = None, *,
              ts: int | None = None) -> Outcome: ...
    def cancel(self, account: int, order_id: int, *, ts: int | None = None) -> Outcome: ...
