-- The event log, stored once; seq is the global position.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    id           BLOB    NOT NULL,
    type         TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    headers      TEXT    NOT NULL,
    published_at INTEGER NOT NULL
);
-- Idempotency keys, kept for the configured window (see docs/adr/0003).
CREATE TABLE event_ids (
    id           BLOB    PRIMARY KEY,
    seq          INTEGER NOT NULL,
    published_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE exchanges (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    patterns   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
-- An exchange's dense numbering of the log: offset -> seq.
CREATE TABLE exchange_log (
    exchange_id     INTEGER NOT NULL,
    exchange_offset INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (exchange_id, exchange_offset)
) WITHOUT ROWID;
CREATE TABLE queues (
    id          TEXT    PRIMARY KEY,
    exchange_id INTEGER NOT NULL,
    config      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE subscribers (
    queue_id   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    acked      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (queue_id, name)
) WITHOUT ROWID;
