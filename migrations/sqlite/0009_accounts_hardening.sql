-- Ids that never repeat, server-side admin sessions and API token owners.
--
-- A table declared `INTEGER PRIMARY KEY` hands the highest id out again once
-- its row is deleted, and an id reused is an old session, link or token that
-- reaches someone else. AUTOINCREMENT never reuses one, but SQLite cannot add
-- it in place: the tables whose ids appear in URLs, cookies or tokens (users,
-- subscribers, issues, issue_items, api_tokens) are rebuilt with every row,
-- index, trigger and foreign key.
--
-- sqlx runs every SQLite migration inside a transaction with foreign keys on,
-- where `PRAGMA foreign_keys = OFF` does nothing; dropping a parent table
-- would then cascade-delete its children's rows. So the children are rebuilt
-- too: the new children refer to the new parents, the old children go first,
-- then the old parents (nothing refers to them any more, so nothing cascades
-- and no trigger fires), and renaming a new parent to its final name carries
-- its children's REFERENCES along.

CREATE TABLE users_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    password_hash TEXT NOT NULL,
    disabled_at INTEGER,
    -- Kept from before server-side sessions; sessions are admin_sessions rows now.
    session_epoch INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO users_new (id, email, role, password_hash, disabled_at, session_epoch, created_at, updated_at)
    SELECT id, email, role, password_hash, disabled_at, session_epoch, created_at, updated_at FROM users;

-- owner_id/owner_email: the account that made the token; both NULL for tokens
-- made before owners were recorded. The address stays when the account goes.
CREATE TABLE api_tokens_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER,
    owner_id INTEGER REFERENCES users_new (id) ON DELETE SET NULL,
    owner_email TEXT
);
INSERT INTO api_tokens_new (id, name, role, token_hash, created_at, last_used_at, revoked_at)
    SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens;

CREATE TABLE subscribers_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'bounced')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO subscribers_new (id, email, name, status, created_at, updated_at)
    SELECT id, email, name, status, created_at, updated_at FROM subscribers;

CREATE TABLE issues_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    preheader TEXT,
    intro TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER,
    send_started_at INTEGER,
    sent_by TEXT
);
INSERT INTO issues_new (id, subject, preheader, intro, status, created_at, updated_at, sent_at, send_started_at, sent_by)
    SELECT id, subject, preheader, intro, status, created_at, updated_at, sent_at, send_started_at, sent_by FROM issues;

CREATE TABLE subscriber_events_new (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers_new (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    ip TEXT,
    user_agent TEXT,
    note TEXT
);
INSERT INTO subscriber_events_new (id, subscriber_id, kind, at, ip, user_agent, note)
    SELECT id, subscriber_id, kind, at, ip, user_agent, note FROM subscriber_events;

CREATE TABLE confirmation_tokens_new (
    token_hash TEXT PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers_new (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
INSERT INTO confirmation_tokens_new (token_hash, subscriber_id, created_at, expires_at, used_at)
    SELECT token_hash, subscriber_id, created_at, expires_at, used_at FROM confirmation_tokens;

CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers_new (id) ON DELETE CASCADE,
    token_seed TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER,
    sent_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
);
INSERT INTO outbox_new (id, kind, subscriber_id, token_seed, created_at, expires_at, attempts,
                        next_attempt_at, claimed_until, sent_at, failed_at, last_error)
    SELECT id, kind, subscriber_id, token_seed, created_at, expires_at, attempts,
           next_attempt_at, claimed_until, sent_at, failed_at, last_error FROM outbox;

CREATE TABLE issue_items_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id INTEGER NOT NULL REFERENCES issues_new (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    source TEXT,
    -- YYYY-MM-DD
    published_on TEXT,
    summary TEXT
);
INSERT INTO issue_items_new (id, issue_id, position, title, url, source, published_on, summary)
    SELECT id, issue_id, position, title, url, source, published_on, summary FROM issue_items;

CREATE TABLE deliveries_new (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues_new (id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers_new (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'cancelled')),
    queued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    failed_at INTEGER,
    failure TEXT,
    -- The mail server's reply when it took the message; the error otherwise.
    reply TEXT
);
INSERT INTO deliveries_new (id, issue_id, subscriber_id, status, queued_at, attempts,
                            next_attempt_at, sent_at, failed_at, failure, reply)
    SELECT id, issue_id, subscriber_id, status, queued_at, attempts,
           next_attempt_at, sent_at, failed_at, failure, reply FROM deliveries;

-- Children first: dropping them cascades nowhere. Then the parents, which no
-- table refers to any more. A dropped table takes its indexes and triggers.
DROP TABLE deliveries;
DROP TABLE issue_items;
DROP TABLE outbox;
DROP TABLE confirmation_tokens;
DROP TABLE subscriber_events;
DROP TABLE issues;
DROP TABLE subscribers;
DROP TABLE api_tokens;
DROP TABLE users;

ALTER TABLE users_new RENAME TO users;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
ALTER TABLE subscribers_new RENAME TO subscribers;
ALTER TABLE issues_new RENAME TO issues;
ALTER TABLE subscriber_events_new RENAME TO subscriber_events;
ALTER TABLE confirmation_tokens_new RENAME TO confirmation_tokens;
ALTER TABLE outbox_new RENAME TO outbox;
ALTER TABLE issue_items_new RENAME TO issue_items;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX api_tokens_owner ON api_tokens (owner_id);
CREATE UNIQUE INDEX subscribers_email_key ON subscribers (lower(email));
CREATE INDEX subscribers_status ON subscribers (status, id);
CREATE INDEX subscribers_created ON subscribers (created_at, id);
CREATE INDEX issues_status ON issues (status, sent_at);
CREATE INDEX subscriber_events_subscriber ON subscriber_events (subscriber_id, at);
CREATE INDEX confirmation_tokens_subscriber ON confirmation_tokens (subscriber_id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, kind, created_at);
CREATE INDEX issue_items_issue ON issue_items (issue_id, position);
CREATE UNIQUE INDEX deliveries_issue_subscriber ON deliveries (issue_id, subscriber_id);
CREATE INDEX deliveries_due ON deliveries (issue_id, next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id, issue_id);

-- The name index (0005) keeps its rows: the subscribers kept their ids.
CREATE TRIGGER subscriber_names_insert AFTER INSERT ON subscribers
WHEN new.name IS NOT NULL BEGIN
    INSERT INTO subscriber_names (rowid, name) VALUES (new.id, new.name);
END;

CREATE TRIGGER subscriber_names_delete AFTER DELETE ON subscribers
WHEN old.name IS NOT NULL BEGIN
    INSERT INTO subscriber_names (subscriber_names, rowid, name) VALUES ('delete', old.id, old.name);
END;

CREATE TRIGGER subscriber_names_update AFTER UPDATE OF name ON subscribers BEGIN
    INSERT INTO subscriber_names (subscriber_names, rowid, name)
        SELECT 'delete', old.id, old.name WHERE old.name IS NOT NULL;
    INSERT INTO subscriber_names (rowid, name)
        SELECT new.id, new.name WHERE new.name IS NOT NULL;
END;

-- Signed-in admin sessions. The cookie carries a random key; only its SHA-256
-- is kept. Signing out deletes the row, and so do a password change, a
-- disable, "sign out everywhere" and removing the account.
CREATE TABLE admin_sessions (
    key_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
