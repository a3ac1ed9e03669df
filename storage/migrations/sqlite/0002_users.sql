-- Users and their tokens. A token is stored only as its SHA-256; ``id`` is its public
-- part, shown in listings and used to revoke it.
CREATE TABLE users (
    name       TEXT    PRIMARY KEY,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    user_name  TEXT    NOT NULL REFERENCES users (name),
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
