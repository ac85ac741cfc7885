-- Issue 12, pause guards and reports.

-- Why a send paused itself: the guard that tripped (bounce-rate or
-- complaint-rate) and the sentence editors read; both NULL when an editor
-- paused it or it never paused. The *_from columns are where each guard
-- starts counting: a resume over a guard's pause moves that guard's start to
-- the copies tried and reports counted at the resume, so the same rate does
-- not pause the send again; only a fresh 1,000 copies can.
ALTER TABLE issues ADD COLUMN pause_guard TEXT;
ALTER TABLE issues ADD COLUMN pause_reason TEXT;
ALTER TABLE issues ADD COLUMN bounce_guard_from_tried BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN bounce_guard_from_hard BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN complaint_guard_from_tried BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN complaint_guard_from_complaints BIGINT NOT NULL DEFAULT 0;

-- Reports and guards count the reports of one issue by class.
CREATE INDEX bounce_reports_issue ON bounce_reports (issue_id, class);
-- The policy bounces of the last 30 days, per receiving domain; /metrics.
CREATE INDEX bounce_reports_class ON bounce_reports (class, received_at);

-- Readers who left with the unsubscribe link of an issue's copy: the issue
-- the link came in. The reader's id goes when they are erased; the row stays
-- and counts under "(erased)".
CREATE TABLE issue_unsubscribes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    subscriber_id BIGINT REFERENCES subscribers (id) ON DELETE SET NULL,
    unsubscribed_at BIGINT NOT NULL
);
CREATE INDEX issue_unsubscribes_issue ON issue_unsubscribes (issue_id);
