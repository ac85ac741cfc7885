-- Issues (the digests editors compose) and their ordered items.
-- status is one of draft, sending, sent; no CHECK constraint, because the
-- sending work adds states and SQLite cannot alter a CHECK in place.

CREATE TABLE issues (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject TEXT NOT NULL,
    preheader TEXT,
    intro TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX issues_status ON issues (status, sent_at);

-- position orders the items of an issue; a reorder rewrites them all in one
-- transaction, so they are not unique while it runs.
CREATE TABLE issue_items (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    source TEXT,
    -- YYYY-MM-DD
    published_on TEXT,
    summary TEXT
);
CREATE INDEX issue_items_issue ON issue_items (issue_id, position);
