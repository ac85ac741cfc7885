-- What several Herald processes on one database share besides the queue.

-- Every process that sends, with a heartbeat. The live ones divide
-- HERALD_SEND_CONCURRENCY among themselves, so the limit holds for the whole
-- deployment; a process whose heartbeat stops is forgotten.
CREATE TABLE senders (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

-- HERALD_SEND_RATE for the whole deployment: the moment (microseconds since
-- the epoch) from which the next message may go. Each process books a short
-- run of send times by moving it forward.
CREATE TABLE send_pacing (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    next_free_at BIGINT NOT NULL
);
INSERT INTO send_pacing (id, next_free_at) VALUES (1, 0);
