-- Wardbook central schema, version 7: identifiers encrypted at rest
-- (server/src/keys, docs/decisions.md "Encryption of identifiers at rest").
--
-- Every identifier column becomes bytea: AES-256-GCM ciphertext (nonce,
-- ciphertext, tag) under the data key named by the row's key_id. A row with
-- no key_id is still in clear text (UTF-8 bytes), as every existing row is
-- when this migration runs: the service converts them in batches in the
-- background, and health and `report compliance` name them until then.
-- Lookups go through blind indexes (HMAC-SHA-256 under the index key).

-- Data keys, wrapped by the key-encryption key, which never enters the
-- database. A retired key (no row uses it any more) is destroyed: its
-- wrapped bytes are removed, its row stays as a record.
CREATE TABLE data_keys (
    id integer PRIMARY KEY CHECK (id > 0),
    purpose text NOT NULL CHECK (purpose IN ('data', 'index')),
    wrapped bytea,
    -- Which KEK wrapped it (a keyed hash, not the key): a wrong KEK file
    -- is named as such at start instead of failing later.
    kek_fingerprint text NOT NULL,
    current boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    CHECK ((retired_at IS NULL) = (wrapped IS NOT NULL)),
    CHECK (NOT (current AND retired_at IS NOT NULL))
);
CREATE UNIQUE INDEX data_keys_current ON data_keys (purpose) WHERE current;

-- Patients' identifiers.
ALTER TABLE phi.patient_identities DROP CONSTRAINT patient_identities_mrn_key;
ALTER TABLE phi.patient_identities
    ALTER COLUMN mrn TYPE bytea USING convert_to(mrn, 'UTF8'),
    ALTER COLUMN given_name TYPE bytea USING convert_to(given_name, 'UTF8'),
    ALTER COLUMN family_name TYPE bytea USING convert_to(family_name, 'UTF8'),
    ALTER COLUMN birth_date TYPE bytea USING convert_to(birth_date::text, 'UTF8'),
    ALTER COLUMN phone TYPE bytea USING convert_to(phone, 'UTF8'),
    ALTER COLUMN email TYPE bytea USING convert_to(email, 'UTF8'),
    ALTER COLUMN address TYPE bytea USING convert_to(address, 'UTF8'),
    ADD COLUMN key_id integer REFERENCES data_keys (id),
    ADD COLUMN mrn_index bytea,
    ADD COLUMN name_birth_index bytea,
    ADD CONSTRAINT patient_identities_indexed
        CHECK (key_id IS NULL OR (mrn_index IS NOT NULL AND name_birth_index IS NOT NULL));
CREATE UNIQUE INDEX patient_identities_mrn_index ON phi.patient_identities (mrn_index);
CREATE UNIQUE INDEX patient_identities_clear_mrn ON phi.patient_identities (mrn) WHERE key_id IS NULL;
CREATE INDEX patient_identities_name_birth ON phi.patient_identities (name_birth_index);
CREATE INDEX patient_identities_key ON phi.patient_identities (key_id);

-- Re-encryption (same values, another key) is not a change a workstation
-- must pull: the worker sets wardbook.reencrypt for its transaction.
CREATE OR REPLACE FUNCTION wardbook_touch_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('wardbook.reencrypt', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    UPDATE patients SET change_xid = change_xid WHERE id = NEW.patient_id;
    RETURN NULL;
END
$$;

-- The senders' identifiers: found by (kind, system, index of the value).
ALTER TABLE phi.external_ids DROP CONSTRAINT external_ids_pkey;
ALTER TABLE phi.external_ids DROP CONSTRAINT external_ids_value_check;
ALTER TABLE phi.external_ids
    ALTER COLUMN value TYPE bytea USING convert_to(value, 'UTF8'),
    ADD COLUMN key_id integer REFERENCES data_keys (id),
    ADD COLUMN value_index bytea,
    ADD CONSTRAINT external_ids_indexed CHECK (key_id IS NULL OR value_index IS NOT NULL);
CREATE UNIQUE INDEX external_ids_value_index ON phi.external_ids (kind, system, value_index);
CREATE UNIQUE INDEX external_ids_clear_value ON phi.external_ids (kind, system, value) WHERE key_id IS NULL;
CREATE INDEX external_ids_key ON phi.external_ids (key_id);

-- Raw HL7 messages and what was parsed from them.
ALTER TABLE phi.hl7_messages
    ALTER COLUMN raw TYPE bytea USING convert_to(raw, 'UTF8'),
    ALTER COLUMN parsed TYPE bytea USING convert_to(parsed::text, 'UTF8'),
    ADD COLUMN key_id integer REFERENCES data_keys (id);
CREATE INDEX hl7_messages_key ON phi.hl7_messages (key_id);

GRANT SELECT, INSERT, UPDATE ON data_keys TO wardbook_service;
