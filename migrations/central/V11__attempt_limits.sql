-- Wardbook central schema, version 11: sign-in and enrolment attempts
-- counted in the database (issue 18, several service instances).
--
-- Each instance counted attempts in its own memory before, so N instances
-- behind a load balancer allowed N times the attempts. Now every login,
-- OpenID Connect sign-in and enrolment adds one to a row per key (the
-- client's address, the user name tried, the device) and minute, and is
-- refused when a key is over the policy's auth_attempts_per_minute
-- (auth::check_attempts).
--
-- The keys hold client addresses and the names people typed (a password
-- typed into the name field, now and then): only their SHA-256 is stored.
-- The rows live a few minutes (the service's housekeeping deletes older
-- windows every minute) and matter to nothing else: UNLOGGED, so counting
-- a failed sign-in writes no WAL. A crash of PostgreSQL or a failover
-- empties the table, which only resets the counts.

CREATE UNLOGGED TABLE auth_attempts (
    key_hash bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    -- The minute the attempts fell in (date_trunc('minute', now())).
    window_start timestamptz NOT NULL,
    attempts integer NOT NULL CHECK (attempts >= 1),
    PRIMARY KEY (key_hash, window_start)
);

-- The cleanup's range scan.
CREATE INDEX auth_attempts_window ON auth_attempts (window_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON auth_attempts TO wardbook_service;
