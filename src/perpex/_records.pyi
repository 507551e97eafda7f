from typing import Any

class OrderRecord:
    order_id: int
    account: int
    symbol: str
    side: int
    ord_type: int
    tif: int
    flags: int
    feed: int
    price: int
    stop_px: int
    peg_offset: int
    display_qty: int
    order_qty: int
    leaves_qty: int
    cum_qty: int
    px_qty: int
    cl_ord_id: str
    close_all: bool
    conditional: bool
    triggered: bool
    @property
    def ix_side(self) -> int: ...
    @property
    def ix_price(self) -> int: ...
    @property
    def ix_qty(self) -> int: ...
    @property
    def ix_levels(self) -> Any: ...
    @property
    def key(self) -> tuple[int, str] | None: ...
    @property
    def done_status(self) -> str | None: ...
    @property
    def done_text(self) -> str | None: ...

    def __init__(self, order_id: int, account: int, symbol: str, side: int, ord_type: int,
                 tif: int, flags: int, feed: int, price: int, stop_px: int, peg_offset: int,
                 display_qty: int, order_qty: int, leaves_qty: int, cum_qty: int = ...,
                 px_qty: int = ..., cl_ord_id: str = ..., close_all: bool = ...,
                 conditional: bool = ..., triggered: bool = ...) -> None: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def sign(self) -> int: ...
    def as_tuple(self) -> tuple[object, ...]: ...
    def indexed_as(self) -> tuple[int, int, int]: ...
