-- A route node's exchanges have an oldest kept offset too (storage.retention); its log is the
-- ingest node's, whose horizon (log_horizon) it reads further along the search path.
ALTER TABLE exchanges ADD COLUMN first_kept bigint NOT NULL DEFAULT 1;
