-- A route node's own tables, in its schema route_<node>. The event log (events) is the ingest
-- node's: not created here, found further along the search path, read only.
CREATE TABLE route_position (
    last_seq     bigint NOT NULL,  -- the last seq of the ingest node's log routed here
    published_at bigint NOT NULL
);
INSERT INTO route_position VALUES (0, 0);
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
CREATE TABLE users (
    name       text   PRIMARY KEY,
    role       text   NOT NULL,
    created_at bigint NOT NULL
);
CREATE TABLE tokens (
    id         text   PRIMARY KEY,
    user_name  text   NOT NULL REFERENCES users (name),
    hash       text   NOT NULL UNIQUE,
    created_at bigint NOT NULL
);
