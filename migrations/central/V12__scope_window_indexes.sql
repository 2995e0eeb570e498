-- Wardbook central schema, version 12: a device's pull reads only its own
-- scope's changes (issue 18, the feed).
--
-- A pull after the initial sync asks, for each patient in the device's
-- scope, for the rows written inside the feed's window: one range of
-- (patient_id, change_xid) per patient. Without these indexes it read every
-- change in the hospital's window and kept those in scope, so after a long
-- transaction released the horizon every workstation read the whole
-- backlog of every ward.
--
-- Building them locks writes to each table while it runs (about a second
-- per million rows here): apply this migration in the upgrade window, as
-- the IT guide says for every migration.

CREATE INDEX observations_patient_change ON observations (patient_id, change_xid);
CREATE INDEX allergies_patient_change ON allergies (patient_id, change_xid);
CREATE INDEX medication_requests_patient_change ON medication_requests (patient_id, change_xid);
CREATE INDEX medication_administrations_patient_change ON medication_administrations (patient_id, change_xid);
CREATE INDEX dose_reviews_patient_change ON dose_reviews (patient_id, change_xid);
