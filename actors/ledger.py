"""A subscriber's ledger: which of its deliveries are settled, and how often each was delivered.

Pure bookkeeping, no I/O: the SubscriberActor drives it and the state actor saves its durable
part with the cursor (coalesced). The ack floor is the cursor: every offset at or below it is
settled. Above it the ledger keeps the offsets settled one by one and the delivery counts of
the unsettled ones; ``high`` is the highest offset ever delivered, so an offset between the floor
and ``high`` with no count was delivered once. Re-driven offsets (taken back from the parked
list) are open again wherever they lie, until settled. A nacked offset may carry the wall-clock
time before which it is not delivered again, so a delay outlives a restart or a pull's end.
"""

from __future__ import annotations

import json

import attrs


@attrs.define(eq=False)
class Ledger:
    floor: int = 0
    high: int = 0
    settled: set[int] = attrs.Factory(set)
    counts: dict[int, int] = attrs.Factory(dict)  # unsettled offsets delivered more than once
    redriving: set[int] = attrs.Factory(set)
    due: dict[int, int] = attrs.Factory(dict)  # nacked offset -> not delivered before (us)

    def deliveries(self, offset: int) -> int:
        """How many times ``offset`` has been delivered and not settled since."""
        found = self.counts.get(offset)
        if found is not None:
            return found
        if offset in self.redriving:
            return 0
        return 1 if self.floor < offset <= self.high and offset not in self.settled else 0

    def is_open(self, offset: int) -> bool:
        """Delivered at least once (or re-driven) and not settled."""
        if offset in self.redriving:
            return True
        return self.floor < offset <= self.high and offset not in self.settled

    def is_settled(self, offset: int) -> bool:
        return offset not in self.redriving and (offset <= self.floor or offset in self.settled)

    def deliver_fresh(self, last: int) -> None:
        """Offsets up to ``last`` (all above ``high``) were delivered for the first time."""
        if last > self.high:
            self.high = last

    def deliver_again(self, offset: int) -> int:
        """``offset`` is delivered once more (a redelivery, a resume, a re-drive); its count."""
        count = self.deliveries(offset) + 1
        if self.due:
            self.due.pop(offset, None)
        if offset > self.high:
            self.high = offset
        if count > 1 or offset in self.redriving:
            self.counts[offset] = count
        return count

    def settle(self, offset: int) -> bool:
        """Settle one open offset (ack or park); True when the floor moved."""
        self.counts.pop(offset, None)
        if self.due:
            self.due.pop(offset, None)
        if offset in self.redriving:
            self.redriving.discard(offset)
            if offset <= self.floor:
                return False
        self.settled.add(offset)
        return self._raise_floor()

    def settle_upto(self, offset: int) -> bool:
        """The cumulative ack: every offset up to ``offset`` is settled (re-driven ones aside)."""
        if offset <= self.floor:
            return False
        self.floor = offset
        self.high = max(self.high, offset)
        if self.settled:
            self.settled = {o for o in self.settled if o > offset}
        if self.counts:
            self.counts = {
                o: c for o, c in self.counts.items() if o > offset or o in self.redriving
            }
        if self.due:
            self.due = {o: t for o, t in self.due.items() if o > offset}
        self._raise_floor()
        return True

    def _raise_floor(self) -> bool:
        moved = False
        while self.floor + 1 in self.settled:
            self.floor += 1
            self.settled.discard(self.floor)
            moved = True
        return moved

    def take_parked(self, above: set[int], redriving: set[int]) -> None:
        """What the parked list says (it is the truth, a crash can come between parking and
        the next save): ``above`` were parked, so delivered and settled; ``redriving`` are
        open again."""
        for offset in above:
            self.deliver_fresh(offset)
            self.settle(offset)
        self.redriving |= redriving
        self.deliver_fresh(max(redriving, default=0))

    def open_count(self) -> int:
        """Unsettled deliveries: delivered above the floor and not settled, and re-driven ones."""
        return max(0, self.high - self.floor - len(self.settled)) + len(
            [o for o in self.redriving if o <= self.floor or o > self.high]
        )

    def to_json(self) -> str:
        """The durable part, beside the floor (the cursor); "" when there is nothing to keep."""
        body: dict[str, object] = {}
        if self.high > self.floor:
            body["high"] = self.high
        if self.settled:
            body["runs"] = _runs(sorted(self.settled))  # acks come mostly in order: few runs
        if self.counts:
            body["counts"] = sorted(self.counts.items())
        if self.due:
            body["due"] = sorted(self.due.items())
        return json.dumps(body, separators=(",", ":")) if body else ""

    @classmethod
    def restore(cls, floor: int, text: str) -> Ledger:
        if not text:
            return cls(floor, floor)
        body = json.loads(text)
        settled = {int(o) for o in body.get("settled", ()) if int(o) > floor}
        for first, last in body.get("runs", ()):
            settled.update(range(max(int(first), floor + 1), int(last) + 1))
        counts = {int(o): int(c) for o, c in body.get("counts", ()) if int(o) > floor}
        due = {int(o): int(t) for o, t in body.get("due", ()) if int(o) > floor}
        high = max(floor, int(body.get("high", floor)))
        return cls(floor, high, settled, counts, set(), due)


def _runs(offsets: list[int]) -> list[list[int]]:
    """Sorted offsets as [first, last] runs."""
    runs: list[list[int]] = []
    for offset in offsets:
        if runs and offset == runs[-1][1] + 1:
            runs[-1][1] = offset
        else:
            runs.append([offset, offset])
    return runs
