from typing import Any

class LevelTerms:
    inverse: bool
    value_num: int
    value_den: int
    e8_per_tick: int
    fee_num: int
    fee_den: int
    def __init__(self, inverse: bool, value_num: int, value_den: int, e8_per_tick: int,
                 fee_num: int, fee_den: int) -> None: ...

class OpenLevels:
    count: int
    unpriced: int
    def add(self, side: int, price: int, n: int) -> None: ...
    def remove(self, side: int, price: int, n: int) -> None: ...
    def levels(self) -> tuple[dict[int, int], dict[int, int], int]: ...
    def empty(self) -> bool: ...
    def margin_with(self, t: LevelTerms, position_qty: int, rate_num: int, rate_den: int,
                    mark_e8: int, mark_unit: int, best_bid: int, side: int, price: int, n: int,
                    old_side: int, old_price: int, old_n: int) -> int | None: ...

def open_sync(seen: dict[int, tuple[int, int, int]], index: dict[tuple[int, str], OpenLevels],
              rec: Any, reduce_flag: int) -> None: ...
def open_drop(seen: dict[int, tuple[int, int, int]], index: dict[tuple[int, str], OpenLevels],
              rec: Any) -> None: ...
