"""Control-plane writes and reads that both stores run with the same SQL (users, tokens,
exchange deletion, queues and subscribers).

The statements use ``?`` placeholders; a store whose driver wants another style translates them in
its ``_run``. Every write is one transaction. Existence is checked inside the transaction (the
StateActor is the only writer), so no driver-specific integrity error has to be told apart.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from router.errors import AlreadyExists, NotFound
from router.model import QueueRecord, Role, SubscriberRecord, TokenRecord, UserRecord

Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class ControlPlane(abc.ABC):
    @abc.abstractmethod
    def _control(self) -> AbstractContextManager[Run]:
        """A transaction; the yielded ``run(sql, params)`` returns the statement's rows."""

    # --- users and tokens ---

    def users(self) -> list[UserRecord]:
        with self._control() as run:
            rows = run("SELECT name, role, created_at FROM users ORDER BY name", ())
        return [UserRecord(n, Role(r), int(at)) for n, r, at in rows]

    def tokens(self) -> list[TokenRecord]:
        with self._control() as run:
            rows = run("SELECT id, user_name, hash, created_at FROM tokens ORDER BY id", ())
        return [TokenRecord(i, u, h, int(at)) for i, u, h, at in rows]

    def add_user(self, user: UserRecord, token: TokenRecord) -> None:
        """Create ``user`` with its first token. AlreadyExists when the name is taken."""
        with self._control() as run:
            if run("SELECT 1 FROM users WHERE name = ?", (user.name,)):
                raise AlreadyExists(f"name: user {user.name!r} already exists")
            run(
                "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)",
                (user.name, user.role.value, user.created_at),
            )
            _insert_token(run, token)

    def remove_user(self, name: str) -> None:
        """Delete the user and every token of it. NotFound when there is no such user."""
        with self._control() as run:
            if not run("SELECT 1 FROM users WHERE name = ?", (name,)):
                raise NotFound(f"name: no user named {name!r}")
            run("DELETE FROM tokens WHERE user_name = ?", (name,))
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

    # --- exchanges, queues and subscribers ---

    def delete_exchange(self, exchange_id: int) -> None:
        """Delete the exchange, its offsets, queues and subscribers (events stay in the log)."""
        with self._control() as run:
            run(
                "DELETE FROM subscribers WHERE queue_id IN"
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

    def save_subscriber(self, subscriber: SubscriberRecord, updated_at: int) -> None:
        """Create or overwrite a subscriber's cursor."""
        with self._control() as run:
            run(
                "INSERT INTO subscribers (queue_id, name, acked, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (queue_id, name) DO UPDATE"
                " SET acked = excluded.acked, updated_at = excluded.updated_at",
                (subscriber.queue_id, subscriber.name, subscriber.acked, updated_at),
            )

    def delete_subscriber(self, queue_id: str, name: str) -> None:
        with self._control() as run:
            if not run(
                "SELECT 1 FROM subscribers WHERE queue_id = ? AND name = ?", (queue_id, name)
            ):
                raise NotFound(f"subscriber: no subscriber {name!r}")
            run("DELETE FROM subscribers WHERE queue_id = ? AND name = ?", (queue_id, name))


def _insert_token(run: Run, token: TokenRecord) -> None:
    run(
        "INSERT INTO tokens (id, user_name, hash, created_at) VALUES (?, ?, ?, ?)",
        (token.id, token.user, token.hash, token.created_at),
    )


def rows_of(cursor: Any) -> list[tuple[Any, ...]]:
    """The rows of a statement that may return none (DB-API cursors differ on that)."""
    if cursor.description is None:
        return []
    return [tuple(row) for row in cursor.fetchall()]
