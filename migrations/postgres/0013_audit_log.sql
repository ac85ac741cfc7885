-- The audit log: who did what, when, from which address. Rows are only ever added.
CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    -- account, token, cli or visitor (a sign-in attempt by nobody known).
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('account', 'token', 'cli', 'visitor')),
    actor_id BIGINT,
    -- The account's address or the token's name at the time: kept when the
    -- account or token is gone.
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    ip TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_action ON audit_events (action, id);
