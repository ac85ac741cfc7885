-- Server-side admin sessions and API token owners.
--
-- Ids never repeat here already: every id column is GENERATED ALWAYS AS
-- IDENTITY, a sequence that hands out each value once, whatever is deleted.
-- (SQLite's 0009 rebuilds its tables with AUTOINCREMENT for the same promise.)

-- The account that made the token; both NULL for tokens made before owners
-- were recorded. The address stays when the account goes.
ALTER TABLE api_tokens ADD COLUMN owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE api_tokens ADD COLUMN owner_email TEXT;
CREATE INDEX api_tokens_owner ON api_tokens (owner_id);

-- Signed-in admin sessions. The cookie carries a random key; only its SHA-256
-- is kept. Signing out deletes the row, and so do a password change, a
-- disable, "sign out everywhere" and removing the account.
CREATE TABLE admin_sessions (
    key_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
