-- Event types with a JSON Schema for their payloads (router.contracts): every version of each
-- type pattern is kept; the highest is the one publishes are checked against.
CREATE TABLE type_schemas (
    pattern     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    schema      TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    PRIMARY KEY (pattern, version)
);
