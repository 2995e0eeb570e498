-- The patient's bed within their location, set by the hospital's ADT feed
-- (HL7 v2 PV1-3, FHIR Encounter location) and received with the patient.
-- NULL: not placed in a bed (yet), or a row synced before beds existed.
--
-- No index for it: the census of a location is found through
-- patients_by_location, and its order by bed is natural ("2" before "10",
-- `wardbook_protocol::bed_order`), which no index in SQLite's text order
-- gives; it is sorted by the store, a ward's few dozen rows at a time.
ALTER TABLE patients ADD COLUMN bed TEXT;
