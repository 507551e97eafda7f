from decimal import Decimal
from typing import Any

import numpy as np

def fill_digest(events: np.ndarray[Any, Any], seed: int = ...) -> tuple[int, int, int]: ...
def stamp_records(template: dict[str, Any], keys: tuple[str, str, str], a: list[Any],
                  b: list[Any], c: list[Any]) -> list[dict[str, Any]]: ...
def configure_execution(template: dict[str, Any], side_names: tuple[str, ...],
                        ord_type_names: dict[int, str], tif_names: dict[int, str],
                        conditional: frozenset[int], exec_inst_text: Any) -> None: ...
def avg_px(instrument: Any, px_qty: int, cum: int) -> Decimal: ...

AVG_PX_CACHE: dict[int, Decimal]
def execution(instrument: Any, rec: Any, exec_type: str, ord_status: str, *, seq: int, ts: int,
              text: str = ..., last_qty: int = ..., last_px: int = ..., exec_cost: int = ...,
              exec_comm: int = ..., liquidity: str = ...,
              stop_px: int | None = ...) -> dict[str, Any]: ...
