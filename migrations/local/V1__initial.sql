-- Wardbook local cache, schema 1. Applied by refinery inside one transaction,
-- recorded with its checksum in refinery_schema_history. Connection settings
-- (key, WAL, foreign keys, temp_store) belong to connection setup, not here.
--
-- Times are RFC 3339 UTC text; ids are UUID text; booleans are 0/1.
-- Names are COLLATE NOCASE so that prefix search uses the indexes.

-- This installation's identity: audit events carry it as their device id.
CREATE TABLE device_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    device_id  TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE patients (
    id                 TEXT PRIMARY KEY,
    version            INTEGER NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted            INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic          INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    mrn                TEXT NOT NULL UNIQUE COLLATE NOCASE,
    given_name         TEXT NOT NULL COLLATE NOCASE,
    family_name        TEXT NOT NULL COLLATE NOCASE,
    birth_date         TEXT NOT NULL,
    sex                TEXT NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    phone              TEXT,
    email              TEXT,
    address            TEXT,
    preferred_language TEXT,
    location           TEXT,
    source_system      TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX patients_by_family_name ON patients (family_name, given_name);
CREATE INDEX patients_by_given_name ON patients (given_name);
CREATE INDEX patients_by_birth_date ON patients (birth_date);
CREATE INDEX patients_by_location ON patients (location, family_name, given_name);

CREATE TABLE observations (
    id                 TEXT PRIMARY KEY,
    version            INTEGER NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted            INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic          INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    patient_id         TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    category           TEXT NOT NULL,
    code_system        TEXT NOT NULL,
    code               TEXT NOT NULL,
    code_display       TEXT NOT NULL,
    panel_code         TEXT,
    panel_display      TEXT,
    -- exactly one value column group is set, by value_kind
    value_kind         TEXT NOT NULL CHECK (value_kind IN ('quantity', 'string', 'boolean', 'coded')),
    value_quantity     REAL,
    value_unit         TEXT,
    value_text         TEXT,
    value_boolean      INTEGER,
    value_code_system  TEXT,
    value_code         TEXT,
    value_code_display TEXT,
    reference_low      REAL,
    reference_high     REAL,
    reference_unit     TEXT,
    interpretation     TEXT,
    status             TEXT NOT NULL,
    effective_at       TEXT NOT NULL,
    recorded_by        TEXT NOT NULL
);

-- The chart reads the latest vitals / labs of one patient.
CREATE INDEX observations_by_patient ON observations (patient_id, category, effective_at DESC);

CREATE TABLE allergies (
    id                  TEXT PRIMARY KEY,
    version             INTEGER NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic           INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    patient_id          TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    allergen_system     TEXT NOT NULL,
    allergen_code       TEXT NOT NULL,
    allergen_display    TEXT NOT NULL,
    allergy_type        TEXT NOT NULL,
    category            TEXT NOT NULL,
    clinical_status     TEXT NOT NULL,
    verification_status TEXT NOT NULL,
    criticality         TEXT NOT NULL,
    reactions_json      TEXT NOT NULL DEFAULT '[]',
    recorded_at         TEXT NOT NULL,
    recorded_by         TEXT NOT NULL
);

CREATE INDEX allergies_by_patient ON allergies (patient_id);

-- Every local view of PHI, hash-chained per device. Append-only: the triggers
-- below refuse UPDATE and DELETE (the upload issue adds the one removal path:
-- server-acknowledged rows after the retention period). No foreign key to
-- patients: an audit event outlives the patient's purge from this cache.
CREATE TABLE audit_events (
    sequence       INTEGER PRIMARY KEY CHECK (sequence >= 1),
    id             TEXT NOT NULL UNIQUE,
    device_id      TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    action         TEXT NOT NULL,
    subtype        TEXT NOT NULL,
    patient_id     TEXT,
    purpose_of_use TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

CREATE INDEX audit_events_by_patient ON audit_events (patient_id, recorded_at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Local edits waiting to be pushed, written in the same transaction as the
-- edit itself (the sync engine issue fills and drains it).
CREATE TABLE outbox (
    mutation_id  TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    entity       TEXT NOT NULL CHECK (entity IN ('patient', 'observation', 'allergy')),
    entity_id    TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    operation    TEXT NOT NULL,
    base_version INTEGER,
    author       TEXT NOT NULL,
    authored_at  TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'conflict', 'rejected')),
    server_reason TEXT,
    server_row_json TEXT
);

CREATE INDEX outbox_by_state ON outbox (state, created_at);
CREATE INDEX outbox_by_patient ON outbox (patient_id);

-- Sync bookkeeping: cursors, last success, last error (key/value).
CREATE TABLE sync_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
