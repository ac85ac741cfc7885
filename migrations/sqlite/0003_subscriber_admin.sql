-- Erasing a subscriber (GDPR) deletes the row and its personal data; only how
-- many were erased each day is kept.
CREATE TABLE erasure_counts (
    day INTEGER PRIMARY KEY,
    erased INTEGER NOT NULL
);

-- Free text kept with an event, e.g. who vouched for the consent of imported rows.
ALTER TABLE subscriber_events ADD COLUMN note TEXT;

-- Keyset pagination and search on the subscriber list.
CREATE INDEX subscribers_created ON subscribers (created_at, id);
