"""Control-plane writes and reads that both stores run with the same SQL (users, tokens,
exchange deletion, queues and subscribers).

The statements use ``?`` placeholders; a store whose driver wants another style translates them in
its ``_run``. Every write is one transaction. Existence is checked inside the transaction (the
StateActor is the only writer), so no driver-specific integrity error has to be told apart.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import attrs

from router.core.delivery import DeliverySettings, ParkedEvent
from router.core.errors import AlreadyExists, NotFound
from router.core.model import (
    Access,
    AuditEntry,
    ExchangeRecord,
    Grant,
    QueueConfig,
    QueueRecord,
    Quotas,
    Role,
    SubscriberRecord,
    TokenRecord,
    TypeSchema,
    UserRecord,
)

Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class ControlPlane(abc.ABC):
    """Mixed into both stores: the control-plane tables, read and written with shared SQL."""

    @abc.abstractmethod
    def _control(self) -> AbstractContextManager[Run]:
        """A transaction; the yielded ``run(sql, params)`` returns the statement's rows."""

    # --- users and tokens ---

    def users(self) -> list[UserRecord]:
        """Every user with its grants (by action and pattern) and quotas."""
        with self._control() as run:
            rows = run("SELECT name, role, created_at, quotas FROM users ORDER BY name", ())
            grants: dict[str, list[Grant]] = {}
            for user, action, pattern, deny in run(
                "SELECT user_name, action, pattern, deny FROM grants ORDER BY user_name, action, pattern",
                (),
            ):
                grants.setdefault(user, []).append(Grant(Access(action), pattern, bool(deny)))
        return [
            UserRecord(n, Role(r), int(at), tuple(grants.get(n, ())), Quotas(**json.loads(q)))
            for n, r, at, q in rows
        ]

    def tokens(self) -> list[TokenRecord]:
        with self._control() as run:
            rows = run(
                "SELECT id, user_name, hash, created_at, expires_at, last_used_at FROM tokens"
                " ORDER BY id",
                (),
            )
        return [TokenRecord(i, u, h, int(at), int(ex), int(used)) for i, u, h, at, ex, used in rows]

    def add_user(self, user: UserRecord, token: TokenRecord) -> None:
        """Create ``user`` with its first token. AlreadyExists when the name is taken."""
        with self._control() as run:
            if run("SELECT 1 FROM users WHERE name = ?", (user.name,)):
                raise AlreadyExists(f"name: user {user.name!r} already exists")
            run(
                "INSERT INTO users (name, role, created_at, quotas) VALUES (?, ?, ?, ?)",
                (user.name, user.role.value, user.created_at, _quotas(user.quotas)),
            )
            _insert_grants(run, user.name, user.grants)
            _insert_token(run, token)

    def save_user(self, user: UserRecord) -> None:
        """Store ``user``'s grants and quotas as they now are. NotFound when there is no such
        user."""
        with self._control() as run:
            if not run("SELECT 1 FROM users WHERE name = ?", (user.name,)):
                raise NotFound(f"name: no user named {user.name!r}")
            run("UPDATE users SET quotas = ? WHERE name = ?", (_quotas(user.quotas), user.name))
            run("DELETE FROM grants WHERE user_name = ?", (user.name,))
            _insert_grants(run, user.name, user.grants)

    def remove_user(self, name: str) -> None:
        """Delete the user and every token of it. NotFound when there is no such user."""
        with self._control() as run:
            if not run("SELECT 1 FROM users WHERE name = ?", (name,)):
                raise NotFound(f"name: no user named {name!r}")
            run("DELETE FROM tokens WHERE user_name = ?", (name,))
            run("DELETE FROM grants WHERE user_name = ?", (name,))
            run("DELETE FROM users WHERE name = ?", (name,))

    def add_token(self, token: TokenRecord) -> None:
        with self._control() as run:
            if not run("SELECT 1 FROM users WHERE name = ?", (token.user,)):
                raise NotFound(f"user: no user named {token.user!r}")
            _insert_token(run, token)

    def revoke_token(self, token_id: str) -> None:
        with self._control() as run:
            if not run("SELECT 1 FROM tokens WHERE id = ?", (token_id,)):
                raise NotFound(f"token_id: no token {token_id!r}")
            run("DELETE FROM tokens WHERE id = ?", (token_id,))

    def touch_tokens(self, used: dict[str, int]) -> None:
        """Record when tokens were last used (token id -> time); ids no longer stored are left."""
        with self._control() as run:
            for token_id, at in used.items():
                run("UPDATE tokens SET last_used_at = ? WHERE id = ?", (at, token_id))

    def subscriber_owners(self) -> list[tuple[str, str, str]]:
        """(queue id, subscriber, user) of every subscriber a user created."""
        with self._control() as run:
            rows = run(
                "SELECT queue_id, name, owner FROM subscribers WHERE owner <> ''"
                " ORDER BY queue_id, name",
                (),
            )
        return [(str(q), str(n), str(o)) for q, n, o in rows]

    def own_subscriber(self, queue_id: str, name: str, user: str) -> None:
        """Note that ``user`` created the subscriber (kept until the subscriber is deleted)."""
        with self._control() as run:
            run(
                "UPDATE subscribers SET owner = ? WHERE queue_id = ? AND name = ?",
                (user, queue_id, name),
            )

    # --- the audit trail ---

    def add_audit(self, entry: AuditEntry) -> None:
        with self._control() as run:
            run(
                "INSERT INTO audit (at, user_name, action, target, source, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry.at, entry.user, entry.action, entry.target, entry.source, entry.detail),
            )

    def audit(self, since: int, limit: int) -> list[AuditEntry]:
        """The entries at or after ``since`` (microseconds), oldest first, at most ``limit``."""
        with self._control() as run:
            rows = run(
                "SELECT at, user_name, action, target, source, detail FROM audit"
                " WHERE at >= ? ORDER BY id LIMIT ?",
                (since, limit),
            )
        return [AuditEntry(int(at), *rest) for at, *rest in rows]

    # --- event types with schemas ---

    def type_schemas(self) -> list[TypeSchema]:
        """Every version of every registered type, by pattern then version."""
        with self._control() as run:
            rows = run(
                "SELECT pattern, version, schema, mode, description, owner, created_at, created_by"
                " FROM type_schemas ORDER BY pattern, version",
                (),
            )
        return [TypeSchema(p, int(v), s, m, d, o, int(at), by) for p, v, s, m, d, o, at, by in rows]

    def add_type_schema(self, schema: TypeSchema) -> None:
        """Store a new version. AlreadyExists when that version is taken."""
        with self._control() as run:
            if run(
                "SELECT 1 FROM type_schemas WHERE pattern = ? AND version = ?",
                (schema.pattern, schema.version),
            ):
                raise AlreadyExists(
                    f"version: type {schema.pattern!r} already has version {schema.version}"
                )
            run(
                "INSERT INTO type_schemas (pattern, version, schema, mode, description, owner,"
                " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                attrs.astuple(schema),
            )

    def delete_type_schemas(self, pattern: str) -> None:
        """Forget every version of ``pattern``. NotFound when none is stored."""
        with self._control() as run:
            if not run("SELECT 1 FROM type_schemas WHERE pattern = ?", (pattern,)):
                raise NotFound(f"pattern: no type {pattern!r} is registered")
            run("DELETE FROM type_schemas WHERE pattern = ?", (pattern,))

    # --- exchanges, queues and subscribers ---

    def exchanges(self, heads: Mapping[int, int]) -> tuple[ExchangeRecord, ...]:
        """Every exchange, in id order, with its head taken from ``heads``."""
        with self._control() as run:
            rows = run("SELECT id, name, patterns, created_at FROM exchanges ORDER BY id", ())
        return tuple(
            ExchangeRecord(int(i), n, tuple(json.loads(p)), int(at), heads[int(i)])
            for i, n, p, at in rows
        )

    def queues(self) -> tuple[QueueRecord, ...]:
        """Every queue, in id order."""
        with self._control() as run:
            rows = run("SELECT id, exchange_id, config FROM queues ORDER BY id", ())
        return tuple(QueueRecord(i, int(x), QueueConfig(**json.loads(c))) for i, x, c in rows)

    def delete_exchange(self, exchange_id: int) -> None:
        """Delete the exchange, its offsets, queues and subscribers (events stay in the log)."""
        with self._control() as run:
            for table in ("subscribers", "parked"):
                run(
                    f"DELETE FROM {table} WHERE queue_id IN"
                    " (SELECT id FROM queues WHERE exchange_id = ?)",
                    (exchange_id,),
                )
            run("DELETE FROM queues WHERE exchange_id = ?", (exchange_id,))
            run("DELETE FROM exchange_log WHERE exchange_id = ?", (exchange_id,))
            run("DELETE FROM exchanges WHERE id = ?", (exchange_id,))

    def save_queue(self, queue: QueueRecord, created_at: int) -> None:
        config = json.dumps(
            {"exchange": queue.config.exchange, "limit_size": queue.config.limit_size}
        )
        with self._control() as run:
            run(
                "INSERT INTO queues (id, exchange_id, config, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (queue.id, queue.exchange_id, config, created_at),
            )

    def delete_queue(self, queue_id: str) -> bool:
        """Delete a queue that has no subscriber left; False (nothing changed) if it has one."""
        with self._control() as run:
            if run("SELECT 1 FROM subscribers WHERE queue_id = ?", (queue_id,)):
                return False
            run("DELETE FROM parked WHERE queue_id = ?", (queue_id,))
            run("DELETE FROM queues WHERE id = ?", (queue_id,))
            return True

    def subscribers(self) -> tuple[SubscriberRecord, ...]:
        """Every subscriber with its settings, ledger and parked count (read at start-up)."""
        with self._control() as run:
            parked = {
                (q, n): (int(c), int(at))
                for q, n, c, at in run(
                    "SELECT queue_id, name, count(*), min(parked_at) FROM parked"
                    " GROUP BY queue_id, name",
                    (),
                )
            }
            rows = run(
                "SELECT queue_id, name, acked, settings, ledger FROM subscribers"
                " ORDER BY queue_id, name",
                (),
            )
        found = []
        for q, n, a, s, g in rows:
            count, since = parked.get((q, n), (0, 0))
            found.append(
                SubscriberRecord(q, n, int(a), DeliverySettings.from_json(s), g, count, since)
            )
        return tuple(found)

    def save_subscriber(self, subscriber: SubscriberRecord, updated_at: int) -> None:
        """Create or overwrite a subscriber's cursor, ledger and settings."""
        with self._control() as run:
            run(
                "INSERT INTO subscribers (queue_id, name, acked, settings, ledger, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (queue_id, name) DO UPDATE"
                " SET acked = excluded.acked, settings = excluded.settings,"
                " ledger = excluded.ledger, updated_at = excluded.updated_at",
                (
                    subscriber.queue_id,
                    subscriber.name,
                    subscriber.acked,
                    subscriber.settings.to_json(),
                    subscriber.ledger,
                    updated_at,
                ),
            )

    def delete_subscriber(self, queue_id: str, name: str) -> None:
        with self._control() as run:
            if not run(
                "SELECT 1 FROM subscribers WHERE queue_id = ? AND name = ?", (queue_id, name)
            ):
                raise NotFound(f"subscriber: no subscriber {name!r}")
            run("DELETE FROM subscribers WHERE queue_id = ? AND name = ?", (queue_id, name))
            run("DELETE FROM parked WHERE queue_id = ? AND name = ?", (queue_id, name))

    # --- parked events ---

    def park(self, queue_id: str, name: str, parked: ParkedEvent) -> None:
        """Add an event to the subscriber's parked list (or update it when it is there)."""
        with self._control() as run:
            run(
                "DELETE FROM parked WHERE queue_id = ? AND name = ? AND at_offset = ?",
                (queue_id, name, parked.offset),
            )
            run(
                "INSERT INTO parked"
                " (queue_id, name, at_offset, reason, deliveries, parked_at, redriving)"
                " VALUES (?, ?, ?, ?, ?, ?, 0)",
                (queue_id, name, parked.offset, parked.reason, parked.deliveries, parked.parked_at),
            )

    def parked_events(
        self, queue_id: str, name: str, after: int = 0, limit: int = 1000
    ) -> list[ParkedEvent]:
        with self._control() as run:
            rows = run(
                "SELECT at_offset, reason, deliveries, parked_at, redriving FROM parked"
                " WHERE queue_id = ? AND name = ? AND at_offset > ? ORDER BY at_offset LIMIT ?",
                (queue_id, name, after, limit),
            )
        return [ParkedEvent(int(o), r, int(d), int(at), bool(x)) for o, r, d, at, x in rows]

    def parked_state(self, queue_id: str, name: str, floor: int) -> tuple[set[int], set[int]]:
        """(parked offsets above ``floor``, re-driven offsets): what a resuming subscriber's
        ledger takes from the parked list, which is the truth for both."""
        with self._control() as run:
            rows = run(
                "SELECT at_offset, redriving FROM parked WHERE queue_id = ? AND name = ?"
                " AND (at_offset > ? OR redriving = 1)",
                (queue_id, name, floor),
            )
        above = {int(o) for o, x in rows if not x}
        return above, {int(o) for o, x in rows if x}

    def redrive(self, queue_id: str, name: str, offsets: Sequence[int] | None) -> list[int]:
        """Mark parked events (``offsets``, or all with None) for delivery again; NotFound
        naming the first offset that is not parked. Returns the offsets marked."""
        return self._change_parked(queue_id, name, offsets, "UPDATE parked SET redriving = 1")

    def discard_parked(self, queue_id: str, name: str, offsets: Sequence[int] | None) -> list[int]:
        """Drop parked events (``offsets``, or all with None) from the list."""
        return self._change_parked(queue_id, name, offsets, "DELETE FROM parked")

    def unpark(self, queue_id: str, name: str, offsets: Sequence[int]) -> None:
        """Re-driven events settled: they leave the parked list."""
        with self._control() as run:
            for offset in offsets:
                run(
                    "DELETE FROM parked WHERE queue_id = ? AND name = ? AND at_offset = ?",
                    (queue_id, name, offset),
                )

    def _change_parked(
        self, queue_id: str, name: str, offsets: Sequence[int] | None, change: str
    ) -> list[int]:
        with self._control() as run:
            found = {
                int(o)
                for (o,) in run(
                    "SELECT at_offset FROM parked WHERE queue_id = ? AND name = ?",
                    (queue_id, name),
                )
            }
            if offsets is None:
                chosen = sorted(found)
            else:
                missing = [o for o in offsets if o not in found]
                if missing:
                    raise NotFound(f"offset: {missing[0]} is not in the parked list of {name!r}")
                chosen = sorted(set(offsets))
            for offset in chosen:
                run(
                    f"{change} WHERE queue_id = ? AND name = ? AND at_offset = ?",
                    (queue_id, name, offset),
                )
        return chosen


def _insert_token(run: Run, token: TokenRecord) -> None:
    run(
        "INSERT INTO tokens (id, user_name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (token.id, token.user, token.hash, token.created_at, token.expires_at),
    )


def _insert_grants(run: Run, user: str, grants: Sequence[Grant]) -> None:
    for one in grants:
        run(
            "INSERT INTO grants (user_name, action, pattern, deny) VALUES (?, ?, ?, ?)",
            (user, one.access.value, one.pattern, one.deny),
        )


def _quotas(quotas: Quotas) -> str:
    return json.dumps(attrs.asdict(quotas), sort_keys=True)


def rows_of(cursor: Any) -> list[tuple[Any, ...]]:
    """The rows of a statement that may return none (DB-API cursors differ on that)."""
    if cursor.description is None:
        return []
    return [tuple(row) for row in cursor.fetchall()]
