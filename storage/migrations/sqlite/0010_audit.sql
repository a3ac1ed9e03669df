-- The audit trail: every admin change, who made it, when and from where (router.audit).
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    user_name TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at);
