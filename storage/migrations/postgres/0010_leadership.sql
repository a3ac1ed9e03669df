-- Leadership among routers sharing this database (storage.leadership, docs/adr/0017). One row:
-- the epoch (raised by each takeover), who leads, where clients reach it, the backend that
-- holds the leader's advisory lock (its writer connection) and when its lease ends, by this
-- server's clock. Epoch 0 is "nobody has led yet".
CREATE TABLE router_leader (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch        bigint NOT NULL,
    name         text NOT NULL,
    grpc_address text NOT NULL,
    http_address text NOT NULL,
    backend_pid  integer NOT NULL,
    lease_until  timestamptz NOT NULL,
    since        timestamptz NOT NULL
);
INSERT INTO router_leader (epoch, name, grpc_address, http_address, backend_pid, lease_until, since)
VALUES (0, '', '', '', 0, to_timestamp(0), now());
-- Every epoch and the one router that led it: a takeover inserts here in the transaction that
-- raises the epoch, so two writers of one epoch cannot both be recorded.
CREATE TABLE router_epochs (
    epoch   bigint PRIMARY KEY,
    name    text NOT NULL,
    began   timestamptz NOT NULL DEFAULT now()
);
-- The routers that lead or stand by, as each last said (router info lists those seen lately).
CREATE TABLE router_nodes (
    name         text PRIMARY KEY,
    grpc_address text NOT NULL,
    http_address text NOT NULL,
    is_leader    boolean NOT NULL,
    seen         timestamptz NOT NULL
);
