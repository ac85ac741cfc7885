-- Issue 14, item 5: segments, saved filters over the list. The filter is
-- structured JSON (src/segments/domain.rs), never SQL: Herald compiles it to
-- a parameterised predicate each time it counts or sends.
CREATE TABLE segments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    filter TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
