-- Issue 13: a send's progress without counting every copy.
--
-- The copies of an issue by state, as running tallies: every statement that
-- adds, changes or deletes delivery rows adds its net change here, in its own
-- transaction, and progress is the sum of an issue's rows. Each process
-- writes rows of its own (writer: a key drawn at process start), so two
-- processes sending one issue never wait on each other's tally row; a
-- process's rows stay after it ends and keep counting in the sum.
-- status: queued (no attempt failed yet), retrying (queued again after a
-- temporary failure: queued with a reply), sent, failed, cancelled. A
-- tally can go below zero (a copy queued under one writer and sent under
-- another); only the sum over writers means anything.
CREATE TABLE delivery_tallies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    writer TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'retrying', 'sent', 'failed', 'cancelled')),
    n BIGINT NOT NULL
);
CREATE UNIQUE INDEX delivery_tallies_key ON delivery_tallies (issue_id, writer, status);

-- The sending rate counts the copies sent in the last seconds; only sent
-- copies have a sent_at, so only they are in the index.
CREATE INDEX deliveries_sent ON deliveries (issue_id, sent_at) WHERE sent_at IS NOT NULL;

-- Issues sent before this migration: their tallies from their copies.
INSERT INTO delivery_tallies (issue_id, writer, status, n)
SELECT issue_id, 'upgrade',
       CASE WHEN status = 'queued' AND reply IS NOT NULL THEN 'retrying' ELSE status END,
       COUNT(*)
FROM deliveries
GROUP BY issue_id, CASE WHEN status = 'queued' AND reply IS NOT NULL THEN 'retrying' ELSE status END;
