-- The possible-double-dose check runs for every census and every status-bar
-- refresh (issue 18). Without these it read every dose's row, body and all:
-- over a second on a cache of 10,000 patients. With them it reads only
-- index entries: the given doses of scheduled orders grouped by due time,
-- and the PRN orders (few) with their given doses in order.
CREATE INDEX medication_administrations_given_by_due
    ON medication_administrations (request_id, due_at, patient_id, status, deleted)
    WHERE status = 'completed' AND deleted = 0 AND due_at IS NOT NULL;
CREATE INDEX medication_administrations_given_in_order
    ON medication_administrations (request_id, given_at, id, patient_id, status, deleted)
    WHERE status = 'completed' AND deleted = 0;
CREATE INDEX medication_requests_prn
    ON medication_requests (id, prn_min_interval_minutes)
    WHERE prn_min_interval_minutes IS NOT NULL;
