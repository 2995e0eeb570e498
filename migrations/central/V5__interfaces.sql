-- Wardbook central schema, version 5: the hospital's feed (issue 14).
--
-- HL7 v2 over MLLP and FHIR R4 write the same clinical tables the
-- workstations do. What is new: the sending systems (`interfaces`), every
-- inbound message kept before it is acknowledged (`phi.hl7_messages`), the
-- senders' own identifiers for our rows (`phi.external_ids`), encounters with
-- their bed, merged patients, and integration clients (a role, and sessions
-- that belong to no device).

-- Integration clients (an interface engine, a regional record) log in as
-- users with the role `integration`; their sessions have no device.
ALTER TABLE users DROP CONSTRAINT users_roles_check;
ALTER TABLE users ADD CONSTRAINT users_roles_check
    CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['clinician', 'admin', 'privacy_officer', 'integration']);
ALTER TABLE sessions ALTER COLUMN device_id DROP NOT NULL;

-- The bed is ward data: the census shows it and sorts by it. A merged
-- patient (ADT^A40) points at the survivor and is `deleted`.
ALTER TABLE patients ADD COLUMN bed text CHECK (length(bed) BETWEEN 1 AND 40);
ALTER TABLE patients ADD COLUMN merged_into uuid REFERENCES patients (id);

-- The sending systems: an interface engine's channel, a lab system, a FHIR
-- client. Messages are matched to an interface by their MSH-3 sending
-- application (`senders`). `location_map` maps the sender's PV1-3 point of
-- care to a Wardbook location code; a point of care not in it must be a
-- location code itself. Message counts, errors and the last message's time
-- are counted from phi.hl7_messages (no counter row every message locks).
CREATE TABLE interfaces (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$'),
    kind text NOT NULL CHECK (kind IN ('hl7v2-mllp', 'fhir')),
    senders text[] NOT NULL DEFAULT '{}',
    location_map jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(location_map) = 'object'),
    -- Health warns when an active interface has sent nothing for this long.
    silence_minutes integer NOT NULL DEFAULT 60 CHECK (silence_minutes > 0),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every inbound message, written in the transaction that applies it and
-- committed before the ACK is sent. Raw text is PHI: schema phi, never
-- logged, removed after the retention (processed ones; a message in error
-- stays until it is reprocessed, being the only copy to fix).
CREATE TABLE phi.hl7_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    interface_id uuid REFERENCES interfaces (id),
    direction text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    sending_application text NOT NULL,
    sending_facility text NOT NULL,
    control_id text NOT NULL CHECK (length(control_id) BETWEEN 1 AND 199),
    message_type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    status text NOT NULL CHECK (status IN ('received', 'processed', 'error')),
    ack_code text CHECK (ack_code IN ('AA', 'AE', 'AR')),
    -- HL7 table 0357 code, the field it concerns (e.g. PV1-3) and a text
    -- that names the problem, never a value.
    error_code text,
    error_location text,
    error_text text,
    attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
    raw text NOT NULL,
    parsed jsonb,
    UNIQUE (sending_application, sending_facility, control_id, direction)
);
CREATE INDEX hl7_messages_status ON phi.hl7_messages (status, received_at);
CREATE INDEX hl7_messages_received ON phi.hl7_messages (received_at);
CREATE INDEX hl7_messages_interface ON phi.hl7_messages (interface_id, received_at);

-- The senders' identifiers for our rows: a patient's MRN under its assigning
-- authority or FHIR identifier system, a result's order and code, a FHIR
-- resource's business identifier. A re-import finds the row instead of
-- duplicating it; a merged patient's identifiers point at the survivor.
CREATE TABLE phi.external_ids (
    kind text NOT NULL CHECK (kind IN ('patient', 'encounter', 'observation', 'allergy')),
    system text NOT NULL CHECK (length(system) BETWEEN 1 AND 300),
    value text NOT NULL CHECK (length(value) BETWEEN 1 AND 300),
    entity_id uuid NOT NULL,
    PRIMARY KEY (kind, system, value)
);
CREATE INDEX external_ids_entity ON phi.external_ids (entity_id);

-- Visits (PV1, FHIR Encounter): central only. The workstations receive their
-- effect, the patient's location and bed.
CREATE TABLE encounters (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    status text NOT NULL CHECK (status IN ('planned', 'in-progress', 'finished', 'cancelled')),
    class text NOT NULL,
    location_id uuid REFERENCES locations (id),
    point_of_care text,
    room text,
    bed text,
    attending text,
    admitted_at timestamptz,
    discharged_at timestamptz,
    source_system text NOT NULL,
    synthetic boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX encounters_patient ON encounters (patient_id);

GRANT SELECT, INSERT, UPDATE ON interfaces, encounters, phi.external_ids TO wardbook_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON phi.hl7_messages TO wardbook_service;
GRANT DELETE ON phi.external_ids TO wardbook_service;
