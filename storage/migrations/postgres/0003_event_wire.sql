-- Each event's wire form: its router.v1.Event message, serialized once when it is committed,
-- which replay sends as it is (see router/wire.py). The store fills it for the rows already
-- there from payload and headers (storage.base.wire_from_columns) before 0004 drops them.
ALTER TABLE events ADD COLUMN wire bytea;
