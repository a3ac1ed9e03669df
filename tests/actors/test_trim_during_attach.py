"""A removal step that lands while a sleeping subscriber comes back (between its gap notice and
its first catch-up read): the subscriber is told a second gap, adjacent to the first, and each
notice covers only offsets retention had removed when it was sent. Nothing kept is skipped or
sent twice: after the notices, the kept events follow on from the new horizon to the head."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from actors.messages import Gap
from actors.replay import Replay
from router.app import open_router
from router.core.model import Delivery, StartKind, StartPoint
from router.core.settings import Settings
from tests.helpers.stories import events, publish

EARLIEST = StartPoint(StartKind.EARLIEST)
STORED = StartPoint(StartKind.STORED)


async def test_a_trim_between_the_gap_notice_and_the_first_read_is_a_second_adjacent_gap(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(db_url=db_url, cursor_flush_interval_s=0.01, replay_chunk=10)
    async with open_router(settings) as router:
        exchange_id = (await router.create_exchange("orders", ["#"])).id
        await publish(router, events(100))  # one exchange: offset n is seq n
        sleeper = await router.subscribe("orders", "sleeper", EARLIEST, limit_size=5)
        batch = await sleeper.next_batch()
        assert batch is not None and batch[0].offset == 1
        await sleeper.ack(1)
        await sleeper.close()
        assert (await router.trim_log(31, 0, False, 100_000)).first_seq == 31

        # The sleeper's first read (offset 31, after its notice 2..30) waits for a step to 61.
        read = Replay.fetch
        tails: list[int] = []  # the horizon the first read saw when it began

        async def fetch(replay: Replay, first: int, last: int) -> Sequence[Delivery]:
            if first == 31 and not tails:
                assert (await router.trim_log(61, 0, False, 100_000)).first_seq == 61
                tails.append(router.state.horizon.tail(exchange_id))
            return await read(replay, first, last)

        monkeypatch.setattr(Replay, "fetch", fetch)
        again = await router.subscribe("orders", "sleeper", STORED, limit_size=5)
        gaps: list[Gap] = []
        got: list[int] = []
        while not got or got[-1] < 100:
            item = await again.next_item()
            assert item is not None, again.end_reason()
            if isinstance(item, Gap):
                assert not got, "every notice comes before the first batch here"
                # a notice covers only what retention removed before it was sent
                assert item.last < router.state.horizon.tail(exchange_id), item
                gaps.append(item)
            else:
                got.extend(d.offset for d in item)
        await again.close()
    assert [(g.first, g.last) for g in gaps] == [(2, 30), (31, 60)], (gaps, got)
    assert got == list(range(61, 101)), (gaps, got)  # every kept event, once, in order
    assert tails == [61]  # the step did land between the first notice and the first read
