"""The SQLite id index (storage.sqlite.ids): new ids gather in event_ids_recent, move to
event_ids, then one range at a time to event_ids_old; an id is found wherever it is."""

from __future__ import annotations

import itertools
import sqlite3
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import storage.sqlite.ids
from router.core.ids import uuid7
from router.core.model import NewEvent, StoredEvent
from storage import Storage, open_storage
from storage.sqlite import path_from_url
from storage.sqlite.ids import IdIndex, insert_ids, slice_bounds, stored_ids
from tests.storage.helpers import commit, event


def test_sqlite_ids_moved_to_the_older_index_still_find_their_duplicates(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite indexes new ids apart and moves them to event_ids every MERGE_IDS: an id is
    found as stored wherever it is, and the window's purge empties both."""
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 5)
    store = open_storage(sqlite_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    older, moved, recent = [event() for _ in range(4)], [event() for _ in range(3)], [event()]
    for events in (older, moved, recent):  # 4 wait, 7 are moved, 1 waits
        commit(store, events, [(every.id,)] * len(events))
    tables = sqlite3.connect(path_from_url(sqlite_url))
    count = "SELECT (SELECT count(*) FROM event_ids), (SELECT count(*) FROM event_ids_recent)"
    assert tables.execute(count).fetchone() == (7, 1)
    fresh = event()
    again = commit(store, [older[1], recent[0], fresh, moved[2]], [(every.id,)] * 4, now=2_000)
    assert [(o.seq, o.duplicate, o.offsets) for o in again.outcomes] == [
        (2, True, ((every.id, 2),)),
        (8, True, ((every.id, 8),)),
        (9, False, ((every.id, 9),)),
        (7, True, ((every.id, 7),)),
    ]
    assert tables.execute(count).fetchone() == (7, 2)
    only_moved = commit(store, [event(), moved[0]], [(every.id,)] * 2, now=2_000)
    assert [(o.seq, o.duplicate) for o in only_moved.outcomes] == [(10, False), (5, True)]
    assert tables.execute(count).fetchone() == (7, 3)
    assert store.purge_ids(1_500) == 8  # all but the two published at 2,000
    assert tables.execute(count).fetchone() == (0, 2)
    tables.close()
    store.close()
    reopened = open_storage(sqlite_url)  # counts what waits again: 2, then 5 with these
    result = commit(reopened, [older[0]] + [event() for _ in range(2)], [(every.id,)] * 3, 3_000)
    assert [o.duplicate for o in result.outcomes] == [False] * 3  # its key had expired
    tables = sqlite3.connect(path_from_url(sqlite_url))
    assert tables.execute(count).fetchone() == (5, 0)
    tables.close()
    reopened.close()


_ID_TABLES = ("event_ids_old", "event_ids", "event_ids_recent")


# Selects how many ids each of _ID_TABLES holds, in that order.
_ID_COUNTS = ", ".join(f"(SELECT count(*) FROM {t})" for t in _ID_TABLES)


def _store_and_its_tables(sqlite_url: str) -> tuple[Storage, sqlite3.Connection]:
    """A migrated SQLite store, and a connection of its own to read its tables."""
    store = open_storage(sqlite_url)
    store.migrate()
    return store, sqlite3.connect(path_from_url(sqlite_url))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=9), max_size=25),
    level=st.integers(1, 12),
    slices=st.integers(1, 5),
)
def test_sqlite_ids_in_three_indexes_are_stored_once_wherever_they_are(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[int]], level: int, slices: int
) -> None:
    """New ids gather in event_ids_recent, move to event_ids, and from there, one range at a
    time, to event_ids_old (tiny sizes here, so that every path runs): whatever table holds an
    id, publishing it again is a duplicate acked with its first seq, and it is in one table."""
    pool = [event() for _ in range(41)]
    url = f"sqlite:///{tmp_path_factory.mktemp('ids')}/ids.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage.sqlite.ids, "MERGE_IDS", 3)
        patch.setattr(storage.sqlite.ids, "LEVEL_IDS", level)
        patch.setattr(storage.sqlite.ids, "MOVE_SLICES", slices)
        store = open_storage(url)
        store.migrate()
        first_seq: dict[int, int] = {}
        for batch in batches:
            result = commit(store, [pool[n] for n in batch], [()] * len(batch))
            for n, outcome in zip(batch, result.outcomes, strict=True):
                if n in first_seq:
                    assert (outcome.seq, outcome.duplicate) == (first_seq[n], True)
                else:
                    assert not outcome.duplicate
                    first_seq[n] = outcome.seq
        store.close()
    tables = sqlite3.connect(path_from_url(url))
    held = [bytes(row[0]) for t in _ID_TABLES for row in tables.execute(f"SELECT id FROM {t}")]
    tables.close()
    assert sorted(held) == sorted(uuid.UUID(pool[n].id).bytes for n in first_seq)


def test_sqlite_event_ids_moves_into_the_old_index_one_range_per_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 4)
    monkeypatch.setattr(storage.sqlite.ids, "LEVEL_IDS", 8)
    monkeypatch.setattr(storage.sqlite.ids, "MOVE_SLICES", 4)
    store, tables = _store_and_its_tables(sqlite_url)
    published = [event() for _ in range(8)]
    commit(store, published[:4], [()] * 4)  # 4 gathered: moved to event_ids
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 4, 0)
    commit(store, published[4:], [()] * 4)  # 8 in event_ids: the first range moves on
    old, level, recent = tables.execute(f"SELECT {_ID_COUNTS}").fetchone()
    assert (old + level, recent) == (8, 0)
    in_first_range = tables.execute(
        "SELECT count(*) FROM event_ids_old WHERE id < x'4000'"
    ).fetchone()
    assert in_first_range == (old,)
    for _ in range(3):  # the three other ranges, one a commit
        commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 3)
    again = commit(store, published, [()] * 8)
    assert [(o.seq, o.duplicate) for o in again.outcomes] == [(n, True) for n in range(1, 9)]
    # The purge forgets event_ids_recent's 3 now; event_ids_old's 8 go FORGET_IDS at a time in
    # the commits that follow (in id order, touching neighbouring pages), and until then still
    # count as stored.
    assert store.purge_ids(2_000) == 3
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 0)
    assert commit(store, published[:1], [()], now=3_000).outcomes[0].duplicate
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 0, 0)
    for _ in range(2):  # 8 new ids in event_ids: a round of moves begins
        commit(store, [event() for _ in range(4)], [()] * 4, now=3_000)
    for _ in range(3):
        commit(store, [event()], [()], now=3_000)
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 3)
    # seqs 1-11 were published at 1,000 and forgotten; 12 is the first published at 3,000
    assert tables.execute("SELECT min(seq) FROM event_ids_old").fetchone() == (12,)
    assert not commit(store, published[:1], [()], now=3_000).outcomes[0].duplicate
    tables.close()
    store.close()


def test_sqlite_time_ordered_ids_move_a_bounded_number_a_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UUIDv7 ids share their first bytes, so all fall into one range of the moves: it moves
    MOVE_IDS a commit over several commits, and forgetting goes FORGET_IDS a commit."""
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 6)
    monkeypatch.setattr(storage.sqlite.ids, "LEVEL_IDS", 6)
    monkeypatch.setattr(storage.sqlite.ids, "MOVE_IDS", 2)
    monkeypatch.setattr(storage.sqlite.ids, "FORGET_IDS", 4)
    store, tables = _store_and_its_tables(sqlite_url)
    published = [NewEvent(uuid7(), "order.created", b"", ()) for _ in range(6)]
    commit(store, published, [()] * 6)  # merged, and the first 2 of the range moved
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (2, 4, 0)
    commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (4, 2, 1)
    commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (6, 0, 2)
    assert all(o.duplicate for o in commit(store, published, [()] * 6).outcomes)
    assert store.purge_ids(2_000) == 2  # event_ids_recent's two
    commit(store, [event()], [()], now=3_000)  # the first four of event_ids_old forgotten
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (2, 0, 1)
    commit(store, [event()], [()], now=3_000)
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 0, 2)
    assert not any(o.duplicate for o in commit(store, published, [()] * 6, now=3_000).outcomes)
    tables.close()
    store.close()


def test_the_slices_cover_every_id_once_in_order() -> None:
    bounds = [slice_bounds(k) for k in range(storage.sqlite.ids.MOVE_SLICES)]
    assert bounds[0][0] == b"\x00\x00"
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(bounds))
    assert bounds[-1][1] > b"\xff" * 16


def test_an_id_stored_refuses_the_insert_and_leaves_nothing_behind(sqlite_url: str) -> None:
    store, tables = _store_and_its_tables(sqlite_url)
    store.close()
    tables.isolation_level = None
    first = [StoredEvent(n, str(uuid.uuid4()), "t", b"", (), 1) for n in (1, 2)]
    raw = {e.id: uuid.UUID(e.id).bytes for e in first}
    assert insert_ids(tables, first, raw) == b"".join(raw.values())
    tables.execute("INSERT INTO event_ids SELECT id, seq FROM event_ids_recent")
    tables.execute("DELETE FROM event_ids_recent")
    again = [StoredEvent(3, str(uuid.uuid4()), "t", b"", (), 2), first[1]]
    again = [StoredEvent(3 + n, e.id, "t", b"", (), 2) for n, e in enumerate(again)]
    raw.update({e.id: uuid.UUID(e.id).bytes for e in again})
    with pytest.raises(sqlite3.IntegrityError):
        insert_ids(tables, again, raw)
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 2, 0)
    assert stored_ids(tables, list(raw.values())) == {first[0].id: 1, first[1].id: 2}
    tables.close()


def test_the_counts_are_kept_only_once_a_commit_went_through(sqlite_url: str) -> None:
    store, tables = _store_and_its_tables(sqlite_url)
    store.close()
    index = IdIndex()
    assert index.waiting(tables) == 0
    moves = index.tidy(tables, 3)
    assert (index.recent, index.slice) == (0, None)  # not adopted yet
    index.adopt(moves)
    assert (index.recent, index.level, index.slice, index.forget_after) == (3, 0, None, None)
    index.purged(7)
    assert (index.recent, index.level, index.forget_before, index.forget_after) == (
        None,
        None,
        7,
        b"",
    )
    tables.close()
