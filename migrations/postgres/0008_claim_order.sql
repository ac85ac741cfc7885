-- Claims take due copies in (next_attempt_at, id) order. A whole send is
-- queued with one next_attempt_at, so an index without id left every claim
-- to sort all the queued copies of the issue to find the first 256; on
-- PostgreSQL, FOR UPDATE even kept that sort from stopping early.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (issue_id, next_attempt_at, id) WHERE status = 'queued';
