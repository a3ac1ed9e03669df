"""The log (router.facade.log): its position and the events after a seq, as a route node reads
them, and a trim step's bounds and report."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from router.core.errors import FailedPrecondition, InvalidArgument
from router.core.model import now_us
from tests.facade import opened
from tests.helpers.stories import events


async def test_the_log_gives_what_follows_a_seq_and_waits_for_the_next_commit(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url) as router:
        await router.publish(events(3))
        assert await router.log_position() == 3
        found, last = await router.log_after(1, 0)
        assert [e.seq for e in found] == [2, 3] and last == 3
        found, _ = await router.log_after(0, 1)
        assert [e.seq for e in found] == [1]
        with pytest.raises(InvalidArgument, match="after_seq"):
            await router.log_after(-1, 10)
        with pytest.raises(InvalidArgument, match="max_batch"):
            await router.log_after(0, 10_001)
        async with trio.open_nursery() as nursery:
            got: list[int] = []

            async def follow() -> None:
                later, _ = await router.log_after(3, 10)
                got.extend(e.seq for e in later)

            nursery.start_soon(follow)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await router.publish(events(1))
        assert got == [4]


async def test_a_trim_step_counts_on_a_dry_run_and_removes_otherwise(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await router.publish(events(5))
        dry = await router.trim_log(3, 0, True, 0)
        assert (dry.removed, dry.first_seq) == (2, 3)
        assert router.state.horizon.first_seq == 1
        done = await router.trim_log(3, 0, False, 0)
        assert (done.removed, done.remaining, done.first_seq) == (2, 0, 3)
        past = await router.trim_log(0, now_us() + 10_000_000, True, 0)
        assert past.first_seq == 6  # a time past the last event: everything but nothing more
        for seq, time_us, most, field in (
            (1, 1, 0, "before_seq"),
            (0, 0, 0, "before_seq"),
            (-1, 0, 0, "before_seq"),
            (1, 0, 100_001, "max"),
        ):
            with pytest.raises(InvalidArgument, match=field):
                await router.trim_log(seq, time_us, False, most)


async def test_an_ingest_node_does_not_trim(sqlite_url: str) -> None:
    async with opened(sqlite_url, role="ingest") as router:
        with pytest.raises(FailedPrecondition, match="role"):
            await router.trim_log(1, 0, True, 0)
