-- Retention (storage.retention): the log's horizon, its oldest kept seq and the publish time of
-- the newest removed event, and each exchange's oldest kept offset. Both only move forward, and
-- the heads are read against them, so no seq or offset is given twice once the events are gone.
CREATE TABLE log_horizon (
    first_seq     INTEGER NOT NULL,
    removed_until INTEGER NOT NULL
);
INSERT INTO log_horizon (first_seq, removed_until) VALUES (1, 0);
ALTER TABLE exchanges ADD COLUMN first_kept INTEGER NOT NULL DEFAULT 1;
