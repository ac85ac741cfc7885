-- Each bounce, complaint or automatic answer `herald bounces ingest` took in,
-- once: report_key is the report's Message-ID (or a hash of a message without
-- one) and unique, so a report delivered twice changes nothing the second
-- time. Soft bounces are counted from here. No address is kept: the reader
-- is the subscriber_id, and a report Herald could not attribute has none.
CREATE TABLE bounce_reports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_key TEXT NOT NULL UNIQUE,
    -- hard, soft, policy, delayed, auto-reply, complaint, or ignored (not attributed)
    class TEXT NOT NULL,
    subscriber_id BIGINT REFERENCES subscribers (id) ON DELETE SET NULL,
    -- The issue whose copy came back; none for signup mail or when unknown.
    issue_id BIGINT,
    -- The RFC 3463 code, 5.1.1.
    status TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX bounce_reports_subscriber ON bounce_reports (subscriber_id, received_at);
