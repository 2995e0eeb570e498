-- Wardbook local cache, schema 8: workstation PINs.
--
-- A clinician who signs in through the hospital's browser sign-in (OpenID
-- Connect) never types a password into Wardbook, so there is none to derive
-- an offline verifier from: they set a workstation PIN instead, kept as an
-- Argon2id verifier in this same table. `kind` says which secret a row
-- verifies; the offline window (`allowed_until`) and the failed-attempt
-- limit bound a PIN exactly as a password. Rows written before this version
-- are password verifiers.
ALTER TABLE offline_verifiers ADD COLUMN kind TEXT NOT NULL DEFAULT 'password'
    CHECK (kind IN ('password', 'pin'));

-- The provider the clinician signs in with (its id in `GET
-- /v1/login/providers`): the LDAP directory that checks a password, or the
-- OpenID provider of a PIN's clinician (offline PIN sign-in is allowed only
-- while that provider or the service cannot be reached). NULL for a local
-- Wardbook account.
ALTER TABLE offline_verifiers ADD COLUMN provider TEXT;
