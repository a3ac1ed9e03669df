-- Grants per user (router.permissions), quotas, and who created each subscriber. Every stored
-- user keeps what its role let it do: publishers may publish every type, consumers consume every
-- exchange.
CREATE TABLE grants (
    user_name text    NOT NULL REFERENCES users (name),
    action    text    NOT NULL,
    pattern   text    NOT NULL,
    deny      boolean NOT NULL,
    PRIMARY KEY (user_name, action, pattern)
);
INSERT INTO grants SELECT name, 'publish', '#', false FROM users WHERE role = 'publisher';
INSERT INTO grants SELECT name, 'consume', '*', false FROM users WHERE role = 'consumer';
ALTER TABLE users ADD COLUMN quotas text NOT NULL DEFAULT '{}';
-- Who created each subscriber, for the quota of subscribers a user may create ('': not a user).
ALTER TABLE subscribers ADD COLUMN owner text NOT NULL DEFAULT '';
