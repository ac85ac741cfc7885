-- The signatures of provider webhook calls already taken (Mailgun's token),
-- so that a captured call replayed is refused. Kept for twice the age past
-- which a call is refused as stale, then forgotten.
CREATE TABLE webhook_nonces (
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX webhook_nonces_received ON webhook_nonces (received_at);
