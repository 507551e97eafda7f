from typing import Any

class LedgerTables:
    # (Ledger defines them: perpex.accounts.ledger)
    _index: dict[str, dict[Any, int]]
    _vals: dict[str, Any]
    _cells: dict[str, Any]
    _counts: dict[str, int]
    _journal: list[Any] | None
    _gen: int
