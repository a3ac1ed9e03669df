-- Who published the events: one row per commit that has named publishers, with the runs of
-- seqs each was given ([[first, last, user], ...] as JSON), so that an id one user published is
-- not acknowledged to another as its duplicate. Kept as long as the ids are (the idempotency
-- window); none for events published with auth off or by a bridge.
CREATE TABLE event_publishers (
    first_seq    bigint PRIMARY KEY,
    last_seq     bigint NOT NULL,
    runs         text   NOT NULL,
    published_at bigint NOT NULL
);
CREATE INDEX event_publishers_published_at ON event_publishers (published_at);
