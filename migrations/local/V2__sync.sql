-- Wardbook local cache, schema 2: the sync engine's bookkeeping.

-- The row as it was before a pending edit (NULL for a new row): a rejected
-- edit restores it, so the cache never shows what the server refused.
ALTER TABLE outbox ADD COLUMN prior_json TEXT;

-- Audit upload: the highest sequence the server has acknowledged, and the
-- newest event removed after the retention period (its hash anchors the
-- chain that remains).
CREATE TABLE audit_upload (
    singleton               INTEGER PRIMARY KEY CHECK (singleton = 1),
    acknowledged_sequence   INTEGER NOT NULL DEFAULT 0,
    pruned_through_sequence INTEGER NOT NULL DEFAULT 0,
    pruned_through_hash     TEXT NOT NULL
);
INSERT INTO audit_upload (singleton, pruned_through_hash)
VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000');

-- The one delete path: an event the server has acknowledged, never the
-- newest (the next event links to it). The retention period is checked by
-- the caller; this trigger makes an unacknowledged event impossible to lose.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.sequence > (SELECT acknowledged_sequence FROM audit_upload WHERE singleton = 1)
  OR OLD.sequence >= (SELECT max(sequence) FROM audit_events)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only until the server has acknowledged them');
END;

-- The acknowledgement only moves forward.
CREATE TRIGGER audit_upload_forward BEFORE UPDATE ON audit_upload
WHEN NEW.acknowledged_sequence < OLD.acknowledged_sequence
  OR NEW.pruned_through_sequence < OLD.pruned_through_sequence
BEGIN
    SELECT RAISE(ABORT, 'the audit acknowledgement only moves forward');
END;

-- Patients that left this device's scope while they still had edits to
-- push: purged once those edits are settled.
CREATE TABLE pending_purges (
    patient_id TEXT PRIMARY KEY,
    since      TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX outbox_by_entity ON outbox (entity_id, created_at);
