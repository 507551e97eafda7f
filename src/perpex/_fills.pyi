from perpex.accounts.ledger import Ledger
from perpex.accounts.position import Position

def book_trade(ledger: Ledger, ccy: str, buyer: Position, seller: Position, qty: int, cost: int,
               buyer_fee: int = ..., seller_fee: int = ...) -> None: ...
def try_book_trade(ledger: Ledger, ccy: str, buyer: Position, seller: Position, qty: int,
                   cost: int, buyer_fee: int, seller_fee: int) -> bool: ...
