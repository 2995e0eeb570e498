-- Hospital sign-in (issue 17): users who come from an identity provider
-- (OpenID Connect or LDAP), created at their first sign-in, and the leavers'
-- revocation that travels to every workstation.
--
-- A directory user has no password here (the directory checks it): its row
-- names the provider (the `id` of its `[[identity_providers]]` entry) and
-- the provider's stable subject (OIDC `sub`, the LDAP entry's DN). A local
-- user has a password and no provider.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN provider text CHECK (provider ~ '^[a-z0-9][a-z0-9-]{0,31}$');
ALTER TABLE users ADD COLUMN subject text CHECK (length(subject) BETWEEN 1 AND 1024);
ALTER TABLE users ADD CONSTRAINT users_local_or_directory
    CHECK ((provider IS NULL AND subject IS NULL AND password_hash IS NOT NULL)
        OR (provider IS NOT NULL AND subject IS NOT NULL AND password_hash IS NULL));
CREATE UNIQUE INDEX users_provider_subject ON users (provider, subject) WHERE provider IS NOT NULL;

-- Directory user names are often e-mail addresses.
ALTER TABLE users DROP CONSTRAINT users_username_check;
ALTER TABLE users ADD CONSTRAINT users_username_check CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,127}$');

-- When the account was disabled (by `user disable`, or found disabled in
-- its directory): workstations are told to delete its offline verifier.
-- Who disabled it: an admin (`user disable`; only `user enable` undoes it)
-- or its directory (the account disabled, gone, or in no mapped group; a
-- later sign-in the directory vouches for enables it again).
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE users ADD COLUMN disabled_by text CHECK (disabled_by IN ('admin', 'directory'));
UPDATE users SET disabled_at = now(), disabled_by = 'admin' WHERE disabled;
ALTER TABLE users ADD CONSTRAINT users_disabled_at
    CHECK (disabled = (disabled_at IS NOT NULL) AND disabled = (disabled_by IS NOT NULL));
CREATE INDEX users_disabled_at ON users (disabled_at) WHERE disabled;
ALTER TABLE users ADD COLUMN last_sign_in_at timestamptz;

-- An OpenID Connect sign-in in flight: the state the workstation's browser
-- brings back, the nonce the ID token must carry and the PKCE challenge the
-- code's verifier must match. Single use; expired ones are cleared.
CREATE TABLE oidc_attempts (
    -- SHA-256 (hex) of the state: the state itself is a bearer secret.
    state_hash text PRIMARY KEY,
    device_id uuid NOT NULL REFERENCES devices (id),
    provider text NOT NULL,
    nonce text NOT NULL,
    code_challenge text NOT NULL,
    redirect_uri text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oidc_attempts_expiry ON oidc_attempts (expires_at);

GRANT SELECT, INSERT, DELETE ON oidc_attempts TO wardbook_service;
