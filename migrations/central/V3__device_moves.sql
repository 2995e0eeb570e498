-- A workstation carried to another ward is re-enrolled there
-- (`POST /v1/reenrol`): the service replaces its locations. The history of
-- where each device was enrolled stays in enrolment_codes (used_by, location).
GRANT DELETE ON device_locations TO wardbook_service;
