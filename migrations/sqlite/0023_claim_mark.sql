-- A claim marks its copies with claimed_until (the lease's end) instead of
-- moving next_attempt_at, which is in the queue index: the claim then
-- rewrites no index entry. (On PostgreSQL it is also a HOT update.)
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
