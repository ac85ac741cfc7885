-- Subscribers, their consent evidence, confirmation tokens and the mail outbox.
-- Every *_at column holds Unix milliseconds.

CREATE TABLE subscribers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'bounced')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Addresses differ only by case reach the same inbox everywhere that matters.
CREATE UNIQUE INDEX subscribers_email_key ON subscribers (lower(email));
CREATE INDEX subscribers_status ON subscribers (status, id);

-- Consent evidence and history: who did what, when, from where.
CREATE TABLE subscriber_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX subscriber_events_subscriber ON subscriber_events (subscriber_id, at);

-- Only the SHA-256 of a token is kept.
CREATE TABLE confirmation_tokens (
    token_hash TEXT PRIMARY KEY,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX confirmation_tokens_subscriber ON confirmation_tokens (subscriber_id);

-- Mail to send, written in the transaction that makes it necessary.
-- token_seed lets the sender derive the confirmation link with the secret key;
-- it is erased once the mail is out.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    token_seed TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    sent_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, kind, created_at);
