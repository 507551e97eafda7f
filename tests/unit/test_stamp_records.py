"""perpex._events.stamp_records: one copy of a template record per row, three fields set from
the row; what a funding instant builds its per-position events with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpex._events import stamp_records

KEYS = ("account", "lastQty", "execComm")


def template() -> dict:
    return {"seq": 7, "execType": "Funding", "account": 0, "symbol": "XBTUSD", "lastQty": 0,
            "commission": 0.0001, "execComm": 0, "text": "Funding"}


@given(st.lists(st.tuples(st.integers(0, 2**32), st.integers(-2**70, 2**70),
                          st.integers(-2**70, 2**70)), max_size=50))
def test_each_record_is_the_template_with_the_rows_three_fields(rows):
    a, b, c = ([r[i] for r in rows] for i in range(3))
    out = stamp_records(template(), KEYS, a, b, c)
    want = [{**template(), "account": x, "lastQty": y, "execComm": z} for x, y, z in rows]
    assert out == want
    assert all(list(r) == list(template()) for r in out)  # the template's key order


def test_the_records_share_nothing_with_the_template_or_each_other():
    t = template()
    out = stamp_records(t, KEYS, [1, 2], [10, 20], [-5, 5])
    out[0]["text"] = "changed"
    assert t["text"] == "Funding" and out[1]["text"] == "Funding"
    assert t["account"] == 0


def test_columns_of_different_lengths_or_a_wrong_key_count_raise():
    with pytest.raises(ValueError):
        stamp_records(template(), KEYS, [1, 2], [1], [1, 2])
    with pytest.raises(ValueError):
        stamp_records(template(), KEYS[:2], [1], [1], [1])  # type: ignore[arg-type]
