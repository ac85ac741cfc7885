-- The delivery queue of issue sends: one row per (issue, subscriber), written
-- in the transaction that moves the issue from draft to sending.
-- status: queued (waiting, or waiting to retry), sent, failed, cancelled.
-- next_attempt_at: not before; a claim moves it past the claim's lease, so a
-- claimed row is invisible to other workers until the lease runs out.
-- failure: why a failed row failed: permanent (5xx), expired (gave up
-- retrying) or undeliverable (the address or subscriber no longer fit).
-- Erasing a subscriber deletes their rows with them.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
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
CREATE UNIQUE INDEX deliveries_issue_subscriber ON deliveries (issue_id, subscriber_id);
CREATE INDEX deliveries_due ON deliveries (issue_id, next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id, issue_id);

-- When a send started and ended, and who pressed Send.
ALTER TABLE issues ADD COLUMN send_started_at INTEGER;
ALTER TABLE issues ADD COLUMN sent_by TEXT;
