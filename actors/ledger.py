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

from actors.runs import Runs


@attrs.define(eq=False)
class Ledger:
    floor: int = 0
    high: int = 0
    settled: Runs = attrs.Factory(Runs)  # settled offsets above the floor
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

    def settle_run(self, first: int, last: int) -> bool:
        """Settle the open offsets ``first..last`` (none of them re-driven, all at most
        ``high``); True when the floor moved. Costs what the run's counts and due times cost,
        not one step per offset."""
        for kept in (self.counts, self.due):
            if not kept:
                continue
            if len(kept) < last - first + 1:
                for offset in [o for o in kept if first <= o <= last]:
                    del kept[offset]
            else:
                for offset in range(first, last + 1):
                    kept.pop(offset, None)
        self.settled.add_run(first, last)
        return self._raise_floor()

    def settle_upto(self, offset: int) -> bool:
        """The cumulative ack: every offset up to ``offset`` is settled (re-driven ones aside)."""
        if offset <= self.floor:
            return False
        self.floor = offset
        self.high = max(self.high, offset)
        self.settled.discard_upto(offset)
        if self.counts:
            self.counts = {
                o: c for o, c in self.counts.items() if o > offset or o in self.redriving
            }
        if self.due:
            self.due = {o: t for o, t in self.due.items() if o > offset}
        self._raise_floor()
        return True

    def _raise_floor(self) -> bool:
        run = self.settled.first_run()
        if run is None or run[0] != self.floor + 1:
            return False
        self.floor = run[1]
        self.settled.discard_upto(self.floor)
        return True

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
            body["runs"] = [list(run) for run in self.settled.runs()]
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
        settled = Runs(int(o) for o in body.get("settled", ()) if int(o) > floor)
        for first, last in body.get("runs", ()):
            settled.add_run(max(int(first), floor + 1), int(last))
        counts = {int(o): int(c) for o, c in body.get("counts", ()) if int(o) > floor}
        due = {int(o): int(t) for o, t in body.get("due", ()) if int(o) > floor}
        high = max(floor, int(body.get("high", floor)))
        return cls(floor, high, settled, counts, set(), due)
