-- Users and their tokens. A token is stored only as its SHA-256; ``id`` is its public
-- part, shown in listings and used to revoke it.
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
