"""The subscription protocol on its own: what an edge posts when the control channel is full,
what it reads off the batches channel, and when a consumer has credit."""

from __future__ import annotations

import subprocess
import sys

import trio

from actors.messages import Ack, Gap, Nack, Park, Rejected
from actors.subscription import OUTBOX_ITEMS, Consumer, ConsumerMessage, Outgoing, Subscription
from router.core.model import Delivery
from tests.helpers.fakes import deliveries


def subscription(
    control_size: int = 1,
) -> tuple[
    Subscription,
    trio.MemorySendChannel[Outgoing],
    trio.MemoryReceiveChannel[ConsumerMessage],
]:
    outbox, batches = trio.open_memory_channel[Outgoing](OUTBOX_ITEMS)
    control_in, control_out = trio.open_memory_channel[ConsumerMessage](control_size)
    return Subscription("q1", "s", 1, 0, batches, control_in), outbox, control_out


async def test_acks_posted_past_a_full_channel_keep_the_highest_and_other_posts_keep_order() -> (
    None
):
    sub, _, control = subscription(control_size=1)
    sub.post_ack(3)
    sub.post_ack(7)
    sub.post_ack(5)
    assert sub.late_ack == 7
    sub.post(Nack(4))
    sub.post(Park(6, "bad"))
    assert sub.late == [Nack(4), Park(6, "bad")]
    sub.post_heartbeat()  # dropped quietly: the messages ahead of it count as much
    assert control.receive_nowait() == Ack(3)


async def test_next_batch_skips_notices_and_keeps_the_gaps_it_went_past() -> None:
    sub, outbox, _ = subscription()
    taken: list[int] = []
    sub.taken = lambda: taken.append(1)
    batch: list[Delivery] = list(deliveries(1, 2))
    for item in (Rejected(9, "not_held", "no"), Gap(3, 4), batch):
        outbox.send_nowait(item)
    await outbox.aclose()
    assert await sub.next_batch() == batch
    assert sub.gaps == [Gap(3, 4)] and len(taken) == 3
    assert await sub.next_batch() is None and sub.end_reason() is None


async def test_a_consumer_has_no_credit_while_its_edge_has_not_taken_its_outbox() -> None:
    sub, outbox, control = subscription()
    consumer = Consumer("a", 100, sub, outbox, control)
    assert consumer.credit == 100
    consumer.holding.update({1, 2})
    consumer.budget = 10
    assert consumer.credit == 10
    for _ in range(OUTBOX_ITEMS):
        outbox.send_nowait(())
    assert consumer.credit == 0
    consumer.bytes_budget = 0
    assert consumer.credit == 0


def test_the_protocol_imports_no_other_actor_module_and_messages_no_subscriber() -> None:
    code = (
        "import sys, actors.messages, actors.subscription;"
        "print(sorted(m for m in sys.modules if m.startswith('actors.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "actors.subscriber" not in out.stdout and "actors.state" not in out.stdout
