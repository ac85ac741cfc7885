-- Searching the subscriber list. An address matches from its start, through the
-- unique index on lower(email) (a range scan). A name matches word by word
-- ("smi" finds "Ann Smith") through this full-text index of names, which the
-- triggers below keep in step with the subscribers table; erasing a subscriber
-- takes their name out of it too.
CREATE VIRTUAL TABLE subscriber_names USING fts5(
    name,
    content = 'subscribers',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER subscriber_names_insert AFTER INSERT ON subscribers
WHEN new.name IS NOT NULL BEGIN
    INSERT INTO subscriber_names (rowid, name) VALUES (new.id, new.name);
END;

CREATE TRIGGER subscriber_names_delete AFTER DELETE ON subscribers
WHEN old.name IS NOT NULL BEGIN
    INSERT INTO subscriber_names (subscriber_names, rowid, name) VALUES ('delete', old.id, old.name);
END;

CREATE TRIGGER subscriber_names_update AFTER UPDATE OF name ON subscribers BEGIN
    INSERT INTO subscriber_names (subscriber_names, rowid, name)
        SELECT 'delete', old.id, old.name WHERE old.name IS NOT NULL;
    INSERT INTO subscriber_names (rowid, name)
        SELECT new.id, new.name WHERE new.name IS NOT NULL;
END;

-- Names of subscribers from before this migration.
INSERT INTO subscriber_names (subscriber_names) VALUES ('rebuild');
