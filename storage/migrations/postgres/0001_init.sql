-- The event log, stored once, partitioned by day of published_at (microseconds since the epoch)
-- so that retention is DROP of a partition. Partitions are created ahead by the writer.
CREATE TABLE events (
    seq          bigint NOT NULL,
    id           uuid   NOT NULL,
    type         text   NOT NULL,
    payload      bytea  NOT NULL,
    headers      text   NOT NULL,
    published_at bigint NOT NULL,
    PRIMARY KEY (seq, published_at)
) PARTITION BY RANGE (published_at);
-- Idempotency keys, kept for the configured window (see docs/adr/0003). Not partitioned, so the
-- uniqueness of id holds across partitions.
CREATE TABLE event_ids (
    id           uuid   PRIMARY KEY,
    seq          bigint NOT NULL,
    published_at bigint NOT NULL
);
CREATE INDEX event_ids_published_at ON event_ids (published_at);
CREATE TABLE exchanges (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text   NOT NULL UNIQUE,
    patterns   text   NOT NULL,
    created_at bigint NOT NULL
);
CREATE TABLE exchange_log (
    exchange_id     bigint NOT NULL,
    exchange_offset bigint NOT NULL,
    seq             bigint NOT NULL,
    PRIMARY KEY (exchange_id, exchange_offset)
);
CREATE TABLE queues (
    id          text   PRIMARY KEY,
    exchange_id bigint NOT NULL,
    config      text   NOT NULL,
    created_at  bigint NOT NULL
);
CREATE TABLE subscribers (
    queue_id   text   NOT NULL,
    name       text   NOT NULL,
    acked      bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (queue_id, name)
);
