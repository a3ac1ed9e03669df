-- A token may expire (0: never), and the router keeps, to the minute, when it was last used.
ALTER TABLE tokens ADD COLUMN expires_at bigint NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN last_used_at bigint NOT NULL DEFAULT 0;
