-- Wardbook central schema, version 6: medications (issue 15).
--
-- Orders (FHIR MedicationRequest) arrive from the EHR or pharmacy over HL7
-- v2 (RDE^O11, OMP^O09) and FHIR; workstations never write them.
-- Administrations (FHIR MedicationAdministration) are recorded at
-- workstations and pushed like other edits, but they are append-only
-- clinical facts: a stored record changes only to be marked
-- entered-in-error (the push enforces it), and two records for one due dose
-- are both kept. A clinician's review of a possible double dose is its own
-- append-only row. All three travel in the change feed like observations:
-- the resource as a JSON body, plus the columns the service indexes and
-- checks, stamped by the same trigger.

CREATE TABLE medication_requests (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    status text NOT NULL CHECK (status IN ('active', 'on-hold', 'completed', 'stopped', 'entered-in-error')),
    medication_code text NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX medication_requests_patient ON medication_requests (patient_id, id);
CREATE INDEX medication_requests_change ON medication_requests (change_xid);
CREATE TRIGGER medication_requests_stamp BEFORE INSERT OR UPDATE ON medication_requests
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

CREATE TABLE medication_administrations (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    request_id uuid NOT NULL REFERENCES medication_requests (id),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    status text NOT NULL CHECK (status IN ('completed', 'not-done', 'entered-in-error')),
    due_at timestamptz,
    given_at timestamptz NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX medication_administrations_patient ON medication_administrations (patient_id, id);
CREATE INDEX medication_administrations_change ON medication_administrations (change_xid);
CREATE INDEX medication_administrations_request ON medication_administrations (request_id, due_at);
-- The EHR reads them back by `_lastUpdated`.
CREATE INDEX medication_administrations_updated ON medication_administrations (updated_at);
CREATE TRIGGER medication_administrations_stamp BEFORE INSERT OR UPDATE ON medication_administrations
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

CREATE TABLE dose_reviews (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    request_id uuid NOT NULL REFERENCES medication_requests (id),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    body jsonb NOT NULL
);
CREATE INDEX dose_reviews_patient ON dose_reviews (patient_id, id);
CREATE INDEX dose_reviews_change ON dose_reviews (change_xid);
CREATE TRIGGER dose_reviews_stamp BEFORE INSERT OR UPDATE ON dose_reviews
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

-- The senders' order numbers (ORC-2/ORC-3, FHIR identifiers) find an order
-- again for its updates and its stop.
ALTER TABLE phi.external_ids DROP CONSTRAINT external_ids_kind_check;
ALTER TABLE phi.external_ids ADD CONSTRAINT external_ids_kind_check
    CHECK (kind IN ('patient', 'encounter', 'observation', 'allergy', 'medication_request'));

-- Filing back: administrations go to the EHR as HL7 v2 RAS^O17 over MLLP
-- where an interface names a destination. Each outbound message is a row
-- of phi.hl7_messages (direction 'outbound'), queued in the transaction
-- that made the administration visible to the sender, and retried until
-- the peer acknowledges it.
ALTER TABLE interfaces ADD COLUMN send_to text CHECK (send_to ~ '^[^\s:]+:[0-9]{1,5}$');
ALTER TABLE interfaces ADD COLUMN send_tls boolean NOT NULL DEFAULT false;
ALTER TABLE phi.hl7_messages DROP CONSTRAINT hl7_messages_status_check;
ALTER TABLE phi.hl7_messages ADD CONSTRAINT hl7_messages_status_check
    CHECK (status IN ('received', 'processed', 'error', 'queued', 'sent'));
ALTER TABLE phi.hl7_messages ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE phi.hl7_messages ADD COLUMN entity_id uuid;
CREATE INDEX hl7_messages_outbound ON phi.hl7_messages (next_attempt_at) WHERE status = 'queued';

GRANT SELECT, INSERT, UPDATE ON medication_requests, medication_administrations, dose_reviews TO wardbook_service;
