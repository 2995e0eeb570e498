-- Wardbook central schema, version 1 (DESIGN.md section 4).
--
-- Applied by `wardbook-server migrate` as the schema owner. The service itself
-- connects as a login role that is a member of `wardbook_service`, which gets
-- only the privileges granted at the end of this file: in particular no
-- UPDATE, DELETE or TRUNCATE on the audit store.
--
-- Change feed: every clinical row and every scope assignment carries
-- `change_xid`, the id of the transaction that last wrote it
-- (pg_current_xact_id()), set by a trigger together with `version` and
-- `updated_at`. A pull only hands out rows whose transaction id is below the
-- xmin of the current snapshot, i.e. transactions that can no longer commit
-- later; see docs/decisions.md ("Change feed").

DO $$
BEGIN
    CREATE ROLE wardbook_service NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL; -- created by an earlier database on this cluster
END
$$;

-- Server-managed columns of every synced row: version, updated_at, change_xid.
-- The version moves once per transaction, however many statements touch the row.
CREATE FUNCTION wardbook_stamp_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
    ELSIF OLD.change_xid = xid THEN
        NEW.version := OLD.version;
    ELSE
        NEW.version := OLD.version + 1;
    END IF;
    NEW.change_xid := xid;
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;

CREATE FUNCTION wardbook_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE locations (
    id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 60),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
    -- Argon2id, PHC string format.
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    roles text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['clinician', 'admin', 'privacy_officer']),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    -- SHA-256 (hex) of a 256-bit random secret: fast to check, useless to a thief.
    credential_hash text NOT NULL,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE device_locations (
    device_id uuid NOT NULL REFERENCES devices (id),
    location_id uuid NOT NULL REFERENCES locations (id),
    PRIMARY KEY (device_id, location_id)
);
CREATE INDEX device_locations_location ON device_locations (location_id);

CREATE TABLE enrolment_codes (
    -- SHA-256 (hex) of the code: the code itself is shown once, to IT.
    code_hash text PRIMARY KEY,
    location_id uuid NOT NULL REFERENCES locations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    used_by uuid REFERENCES devices (id)
);

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    device_id uuid NOT NULL REFERENCES devices (id),
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Clinical data. Direct identifiers live apart in schema `phi` (below).
CREATE TABLE patients (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    sex text NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    preferred_language text,
    location text,
    source_system text NOT NULL
);
CREATE INDEX patients_change ON patients (change_xid);
CREATE TRIGGER patients_stamp BEFORE INSERT OR UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

-- PHI segregation: name, date of birth, contact details and MRN, apart from
-- clinical data, so the hospital can apply stricter grants, backup and
-- retention to them. Any change here restamps the patient row.
CREATE SCHEMA phi;
CREATE TABLE phi.patient_identities (
    patient_id uuid PRIMARY KEY REFERENCES patients (id),
    mrn text NOT NULL UNIQUE,
    given_name text NOT NULL,
    family_name text NOT NULL,
    birth_date date NOT NULL,
    phone text,
    email text,
    address text
);

CREATE FUNCTION wardbook_touch_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE patients SET change_xid = change_xid WHERE id = NEW.patient_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER patient_identities_touch AFTER UPDATE ON phi.patient_identities
    FOR EACH ROW EXECUTE FUNCTION wardbook_touch_patient();

CREATE TABLE observations (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    category text NOT NULL,
    code text NOT NULL,
    status text NOT NULL,
    effective_at timestamptz NOT NULL,
    -- The rest of the resource (value, reference range, coding, ...), as
    -- the protocol serialises it; validated before it is stored.
    body jsonb NOT NULL
);
-- The feed walks rows by (patient, id).
CREATE INDEX observations_patient ON observations (patient_id, id);
CREATE INDEX observations_change ON observations (change_xid);
CREATE TRIGGER observations_stamp BEFORE INSERT OR UPDATE ON observations
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

CREATE TABLE allergies (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    synthetic boolean NOT NULL DEFAULT false,
    criticality text NOT NULL,
    clinical_status text NOT NULL,
    verification_status text NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX allergies_patient ON allergies (patient_id, id);
CREATE INDEX allergies_change ON allergies (change_xid);
CREATE TRIGGER allergies_stamp BEFORE INSERT OR UPDATE ON allergies
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

-- Which patients each location's devices receive. Rows are never deleted:
-- an ended assignment is `active = false`, so the feed can send "remove".
CREATE TABLE patient_locations (
    patient_id uuid NOT NULL REFERENCES patients (id),
    location_id uuid NOT NULL REFERENCES locations (id),
    active boolean NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    change_xid bigint NOT NULL,
    PRIMARY KEY (patient_id, location_id)
);
CREATE INDEX patient_locations_location ON patient_locations (location_id, active);
CREATE INDEX patient_locations_change ON patient_locations (change_xid);
CREATE TRIGGER patient_locations_stamp BEFORE INSERT OR UPDATE ON patient_locations
    FOR EACH ROW EXECUTE FUNCTION wardbook_stamp_change();

-- Exactly-once pushes: a mutation id is recorded in the same transaction as
-- its effect.
CREATE TABLE applied_mutations (
    mutation_id uuid PRIMARY KEY,
    device_id uuid NOT NULL REFERENCES devices (id),
    author text NOT NULL,
    authored_at timestamptz NOT NULL,
    entity text NOT NULL,
    entity_id uuid NOT NULL,
    version bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The audit store: each device's hash chain, gapless per device.
CREATE TABLE audit_events (
    device_id uuid NOT NULL REFERENCES devices (id),
    sequence bigint NOT NULL CHECK (sequence >= 1),
    id uuid NOT NULL UNIQUE,
    recorded_at timestamptz NOT NULL,
    user_id text NOT NULL,
    session_id uuid NOT NULL,
    action text NOT NULL,
    subtype text NOT NULL,
    patient_id uuid,
    purpose_of_use text NOT NULL,
    outcome text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, sequence)
);
CREATE INDEX audit_events_patient ON audit_events (patient_id, recorded_at);
CREATE INDEX audit_events_user ON audit_events (user_id, recorded_at);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION wardbook_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION wardbook_refuse_change();

-- Gaps, edited events and other chain breaks, for the privacy officer.
CREATE TABLE security_findings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    detected_at timestamptz NOT NULL DEFAULT now(),
    device_id uuid REFERENCES devices (id),
    kind text NOT NULL,
    position bigint,
    detail text NOT NULL
);
CREATE TRIGGER security_findings_append_only BEFORE UPDATE OR DELETE ON security_findings
    FOR EACH ROW EXECUTE FUNCTION wardbook_refuse_change();
CREATE TRIGGER security_findings_no_truncate BEFORE TRUNCATE ON security_findings
    FOR EACH STATEMENT EXECUTE FUNCTION wardbook_refuse_change();

-- The service role: everything it needs, nothing more.
GRANT USAGE ON SCHEMA public, phi TO wardbook_service;
GRANT SELECT, INSERT, UPDATE ON locations, users, devices, device_locations, enrolment_codes,
    patients, phi.patient_identities, observations, allergies, patient_locations TO wardbook_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO wardbook_service;
GRANT SELECT, INSERT, UPDATE ON applied_mutations TO wardbook_service;
GRANT SELECT, INSERT ON audit_events, security_findings TO wardbook_service;

GRANT SELECT ON refinery_schema_history TO wardbook_service;

-- Replication status in health needs pg_monitor; granting it needs a superuser.
-- Without it health still works, with replica details left empty.
DO $$
BEGIN
    GRANT pg_monitor TO wardbook_service;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'pg_monitor not granted to wardbook_service: run GRANT pg_monitor TO wardbook_service as a superuser';
END
$$;
