from typing import Any, Literal

def order_fits(ex: Any, sym: str, a: int, side: int, price: int, qty: int,
               old: tuple[int, int, int]) -> Literal[True] | str | None: ...
