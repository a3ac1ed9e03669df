-- Event types with a JSON Schema for their payloads (router.contracts): every version of each
-- type pattern is kept; the highest is the one publishes are checked against.
CREATE TABLE type_schemas (
    pattern     text    NOT NULL,
    version     integer NOT NULL,
    schema      text    NOT NULL,
    mode        text    NOT NULL,
    description text    NOT NULL,
    owner       text    NOT NULL,
    created_at  bigint  NOT NULL,
    created_by  text    NOT NULL,
    PRIMARY KEY (pattern, version)
);
