"""perpex._idtable.OrderTable, the engine's live orders by id: it answers as a dict of the same
entries would (iterated in ascending id, the order the engine enters them), holds its own
references and pickles with the snapshot."""

from __future__ import annotations

import gc
import pickle
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpex import presets
from perpex._idtable import OrderTable
from perpex.exchange import Exchange


class Rec:
    """A stand-in record that can be weakly referenced."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rec) and other.n == self.n

    def __reduce__(self) -> tuple:
        return Rec, (self.n,)


KEYS = st.one_of(st.integers(0, 40), st.integers(2**62, 2**63 - 1))
OPS = st.lists(st.tuples(st.sampled_from(["set", "del", "pop", "get"]), KEYS, st.integers(0, 9)),
               max_size=120)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_it_answers_as_a_dict_with_the_same_entries(ops):
    t, ref = OrderTable(), {}
    for op, k, v in ops:
        if op == "set":
            t[k] = ref[k] = Rec(v)
        elif op == "del":
            if k in ref:
                del t[k], ref[k]
            else:
                with pytest.raises(KeyError):
                    del t[k]
        elif op == "pop":
            assert t.pop(k, None) == ref.pop(k, None)
        assert t.get(k) == ref.get(k) and (k in t) == (k in ref) and len(t) == len(ref)
        assert list(t) == t.keys() == sorted(ref)
        assert t.values() == [ref[x] for x in sorted(ref)]
        assert t.items() == sorted(ref.items(), key=lambda kv: kv[0])
    back = pickle.loads(pickle.dumps(t))
    assert type(back) is OrderTable and back.items() == t.items()


def test_a_key_that_is_no_order_id_is_simply_absent():
    t = OrderTable()
    t[7] = Rec(1)
    for k in (-7, 2**63, 2**80, "7", 7.5, None, (7,)):
        assert k not in t and t.get(k, "none") == "none"
        with pytest.raises(KeyError):
            t[k]
        with pytest.raises(KeyError):
            t.pop(k)
    with pytest.raises(TypeError, match="order id"):
        t[-1] = Rec(2)
    with pytest.raises(TypeError, match="order id"):
        t["x"] = Rec(2)
    assert t.keys() == [7] and repr(t) == "OrderTable({7: %r})" % t[7]


def test_it_holds_a_reference_of_its_own_and_lets_go_of_it():
    t = OrderTable()
    a, b = Rec(1), Rec(2)
    wa, wb = weakref.ref(a), weakref.ref(b)
    t[1], t[2] = a, b
    t[1] = Rec(3)  # replaced: the first record is let go
    del a, b
    gc.collect()
    assert wa() is None and wb() is not None
    del t[2]
    assert wb() is None
    c = Rec(4)
    wc = weakref.ref(c)
    t[5] = c
    del c, t  # the table's own reference goes with it
    assert wc() is None


def test_it_grows_past_its_first_capacity_and_empties_again():
    t = OrderTable()
    recs = {k: Rec(k) for k in range(1, 5_001)}
    for k, r in recs.items():
        t[k] = r
    assert len(t) == 5_000 and all(t[k] is r for k, r in recs.items())
    for k in range(1, 5_001, 2):
        del t[k]
    assert t.keys() == list(range(2, 5_001, 2))
    t.clear()
    assert len(t) == 0 and not t and t.items() == []


def test_the_exchange_keeps_its_live_orders_there():
    ex = Exchange([presets.XBTUSD()])
    ex.deposit(1, 10**8, ts=1)
    ex.set_mark("XBTUSD", 20_000, ts=1)
    ids = [ex.place(1, "XBTUSD", "Buy", 10, 19_000 + i, ts=2).order_id for i in range(3)]
    assert type(ex._orders) is OrderTable and ex._orders.keys() == ids
    ex.cancel(1, ids[1], ts=3)
    assert ids[1] not in ex._orders and [r.order_id for r in ex._orders.values()] == [ids[0], ids[2]]
