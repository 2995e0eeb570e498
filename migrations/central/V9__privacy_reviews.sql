-- Wardbook central schema, version 9: the privacy office's review of
-- break-the-glass accesses (issue 17), and the lookups of its workspace.
--
-- A review records the finding (review_status justified or unjustified),
-- who made it (reviewed_by), when (reviewed_at) and why (review_note, the
-- privacy officer's free text: kept here, never logged). A review is final:
-- once an access is reviewed its row no longer changes, and no access is
-- ever deleted. The database enforces both (the service's grants already
-- lack DELETE; the triggers also stop a mistaken UPDATE or a TRUNCATE).

ALTER TABLE break_glass_accesses ADD COLUMN review_note text
    CHECK (length(btrim(review_note)) >= 1 AND length(review_note) <= 2000);

-- A reviewed access names its reviewer and says why. NOT VALID: a row
-- reviewed by hand before this version keeps what it has.
ALTER TABLE break_glass_accesses ADD CONSTRAINT break_glass_review_complete
    CHECK (review_status = 'pending' OR (reviewed_by IS NOT NULL AND review_note IS NOT NULL)) NOT VALID;

CREATE FUNCTION wardbook_review_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.review_status <> 'pending' THEN
        RAISE EXCEPTION 'break-the-glass access % is already reviewed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- What happened is a fact: only the review columns may be written.
    IF NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.device_id <> OLD.device_id
        OR NEW.patient_id <> OLD.patient_id OR NEW.reason <> OLD.reason
        OR NEW.started_at <> OLD.started_at OR NEW.expires_at <> OLD.expires_at THEN
        RAISE EXCEPTION 'a break-the-glass access is not changed, only reviewed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER break_glass_review_once BEFORE UPDATE ON break_glass_accesses
    FOR EACH ROW EXECUTE FUNCTION wardbook_review_once();
CREATE TRIGGER break_glass_no_delete BEFORE DELETE ON break_glass_accesses
    FOR EACH ROW EXECUTE FUNCTION wardbook_refuse_change();
CREATE TRIGGER break_glass_no_truncate BEFORE TRUNCATE ON break_glass_accesses
    FOR EACH STATEMENT EXECUTE FUNCTION wardbook_refuse_change();

-- The review queue newest-reviewed first, and each access's views: the
-- events of its clinician about its patient (audit_events_patient serves
-- the patient and time; the user is filtered from those few rows).
CREATE INDEX break_glass_reviewed ON break_glass_accesses (reviewed_at) WHERE review_status <> 'pending';

-- The access report says whether an event was recorded in a session that
-- began with an offline sign-in: the sessions that did, found by id.
CREATE INDEX audit_events_offline_sessions ON audit_events (session_id) WHERE subtype = 'login-offline';

-- Findings by workstation, newest first (the audit chain status).
CREATE INDEX security_findings_device ON security_findings (device_id, detected_at);
