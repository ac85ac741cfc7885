-- A claim marks its copies with claimed_until (the lease's end) instead of
-- moving next_attempt_at. next_attempt_at is in the queue index and a claim
-- that moved it wrote a new entry into every index of the table for each
-- copy; claimed_until is in none, so the claim is a HOT update, which needs
-- room on the row's page for its new version: a page is filled to half when
-- a send queues its copies, leaving room for the claim's version and the
-- outcome's. Pages written before this migration keep their fill.
ALTER TABLE deliveries ADD COLUMN claimed_until BIGINT;
ALTER TABLE deliveries SET (fillfactor = 50);
