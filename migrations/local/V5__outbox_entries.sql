-- One charting action can make several edits: a set of vitals is one
-- observation per vital sign, recorded together. `entry_id` groups them so
-- the status bar counts what the clinician did ("1 entry to upload"), while
-- the outbox still pushes one mutation per record. NULL: an entry of its own.
ALTER TABLE outbox ADD COLUMN entry_id TEXT;
