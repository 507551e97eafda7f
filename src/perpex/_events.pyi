from typing import Any

import numpy as np

def fill_digest(events: np.ndarray[Any, Any], seed: int = ...) -> tuple[int, int, int]: ...
def stamp_records(template: dict[str, Any], keys: tuple[str, str, str], a: list[Any],
                  b: list[Any], c: list[Any]) -> list[dict[str, Any]]: ...
def configure_execution(template: dict[str, Any], side_names: tuple[str, ...],
                        ord_type_names: dict[int, str], tif_names: dict[int, str],
                        conditional: frozenset[int], exec_inst_text: Any, avg_px: Any,
                        avg_px_cache: dict[int, Any]) -> None: ...
def execution(instrument: Any, rec: Any, exec_type: str, ord_status: str, *, seq: int, ts: int,
              text: str = ..., last_qty: int = ..., last_px: int = ..., exec_cost: int = ...,
              exec_comm: int = ..., liquidity: str = ...,
              stop_px: int | None = ...) -> dict[str, Any]: ...
