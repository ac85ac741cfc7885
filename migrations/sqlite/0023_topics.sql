-- Issue 14, item 1: topics. A reader is subscribed to topics; a signup picks
-- public ones (or gets the ones on by default). Until an admin adds a second
-- topic, the one made here is the whole list, so nothing anyone sees changes.

-- AUTOINCREMENT: a queued signup names its topics by id, and must never
-- reach a topic created after the one it chose was deleted.
CREATE TABLE topics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    -- 1: a signup that chooses no topic joins this one.
    on_by_default INTEGER NOT NULL CHECK (on_by_default IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO topics (slug, name, description, visibility, on_by_default, created_at, updated_at)
VALUES ('newsletter', 'Newsletter', '', 'public', 1,
        CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- Who is in which topic, since when, and how they came in. A membership is
-- in effect while its subscriber is confirmed: a pending reader's topics are
-- the ones their confirmation will cover.
CREATE TABLE subscriber_topics (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    topic_id INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('signup', 'import', 'admin', 'upgrade')),
    UNIQUE (subscriber_id, topic_id)
);
CREATE INDEX subscriber_topics_topic ON subscriber_topics (topic_id, subscriber_id);

-- Every subscriber, whatever their status, is in the one topic there is.
INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source)
SELECT s.id, t.id, s.created_at, 'upgrade' FROM subscribers s CROSS JOIN topics t;

-- The topics an event covers (their slugs then, space-separated), so the
-- consent evidence names what was agreed to even after a topic is renamed.
ALTER TABLE subscriber_events ADD COLUMN topics TEXT;

-- The topics a queued signup chose (ids, space-separated); NULL: none chosen.
ALTER TABLE signup_requests ADD COLUMN topic_ids TEXT;

-- Item 2: the topics an issue goes to. A send takes the confirmed readers in
-- any of them, one copy each. A topic that issues went to is kept (no
-- cascade): the record of who was meant to get what stays whole.
CREATE TABLE issue_topics (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    topic_id INTEGER NOT NULL REFERENCES topics (id),
    UNIQUE (issue_id, topic_id)
);
CREATE INDEX issue_topics_topic ON issue_topics (topic_id);

-- Every issue so far went to the whole list: the one topic there is.
INSERT INTO issue_topics (issue_id, topic_id) SELECT i.id, t.id FROM issues i CROSS JOIN topics t;
