-- Each event in parts (storage.sqlite, router.wire.whole): its id as 16 bytes, its type as the
-- number of a row of event_types, and the rest of its wire form as it is, the body. The 36
-- characters of the id and the type's text were 50 of the 265 bytes of a 200-byte event, and the
-- columns type and published_at repeated what the wire form holds. storage.sqlite fills
-- event_types and copies the events into events_in_parts, which then takes the name events.
CREATE TABLE event_types (
    id    INTEGER PRIMARY KEY,
    name  TEXT    NOT NULL UNIQUE,
    field BLOB    NOT NULL
);
CREATE TABLE events_in_parts (
    seq     INTEGER PRIMARY KEY,
    id      BLOB    NOT NULL,
    type_id INTEGER NOT NULL,
    body    BLOB    NOT NULL
);
-- The id indexes without published_at: the window's purge finds the first seq inside the window
-- and forgets the ids of the seqs before it.
CREATE TABLE ids_recent (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO ids_recent (id, seq) SELECT id, seq FROM event_ids_recent;
DROP TABLE event_ids_recent;
ALTER TABLE ids_recent RENAME TO event_ids_recent;
CREATE TABLE ids (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO ids (id, seq) SELECT id, seq FROM event_ids;
DROP TABLE event_ids;
ALTER TABLE ids RENAME TO event_ids;
CREATE TABLE ids_old (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO ids_old (id, seq) SELECT id, seq FROM event_ids_old;
DROP TABLE event_ids_old;
ALTER TABLE ids_old RENAME TO event_ids_old;
