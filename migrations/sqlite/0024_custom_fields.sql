-- Issue 14, item 4: custom fields. Admins define typed fields; readers' values
-- live one row per (subscriber, field), typed, so that segments (item 5) can
-- filter on them with an index instead of parsing text.

-- AUTOINCREMENT: a queued signup names its fields by id, and must never
-- reach a field created after the one it filled in was deleted.
CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- What forms, the API and CSV headers name it by; fixed once values exist.
    field_key TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'yes_no', 'choice')),
    -- For `choice`: the choices, one a line, in the order the form shows them.
    choices TEXT NOT NULL,
    required INTEGER NOT NULL CHECK (required IN (0, 1)),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'internal')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One value of one field for one reader. Each kind has one column, the one
-- its filters compare on: text, choice and date (ISO 8601 `YYYY-MM-DD`, which
-- sorts as it reads) in `text_value`; number and yes/no (0 or 1) in
-- `number_value`. The two indexes lead with the field, so "field X = v",
-- "X > n" and "X before d" are each one range scan of one index, and a
-- count over a million readers reads only the matching entries.
CREATE TABLE subscriber_field_values (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    field_id INTEGER NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    text_value TEXT,
    number_value REAL,
    UNIQUE (subscriber_id, field_id)
);
CREATE INDEX subscriber_field_values_text ON subscriber_field_values (field_id, text_value);
CREATE INDEX subscriber_field_values_number ON subscriber_field_values (field_id, number_value);

-- The values a queued signup gave (JSON object: field id → value as typed and
-- checked); NULL: none.
ALTER TABLE signup_requests ADD COLUMN field_values TEXT;
