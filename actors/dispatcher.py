"""The Dispatcher: the publish path and the owner of the exchange table.

Publishes waiting in its mailbox are merged into one append. For each, it matches types against
the exchanges (cached per type) and hands the batch to the StateActor, which groups the appends
waiting for it into one commit. Up to APPENDS_IN_FLIGHT appends of PIPELINE_MIN_EVENTS or more
are on their way at once (smaller ones go one at a time): a second task takes their results in
order and, only after each commit, fans the new deliveries out to the ExchangeActors and acks the
publishers, so the writer never waits for that (ADR 0009). Exchange creation and deletion pass
through the same mailbox and wait until the appends before them are done, so a batch is always
matched against the exchanges that exist when it commits.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from actors.exchange import ExchangeActor
from actors.messages import (
    AddExchange,
    Committed,
    DispatcherMessage,
    ExchangeMessage,
    FindExchange,
    ListExchanges,
    Publish,
    RemoveExchange,
)
from actors.runtime import (
    DEFAULT_ASK_TIMEOUT,
    Mailbox,
    Policy,
    Reply,
    ask,
    supervise,
)
from actors.state import StateActor
from router.core.errors import (
    AlreadyExists,
    DeadlineExceeded,
    NotFound,
    RouterError,
    Unavailable,
)
from router.core.model import Acks, ExchangeRecord, PublishAck
from router.core.patterns import matches
from router.core.settings import Settings
from storage.base import Append, CommitResult

log = logging.getLogger("router.dispatcher")
APPENDS_IN_FLIGHT = 8
# Appends of fewer events go one at a time (see run): pipelining them made commits smaller and
# more frequent, and at 5,000 one-event publishes a second doubled the latency (p50 17 -> 34 ms).
PIPELINE_MIN_EVENTS = 200


@attrs.define(eq=False)
class Dispatcher:
    """Mailbox: DispatcherMessage; supervised by router.app with Policy.ESCALATE."""

    state: StateActor
    settings: Settings
    exchanges: dict[int, ExchangeActor] = attrs.Factory(dict)
    mailbox: Mailbox[DispatcherMessage] = attrs.Factory(lambda: Mailbox(4096))
    _by_name: dict[str, int] = attrs.Factory(dict)
    _routes: dict[str, tuple[int, ...]] = attrs.Factory(dict)
    _scopes: dict[int, trio.CancelScope] = attrs.Factory(dict)
    _held: DispatcherMessage | None = None
    _overflow: collections.deque[Publish] = attrs.Factory(collections.deque)  # see publish_soon
    _nursery: trio.Nursery | None = None
    published: int = 0
    # Appends sent to the StateActor whose results are not handled yet, and an event set when
    # that count comes back to zero.
    _in_flight: int = 0
    _drained: trio.Event = attrs.Factory(trio.Event)

    # --- public surface ---

    async def publish(
        self, events: tuple[Any, ...], publisher: str = "", scoped: bool = False
    ) -> Sequence[PublishAck]:
        """Publish and wait for the acks. ``publisher`` and ``scoped``: see :class:`Publish`."""
        return await ask(self.mailbox, lambda r: Publish(events, r, publisher, scoped))

    def publish_soon(
        self,
        events: tuple[Any, ...],
        reply: Reply[Sequence[PublishAck]],
        publisher: str = "",
        scoped: bool = False,
    ) -> None:
        """Publish without waiting (from a plain Trio callback, no task of its own): ``reply``
        is set with the acks after the commit. Publishes reach the mailbox in the order of
        these calls: while it is full they wait, in order, for one task to put them in."""
        message = Publish(events, reply, publisher, scoped)
        if not self._overflow:
            try:
                self.mailbox.send_nowait(message)
                return
            except trio.WouldBlock:
                pass
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                reply.fail(Unavailable("the router is shutting down"))
                return
        self._overflow.append(message)
        if len(self._overflow) == 1:
            assert self._nursery is not None
            self._nursery.start_soon(self._send_overflow)

    async def _send_overflow(self) -> None:
        overflow = self._overflow
        while overflow:
            try:
                await self.mailbox.send(overflow[0])
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                for message in overflow:
                    message.reply.fail(Unavailable("the router is shutting down"))
                overflow.clear()
                return
            overflow.popleft()

    async def add_exchange(self, name: str, patterns: tuple[str, ...]) -> ExchangeRecord:
        return await ask(self.mailbox, lambda r: AddExchange(name, patterns, r), 600.0)

    async def remove_exchange(self, name: str) -> None:
        await ask(self.mailbox, lambda r: RemoveExchange(name, r), 600.0)

    async def list_exchanges(self) -> list[ExchangeRecord]:
        return await ask(self.mailbox, ListExchanges)

    async def find_exchange(
        self, key: str | int
    ) -> tuple[ExchangeRecord, Mailbox[ExchangeMessage]]:
        return await ask(self.mailbox, lambda r: FindExchange(key, r))

    # --- the actor ---

    async def run(
        self,
        restored: tuple[ExchangeRecord, ...],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for record in restored:
                await self._start_exchange(record)
            sent, results = trio.open_memory_channel[tuple[list[Publish], Reply[CommitResult]]](
                APPENDS_IN_FLIGHT - 1
            )
            nursery.start_soon(self._finish_appends, results)
            task_status.started()
            while True:
                message = await self._next()
                if isinstance(message, Publish):
                    publishes = [message]
                    self._more_publishes(publishes)
                    if sum(len(p.events) for p in publishes) < PIPELINE_MIN_EVENTS:
                        # Small publishes wait for the appends before them and gather what
                        # arrives meanwhile: one commit for many one-event publishes.
                        while self._in_flight:
                            await self._drained.wait()
                        if self._held is None:
                            self._more_publishes(publishes)
                    self._in_flight += 1
                    await sent.send((publishes, await self._append(publishes)))
                else:
                    while self._in_flight and isinstance(message, AddExchange | RemoveExchange):
                        await self._drained.wait()
                    await self._control(message)

    async def _next(self) -> DispatcherMessage:
        if self._held is not None:
            message, self._held = self._held, None
            return message
        return await self.mailbox.receive()

    def _more_publishes(self, publishes: list[Publish]) -> None:
        """Add the publishes already waiting, up to the commit size; the first other message is
        held for the next turn."""
        count = sum(len(p.events) for p in publishes)
        while count < self.settings.commit_max_events:
            try:
                message = self.mailbox.receive_nowait()
            except trio.WouldBlock:
                break
            if not isinstance(message, Publish):
                self._held = message
                break
            publishes.append(message)
            count += len(message.events)

    def _route(self, event_type: str) -> tuple[int, ...]:
        route = self._routes.get(event_type)
        if route is None:
            route = tuple(
                exchange_id
                for exchange_id, actor in self.exchanges.items()
                if any(matches(p, event_type) for p in actor.record.patterns)
            )
            if len(self._routes) > 100_000:
                self._routes.clear()
            self._routes[event_type] = route
        return route

    async def _append(self, publishes: list[Publish]) -> Reply[CommitResult]:
        """Hand the publishes' events, routed, to the StateActor; the reply comes after the commit."""
        appends = tuple(
            Append(p.events, tuple(self._route(e.type) for e in p.events), p.publisher, p.scoped)
            for p in publishes
        )
        return await self.state.start_append(appends)

    async def _finish_appends(
        self, results: trio.MemoryReceiveChannel[tuple[list[Publish], Reply[CommitResult]]]
    ) -> None:
        """Take the appends' results in the order they were sent: deliveries, then acks."""
        async for publishes, reply in results:
            try:
                with trio.fail_after(DEFAULT_ASK_TIMEOUT):
                    result = await reply.get()
            except trio.TooSlowError:
                error: RouterError = DeadlineExceeded(f"no answer within {DEFAULT_ASK_TIMEOUT:g}s")
                for publish in publishes:
                    publish.reply.fail(error)
            except RouterError as failure:
                for publish in publishes:
                    publish.reply.fail(failure)
            else:
                await self._delivered(publishes, result)
            self._in_flight -= 1
            if not self._in_flight:
                drained, self._drained = self._drained, trio.Event()
                drained.set()

    async def _delivered(self, publishes: list[Publish], result: CommitResult) -> None:
        for exchange_id, deliveries in result.deliveries.items():
            actor = self.exchanges.get(exchange_id)
            if actor is not None:
                await actor.mailbox.send(Committed(tuple(deliveries)))
        names = {exchange_id: actor.record.name for exchange_id, actor in self.exchanges.items()}
        start = 0
        for publish in publishes:
            end = start + len(publish.events)
            outcomes = result.outcomes[start:end]
            start = end
            if outcomes and outcomes[0].refused:
                index = next(i for i, o in enumerate(outcomes) if o.duplicate)
                publish.reply.fail(clash(index, publish.events[index].id))
                continue
            acks = Acks([e.id for e in publish.events], outcomes, names, result.committed_ns)
            self.published += len(publish.events)
            publish.reply.set(acks)

    async def _control(self, message: DispatcherMessage) -> None:
        if isinstance(message, AddExchange):
            try:
                record = await self.state.create_exchange(message.name, message.patterns)
            except RouterError as error:
                message.reply.fail(error)
                return
            await self._start_exchange(record)
            log.info(
                "exchange created name=%s patterns=%s history=%d",
                record.name,
                record.patterns,
                record.head,
            )
            message.reply.set(record)
        elif isinstance(message, RemoveExchange):
            exchange_id = self._by_name.get(message.name)
            if exchange_id is None:
                message.reply.fail(NotFound(f"exchange: no exchange named {message.name!r}"))
                return
            try:
                await self.state.delete_exchange(exchange_id)
            except RouterError as error:
                message.reply.fail(error)
                return
            actor = self.exchanges.pop(exchange_id)
            del self._by_name[message.name]
            self._routes.clear()
            actor.deleted = True
            self._scopes.pop(exchange_id).cancel()
            log.info("exchange deleted name=%s", message.name)
            message.reply.set(None)
        elif isinstance(message, ListExchanges):
            message.reply.set(
                [attrs.evolve(a.record, head=a.head) for a in self.exchanges.values()]
            )
        elif isinstance(message, FindExchange):
            key = message.key
            exchange_id = self._by_name.get(key) if isinstance(key, str) else key
            found = self.exchanges.get(exchange_id) if exchange_id is not None else None
            if found is None:
                message.reply.fail(NotFound(f"exchange: no exchange named {key!r}"))
            else:
                message.reply.set((attrs.evolve(found.record, head=found.head), found.mailbox))
        else:
            raise TypeError(f"Dispatcher: unexpected message {message!r}")

    async def _start_exchange(self, record: ExchangeRecord) -> None:
        assert self._nursery is not None
        actor = ExchangeActor(record)
        scope = trio.CancelScope()

        async def run_exchange() -> None:
            with scope:
                # Policy: an exchange that fails stops the router; its state is all in storage.
                await supervise(f"exchange:{record.name}", actor.run, Policy.ESCALATE)

        self.exchanges[record.id] = actor
        self._by_name[record.name] = record.id
        self._scopes[record.id] = scope
        self._routes.clear()
        self._nursery.start_soon(run_exchange)


def clash(index: int, event_id: str) -> AlreadyExists:
    """Why a publish that re-used another publisher's event id was refused (naming neither the
    other publisher nor where its event is)."""
    return AlreadyExists(
        f"events[{index}].id: {event_id} is the id of an event another user published;"
        " nothing of this publish was stored (use ids of your own, e.g. UUIDv7)"
    )
