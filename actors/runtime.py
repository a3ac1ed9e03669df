"""The small actor runtime: mailboxes, one-shot replies, ``ask`` under a deadline, supervision.

An actor is an object with its state as fields, a :class:`Mailbox` (a Trio memory channel typed
by the messages it handles) and one ``run`` loop. Other code talks to it only by sending
messages: a plain ``send`` (fire and continue) or :func:`ask` (send a message that carries a
:class:`Reply` and wait for the answer).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs
import outcome
import trio

from router.core.errors import DeadlineExceeded, RouterError, Unavailable
from router.core.settings import DEFAULT_ASK_TIMEOUT as DEFAULT_ASK_TIMEOUT

T = TypeVar("T")
M = TypeVar("M")
log = logging.getLogger("router.actors")


@attrs.define(eq=False)
class Reply(Generic[T]):
    """A one-shot reply slot. The first ``set`` or ``fail`` wins; later ones are ignored.

    Setting never blocks, so an actor can answer from inside its loop without waiting on the asker.
    """

    _done: trio.Event = attrs.Factory(trio.Event)
    _outcome: outcome.Outcome[T] | None = None

    def set(self, value: T) -> None:
        if not self._done.is_set():
            self._outcome = outcome.Value(value)
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._outcome = outcome.Error(error)
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def get(self) -> T:
        await self._done.wait()
        assert self._outcome is not None
        return self._outcome.unwrap()


@attrs.define(eq=False)
class Callback(Reply[T]):
    """A reply that also calls ``told(value, failed)`` (in Trio) when it is set or failed: for an
    asker with no Trio task waiting on it (a gRPC call on the asyncio thread)."""

    told: Callable[[Any, bool], None] = lambda value, failed: None

    def set(self, value: T) -> None:
        if not self.done:
            super().set(value)
            self.told(value, False)

    def fail(self, error: BaseException) -> None:
        if not self.done:
            super().fail(error)
            self.told(error, True)


class OwnThread:
    """One long-lived thread running blocking calls from Trio one at a time, in the order given:
    the state actor's writer. ``trio.to_thread.run_sync`` hands each call to a cached thread,
    names it and copies the context; a one-event publish pays that once per commit, this pays a
    queue put. A caller cancelled while its call runs waits for it (a commit completes)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], Callable[[outcome.Outcome[Any]], None]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            call, report = job
            report(outcome.capture(call))

    async def run(self, call: Callable[[], T]) -> T:
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def report(result: outcome.Outcome[Any]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # Trio is gone: nobody waits
                token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        self._jobs.put((call, report))
        value: T = await trio.lowlevel.wait_task_rescheduled(
            lambda _: trio.lowlevel.Abort.FAILED  # not abandoned: wait for the call to end
        )
        return value

    def close(self) -> None:
        """The thread ends after the calls given before this."""
        self._jobs.put(None)


class Mailbox(Generic[M]):
    """An actor's inbound messages: a bounded Trio memory channel, both ends in one object.

    Others ``send`` (waiting while it is full: the backpressure we want) or ``send_nowait``; the
    actor's ``run`` loop alone iterates it. ``M`` is the union of the messages the actor handles,
    so its type says the actor's protocol. Closing it ends the actor's loop once it is drained.
    """

    __slots__ = ("_receive", "_send")

    def __init__(self, capacity: int = 256) -> None:
        self._send, self._receive = trio.open_memory_channel[M](capacity)

    async def send(self, message: M) -> None:
        """Raises ``trio.BrokenResourceError`` (or ``ClosedResourceError``) once the actor is gone."""
        await self._send.send(message)

    def send_nowait(self, message: M) -> None:
        """Raises ``trio.WouldBlock`` when full, as ``send`` does when the actor is gone."""
        self._send.send_nowait(message)

    async def receive(self) -> M:
        return await self._receive.receive()

    def receive_nowait(self) -> M:
        return self._receive.receive_nowait()

    def waiting(self) -> int:
        """How many messages wait to be read."""
        return self._receive.statistics().current_buffer_used

    def close(self) -> None:
        """No more messages: the actor's loop ends after the ones already sent."""
        self._send.close()

    def shut(self) -> None:
        """The actor reads no more (it has ended): senders, even one waiting for room now, get
        ``trio.BrokenResourceError`` instead of waiting for ever."""
        self._receive.close()

    def __aiter__(self) -> Mailbox[M]:
        return self

    async def __anext__(self) -> M:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


async def ask(
    to: Mailbox[Any],
    build: Callable[[Reply[T]], Any],
    timeout: float = DEFAULT_ASK_TIMEOUT,
) -> T:
    """Send ``build(reply)`` to ``to`` and wait for the answer.

    Raises the error the actor answered with, :class:`DeadlineExceeded` after ``timeout`` seconds,
    or :class:`Unavailable` when the actor is gone. Cancellation abandons the reply.
    """
    reply: Reply[T] = Reply()
    try:
        with trio.fail_after(timeout):
            await to.send(build(reply))
            return await reply.get()
    except trio.TooSlowError:
        raise DeadlineExceeded(f"no answer within {timeout:g}s") from None
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        raise Unavailable("the router is shutting down") from None


class Policy(enum.Enum):
    """What a supervisor does when a child fails with an unexpected error."""

    ESCALATE = "escalate"  # the failure propagates: the parent (and so the router) stops
    ISOLATE = "isolate"  # log it and let the child end; the parent carries on


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    policy: Policy,
    on_failure: Callable[[BaseException], None] | None = None,
) -> None:
    """Run one child under ``policy``. Cancellation always propagates.

    A child's body runs inside nurseries, and Trio wraps even a lone error in an
    ``ExceptionGroup``: a group of one error is judged by that error. With ISOLATE, an unexpected
    error is logged with its traceback and handed to ``on_failure`` (to tell whoever waits on the
    child), and the child ends; RouterErrors are expected endings, logged on one line and handed
    over as they are.
    """
    try:
        await run()
    except BaseException as raised:
        error = lone_error(raised)
        if isinstance(error, RouterError):
            if policy is Policy.ESCALATE:
                raise
            log.info("actor=%s ended: %s", name, error)
        elif isinstance(error, Exception):
            if policy is Policy.ESCALATE:
                log.error("actor=%s failed; stopping its parent", name, exc_info=error)
                raise
            log.error("actor=%s failed; isolated", name, exc_info=error)
        else:
            raise  # cancellation, KeyboardInterrupt, or a group holding one of them
        if on_failure is not None:
            on_failure(error)


def lone_error(raised: BaseException) -> BaseException:
    """The one error inside (nested) single-error groups, else ``raised`` itself.

    A group of several errors stays a group: it is an unexpected failure as a whole.
    """
    while isinstance(raised, BaseExceptionGroup) and len(raised.exceptions) == 1:
        raised = raised.exceptions[0]
    return raised
