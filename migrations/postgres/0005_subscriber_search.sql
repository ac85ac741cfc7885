-- Searching the subscriber list. An address matches from its start: a range
-- scan over lower(email) in byte order (COLLATE "C"), whatever the database's
-- collation. A name matches word by word ("smi" finds "Ann Smith") through a
-- full-text index; the 'simple' configuration neither stems nor drops words.
CREATE INDEX subscribers_email_prefix ON subscribers ((lower(email)) COLLATE "C");
CREATE INDEX subscribers_name_words ON subscribers USING GIN (to_tsvector('simple', coalesce(name, '')));
