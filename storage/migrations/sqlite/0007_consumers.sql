-- Settlement and sharing: a subscriber's settings and ledger (settled offsets above the cursor,
-- delivery counts), and the events it parked (references to the log, not copies).
ALTER TABLE subscribers ADD COLUMN settings TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN ledger TEXT NOT NULL DEFAULT '';
CREATE TABLE parked (
    queue_id   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    at_offset  INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    deliveries INTEGER NOT NULL,
    parked_at  INTEGER NOT NULL,
    redriving  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, name, at_offset)
) WITHOUT ROWID;
