"""submit_batch(cmds, out=...): events written into a caller's reusable array."""

from __future__ import annotations

import numpy as np
import pytest

import perpex._native as N
from perpex.errors import InvalidInputError
from tests.stress.gen import generate


def test_events_written_into_out_equal_the_fresh_array_and_are_a_view_of_it() -> None:
    cmds = generate(5_000, seed=3)
    fresh_events, fresh_status = N.OrderBook().submit_batch(cmds)
    out = np.zeros(len(fresh_events) + 10, N.EVENT_DTYPE)
    book = N.OrderBook()
    events, status = book.submit_batch(cmds, out=out)
    assert np.shares_memory(events, out) and len(events) == len(fresh_events)
    assert events.tobytes() == fresh_events.tobytes()
    assert np.array_equal(status, fresh_status)


def test_out_too_small_falls_back_to_a_new_array_with_every_event() -> None:
    cmds = generate(2_000, seed=4)
    expected, _ = N.OrderBook().submit_batch(cmds)
    out = np.zeros(3, N.EVENT_DTYPE)
    events, _ = N.OrderBook().submit_batch(cmds, out=out)
    assert not np.shares_memory(events, out)
    assert events.tobytes() == expected.tobytes()
    assert out.tobytes() == expected[:3].tobytes()  # it was written up to its end first


def test_reusing_out_across_chunks_gives_the_same_tape_as_one_batch() -> None:
    cmds = generate(6_000, seed=5)
    whole, _ = N.OrderBook().submit_batch(cmds)
    book, out, parts = N.OrderBook(), np.zeros(4_000, N.EVENT_DTYPE), []
    for start in range(0, len(cmds), 1_000):
        events, _ = book.submit_batch(cmds[start:start + 1_000], out=out)
        chunk = events.copy()
        chunk["cmd"] += start  # row indices restart in every batch
        parts.append(chunk)
    assert np.concatenate(parts).tobytes() == whole.tobytes()


@pytest.mark.parametrize(("out", "exc"), [
    (np.zeros(10, N.CMD_DTYPE), TypeError),
    (np.zeros((2, 10), N.EVENT_DTYPE), InvalidInputError),
    (np.zeros(20, N.EVENT_DTYPE)[::2], InvalidInputError),
    ([1, 2, 3], InvalidInputError),
])
def test_a_malformed_out_raises_before_anything_is_applied(out: object, exc: type) -> None:
    book = N.OrderBook()
    before = book.state_hash()
    with pytest.raises(exc):
        book.submit_batch(generate(100, seed=6), out=out)
    assert book.state_hash() == before


def test_a_read_only_out_is_refused() -> None:
    out = np.zeros(100, N.EVENT_DTYPE)
    out.setflags(write=False)
    with pytest.raises(InvalidInputError, match="writeable"):
        N.OrderBook().submit_batch(generate(10, seed=7), out=out)


def test_an_out_sharing_memory_with_the_commands_is_refused() -> None:
    cmds = generate(100, seed=8)
    book = N.OrderBook()
    before = book.state_hash()
    with pytest.raises(InvalidInputError, match="share memory"):
        book.submit_batch(cmds, out=cmds.view(N.EVENT_DTYPE))
    assert book.state_hash() == before
