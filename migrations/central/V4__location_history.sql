-- Wardbook central schema, version 4: where each patient and each device
-- was, and when (issue 13: backdated edits).
--
-- A push for a patient no longer in the device's scope is accepted only when
-- the server's own records show that the device and the patient were at the
-- same location at the edit's `authored_at`, and that the device lost the
-- patient recently (server/src/push/decide.rs). `authored_at` is the
-- client's word; these tables are the server's.
--
-- One row per stay: from `started_at` until `ended_at` (exclusive), NULL while
-- it lasts. Triggers write them on every change of patient_locations and
-- device_locations, whoever makes it (admin assign, synthetic wards,
-- enrolment, re-enrolment, a future ADT feed). The trigger functions run as
-- the schema owner: the service can read the history but not write it.

CREATE TABLE patient_location_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    location_id uuid NOT NULL REFERENCES locations (id),
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    CHECK (ended_at >= started_at)
);
CREATE UNIQUE INDEX patient_location_history_open ON patient_location_history (patient_id, location_id)
    WHERE ended_at IS NULL;
CREATE INDEX patient_location_history_patient ON patient_location_history (patient_id, location_id);

CREATE TABLE device_location_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id uuid NOT NULL REFERENCES devices (id),
    location_id uuid NOT NULL REFERENCES locations (id),
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    CHECK (ended_at >= started_at)
);
CREATE UNIQUE INDEX device_location_history_open ON device_location_history (device_id, location_id)
    WHERE ended_at IS NULL;
CREATE INDEX device_location_history_device ON device_location_history (device_id);

-- A stay starts when the assignment becomes active and ends when it stops
-- being active (or the row goes). The times are the row's `updated_at`,
-- stamped by patient_locations_stamp.
CREATE FUNCTION wardbook_patient_location_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    was boolean := false;
    is_now boolean := false;
    moved boolean := false;
    stamp timestamptz := clock_timestamp();
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was := OLD.active;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_now := NEW.active;
        stamp := NEW.updated_at;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        moved := OLD.patient_id <> NEW.patient_id OR OLD.location_id <> NEW.location_id;
    END IF;
    IF was AND (NOT is_now OR moved) THEN
        UPDATE patient_location_history SET ended_at = greatest(started_at, stamp)
         WHERE patient_id = OLD.patient_id AND location_id = OLD.location_id AND ended_at IS NULL;
    END IF;
    IF is_now AND (NOT was OR moved) THEN
        INSERT INTO patient_location_history (patient_id, location_id, started_at)
        VALUES (NEW.patient_id, NEW.location_id, stamp)
        ON CONFLICT (patient_id, location_id) WHERE ended_at IS NULL DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER patient_locations_history AFTER INSERT OR UPDATE OR DELETE ON patient_locations
    FOR EACH ROW EXECUTE FUNCTION wardbook_patient_location_history();

-- A device is at a location while a device_locations row binds it there.
CREATE FUNCTION wardbook_device_location_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    stamp timestamptz := clock_timestamp();
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.device_id = NEW.device_id AND OLD.location_id = NEW.location_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE device_location_history SET ended_at = greatest(started_at, stamp)
         WHERE device_id = OLD.device_id AND location_id = OLD.location_id AND ended_at IS NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO device_location_history (device_id, location_id, started_at)
        VALUES (NEW.device_id, NEW.location_id, stamp)
        ON CONFLICT (device_id, location_id) WHERE ended_at IS NULL DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER device_locations_history AFTER INSERT OR UPDATE OR DELETE ON device_locations
    FOR EACH ROW EXECUTE FUNCTION wardbook_device_location_history();

-- What is known from before this migration. A current assignment started
-- when its row last changed (only `active` changes). An ended one's start is
-- unknown, so it is not recorded: a late edit for a patient who left before
-- the upgrade is refused as out of scope rather than trusted on the client's
-- word.
INSERT INTO patient_location_history (patient_id, location_id, started_at)
SELECT patient_id, location_id, updated_at FROM patient_locations WHERE active;

-- Devices: every used enrolment code moved its device to the code's
-- location (enrol and re-enrol both consume one). A code followed by a later
-- one of the same device is a closed stay; the current bindings are open
-- stays from the last code for that location, or from enrolment.
INSERT INTO device_location_history (device_id, location_id, started_at, ended_at)
SELECT device_id, location_id, started_at, ended_at
  FROM (SELECT used_by AS device_id, location_id, used_at AS started_at,
               lead(used_at) OVER (PARTITION BY used_by ORDER BY used_at, code_hash) AS ended_at
          FROM enrolment_codes
         WHERE used_by IS NOT NULL AND used_at IS NOT NULL) codes
 WHERE ended_at IS NOT NULL;
INSERT INTO device_location_history (device_id, location_id, started_at)
SELECT dl.device_id, dl.location_id,
       coalesce((SELECT max(c.used_at) FROM enrolment_codes c
                  WHERE c.used_by = dl.device_id AND c.location_id = dl.location_id), d.enrolled_at)
  FROM device_locations dl JOIN devices d ON d.id = dl.device_id;

GRANT SELECT ON patient_location_history, device_location_history TO wardbook_service;
