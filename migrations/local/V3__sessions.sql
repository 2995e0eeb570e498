-- Wardbook local cache, schema 3: clinician sessions.

-- The offline verifier of each clinician who signed in online on this
-- workstation: an Argon2id PHC hash of the password derived by the app (the
-- server never sends its own hash), kept only inside the encrypted store.
-- Offline sign-in and unlock are allowed until `allowed_until`; a wrong
-- password counts in `failed_attempts`, and at `max_failed_attempts` the row
-- is deleted, so an online sign-in is needed again.
CREATE TABLE offline_verifiers (
    -- The user name as typed, trimmed and lower-cased.
    username_key        TEXT PRIMARY KEY,
    -- The server's user id (UUID), as the audit events carry it.
    user_id             TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    phc                 TEXT NOT NULL CHECK (phc LIKE '$argon2id$%'),
    online_login_at     TEXT NOT NULL,
    allowed_until       TEXT NOT NULL,
    failed_attempts     INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    max_failed_attempts INTEGER NOT NULL CHECK (max_failed_attempts >= 1)
) STRICT;
