"""Removing the oldest part of the log, in steps, with the SQL both stores share.

The horizon is the oldest kept position: the first kept seq of the log, and each exchange's first
kept offset. A step removes the events below a new horizon together with their exchange-log rows
and the parked references into them, and moves the horizon, in one transaction: a crash leaves
the step done or not done, never an exchange-log row pointing at a removed event. The horizon is
stored (table ``log_horizon``, column ``exchanges.first_kept``) and only ever moves forward, so
positions stay right when every event has been removed: seqs and offsets are never given twice.

Seqs are dense (each commit numbers its new events one after another), so the events a step
removes are counted without reading them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractContextManager

import attrs

from storage.control import Run


@attrs.frozen
class Horizon:
    """Where the kept log begins."""

    first_seq: int = 1  # the oldest kept seq: every event before it has been removed
    removed_until: int = 0  # the publish time (us) of the newest removed event; 0: none removed
    tails: Mapping[int, int] = attrs.field(factory=dict)  # exchange id -> oldest kept offset

    def tail(self, exchange_id: int) -> int:
        """The oldest kept offset of the exchange (1 when nothing of it has been removed)."""
        return self.tails.get(exchange_id, 1)


@attrs.frozen
class Trimmed:
    """What one step removed, and the horizon after it."""

    horizon: Horizon
    events: int
    parked: int


@attrs.frozen
class Held:
    """A durable subscriber with events not yet acked: ``seq`` is its first unacked event's."""

    queue_id: str
    name: str
    seq: int


class Retention(abc.ABC):
    """Mixed into both stores (they give ``_control`` and the few store-specific reads)."""

    @abc.abstractmethod
    def _control(self) -> AbstractContextManager[Run]: ...

    @abc.abstractmethod
    def _event_time(self, run: Run, seq: int) -> int | None:
        """The publish time (us) of the event at ``seq``, None if it is not stored."""

    @abc.abstractmethod
    def log_bytes(self) -> int:
        """The bytes the log takes in the store (events, exchange log, id index)."""

    @abc.abstractmethod
    def _after_trim(self, run: Run, horizon: Horizon) -> None:
        """Store-specific clean-up in the step's transaction (PostgreSQL drops whole days)."""

    @abc.abstractmethod
    def reclaim(self) -> None:
        """Make the room removed rows left reusable now (PostgreSQL: VACUUM, on a connection of
        its own, so the writer goes on meanwhile). Called now and then while removal runs."""

    def horizon(self) -> Horizon:
        with self._control() as run:
            return _horizon(run)

    def first_seq_at(self, time_us: int) -> int:
        """The first kept seq published at or after ``time_us`` (one past the last if none is):
        a binary search over the kept seqs, which are dense and whose times never decrease."""
        with self._control() as run:
            low = _horizon(run).first_seq
            ((last,),) = run("SELECT max(seq) FROM events", ())
            high = max(int(last or 0), low - 1) + 1
            while low < high:
                middle = (low + high) // 2
                at = self._event_time(run, middle)
                if at is not None and at < time_us:
                    low = middle + 1
                else:
                    high = middle
        return low

    def trim(self, before_seq: int, most: int) -> Trimmed:
        """Remove the events with seq below ``before_seq``, at most ``most`` of them (the oldest),
        with their exchange-log rows and parked references; one transaction."""
        with self._control() as run:
            horizon = _horizon(run)
            ((last,),) = run("SELECT max(seq) FROM events", ())
            last = max(int(last or 0), horizon.first_seq - 1)
            end = min(before_seq, horizon.first_seq + most, last + 1)
            if end <= horizon.first_seq:
                return Trimmed(horizon, 0, 0)
            removed_until = self._event_time(run, end - 1) or horizon.removed_until
            tails = dict(horizon.tails)
            parked = 0
            exchanges = run("SELECT id, first_kept FROM exchanges", ())
            for exchange_id, first_kept in exchanges:
                # The rows scanned here are the ones removed just below, in key order.
                found = run(
                    "SELECT exchange_offset FROM exchange_log"
                    " WHERE exchange_id = ? AND exchange_offset >= ? AND seq >= ?"
                    " ORDER BY exchange_offset LIMIT 1",
                    (exchange_id, first_kept, end),
                )
                bound = found[0][0] if found else None
                if bound is None:
                    ((head,),) = run(
                        "SELECT max(exchange_offset) FROM exchange_log WHERE exchange_id = ?",
                        (exchange_id,),
                    )
                    bound = max(int(head or 0), int(first_kept) - 1) + 1
                bound = int(bound)
                if bound <= first_kept:
                    continue
                run(
                    "DELETE FROM exchange_log WHERE exchange_id = ? AND exchange_offset < ?",
                    (exchange_id, bound),
                )
                run("UPDATE exchanges SET first_kept = ? WHERE id = ?", (bound, exchange_id))
                tails[int(exchange_id)] = bound
                where = (
                    " FROM parked WHERE at_offset < ? AND queue_id IN"
                    " (SELECT id FROM queues WHERE exchange_id = ?)"
                )
                ((count,),) = run("SELECT count(*)" + where, (bound, exchange_id))
                if count:
                    run("DELETE" + where, (bound, exchange_id))
                    parked += int(count)
            run("DELETE FROM events WHERE seq >= ? AND seq < ?", (horizon.first_seq, end))
            run("UPDATE log_horizon SET first_seq = ?, removed_until = ?", (end, removed_until))
            after = Horizon(end, removed_until, tails)
            self._after_trim(run, after)
        return Trimmed(after, end - horizon.first_seq, parked)

    def held_by_subscribers(self) -> list[Held]:
        """The durable subscribers that have not acked every event of their exchange, each with
        the seq of its first unacked event (what retention waits for, when asked to)."""
        with self._control() as run:
            rows = run(
                "SELECT s.queue_id, s.name, l.seq FROM subscribers s"
                " JOIN queues q ON q.id = s.queue_id"
                " JOIN exchange_log l ON l.exchange_id = q.exchange_id"
                " AND l.exchange_offset = s.acked + 1",
                (),
            )
        return [Held(str(q), str(n), int(seq)) for q, n, seq in rows]


def _horizon(run: Run) -> Horizon:
    ((first, until),) = run("SELECT first_seq, removed_until FROM log_horizon", ())
    tails = {int(x): int(t) for x, t in run("SELECT id, first_kept FROM exchanges", ())}
    return Horizon(int(first), int(until), tails)
