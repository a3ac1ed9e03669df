"""The StateActor on its own, over a real SQLite file: group commits, and a store that fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from actors.messages import AppendEvents, SaveCursor
from actors.runtime import Reply
from actors.state import StateActor
from router.core.errors import Unavailable
from router.core.model import NewEvent
from router.core.settings import Settings
from storage import open_storage
from storage.base import Append, CommitResult


class CountingStorage:
    """A real storage that counts commits and can be made to fail the next one."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self.commits = 0
        self.fail_next = False

    def commit(self, *args: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk I/O error")
        self.commits += 1
        return self._storage.commit(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def append(count: int) -> tuple[Append, ...]:
    events = [NewEvent(str(uuid.uuid4()), "order.created", b"{}") for _ in range(count)]
    return (Append(events, [() for _ in events]),)


@asynccontextmanager
async def state_actor(sqlite_url: str) -> AsyncIterator[tuple[StateActor, CountingStorage]]:
    storage = CountingStorage(open_storage(sqlite_url, None))
    state = StateActor(storage, Settings(db_url=sqlite_url))  # type: ignore[arg-type]
    await state.restore()
    try:
        yield state, storage
    finally:
        storage.close()


async def test_appends_and_cursor_saves_waiting_together_go_into_one_commit(
    sqlite_url: str,
) -> None:
    async with state_actor(sqlite_url) as (state, storage):
        replies: list[Reply[CommitResult]] = [Reply() for _ in range(3)]
        for count, reply in zip((2, 1, 3), replies, strict=True):
            await state.mailbox.send(AppendEvents(append(count), reply))
        saved: Reply[None] = Reply()
        await state.mailbox.send(SaveCursor("q1", "billing", 0, reply=saved))
        async with trio.open_nursery() as nursery:
            await nursery.start(state.run)
            with trio.fail_after(10):
                results = [await reply.get() for reply in replies]
                await saved.get()
            nursery.cancel_scope.cancel()
        assert storage.commits == 1
        assert [[o.seq for o in r.outcomes] for r in results] == [[1, 2], [3], [4, 5, 6]]
        assert state.positions.last_seq == 6


async def test_a_failed_commit_answers_unavailable_and_the_next_one_succeeds(
    sqlite_url: str,
) -> None:
    async with state_actor(sqlite_url) as (state, storage):
        async with trio.open_nursery() as nursery:
            await nursery.start(state.run)
            storage.fail_next = True
            with pytest.raises(Unavailable, match="store: disk I/O error"):
                await (await state.start_append(append(2))).get()
            assert state.stale
            result = await (await state.start_append(append(1))).get()
            nursery.cancel_scope.cancel()
        assert [o.seq for o in result.outcomes] == [1]
        assert not state.stale
        assert state.commit_failures == 1
