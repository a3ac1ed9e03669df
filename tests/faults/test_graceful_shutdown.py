"""SIGTERM in the middle of load: in-flight publishes are acked or refused with a status (never
left hanging), the subscriber's acks that reached the router are flushed to its cursor, and the
process exits cleanly within its shutdown grace."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import attrs
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.report import record
from tests.helpers.server import RouterProcess

GRACE_S = 5.0
CALL_DEADLINE_S = 15.0


@attrs.define
class Seen:
    acked: set[str] = attrs.Factory(set)
    outcomes: dict[str, int] = attrs.Factory(dict)
    acks_sent: list[tuple[float, int]] = attrs.Factory(list)  # (when, offset)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def publish(address: str, seen: Seen) -> None:
    with contextlib.suppress(StreamTerminatedError, ConnectionError, OSError):
        async with RouterClient(address) as client:
            while True:
                batch = [OutgoingEvent("order.created", b"x" * 200) for _ in range(100)]
                try:
                    acks = await client.publish(batch, timeout=CALL_DEADLINE_S)
                except GRPCError as error:
                    seen.count(error.status.name)
                    return
                except TimeoutError:
                    seen.count("no answer")
                    return
                except (StreamTerminatedError, ConnectionError, OSError):
                    seen.count("connection closed")
                    return
                seen.acked.update(a.id for a in acks)
                seen.count("acked")


async def consume(address: str, seen: Seen) -> None:
    with contextlib.suppress(GRPCError, StreamTerminatedError, ConnectionError, OSError):
        async with (
            RouterClient(address) as client,
            client.subscribe("orders", "billing", "earliest") as subscription,
        ):
            async for batch in subscription:
                await subscription.ack(batch[-1].offset)
                seen.acks_sent.append((time.monotonic(), batch[-1].offset))


def test_sigterm_under_load_drains_flushes_and_exits_within_its_grace(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/router.db"
    router = RouterProcess(url, f"{tmp_path}/router.log", None, "--shutdown-grace", str(GRACE_S))
    router.start()
    seen = Seen()

    async def scenario() -> tuple[float, float]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
        tasks = [asyncio.ensure_future(publish(router.address, seen)) for _ in range(4)]
        tasks.append(asyncio.ensure_future(consume(router.address, seen)))
        await until(lambda: _enough(seen), timeout=30)
        assert router.process is not None
        signalled = time.monotonic()
        router.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(router.process.wait, GRACE_S + 10)
        exited = time.monotonic() - signalled
        assert code == 0, f"exit code {code}"
        await asyncio.wait_for(asyncio.gather(*tasks), CALL_DEADLINE_S + 5)
        return signalled, exited

    signalled, exited = asyncio.run(scenario())
    router.start()

    async def after() -> tuple[list[str], int]:
        ids = await exchange_ids(router.address, "orders")
        async with RouterClient(router.address) as client:
            (view,) = [s for s in await client.list_subscribers("orders") if s.name == "billing"]
            return ids, view.acked_offset

    try:
        stored, cursor = asyncio.run(after())
    finally:
        router.stop()
    assert exited <= GRACE_S + 2, f"took {exited:.1f} s to exit"
    assert "no answer" not in seen.outcomes, seen.outcomes
    assert seen.acked <= set(stored), "an acknowledged event was lost"
    # Drained: whatever was committed was also acked (refused calls stored nothing).
    assert set(stored) == seen.acked, "events were committed but their publishers never heard"
    assert len(stored) == len(set(stored))
    sent = [offset for _, offset in seen.acks_sent]
    # The saved cursor is an ack that was sent, and every ack sent well before the signal (so
    # that it reached the router) is in it: the shutdown flushed what the 0.2 s coalescing held.
    assert cursor in sent
    settled = [offset for at, offset in seen.acks_sent if at < signalled - 0.05]
    # On a loaded machine every ack may have gone out within those 50 ms: then none is owed.
    assert cursor >= max(settled, default=0), (cursor, settled[-1:])
    record(
        "graceful shutdown (SIGTERM under load)",
        grace_s=GRACE_S,
        exited_after_s=round(exited, 2),
        exit_code=0,
        publish_calls=seen.outcomes,
        acked=len(seen.acked),
        stored=len(stored),
        lost=len(seen.acked - set(stored)),
        cursor_saved=cursor,
        last_ack_sent=sent[-1],
    )


async def _enough(seen: Seen) -> bool:
    return len(seen.acked) >= 3_000 and len(seen.acks_sent) >= 5
