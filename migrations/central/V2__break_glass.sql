-- Wardbook central schema, version 2: break-the-glass (DESIGN.md section 8).
--
-- Each emergency access of a clinician to a patient outside the
-- workstation's scope is one row, flagged for the privacy office's review
-- (`review_status` 'pending' until someone reviews it). The reason is the
-- clinician's free text: it is kept here for the review and never logged.

CREATE TABLE break_glass_accesses (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    device_id uuid NOT NULL REFERENCES devices (id),
    patient_id uuid NOT NULL REFERENCES patients (id),
    reason text NOT NULL CHECK (length(btrim(reason)) >= 10 AND length(reason) <= 500),
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    review_status text NOT NULL DEFAULT 'pending' CHECK (review_status IN ('pending', 'justified', 'unjustified')),
    reviewed_by uuid REFERENCES users (id),
    reviewed_at timestamptz,
    CHECK (expires_at > started_at),
    CHECK ((review_status = 'pending') = (reviewed_at IS NULL))
);
CREATE INDEX break_glass_pending ON break_glass_accesses (started_at) WHERE review_status = 'pending';
CREATE INDEX break_glass_patient ON break_glass_accesses (patient_id, started_at);

-- The service records accesses and their review; it never deletes them.
GRANT SELECT, INSERT, UPDATE ON break_glass_accesses TO wardbook_service;
