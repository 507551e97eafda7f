"""`JournaledExchange`: an :class:`~perpex.exchange.Exchange` whose commands go to a write-ahead
journal, with snapshots and crash recovery (RELIABILITY.md B2.7).

Every state-changing public command is passed to the Exchange unchanged; if the Exchange
accepted it (it took a ``seq``, whether it filled or was rejected as a business outcome), the
command is appended to the journal as a compact binary payload (:mod:`perpex.exchange_codec`)
stamped with the time the Exchange used. Bad input raises from the Exchange before anything
changes and is not journaled; neither is a repeated deposit/withdrawal ``tx_id`` (it changes
nothing and takes no seq). A command whose processing halted the engine took a seq and is
journaled too, so a replay halts at the same place.

Journal ``seq`` numbers count journaled commands; the Exchange's own ``seq`` is part of its
state. Acknowledgement follows the journal: with ``fsync="always"`` a command is durable when
its call returns; with ``"batch"`` (group commit) once ``durable_seq`` reaches its journal seq,
which happens when the background fsync started every ``group_commit`` commands completes
(:meth:`perpex.journal.Journal.commit`) and at :meth:`JournaledExchange.sync`; with
``"never"`` records reach the OS (they survive a process kill once flushed) but are never
fsync-ed.

Snapshots serialise the whole Exchange object with pickle (protocol 5); each native book
travels as its own ``dump()`` bytes through the book's pickle support. The pending event
buffer and the execution history are output rather than state and are not kept: a restored
exchange starts with neither. Snapshots are trusted local files, guarded by a CRC-32C and by
a check that the restored state hashes to the value in the header; never load a snapshot from
an untrusted source, since unpickling can run arbitrary code.

Recovery (:meth:`JournaledExchange.recover`) restores the newest snapshot that verifies and
hashes to its header value, then replays the journal tail through the same public methods.
"""

from __future__ import annotations

import copyreg
import gc
import io
import os
import pickle
import types
from collections import deque
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from perpex._core import CORE_FIELDS
from perpex._journaled import JournaledCore
from perpex._replay import replay_image
from perpex.errors import CorruptJournalError, CorruptSnapshotError, EngineHaltedError
from perpex.exchange import Exchange
from perpex.exchange_codec import (
    K_DEPOSIT, K_LEVERAGE, K_RISK_LIMIT, K_TRANSFER, K_WITHDRAW, Codec)
from perpex.journal import (
    JOURNAL_FILE, FsyncMode, Image, Journal, Record, read_journal, recover, scan_journal)
from perpex.orders import Outcome
from perpex.snapshot import load_snapshot, write_snapshot

__all__ = ["JournaledExchange", "dump_exchange", "load_exchange", "replay_journal"]

_OUTPUT = ("_events", "_executions")    # output buffers a snapshot leaves out
# Commands per group commit in fsync "batch" mode: the trade between how long a command waits
# to be acknowledged (a group's worth of commands, about 5 ms at 200k orders/s) and how often
# the disk is flushed. Each fsync slows the run beside it by about its own length, a cost per
# group that smaller groups pay more often (bench_journal measures each setting).
GROUP_COMMIT = 1024


# ------------------------------------------------------------------ snapshot payloads


def _mappingproxy(d: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(d)


# Read-only views (LiquidationConfig.factors) are not picklable by default; they travel as the
# dict they show. Kept in a private dispatch table so pickling elsewhere is unaffected.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[types.MappingProxyType] = lambda m: (_mappingproxy, (dict(m),))


def dump_exchange(ex: Exchange) -> bytes:
    """The whole Exchange as snapshot bytes (pickle protocol 5), without its output buffers."""
    state = {**vars(ex), **ex._core_state()}
    state["_events"] = []
    state["_executions"] = deque(maxlen=ex._executions.maxlen)
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=5)
    p.dispatch_table = _DISPATCH  # type: ignore[misc]
    p.dump((type(ex), state))
    return buf.getvalue()


def load_exchange(payload: bytes) -> Exchange:
    """The Exchange in snapshot bytes from :func:`dump_exchange` (trusted input only)."""
    cls, state = pickle.loads(payload)
    if not (isinstance(cls, type) and issubclass(cls, Exchange)) or not isinstance(state, dict):
        raise CorruptSnapshotError(f"snapshot payload holds {cls!r}, not an Exchange")
    ex = cls.__new__(cls)
    try:
        for name in CORE_FIELDS:  # the typed fields of perpex._core.EngineCore
            setattr(ex, name, state.pop(name))
        # each position under its own key tuple, as the engine files them (its lookups with
        # that tuple then find the entry without comparing tuples)
        ex._positions = {p.key: p for p in ex._positions.values()}
    except (KeyError, TypeError, OverflowError, AttributeError) as exc:
        raise CorruptSnapshotError(f"snapshot payload lacks or mistypes an engine field: {exc!r}") from exc
    ex.__dict__.update(state)
    return ex


# ------------------------------------------------------------------ replay


def _apply_all(codec: Codec, ex: Exchange, records: Sequence[Record]) -> None:
    """Runs each record's command on ``ex``, the codec's dispatch written out (a recovery
    replays every command of the tail, and the layers of calls were a tenth of its time). A
    command that halts the engine halted the original as well: that is why it was journaled."""
    replay = _dispatch(codec, ex)
    for seq, ts, payload, _ in records:
        try:
            replay[payload[0]](ex, payload, ts)
        except EngineHaltedError:
            pass
        except Exception as exc:
            raise _not_replayed(seq, payload, exc) from exc


def _dispatch(codec: Codec, ex: Exchange) -> dict[int, Callable[[Any, bytes, int], object]]:
    """The codec's replay by command kind for ``ex``: orders without their outcomes when place
    is the engine's own (perpex._front.replay_place)."""
    return codec._quiet if type(ex).place is Exchange.place else codec._replay


def _replay_image(codec: Codec, ex: Exchange, image: Image, skip: int) -> None:
    """Runs the records of ``image`` from index ``skip`` on ``ex``, as :func:`_apply_all`
    would run them as Records: in C, each plain order and cancel read in place
    (perpex._replay) when place and cancel are the engine's own."""
    native = type(ex).place is Exchange.place and type(ex).cancel is Exchange.cancel
    # the engine state a replay builds is long-lived: the cyclic collector's passes over it
    # (a few percent of a recovery) wait until the replay ends
    enabled = gc.isenabled()
    gc.disable()
    try:
        replay_image(ex, image.data, image.offs, image.lens, image.seqs, image.tss, skip,
                     _dispatch(codec, ex), native, *codec.replay_tables(), _not_replayed)
    finally:
        if enabled:
            gc.enable()


def _not_replayed(seq: int, payload: bytes, exc: Exception) -> CorruptJournalError:
    return CorruptJournalError(f"journal record seq {seq} ({Codec.kind_name(payload)}) does not "
                               f"replay: {type(exc).__name__}: {exc}")


def replay_journal(directory: str | os.PathLike[str], ex: Exchange, *, start: int = 1,
                   stop: int | None = None,
                   on_events: Callable[[int, list[Mapping[str, Any]]], None] | None = None) -> int:
    """Replays journal records ``start`` to ``stop`` (default: the end) into ``ex``; returns
    the last seq replayed.

    ``on_events(seq, events)`` receives each command's events (they are drained either way).
    """
    codec = Codec(ex.symbols)
    image = scan_journal(directory)
    last = start - 1
    if not len(image):
        return last
    first = int(image.seqs[0])
    if start < first:
        raise CorruptJournalError(f"the journal starts at seq {first}, after seq {start}")
    for r in image.records(start - first):
        if stop is not None and r.seq > stop:
            break
        _apply_all(codec, ex, (r,))
        events = ex.drain_events()
        if on_events is not None:
            on_events(r.seq, events)
        last = r.seq
    return last


# ------------------------------------------------------------------ the wrapper


class JournaledExchange(JournaledCore):
    """An Exchange whose accepted commands are journaled (see the module docstring).

    Queries (``state_hash``, ``position``, ``drain_events`` ...) go straight to the wrapped
    Exchange, which is available as :attr:`exchange`; commands must go through this object to
    be journaled.
    """

    def __init__(self, exchange: Exchange, directory: str | os.PathLike[str], *,
                 fsync: FsyncMode = "batch", group_commit: int = GROUP_COMMIT,
                 snapshot_keep: int = 3) -> None:
        """Starts a new journal in ``directory`` for ``exchange`` and writes its base snapshot
        (seq 0), so recovery needs no way to rebuild the starting exchange."""
        if not isinstance(exchange, Exchange):
            raise TypeError(f"exchange must be an Exchange, got {type(exchange).__name__}")
        d = Path(directory)
        if (d / JOURNAL_FILE).exists() and (d / JOURNAL_FILE).stat().st_size:
            raise ValueError(f"{d} already holds a journal: use JournaledExchange.recover")
        self._setup(exchange, Journal(d, fsync=fsync), group_commit, snapshot_keep)
        self.snapshot()

    def _setup(self, exchange: Exchange, journal: Journal, group_commit: int,
               snapshot_keep: int) -> None:
        if isinstance(group_commit, bool) or not isinstance(group_commit, int) or group_commit < 1:
            raise ValueError(f"group_commit={group_commit!r} must be an int >= 1")
        self.exchange = exchange
        self.directory = journal.dir
        self._journal = journal
        self._codec = Codec(exchange.symbols)
        # the journal applies it to each command's record (a C ssize_t: a group beyond any seq
        # distance never commits, as any larger one)
        journal.group_commit = min(group_commit, 2**63 - 1)
        self._keep = snapshot_keep

    @classmethod
    def recover(cls, directory: str | os.PathLike[str], *,
                fresh: Callable[[], Exchange] | None = None, fsync: FsyncMode = "batch",
                group_commit: int = GROUP_COMMIT, snapshot_keep: int = 3) -> JournaledExchange:
        """Rebuilds the exchange from ``directory`` and continues journaling there.

        The newest snapshot that verifies (checksum, and the restored state hashes to the
        header's value) is restored and the journal tail after it replayed; a torn final record
        is cut off. Without any usable snapshot the whole journal is replayed into ``fresh()``
        (which must build the exchange the journal started from), or
        :class:`CorruptSnapshotError` is raised when ``fresh`` is not given.

        The replay builds no events, so the recovered exchange starts with no pending events
        and no recent executions (a snapshot holds neither).
        """
        def start() -> Exchange:
            if fresh is None:
                raise CorruptSnapshotError(f"{directory}: no usable snapshot and no fresh= "
                                           "factory to replay the journal from the start")
            return fresh()

        def apply(ex: Exchange, image: Image, skip: int) -> None:
            # nobody reads a replay's events: the commands run without building them, a
            # journaled batch that asked for its events too (the state is the same either way;
            # the batch path relies on that as well)
            ex._emit = False
            _replay_image(Codec(ex.symbols), ex, image, skip)

        ex, last = recover(directory, restore=load_exchange, fresh=start, apply_image=apply,
                           state_hash=lambda e: e.state_hash())
        ex._emit = True
        journal = Journal(directory, fsync=fsync, first_seq=last + 1)
        if journal.last_seq != last:
            journal.close()
            raise CorruptJournalError(f"{directory}: the journal ends at seq {journal.last_seq} "
                                      f"but the recovered state is at seq {last}")
        self = cls.__new__(cls)
        self._setup(ex, journal, group_commit, snapshot_keep)
        return self

    # ------------------------------------------------------------------ journal control
    @property
    def journal_seq(self) -> int:
        """The journal seq of the last journaled command."""
        return self._journal.last_seq

    @property
    def durable_seq(self) -> int:
        """Every command up to this journal seq is fsync-ed: acknowledged."""
        return self._journal.durable_seq

    def sync(self) -> None:
        """Group commit: flushes and fsyncs every journaled command."""
        self._journal.sync()

    def snapshot(self) -> Path:
        """Writes the whole exchange state as a snapshot at the current journal seq.

        The journal is synced first, so a snapshot never covers commands the journal could
        lose."""
        self._journal.sync()
        ex = self.exchange
        return write_snapshot(self.directory, self._journal.last_seq, ex.state_hash(),
                              dump_exchange(ex), keep=self._keep)

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> JournaledExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # (the exchange, journal and codec are fields of the C base: never looked up here)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.exchange, name)

    def _run(self, encode: Callable[..., bytes], encoded: tuple[Any, ...],
             call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call(*args, **kwargs)`` on the exchange, journaling ``encode(*encoded)`` when the
        command took a seq (also when its processing halted the engine). ``place`` and
        ``cancel``, the commands of every order flow, write this out instead
        (:class:`perpex._journaled.JournaledCore`): packing and unpacking the arguments twice
        cost them 1-2 us a command, about half the journal's overhead on a compiled build."""
        ex = self.exchange
        before = ex._seq
        try:
            return call(*args, **kwargs)
        finally:
            if ex._seq != before:
                self._journal.append_next(ex._ts, encode(*encoded))

    # ------------------------------------------------------------------ commands
    def deposit(self, account: int, amount: int, *, currency: str = "XBt",
                tx_id: object = None, ts: int | None = None) -> Outcome:
        return self._run(self._codec.money, (K_DEPOSIT, account, amount, currency, tx_id),
                         self.exchange.deposit, account, amount, currency=currency, tx_id=tx_id,
                         ts=ts)

    def withdraw(self, account: int, amount: int, *, currency: str = "XBt",
                 tx_id: object = None, ts: int | None = None) -> Outcome:
        return self._run(self._codec.money, (K_WITHDRAW, account, amount, currency, tx_id),
                         self.exchange.withdraw, account, amount, currency=currency, tx_id=tx_id,
                         ts=ts)

    def amend(self, account: int, order_id: int, qty: int | None = None,
              leaves_qty: int | None = None, price: object = None, stop_px: object = None, *,
              ts: int | None = None) -> Outcome:
        args = (account, order_id, qty, leaves_qty, price, stop_px)
        return self._run(self._codec.amend, args, self.exchange.amend, *args, ts=ts)

    def cancel_all(self, account: int, symbol: str | None = None, *,
                   ts: int | None = None) -> Outcome:
        args = (account, symbol)
        return self._run(self._codec.cancel_all, args, self.exchange.cancel_all, *args, ts=ts)

    def set_leverage(self, account: int, symbol: str, leverage: float, *,
                     ts: int | None = None) -> Outcome:
        return self._run(self._codec.account_symbol, (K_LEVERAGE, account, symbol, leverage),
                         self.exchange.set_leverage, account, symbol, leverage, ts=ts)

    def set_risk_limit(self, account: int, symbol: str, risk_limit: int, *,
                       ts: int | None = None) -> Outcome:
        return self._run(self._codec.account_symbol, (K_RISK_LIMIT, account, symbol, risk_limit),
                         self.exchange.set_risk_limit, account, symbol, risk_limit, ts=ts)

    def transfer_margin(self, account: int, symbol: str, amount: int, *,
                        ts: int | None = None) -> Outcome:
        return self._run(self._codec.account_symbol, (K_TRANSFER, account, symbol, amount),
                         self.exchange.transfer_margin, account, symbol, amount, ts=ts)

    def set_mark(self, symbol: str, price: object, ts: int | None = None) -> Outcome:
        return self._run(self._codec.set_mark, (symbol, price), self.exchange.set_mark,
                         symbol, price, ts)

    def set_mark_e8(self, symbol: str, mark_e8: int, *, ts: int | None = None) -> Outcome:
        return self._run(self._codec.set_mark_e8, (symbol, mark_e8), self.exchange.set_mark_e8,
                         symbol, mark_e8, ts=ts)

    def update_index(self, ts: int, quotes: Mapping[str, Any]) -> Outcome:
        return self._run(self._codec.update_index, (quotes,), self.exchange.update_index,
                         ts, quotes)

    def advance(self, ts: int) -> Outcome:
        return self._run(self._codec.advance, (), self.exchange.advance, ts)

    def set_interest_rates(self, symbol: str, quote_daily: float, base_daily: float, *,
                           ts: int) -> Outcome:
        return self._run(self._codec.interest, (symbol, quote_daily, base_daily),
                         self.exchange.set_interest_rates, symbol, quote_daily, base_daily, ts=ts)

    def submit_orders(self, cmds: np.ndarray, *, events: bool = False) -> np.ndarray:
        """The batch path; a batch that took any seq is one journal record of its raw rows."""
        return self._run(self._codec.batch, (cmds, events), self.exchange.submit_orders, cmds,
                         events=events)


def journal_payloads(directory: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """(seq, command name) of every journal record, for inspection."""
    return [(r.seq, Codec.kind_name(r.payload)) for r in read_journal(directory)]


def load_exchange_snapshot(path: str | os.PathLike[str]) -> Exchange:
    """One snapshot file as an Exchange; raises :class:`CorruptSnapshotError` when it does not
    verify or its state does not hash to the value in its header."""
    snap = load_snapshot(path)
    ex = load_exchange(snap.payload)
    if ex.state_hash() != snap.state_hash:
        raise CorruptSnapshotError(f"snapshot {snap.path} (last_seq {snap.last_seq}) restores a "
                                   f"state whose hash {ex.state_hash():016x} differs from its "
                                   f"header's {snap.state_hash:016x}")
    return ex
