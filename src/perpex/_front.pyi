from typing import Any

from perpex.orders import Outcome

def place(core: Any, account: Any, symbol: Any, side: Any, qty: Any, price: Any, ord_type: Any,
          time_in_force: Any, exec_inst: Any, display_qty: Any, stop_px: Any,
          peg_price_type: Any, peg_offset_value: Any, cl_ord_id: Any, ts: Any) -> Outcome: ...
def cancel(core: Any, account: Any, order_id: Any, ts: Any) -> Outcome: ...
def replay_place(core: Any, account: Any, symbol: str, side: int, ord_type: str | None,
                 time_in_force: int, qty: Any, price: Any, ts: Any) -> None: ...
