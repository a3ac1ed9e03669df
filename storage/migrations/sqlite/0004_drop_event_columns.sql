-- The payload and headers live in the wire form now (0003).
ALTER TABLE events DROP COLUMN payload;
ALTER TABLE events DROP COLUMN headers;
