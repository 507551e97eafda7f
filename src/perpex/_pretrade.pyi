from typing import Any

def order_fits(ex: Any, sym: str, a: int, side: int, price: int, qty: int,
               old: tuple[int, int, int]) -> bool | None: ...
