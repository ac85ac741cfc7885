-- Test sends: who sent which issue to whom and when. The limit on test sends
-- per account and per API token counts these rows, and the audit log reads
-- them. No foreign keys: the record outlives the issue, the account or the
-- token it names. An identity column never hands out an id twice.
CREATE TABLE test_sends (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id BIGINT NOT NULL,
    -- Exactly one of the two: the signed-in account, or the API token.
    user_id BIGINT,
    api_token_id BIGINT,
    recipient TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (api_token_id IS NULL))
);
CREATE INDEX test_sends_by_user ON test_sends (user_id, sent_at);
CREATE INDEX test_sends_by_token ON test_sends (api_token_id, sent_at);

-- The intro and the summaries rendered from Markdown (sanitised HTML and
-- plain text) when they are saved, so that pages, the feed and previews never
-- parse and sanitise them again. NULL: not rendered yet (rows written before
-- this migration); the first reader renders and stores them. A release whose
-- renderer changes their output sets them back to NULL in a migration.
ALTER TABLE issues ADD COLUMN intro_html TEXT;
ALTER TABLE issues ADD COLUMN intro_text TEXT;
ALTER TABLE issue_items ADD COLUMN summary_html TEXT;
ALTER TABLE issue_items ADD COLUMN summary_text TEXT;
