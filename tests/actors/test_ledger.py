"""The ledger's durable form: what a subscriber saves with its cursor comes back the same."""

from __future__ import annotations

from actors.ledger import Ledger


def test_the_saved_form_keeps_settled_offsets_counts_and_delays_above_the_floor() -> None:
    ledger = Ledger(4, 4)
    ledger.deliver_fresh(9)
    ledger.settle(6)
    ledger.deliver_again(7)
    ledger.due[8] = 1_700_000_000_000_000
    back = Ledger.restore(ledger.floor, ledger.to_json())
    assert (back.floor, back.high, back.settled, back.counts, back.due) == (
        4,
        9,
        {6},
        {7: 2},
        {8: 1_700_000_000_000_000},
    )
    assert back.deliveries(7) == 2 and back.deliveries(8) == 1 and not back.is_open(6)


def test_settling_or_delivering_again_clears_a_delay_and_the_floor_drops_what_it_passes() -> None:
    ledger = Ledger(0, 0)
    ledger.deliver_fresh(5)
    ledger.due.update({2: 10, 3: 10, 4: 10})
    ledger.settle(2)
    ledger.deliver_again(3)
    assert ledger.due == {4: 10}
    ledger.settle_upto(4)
    assert ledger.due == {} and ledger.to_json() == '{"high":5}'


def test_settled_offsets_are_saved_as_runs_and_the_older_list_form_still_reads() -> None:
    ledger = Ledger(10, 10)
    ledger.deliver_fresh(5_000)
    for offset in [*range(12, 4_000), 4_002]:
        ledger.settle(offset)
    assert ledger.to_json() == '{"high":5000,"runs":[[12,3999],[4002,4002]]}'
    back = Ledger.restore(10, ledger.to_json())
    assert back.settled == ledger.settled and back.is_open(11) and back.is_open(4_000)
    older = Ledger.restore(10, '{"high":20,"settled":[9,12,13]}')
    assert older.settled == {12, 13}


def test_the_parked_list_overrides_what_the_saved_ledger_says() -> None:
    ledger = Ledger.restore(2, '{"high":6,"counts":[[5,3]]}')
    ledger.take_parked({3, 5}, {1})
    assert ledger.floor == 3 and ledger.is_settled(5) and ledger.is_open(1)
    assert ledger.deliveries(4) == 1 and ledger.open_count() == 3  # 4, 6 and the re-driven 1
