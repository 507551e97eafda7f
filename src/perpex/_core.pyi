from collections import deque
from typing import Any, Callable, Iterator, Mapping

from perpex._idtable import LiveOrders, OrderTable
from perpex._records import OrderRecord
from perpex.accounts._levels import OpenLevels
from perpex.accounts.ledger import Ledger
from perpex.accounts.margin import ContractValue
from perpex.accounts.position import Position
from perpex.instruments import Instrument
from perpex.orders import Outcome
from perpex.risk.limits import RateLimiter

MAX_ACCOUNT: int
LIQUIDATION_ACCOUNT: int
LIQUIDATION_TEXT: str
CORE_FIELDS: tuple[str, ...]
OP_LIMIT: int
OP_MARKET: int
OP_CANCEL: int
STATUS_OK: int
STATUS_REJECTED: int
STATUS_UNKNOWN_ORDER: int
BAD_FAULTS: tuple[int, ...]
BAD_ACCOUNT: int
STATUS_OVERLOADED: int

LEVELS_MAX: int

class BookLevels(Iterator[tuple[int, int]]):
    def __iter__(self) -> BookLevels: ...
    def __next__(self) -> tuple[int, int]: ...
    def __len__(self) -> int: ...

def levels(book: Any, side: int) -> BookLevels: ...
def fee(exec_cost: int, rate: tuple[int, int]) -> int: ...

class Contract:
    symbol: str
    currency: str
    inst: Instrument
    book: Any
    cv: ContractValue
    terms: Any
    inverse: bool
    prices: dict[int, Any]
    taker_rate: tuple[int, int]
    maker_rate: tuple[int, int]
    peers: list[Contract]
    linked: dict[int, None]
    rates: dict[int, tuple[int, int]]
    liq_native: bool
    mm_rates: dict[int, tuple[int, int]]

class EngineCore:
    _inst: dict[str, Instrument]
    _accounts: dict[int, None]
    _books: dict[str, Any]
    _positions: dict[tuple[int, str], Position]
    _orders: OrderTable
    _live: dict[tuple[int, str], LiveOrders]
    _reduce_only: dict[tuple[int, str], dict[int, None]]
    _cl_ids: dict[tuple[int, str], int]
    _open: dict[tuple[int, str], OpenLevels]
    _fee_ratios: dict[str, tuple[tuple[int, int], tuple[int, int]]]
    _settled: dict[str, int]
    _marks: dict[str, int]
    _cv: dict[str, ContractValue]
    _cross_rates: dict[tuple[str, int], tuple[int, int]]
    _by_ccy: dict[str, list[str]]
    _risk_dirty: dict[tuple[int, str], None]
    _linked: dict[str, dict[int, None]]
    _lots: dict[int, int]
    _liq_orders: dict[int, None]
    _texts: dict[int, str]
    _dirty: dict[int, None]
    _buckets: dict[int, list[int]]
    _rate: RateLimiter | None
    _ledger: Ledger
    _held: deque[int]
    _executions: deque[Mapping[str, Any]]
    _halted: str | None
    _events: list[Mapping[str, Any]]
    _max_open: int
    _max_stop: int
    _emit: bool
    _checks_off: bool
    _seq: int
    _ts: int
    _next_id: int
    _marks_ver: int

    def _core_state(self) -> dict[str, Any]: ...
    def _position(self, a: int, sym: str) -> Position: ...
    def _contract_view(self, sym: str) -> Contract: ...
    def _run_rows(self, rows: Any, out: Any, contracts: list[Contract], shedder: Any,
                  new_kind: Any, cancel_kind: Any) -> None: ...
    def _first_bad_row(self, rows: Any, contracts: list[Contract]) -> tuple[int, int] | None: ...
    def _take_token(self, account: int) -> bool: ...
    def _commit(self, ts: int, fn: Callable[..., Outcome], *args: Any) -> Outcome: ...
    def _place(self, inst: Instrument, rec: OrderRecord) -> Outcome: ...
    def _engine_add(self, inst: Instrument, a: int, side: int, qty: int, price: int,
                    tif: int) -> OrderRecord: ...
    def _cancel_now(self, rec: OrderRecord) -> Outcome: ...
    def _order_outcome(self, rec: OrderRecord) -> Outcome: ...
    def _price_estimate(self, inst: Instrument, side: int, qty: int) -> int: ...
    def _closing_reject(self, inst: Instrument, rec: OrderRecord, qty: int,
                        price: int | None = ...) -> str: ...
    def _drive(self, sym: str) -> None: ...
    def _touch(self, a: int, ccy: str) -> None: ...
    def _apply_events(self, sym: str) -> None: ...
