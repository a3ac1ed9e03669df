-- Settlement and sharing: a subscriber's settings and ledger (settled offsets above the cursor,
-- delivery counts), and the events it parked (references to the log, not copies).
ALTER TABLE subscribers ADD COLUMN settings text NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN ledger text NOT NULL DEFAULT '';
CREATE TABLE parked (
    queue_id   text    NOT NULL,
    name       text    NOT NULL,
    at_offset  bigint  NOT NULL,
    reason     text    NOT NULL,
    deliveries integer NOT NULL,
    parked_at  bigint  NOT NULL,
    redriving  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, name, at_offset)
);
