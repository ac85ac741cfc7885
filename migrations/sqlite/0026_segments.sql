-- Issue 14, item 5: segments, saved filters over the list. The filter is
-- structured JSON (src/segments/domain.rs), never SQL: Herald compiles it to
-- a parameterised predicate each time it counts or sends.
-- AUTOINCREMENT: a send that names a segment by id must never reach one
-- created after it was deleted.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    filter TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
