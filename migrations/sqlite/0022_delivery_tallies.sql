-- Issue 13: a send's progress without counting every copy.
--
-- The copies of an issue by state, as running tallies kept by triggers on
-- `deliveries`: whatever statement changes a copy's state (the recorder, a
-- cancel, a reader leaving, a suppression, an erasure's cascade) changes its
-- issue's tally in the same statement, so the tally is exact and atomic
-- without any caller knowing of it. Progress reads one row.
-- The states: queued (no attempt failed yet), retrying (queued again after a
-- temporary failure: queued with a reply), sent, failed, cancelled.
-- Copies are only ever inserted by the start of a send, which writes the
-- issue's row with its count in the same transaction: an insert trigger
-- would add a million row updates to a million-reader snapshot.
-- slot: SQLite has one writer at a time, so each issue has one row, slot 0;
-- the PostgreSQL twin spreads an issue over a few slots so that two workers
-- seldom wait on one row's lock (the column is here so that `herald db copy`
-- carries the table over as it is).
CREATE TABLE delivery_tallies (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    slot INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL DEFAULT 0,
    retrying INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX delivery_tallies_slot ON delivery_tallies (issue_id, slot);

-- Fires only when a copy's state changes: a claim or a lease renewal
-- (next_attempt_at, attempts) never fires it, nor does a retry of a
-- retrying copy.
CREATE TRIGGER deliveries_tally_update AFTER UPDATE OF status, reply ON deliveries
WHEN OLD.status IS NOT NEW.status
  OR (OLD.status = 'queued' AND (OLD.reply IS NULL) IS NOT (NEW.reply IS NULL))
BEGIN
    UPDATE delivery_tallies SET
        queued = queued - (OLD.status = 'queued' AND OLD.reply IS NULL)
                        + (NEW.status = 'queued' AND NEW.reply IS NULL),
        retrying = retrying - (OLD.status = 'queued' AND OLD.reply IS NOT NULL)
                            + (NEW.status = 'queued' AND NEW.reply IS NOT NULL),
        sent = sent - (OLD.status = 'sent') + (NEW.status = 'sent'),
        failed = failed - (OLD.status = 'failed') + (NEW.status = 'failed'),
        cancelled = cancelled - (OLD.status = 'cancelled') + (NEW.status = 'cancelled')
    WHERE issue_id = NEW.issue_id AND slot = 0;
END;

-- An erased reader's copies go with them (ON DELETE CASCADE fires this too).
CREATE TRIGGER deliveries_tally_delete AFTER DELETE ON deliveries
BEGIN
    UPDATE delivery_tallies SET
        queued = queued - (OLD.status = 'queued' AND OLD.reply IS NULL),
        retrying = retrying - (OLD.status = 'queued' AND OLD.reply IS NOT NULL),
        sent = sent - (OLD.status = 'sent'),
        failed = failed - (OLD.status = 'failed'),
        cancelled = cancelled - (OLD.status = 'cancelled')
    WHERE issue_id = OLD.issue_id AND slot = 0;
END;

-- Issues sent before this migration: their tallies from their copies.
INSERT INTO delivery_tallies (issue_id, queued, retrying, sent, failed, cancelled)
SELECT issue_id,
       SUM(status = 'queued' AND reply IS NULL),
       SUM(status = 'queued' AND reply IS NOT NULL),
       SUM(status = 'sent'),
       SUM(status = 'failed'),
       SUM(status = 'cancelled')
FROM deliveries
GROUP BY issue_id;
