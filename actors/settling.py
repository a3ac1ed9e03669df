"""Judging a settle's offset ranges against a subscriber's ledger, by range arithmetic.

A consumer settles ranges of offsets (up to MAX_SPAN each, up to MAX_RANGES in one message). The
ranges are merged first, so an offset named twice costs once; then each range is cut into parts
by what the ledger knows: at or below the floor and the settled runs above it (already settled),
past the highest delivery (never delivered), and the open parts between, where the consumer's
own deliveries are picked out. What is refused is told once per range and reason (its first and
last offset and how many), never once per offset; so the work for a message grows with the
consumer's open deliveries it names and the settled runs it meets, not with the offsets named.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

import attrs

from actors.ledger import Ledger
from actors.messages import SettleSleeping
from actors.runs import Runs
from router.core import delivery
from router.core.delivery import DeliverySettings, ParkedEvent
from router.core.errors import FailedPrecondition, InvalidArgument, OutOfRange
from router.core.model import now_us

MAX_RANGES = 10_000  # ranges one settle message may name
MAX_SPAN = 100_000  # offsets one range may name
MAX_SETTLE = 100_000  # offsets one pull consumer's settle call may name

SETTLED, OPEN, NEVER = "already_settled", "open", "never_delivered"
NOT_HELD, INVALID = "not_held", "invalid"

# The offsets of an open part first..last (delivered, unsettled) that the consumer may settle.
Held = Callable[[int, int], Sequence[int]]


@attrs.frozen
class Refusal:
    """Offsets of range ``index`` refused for one reason: ``count`` of them, ``first``..``last``."""

    index: int
    code: str
    first: int
    last: int
    count: int
    text: str


@attrs.define
class Verdict:
    settle: list[int] = attrs.Factory(list)  # in order
    refusals: list[Refusal] = attrs.Factory(list)


@attrs.define
class Settlement:
    """A pull consumer's settlement checked against a sleeping subscriber's ledger: what to
    ack, when each nacked offset is due again, and what to park. :meth:`check` raises on the
    first bad part, naming it, before anything changes. Ranges are judged as ranges: a call
    costs what its open offsets and the ledger's settled runs cost, not what it names."""

    ledger: Ledger
    head: int
    options: DeliverySettings
    acks: list[int] = attrs.Factory(list)
    nacks: dict[int, int] = attrs.Factory(dict)  # offset -> due (us)
    parks: list[ParkedEvent] = attrs.Factory(list)
    _named: Runs = attrs.Factory(Runs)

    def check(self, message: SettleSleeping) -> None:
        for index, (first, last) in enumerate(message.acks):
            if last < first:
                raise InvalidArgument(f"ack[{index}]: {first}..{last} is not a range")
        total = sum(last - first + 1 for first, last in message.acks)
        if total + len(message.nacks) + len(message.parks) > MAX_SETTLE:
            raise InvalidArgument(f"ack: more than {MAX_SETTLE} offsets in one call")
        for index, (first, last) in enumerate(message.acks):
            self._ack_range(first, last, f"ack[{index}]")
        self._check_nacks(message.nacks)
        now = now_us()
        for index, (offset, why) in enumerate(message.parks):
            field = f"park[{index}]"
            delivery.reason(why, f"{field}.reason")
            self._open(offset, f"{field}.offset")
            count = self.ledger.deliveries(offset)
            self.parks.append(ParkedEvent(offset, why or "parked by the consumer", count, now))

    def _ack_range(self, first: int, last: int, field: str) -> None:
        if first < 1 or last > self.head:
            wrong = first if first < 1 else max(first, self.head + 1)
            raise OutOfRange(f"{field}: {wrong} is outside 1..{self.head} (the head)")
        for twice, _ in self._named.within(first, last):
            raise InvalidArgument(f"{field}: offset {twice} is named twice")
        self._named.add_run(first, last)
        verdict = judge(first, last, 0, self.ledger, held_but(()))
        for refusal in verdict.refusals:
            raise FailedPrecondition(_refused(field, refusal.code, refusal.first, self.ledger))
        self.acks.extend(verdict.settle)

    def _check_nacks(self, nacks: Sequence[tuple[int, float | None]]) -> None:
        now = now_us()
        for index, (offset, delay_s) in enumerate(nacks):
            field = f"nack[{index}]"
            if delay_s is not None:
                delivery.delay(delay_s, f"{field}.delay_s")
            self._open(offset, f"{field}.offset")
            count = self.ledger.deliveries(offset)
            most = self.options.max_deliveries
            if most and count >= most:
                reason = f"delivered {count} times (max_deliveries {most})"
                self.parks.append(ParkedEvent(offset, reason, count, now))
                continue
            wait = self.options.backoff(count) if delay_s is None else delay_s
            self.nacks[offset] = now + int(wait * 1e6)

    def _open(self, offset: int, field: str) -> None:
        if not 1 <= offset <= self.head:
            raise OutOfRange(f"{field}: {offset} is outside 1..{self.head} (the head)")
        if offset in self._named:
            raise InvalidArgument(f"{field}: offset {offset} is named twice")
        self._named.add(offset)
        if not self.ledger.is_open(offset):
            code = NEVER if offset > self.ledger.high else SETTLED
            raise FailedPrecondition(_refused(field, code, offset, self.ledger))


def _refused(field: str, code: str, offset: int, ledger: Ledger) -> str:
    if code == NEVER:
        return f"{field}: {offset} was never delivered (last delivered {ledger.high})"
    return f"{field}: {offset} is settled"


def merged(ranges: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int, int]], list[Refusal]]:
    """The valid ranges, sorted and merged where they overlap or touch, as (first, last, index
    of the first range merged in); and a refusal for each invalid one. Too many ranges: all are
    refused, with one refusal."""
    if len(ranges) > MAX_RANGES:
        first = ranges[0][0] if ranges else 0
        text = f"settle.acks: {len(ranges)} ranges; at most {MAX_RANGES} in one message"
        return [], [Refusal(0, INVALID, first, first, len(ranges), text)]
    refused: list[Refusal] = []
    valid: list[tuple[int, int, int]] = []
    for index, (first, last) in enumerate(ranges):
        if first < 1 or last < first or last - first >= MAX_SPAN:
            text = (
                f"settle.acks[{index}]: {first}..{last} is not a range of offsets"
                f" (at most {MAX_SPAN})"
            )
            refused.append(Refusal(index, INVALID, first, first, 1, text))
        else:
            valid.append((first, last, index))
    valid.sort()
    joined: list[tuple[int, int, int]] = []
    for first, last, index in valid:
        if joined and first <= joined[-1][1] + 1:
            was = joined[-1]
            joined[-1] = (was[0], max(was[1], last), was[2])
        else:
            joined.append((first, last, index))
    return joined, refused


def judge(first: int, last: int, index: int, ledger: Ledger, held: Held) -> Verdict:
    """What to do with ``first..last`` (range ``index``): the offsets to settle, and the rest
    refused, summed up per reason."""
    verdict = Verdict()
    tally: dict[str, list[int]] = {}  # code -> [first, last, count]
    for start, end, code in _parts(first, last, ledger):
        if code != OPEN:
            _count(tally, code, start, end, end - start + 1)
            continue
        mine = held(start, end)
        verdict.settle.extend(mine)
        for lone_start, lone_end in _outside(start, end, mine):
            _count(tally, NOT_HELD, lone_start, lone_end, lone_end - lone_start + 1)
    for code, (low, high, count) in sorted(tally.items(), key=lambda item: item[1][0]):
        text = _text(code, low, high, count, ledger.high)
        verdict.refusals.append(Refusal(index, code, low, high, count, text))
    return verdict


def held_of(offsets: Collection[int]) -> Held:
    """``held`` for a consumer that may settle exactly ``offsets`` (a shared one's holding)."""
    ordered = sorted(offsets)

    def held(first: int, last: int) -> Sequence[int]:
        return ordered[bisect.bisect_left(ordered, first) : bisect.bisect_right(ordered, last)]

    return held


def held_but(waiting: Collection[int]) -> Held:
    """``held`` for a consumer that may settle every open offset but ``waiting`` (an exclusive
    one: all its deliveries but those waiting to be delivered again)."""

    def held(first: int, last: int) -> Sequence[int]:
        if not waiting:
            return range(first, last + 1)
        if len(waiting) < last - first + 1:
            out = {o for o in waiting if first <= o <= last}
        else:
            out = {o for o in range(first, last + 1) if o in waiting}
        return (
            [o for o in range(first, last + 1) if o not in out] if out else range(first, last + 1)
        )

    return held


def within(offsets: Collection[int], first: int, last: int) -> list[int]:
    """The members of ``offsets`` in ``first..last``, in order, looking at the smaller side."""
    if len(offsets) < last - first + 1:
        return sorted(o for o in offsets if first <= o <= last)
    return [o for o in range(first, last + 1) if o in offsets]


def _parts(first: int, last: int, ledger: Ledger) -> Iterator[tuple[int, int, str]]:
    """``first..last`` cut into runs that are settled, open or never delivered; a re-driven
    offset is open wherever it lies."""
    redriven = within(ledger.redriving, first, last) if ledger.redriving else []
    for start, end, code in _plain_parts(first, last, ledger):
        if code == OPEN or not redriven:
            yield start, end, code
            continue
        inside = redriven[bisect.bisect_left(redriven, start) : bisect.bisect_right(redriven, end)]
        yield from _cut(start, end, ((o, o) for o in inside), OPEN, code)


def _plain_parts(first: int, last: int, ledger: Ledger) -> Iterator[tuple[int, int, str]]:
    floor, high = ledger.floor, ledger.high
    if first <= floor:
        yield first, min(last, floor), SETTLED
    low, top = max(first, floor + 1), min(last, high)
    if low <= top:
        yield from _cut(low, top, ledger.settled.within(low, top), SETTLED, OPEN)
    if max(first, high + 1) <= last:
        yield max(first, high + 1), last, NEVER


def _cut(
    first: int, last: int, runs: Iterable[tuple[int, int]], inside: str, between: str
) -> Iterator[tuple[int, int, str]]:
    """``first..last`` cut at ``runs`` (in order, within it): each run marked ``inside``, the
    parts between them ``between``."""
    at = first
    for start, end in runs:
        if start > at:
            yield at, start - 1, between
        yield start, end, inside
        at = end + 1
    if at <= last:
        yield at, last, between


def _outside(first: int, last: int, chosen: Sequence[int]) -> Iterator[tuple[int, int]]:
    """The runs of ``first..last`` not in ``chosen`` (in order, within it)."""
    at = first
    for offset in chosen:
        if offset > at:
            yield at, offset - 1
        at = offset + 1
    if at <= last:
        yield at, last


def _count(tally: dict[str, list[int]], code: str, first: int, last: int, count: int) -> None:
    found = tally.get(code)
    if found is None:
        tally[code] = [first, last, count]
    else:
        found[1] = last
        found[2] += count


def _text(code: str, first: int, last: int, count: int, high: int) -> str:
    """The message of a refusal; for one offset, as a single settle's refusal reads."""
    if count == 1:
        if code == NEVER:
            return f"ack.offset: {first} was never delivered (last delivered {high})"
        if code == SETTLED:
            return f"ack.offset: {first} is settled"
        return (
            f"ack.offset: {first} is not held by this consumer"
            " (given to another, or waiting to be delivered again)"
        )
    where = f"ack.offset: {count} offsets of {first}..{last}"
    if code == NEVER:
        return f"{where} were never delivered (last delivered {high})"
    if code == SETTLED:
        return f"{where} are settled"
    return f"{where} are not held by this consumer (given to another, or waiting to be delivered again)"
