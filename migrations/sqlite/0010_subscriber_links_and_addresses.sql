-- Issue 10, items 2 and 11: links that stay with their subscriber, and
-- addresses normalised once for all (see docs/security/subscribers.md).

-- A random value per subscriber that unsubscribe (and later preference) links
-- are made from: a link names its subscriber without revealing the id, and
-- never reaches a row that happens to get an id again. Herald fills it when it
-- inserts; the trigger fills it for any other insert. A migration that
-- rebuilds this table must recreate the trigger.
ALTER TABLE subscribers ADD COLUMN link_key TEXT;
UPDATE subscribers SET link_key = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX subscribers_link_key ON subscribers (link_key);
CREATE TRIGGER subscribers_link_key_filled AFTER INSERT ON subscribers
WHEN NEW.link_key IS NULL
BEGIN
    UPDATE subscribers SET link_key = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;

-- Links mailed before this migration carry the id in clear and an HMAC of it.
-- They keep working for the subscribers who existed then (1) and for no row
-- created afterwards (0), whatever id it gets.
ALTER TABLE subscribers ADD COLUMN legacy_links INTEGER NOT NULL DEFAULT 0;
UPDATE subscribers SET legacy_links = 1;

-- What the address normalisation found in rows stored before it, for an admin
-- to settle: look-alikes of another subscriber's address (kept apart, nothing
-- merged) and addresses it cannot read. Erasing the subscriber erases the row.
CREATE TABLE subscriber_address_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    other_subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
    email TEXT NOT NULL,
    problem TEXT NOT NULL,
    found_at INTEGER NOT NULL
);
CREATE INDEX subscriber_address_reports_subscriber ON subscriber_address_reports (subscriber_id);
CREATE INDEX subscriber_address_reports_other ON subscriber_address_reports (other_subscriber_id);

-- Steps SQL cannot do (IDNA), run by Herald right after the migrations, once:
-- a step's row is deleted in the transaction that does it.
CREATE TABLE upgrade_steps (
    name TEXT PRIMARY KEY
);
INSERT INTO upgrade_steps (name) VALUES ('normalise_subscriber_addresses');

-- Item 12: signups waiting for the background. The answer to a signup writes
-- one row here whatever the address's state; the signup desk does the rest
-- and deletes the row in the same transaction.
CREATE TABLE signup_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT,
    ip TEXT,
    user_agent TEXT,
    received_at INTEGER NOT NULL
);
