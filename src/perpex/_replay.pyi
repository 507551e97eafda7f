from typing import Any, Callable

import numpy as np

def replay_image(ex: Any, data: bytes, offs: np.ndarray, lens: np.ndarray, seqs: np.ndarray,
                 tss: np.ndarray, start: int, dispatch: dict[int, Callable[[Any, bytes, int], object]],
                 native: bool, symbols: list[str], ord_names: list[str], sides: list[int],
                 tifs: list[int],
                 fail: Callable[[int, bytes, Exception], Exception]) -> None: ...
