"""The small actor runtime: mailboxes, one-shot replies, ``ask`` under a deadline, supervision.

An actor is an object with its state as fields, a mailbox (a Trio memory channel) and one ``run``
loop. Other code talks to it only by sending messages: ``tell`` (fire and continue) or ``ask``
(send a message that carries a :class:`Reply` and wait for the answer).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs
import outcome
import trio

from router.errors import DeadlineExceeded, RouterError, Unavailable

T = TypeVar("T")
log = logging.getLogger("router.actors")

DEFAULT_ASK_TIMEOUT = 30.0


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


def mailbox(
    capacity: int = 256,
) -> tuple[trio.MemorySendChannel[Any], trio.MemoryReceiveChannel[Any]]:
    """A bounded mailbox: a full one makes senders wait, which is the backpressure we want."""
    return trio.open_memory_channel[Any](capacity)


async def ask(
    to: trio.MemorySendChannel[Any],
    build: Callable[[Reply[T]], object],
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


class Turnstile:
    """Lets callers through one at a time in the order of their turns (0, 1, 2...), whatever
    order Trio happens to run them in: a pipelined stream's requests keep their order.

    Each waiter has its own event and only the next turn's is set, so a stream with hundreds of
    requests in flight wakes one task per step (waking all of them cost a fifth of the router's
    CPU at 5,000 single-event requests a second).
    """

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, trio.Event] = {}

    async def wait_for(self, turn: int) -> None:
        while self._next < turn:
            await self._waiting.setdefault(turn, trio.Event()).wait()

    def advance_past(self, turn: int) -> None:
        if self._next > turn:
            return
        jumped = turn > self._next  # a later turn gave up first (its call was cancelled)
        self._next = turn + 1
        if jumped:
            for waiting in [t for t in self._waiting if t <= self._next]:
                self._waiting.pop(waiting).set()
        else:
            woken = self._waiting.pop(self._next, None)
            if woken is not None:
                woken.set()


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

    With ISOLATE, an error is logged with its traceback and handed to ``on_failure`` (to tell
    whoever waits on the child), and the child ends; RouterErrors are expected endings, logged
    without a traceback.
    """
    try:
        await run()
    except RouterError as error:
        if policy is Policy.ESCALATE:
            raise
        log.info("actor=%s ended: %s", name, error)
        if on_failure is not None:
            on_failure(error)
    except Exception as error:
        if policy is Policy.ESCALATE:
            log.exception("actor=%s failed; stopping its parent", name)
            raise
        log.exception("actor=%s failed; isolated", name)
        if on_failure is not None:
            on_failure(error)
