-- New events' ids go here first, and are moved into event_ids some tens of thousands at a time
-- (storage.sqlite.MERGE_IDS): a random id touches a random page of its index, and SQLite writes
-- every page a transaction touched to its log, so inserting into one growing index rewrote most
-- of it at every commit. Same columns as event_ids; an id is in one of the two.
CREATE TABLE event_ids_recent (
    id           BLOB    PRIMARY KEY,
    seq          INTEGER NOT NULL,
    published_at INTEGER NOT NULL
) WITHOUT ROWID;
