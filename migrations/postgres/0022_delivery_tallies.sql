-- Issue 13: a send's progress without counting every copy.
--
-- The copies of an issue by state, as running tallies kept by triggers on
-- `deliveries`: whatever statement changes a copy's state (the recorder, a
-- cancel, a reader leaving, a suppression, an erasure's cascade) changes its
-- issue's tallies in the same transaction, so they are exact without any
-- caller knowing of them. Progress sums a handful of rows.
-- The states: queued (no attempt failed yet), retrying (queued again after a
-- temporary failure: queued with a reply), sent, failed, cancelled.
-- slot: each connection adds to the row of its own slot (its backend's pid,
-- modulo 8), so that two workers recording outcomes of one issue at once
-- seldom wait on each other's row lock. A slot's figures can go below zero
-- (a copy queued in one slot is sent in another); only an issue's sum over
-- slots means anything.
-- Copies are only ever inserted by the start of a send, which writes slot 0
-- with the issue's count in the same transaction.
CREATE TABLE delivery_tallies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    slot BIGINT NOT NULL,
    queued BIGINT NOT NULL DEFAULT 0,
    retrying BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX delivery_tallies_slot ON delivery_tallies (issue_id, slot);

-- Statement-level, with transition tables: one upsert a statement, however
-- many copies it changed (a row trigger would write the tally row once a
-- copy). PostgreSQL allows no column list with transition tables, so claims
-- fire it too; they change no state, and the join finds nothing to add.
CREATE FUNCTION deliveries_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_tallies AS t (issue_id, slot, queued, retrying, sent, failed, cancelled)
    SELECT n.issue_id, pg_backend_pid() % 8,
           SUM((n.status = 'queued' AND n.reply IS NULL)::int - (o.status = 'queued' AND o.reply IS NULL)::int),
           SUM((n.status = 'queued' AND n.reply IS NOT NULL)::int - (o.status = 'queued' AND o.reply IS NOT NULL)::int),
           SUM((n.status = 'sent')::int - (o.status = 'sent')::int),
           SUM((n.status = 'failed')::int - (o.status = 'failed')::int),
           SUM((n.status = 'cancelled')::int - (o.status = 'cancelled')::int)
    FROM new_copies n JOIN old_copies o ON o.id = n.id
    WHERE o.status IS DISTINCT FROM n.status
       OR (o.status = 'queued' AND (o.reply IS NULL) IS DISTINCT FROM (n.reply IS NULL))
    GROUP BY n.issue_id
    ORDER BY n.issue_id
    ON CONFLICT (issue_id, slot) DO UPDATE SET
        queued = t.queued + excluded.queued,
        retrying = t.retrying + excluded.retrying,
        sent = t.sent + excluded.sent,
        failed = t.failed + excluded.failed,
        cancelled = t.cancelled + excluded.cancelled;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_tally_update AFTER UPDATE ON deliveries
REFERENCING OLD TABLE AS old_copies NEW TABLE AS new_copies
FOR EACH STATEMENT EXECUTE FUNCTION deliveries_tally_update();

-- An erased reader's copies, or a deleted issue's, go (ON DELETE CASCADE
-- fires this too). An update, never an insert: when the issue itself is
-- being deleted, a new tally row would point at it.
CREATE FUNCTION deliveries_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE delivery_tallies AS t SET
        queued = t.queued - d.queued,
        retrying = t.retrying - d.retrying,
        sent = t.sent - d.sent,
        failed = t.failed - d.failed,
        cancelled = t.cancelled - d.cancelled
    FROM (SELECT issue_id,
                 COUNT(*) FILTER (WHERE status = 'queued' AND reply IS NULL) AS queued,
                 COUNT(*) FILTER (WHERE status = 'queued' AND reply IS NOT NULL) AS retrying,
                 COUNT(*) FILTER (WHERE status = 'sent') AS sent,
                 COUNT(*) FILTER (WHERE status = 'failed') AS failed,
                 COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled
          FROM old_copies GROUP BY issue_id) d
    WHERE t.issue_id = d.issue_id AND t.slot = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_tally_delete AFTER DELETE ON deliveries
REFERENCING OLD TABLE AS old_copies
FOR EACH STATEMENT EXECUTE FUNCTION deliveries_tally_delete();

-- Issues sent before this migration: their tallies from their copies.
INSERT INTO delivery_tallies (issue_id, slot, queued, retrying, sent, failed, cancelled)
SELECT issue_id, 0,
       COUNT(*) FILTER (WHERE status = 'queued' AND reply IS NULL),
       COUNT(*) FILTER (WHERE status = 'queued' AND reply IS NOT NULL),
       COUNT(*) FILTER (WHERE status = 'sent'),
       COUNT(*) FILTER (WHERE status = 'failed'),
       COUNT(*) FILTER (WHERE status = 'cancelled')
FROM deliveries
GROUP BY issue_id;
