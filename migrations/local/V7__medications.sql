-- Wardbook local cache, schema 7: medication orders (FHIR MedicationRequest),
-- administrations (FHIR MedicationAdministration) and reviews of possible
-- double doses.
--
-- Each row is kept whole, as the JSON of its protocol type, in `body`, with
-- only the columns the cache queries beside it (patient, order, due time,
-- status, times). Why not a column per field, as for observations:
-- - orders arrive whole from the EHR (FHIR MedicationRequest, HL7 v2 RDE),
--   are replaced whole by the feed and are read whole (the MAR, the checks
--   before a dose, the printout): nothing filters on a dose, a route or a
--   timing's parts, and a column per nested field (timing forms, ingredient
--   lists, dose quantities) would be a second schema of the same type to
--   keep in step with protocol/;
-- - administrations and reviews are append-only facts, likewise read whole.
-- The queried columns are written from the same row in the same statement
-- (`store::medication_*`), so they cannot disagree with `body`; `version`
-- is the one column the store changes alone (the version the server gave a
-- pushed row), so readers take it from the column, not from `body`.
--
-- Times are RFC 3339 UTC text in one sortable format (`store::rows::time_text`).

CREATE TABLE medication_requests (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic   INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    patient_id  TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    -- The least minutes between two doses of a PRN order; NULL for a
    -- scheduled one. The double-dose query compares given times with it.
    prn_min_interval_minutes INTEGER,
    body        TEXT NOT NULL
);

-- A chart's orders; the census's active orders of the ward.
CREATE INDEX medication_requests_by_patient ON medication_requests (patient_id, status);

-- No foreign key to medication_requests: an administration is a clinical
-- fact that outlives its order's row in this cache (an order removed by the
-- feed, an administration pulled before its order), and a cascade would
-- drop a dose a nurse recorded.
CREATE TABLE medication_administrations (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic   INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    patient_id  TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    request_id  TEXT NOT NULL,
    -- NULL for a PRN dose.
    due_at      TEXT,
    status      TEXT NOT NULL,
    given_at    TEXT NOT NULL,
    body        TEXT NOT NULL
);

-- One order's doses (the checks before a dose, the double-dose query).
CREATE INDEX medication_administrations_by_request ON medication_administrations (request_id, given_at);
-- A chart's doses.
CREATE INDEX medication_administrations_by_patient ON medication_administrations (patient_id);
-- The census: doses answering a due time of the last and next 24 hours.
CREATE INDEX medication_administrations_by_due ON medication_administrations (due_at);

CREATE TABLE dose_reviews (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    synthetic   INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
    patient_id  TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    request_id  TEXT NOT NULL,
    body        TEXT NOT NULL
);

CREATE INDEX dose_reviews_by_patient ON dose_reviews (patient_id);
CREATE INDEX dose_reviews_by_request ON dose_reviews (request_id);

-- The outbox takes the two records workstations write (administrations and
-- reviews; never orders). A CHECK cannot be altered in SQLite, so the table
-- is rebuilt with the same columns and rows, rowids included (entries of one
-- time are pushed in rowid order).
CREATE TABLE outbox_v7 (
    mutation_id     TEXT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    entity          TEXT NOT NULL CHECK (entity IN
                        ('patient', 'observation', 'allergy', 'medication_administration', 'dose_review')),
    entity_id       TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    operation       TEXT NOT NULL,
    base_version    INTEGER,
    author          TEXT NOT NULL,
    authored_at     TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'conflict', 'rejected')),
    server_reason   TEXT,
    server_row_json TEXT,
    prior_json      TEXT,
    entry_id        TEXT
);

INSERT INTO outbox_v7 (rowid, mutation_id, created_at, entity, entity_id, patient_id, operation, base_version,
    author, authored_at, payload_json, state, server_reason, server_row_json, prior_json, entry_id)
SELECT rowid, mutation_id, created_at, entity, entity_id, patient_id, operation, base_version,
    author, authored_at, payload_json, state, server_reason, server_row_json, prior_json, entry_id
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_v7 RENAME TO outbox;

CREATE INDEX outbox_by_state ON outbox (state, created_at);
CREATE INDEX outbox_by_patient ON outbox (patient_id);
CREATE INDEX outbox_by_entity ON outbox (entity_id, created_at);
