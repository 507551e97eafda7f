from typing import Any

import numpy as np

def fill_digest(events: np.ndarray[Any, Any], seed: int = ...) -> tuple[int, int, int]: ...
def stamp_records(template: dict[str, Any], keys: tuple[str, str, str], a: list[Any],
                  b: list[Any], c: list[Any]) -> list[dict[str, Any]]: ...
