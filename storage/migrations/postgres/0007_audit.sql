-- The audit trail: every admin change, who made it, when and from where (router.audit).
CREATE TABLE audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        bigint NOT NULL,
    user_name text   NOT NULL,
    action    text   NOT NULL,
    target    text   NOT NULL,
    source    text   NOT NULL,
    detail    text   NOT NULL
);
CREATE INDEX audit_at ON audit (at);
