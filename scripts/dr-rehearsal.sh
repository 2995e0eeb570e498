#!/usr/bin/env bash
# Disaster-recovery rehearsal for Wardbook's central PostgreSQL database.
#
# Builds, in a private temporary directory and on free loopback ports, a
# primary with WAL archiving and a streaming standby (physical replication
# slot), loads the Wardbook schema and a synthetic ward with the real
# `wardbook-server` (steps 1-2), then rehearses, checking every step:
#
#   3. streaming replication: a row written on the primary reaches the
#      standby; `wardbook-server health` on both;
#   4. replication lag, sampled during a burst of writes;
#   5. a logical backup (pg_dump -Fc + pg_dumpall --roles-only) restored into
#      a fresh cluster, row counts compared table by table, audit chains
#      re-verified with `wardbook-server audit verify`;
#   6. a compressed base backup + WAL archive, checked with pg_verifybackup
#      and restored to a point in time just before a bad UPDATE;
#   7. synchronous replication: what a commit costs, and what happens to
#      writes while the only synchronous standby is down;
#   8. failover: the primary crashes under a stream of writes, the standby is
#      promoted; time from "primary down" to "standby accepts writes" (RTO of
#      the mechanical step) and acknowledged writes lost (RPO) are measured;
#   9. the old primary is rewound (pg_rewind) and rejoins as a standby.
#
# It prints a summary of the measured numbers and exits non-zero at the first
# failed check. It never touches other PostgreSQL clusters: everything lives
# in one `mktemp -d` directory, removed on exit (DR_KEEP=1 keeps it, with the
# clusters stopped).
#
# Usage:   scripts/dr-rehearsal.sh            (as root, or as the postgres user)
# Options (environment):
#   WARDBOOK_SERVER_BIN  the wardbook-server binary (default: target/debug, then target/release)
#   PGBIN                PostgreSQL's bin directory (default /usr/lib/postgresql/15/bin)
#   DR_BASE_PORT         first port to try (default 55432); four free ports are used
#   DR_PATIENTS          synthetic patients (default 24)
#   DR_KEEP=1            keep the work directory for inspection
set -Eeuo pipefail
# Any failing command ends the rehearsal with its line (reported once, by the main shell).
trap '[ "$BASH_SUBSHELL" -gt 0 ] || printf "\n%s: FAILED: line %s: %s\n" "${0##*/}" "$LINENO" "$BASH_COMMAND" >&2; exit 1' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BASE_PORT=${DR_BASE_PORT:-55432}
PATIENTS=${DR_PATIENTS:-24}
SLOT=standby1
SCRIPT_START=$(date +%s%N)

# Nothing from the caller's environment may point these tools elsewhere.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGPASSFILE
unset WARDBOOK_DATABASE_URL WARDBOOK_LISTEN WARDBOOK_TLS_CERT WARDBOOK_TLS_KEY WARDBOOK_SERVER_CONFIG
unset WARDBOOK_KEK_FILE WARDBOOK_DATABASE_CA_FILE
export PATH="$PGBIN:$PATH"
export LC_ALL=C.UTF-8
export WARDBOOK_ENV=test WARDBOOK_LOG=warn

# ---------------------------------------------------------------- helpers --

# Commands are echoed on fd 3 (the terminal's stdout), so that they show
# even when their own output is discarded or captured.
exec 3>&1

# The helpers the scripts share: step, info, ok, fail, expect_eq.
# shellcheck source=SCRIPTDIR/lib.sh
. "$REPO/scripts/lib.sh"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The arguments as a shell would need them typed (quoted when needed).
quoted() {
    local a out=
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
            out+="$a "
        else
            out+="'${a//\'/\'\\\'\'}' "
        fi
    done
    printf '%s' "${out% }"
}

SECRETS=()
mask() {
    local text=$1 s
    for s in "${SECRETS[@]}"; do text=${text//"$s"/********}; done
    printf '%s' "$text"
}
# Prints the command (secrets masked) and runs it: the output shows every
# command exactly as it ran.
run() {
    printf '    $ %s\n' "$(mask "$(quoted "$@")")" >&3
    "$@"
}

# PostgreSQL refuses to run as root: server-side commands run as `postgres`.
if [ "$(id -u)" -eq 0 ]; then
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi
as_pg() { "${AS_PG[@]}" "$@"; }
pg() {
    printf '    $ %s%s\n' "${AS_PG[*]:+${AS_PG[*]} }" "$(mask "$(quoted "$@")")" >&3
    as_pg "$@"
}

# psql as the superuser over this rehearsal's private Unix socket.
sql() {
    local port=$1 db=$2
    shift 2
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$RUN" -p "$port" -U postgres -d "$db" -c "$*"
}
# Same, printed first (for the statements an operator would type).
sqlp() {
    local port=$1 db=$2
    shift 2
    printf '    $ psql -h %s -p %s -U postgres -d %s -c "%s"\n' "$RUN" "$port" "$db" "$(mask "$*")" >&3
    sql "$port" "$db" "$@"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s until it
# succeeds, failing the rehearsal once the deadline passes.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$(($(now_ms) + seconds * 1000))
    until "$@" >/dev/null 2>&1; do
        if [ "$(now_ms)" -ge "$deadline" ]; then
            fail "timed out after ${seconds}s waiting for: $what"
        fi
        sleep 0.1
    done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

url() { # url ROLE PORT
    local pw
    case $1 in
        wardbook_owner) pw=$OWNER_PW ;;
        wardbook_app) pw=$APP_PW ;;
        *) fail "no password for $1" ;;
    esac
    printf 'postgres://%s:%s@127.0.0.1:%s/wardbook' "$1" "$pw" "$2"
}

# wardbook-server with the given role and port, printed as an operator would run it.
wbs() { # wbs ROLE PORT ARGS...
    local role=$1 port=$2
    shift 2
    printf '    $ WARDBOOK_ENV=test WARDBOOK_DATABASE_URL=%s wardbook-server %s\n' "$(mask "$(url "$role" "$port")")" "$(quoted "$@")" >&3
    if ! WARDBOOK_DATABASE_URL=$(url "$role" "$port") "$WBS" "$@" >"$WORK/wbs.out" 2>&1; then
        sed 's/^/      /' "$WORK/wbs.out"
        fail "wardbook-server $1 exited with an error (see above)"
    fi
    sed 's/^/      /' "$WORK/wbs.out"
}

# health_json PORT: `wardbook-server --json health` as the service role.
health_json() { WARDBOOK_DATABASE_URL=$(url wardbook_app "$1") "$WBS" --json health || true; }

ready() { pg_isready -q -h "$RUN" -p "$1" -U postgres -d postgres; }
in_recovery() { sql "$1" postgres "SELECT pg_is_in_recovery()"; }
not_in_recovery() { [ "$(in_recovery "$1")" = f ]; }
row_exists() { # row_exists PORT DB SQL-CONDITION-QUERY
    [ "$(sql "$1" "$2" "$3")" = t ]
}

# ---------------------------------------------------------------- set up --

for tool in initdb pg_ctl pg_basebackup pg_dump pg_dumpall pg_restore pg_verifybackup pg_rewind pg_waldump pgbench psql pg_isready; do
    command -v "$tool" >/dev/null || fail "$tool not found (PGBIN=$PGBIN): install postgresql-15"
done
command -v jq >/dev/null || fail "jq not found: apt-get install jq"

if [ -z "${WARDBOOK_SERVER_BIN:-}" ]; then
    for candidate in "$REPO/target/debug/wardbook-server" "$REPO/target/release/wardbook-server"; do
        if [ -x "$candidate" ]; then
            WARDBOOK_SERVER_BIN=$candidate
            break
        fi
    done
fi
[ -n "${WARDBOOK_SERVER_BIN:-}" ] && [ -x "$WARDBOOK_SERVER_BIN" ] ||
    fail "no wardbook-server binary: build it (cargo build -p wardbook-server) or set WARDBOOK_SERVER_BIN"
[[ $PATIENTS =~ ^[1-9][0-9]{0,4}$ ]] || fail "DR_PATIENTS must be a number from 1 to 99999"
[[ $BASE_PORT =~ ^[0-9]+$ ]] && [ "$BASE_PORT" -ge 1024 ] && [ "$BASE_PORT" -le 65000 ] || fail "DR_BASE_PORT must be 1024..65000"
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || fail "as root this needs the postgres user (PostgreSQL refuses to run as root)"
fi

WORK=$(mktemp -d /tmp/wardbook-dr.XXXXXX)
BG_PIDS=() # background clients started by this script
cleanup() {
    local rc=$? pid
    trap - ERR
    set +e
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for d in primary standby pitr restore; do
        if [ -f "$WORK/$d/postmaster.pid" ]; then
            as_pg pg_ctl -D "$WORK/$d" -m immediate -w -t 30 stop >/dev/null 2>&1
        fi
    done
    if [ "$rc" -ne 0 ] && [ -d "$WORK/logs" ]; then
        for log in "$WORK"/logs/*.log; do
            [ -f "$log" ] || continue
            printf '\n--- last lines of %s ---\n' "$(basename "$log")" >&2
            tail -n 15 "$log" >&2
        done
    fi
    if [ "${DR_KEEP:-0}" = 1 ]; then
        printf '\nwork directory kept: %s\n' "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RUN=$WORK/run           # Unix sockets
ARCHIVE=$WORK/archive   # the WAL archive (another host or object store in production)
BACKUPS=$WORK/backups   # pg_dump files and base backups
mkdir -p "$RUN" "$ARCHIVE" "$BACKUPS" "$WORK/logs" "$WORK/bin"
cp "$WARDBOOK_SERVER_BIN" "$WORK/bin/wardbook-server" # a concurrent rebuild cannot swap it mid-run
WBS=$WORK/bin/wardbook-server
: >"$WORK/server.toml" # an empty config: a machine's /etc/wardbook/server.toml is never read
export WARDBOOK_SERVER_CONFIG=$WORK/server.toml

newpw() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
REPL_PW=$(newpw)
OWNER_PW=$(newpw)
APP_PW=$(newpw)
SECRETS=("$REPL_PW" "$OWNER_PW" "$APP_PW")
printf '*:*:*:replicator:%s\n' "$REPL_PW" >"$WORK/pgpass"
chmod 0600 "$WORK/pgpass"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$WORK"; fi
chmod 0700 "$WORK"
export PGPASSFILE=$WORK/pgpass # replication connections (pg_basebackup, the standby)

PORTS=()
p=$BASE_PORT
while [ "${#PORTS[@]}" -lt 4 ]; do
    [ "$p" -lt $((BASE_PORT + 200)) ] || fail "no four free ports from $BASE_PORT"
    if port_free "$p"; then PORTS+=("$p"); fi
    p=$((p + 1))
done
P=${PORTS[0]} S=${PORTS[1]} R=${PORTS[2]} T=${PORTS[3]}

step "Rehearsal set-up"
info "work directory: $WORK (removed on exit)"
WBS_VERSION=$("$WBS" --version) || fail "cannot run $WARDBOOK_SERVER_BIN"
info "wardbook-server: $WARDBOOK_SERVER_BIN ($WBS_VERSION)"
info "PostgreSQL: $(postgres --version)"
info "ports: primary $P, standby $S, logical-restore $R, PITR-restore $T (127.0.0.1 only)"

# Cluster settings for this rehearsal. Authentication: the superuser over
# the private Unix socket; everyone else with a SCRAM password over loopback.
write_hba() {
    cat >"$1/pg_hba.conf" <<'EOF'
# TYPE  DATABASE     USER        ADDRESS         METHOD
local   all          postgres                    trust
local   replication  postgres                    trust
host    replication  replicator  127.0.0.1/32    scram-sha-256
host    all          all         127.0.0.1/32    scram-sha-256
EOF
}
start_cluster() { # start_cluster NAME
    pg pg_ctl -D "$WORK/$1" -l "$WORK/logs/$1.log" -w -t 60 start >/dev/null
    wait_for 30 "$1 accepting connections" ready "$(port_of "$1")"
}
port_of() {
    case $1 in primary) echo "$P" ;; standby) echo "$S" ;; restore) echo "$R" ;; pitr) echo "$T" ;; esac
}
primary_conf() {
    cat <<EOF

# --- wardbook DR rehearsal: primary ---
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$RUN'
cluster_name = 'primary'
shared_buffers = 32MB
max_connections = 50
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'
max_wal_senders = 10
max_replication_slots = 10
max_slot_wal_keep_size = 2GB
hot_standby = on
log_line_prefix = '%m [%p] %q%a '
EOF
}

# ------------------------------------------------------------- 1 primary --

step "1. Primary: WAL archiving and streaming replication"
pg initdb -D "$WORK/primary" -U postgres -E UTF8 --locale=C.UTF-8 --data-checksums --auth-local=trust --auth-host=scram-sha-256 >/dev/null
primary_conf | as_pg tee -a "$WORK/primary/postgresql.conf" >/dev/null
write_hba "$WORK/primary"
info "postgresql.conf additions:"
primary_conf | sed -n '3,$p' | sed 's/^/      /'
start_cluster primary
sqlp "$P" postgres "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$REPL_PW'"
sqlp "$P" postgres "SELECT pg_create_physical_replication_slot('$SLOT')" >/dev/null
expect_eq "replication slot $SLOT exists" physical "$(sql "$P" postgres "SELECT slot_type FROM pg_replication_slots WHERE slot_name = '$SLOT'")"

step "2. The wardbook database, schema and a synthetic ward"
sqlp "$P" postgres "CREATE ROLE wardbook_owner LOGIN PASSWORD '$OWNER_PW'" >/dev/null
sqlp "$P" postgres "CREATE DATABASE wardbook OWNER wardbook_owner" >/dev/null
# The first migration runs CREATE ROLE wardbook_service; PostgreSQL 15
# checks CREATEROLE before it checks whether the role exists, so the owner
# holds CREATEROLE for the first migration only.
sqlp "$P" postgres "ALTER ROLE wardbook_owner CREATEROLE" >/dev/null
wbs wardbook_owner "$P" migrate
sqlp "$P" postgres "ALTER ROLE wardbook_owner NOCREATEROLE" >/dev/null
sqlp "$P" postgres "CREATE ROLE wardbook_app LOGIN PASSWORD '$APP_PW' IN ROLE wardbook_service" >/dev/null
sqlp "$P" postgres "GRANT pg_monitor TO wardbook_service" >/dev/null
# The key-encryption key, as production keeps it: apart from the database,
# so every restore below must bring this file back with the backup.
export WARDBOOK_KEK_FILE="$WORK/kek"
"$WBS" keys generate-kek "$WARDBOOK_KEK_FILE" >/dev/null
wbs wardbook_app "$P" keys init
wbs wardbook_app "$P" synth --patients "$PATIENTS"

# Synth loads no audit events (workstations upload them). So that the
# backups carry an audit trail to verify, insert one device's chain of 200
# events hashed exactly as workstations hash them (protocol/src/audit.rs).
DEVICE_ID=$(sql "$P" wardbook "SELECT gen_random_uuid()")
sql "$P" wardbook "
INSERT INTO devices (id, name, credential_hash) VALUES ('$DEVICE_ID', 'dr-rehearsal-workstation', repeat('0', 64));
DO \$\$
DECLARE
    prev text := repeat('0', 64);
    h text;
    ev uuid;
    sess uuid := gen_random_uuid();
    t timestamptz;
    pid uuid;
BEGIN
    FOR i IN 1..200 LOOP
        ev := gen_random_uuid();
        t := clock_timestamp();
        SELECT id INTO pid FROM patients ORDER BY id OFFSET (i % $PATIENTS) LIMIT 1;
        h := encode(sha256(convert_to(format(
            E'wardbook-audit-v1\nid=%s\ndevice_id=%s\nsequence=%s\nrecorded_at=%s\nuser_id=%s\nsession_id=%s\naction=%s\nsubtype=%s\npatient_id=%s\npurpose_of_use=%s\noutcome=%s\nprev_hash=%s\n',
            ev, '$DEVICE_ID', i, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
            'nurse.synthetic', sess, 'read', 'chart-open', pid, 'TREAT', 'success', prev), 'UTF8')), 'hex');
        INSERT INTO audit_events (device_id, sequence, id, recorded_at, user_id, session_id, action, subtype,
                                  patient_id, purpose_of_use, outcome, prev_hash, hash)
        VALUES ('$DEVICE_ID', i, ev, t, 'nurse.synthetic', sess, 'read', 'chart-open',
                pid, 'TREAT', 'success', prev, h);
        prev := h;
    END LOOP;
END
\$\$;"
info "inserted a rehearsal audit chain: device $DEVICE_ID, 200 events"
wbs wardbook_app "$P" audit verify
info "tables (\\dt public.* phi.*):"
psql -X -h "$RUN" -p "$P" -U postgres -d wardbook -c '\dt (public|phi).*' | sed 's/^/      /'

# ------------------------------------------------------------- 3 standby --

step "3. Streaming standby from a base backup (pg_basebackup -R -X stream -S $SLOT)"
pg pg_basebackup -d "host=127.0.0.1 port=$P user=replicator application_name=standby1" \
    -D "$WORK/standby" -R -X stream -S "$SLOT" -c fast
cat <<EOF | as_pg tee -a "$WORK/standby/postgresql.conf" >/dev/null

# --- wardbook DR rehearsal: standby ---
port = $S
cluster_name = 'standby1'
EOF
info "standby.signal present: $([ -f "$WORK/standby/standby.signal" ] && echo yes || echo no)"
info "postgresql.auto.conf written by -R (secrets masked):"
mask "$(grep -E '^(primary_conninfo|primary_slot_name)' "$WORK/standby/postgresql.auto.conf")" | sed 's/^/      /'
echo
start_cluster standby
info "$ psql -h $RUN -p $S -U postgres -c \"SELECT pg_is_in_recovery()\""
expect_eq "standby is in recovery (SELECT pg_is_in_recovery())" t "$(in_recovery "$S")"
wait_for 30 "standby streaming from the primary" row_exists "$P" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming')"
ok "pg_stat_replication on the primary shows standby1 streaming"
expect_eq "slot $SLOT is active" t "$(sql "$P" postgres "SELECT active FROM pg_replication_slots WHERE slot_name = '$SLOT'")"

t0=$(now_ms)
wbs wardbook_app "$P" location add DR-REPL-CHECK --name "DR rehearsal: replication check"
wait_for 10 "the new row on the standby" row_exists "$S" wardbook \
    "SELECT EXISTS (SELECT 1 FROM locations WHERE code = 'DR-REPL-CHECK')"
REPL_VISIBLE_MS=$(($(now_ms) - t0))
ok "row written on the primary visible on the standby after ${REPL_VISIBLE_MS} ms (including the CLI's start-up)"
expect_eq "patients on the standby" "$PATIENTS" "$(sql "$S" wardbook "SELECT count(*) FROM patients")"

info "wardbook-server health against the primary:"
wbs wardbook_app "$P" health
expect_eq "health (primary): status, role, replicas" \
    "ok primary standby1:streaming" \
    "$(health_json "$P" | jq -r '[.status, .database.role, (.database.replicas[] | .application_name + ":" + .state)] | join(" ")')"
info "wardbook-server health against the standby:"
wbs wardbook_app "$S" health
expect_eq "health (standby): status, role" "ok replica" "$(health_json "$S" | jq -r '.status + " " + .database.role')"

# ------------------------------------------------------------------ lag --

step "4. Replication lag (asynchronous replication)"
LAG_QUERY="SELECT application_name, state, sync_state, sent_lsn, write_lsn, flush_lsn, replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes,
       write_lag, flush_lag, replay_lag
  FROM pg_stat_replication"
info "idle:"
psql -X -h "$RUN" -p "$P" -U postgres -d postgres -c "$LAG_QUERY" | sed 's/^/      /'
sql "$P" postgres "CREATE DATABASE dr_scratch"
sql "$P" dr_scratch "CREATE TABLE dr_load (id bigserial PRIMARY KEY, payload text NOT NULL);
                     CREATE TABLE dr_writes (id integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"
BURST_SQL="INSERT INTO dr_load (payload) SELECT repeat('x', 200) FROM generate_series(1, 500000)"
info "a burst of writes, 500,000 rows of 200 bytes in one transaction, pg_stat_replication sampled while it runs:"
printf '    $ psql -h %s -p %s -U postgres -d dr_scratch -c "%s" &\n' "$RUN" "$P" "$BURST_SQL" >&3
sql "$P" dr_scratch "$BURST_SQL" &
BURST_PID=$!
BG_PIDS+=("$BURST_PID")
wait_for 30 "the burst to start" row_exists "$P" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'INSERT INTO dr_load%' AND pid <> pg_backend_pid())"
MAX_LAG_BYTES=0 MAX_REPLAY_LAG_MS=0 SAMPLES=0
deadline=$(($(now_ms) + 120000))
while kill -0 "$BURST_PID" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "the burst took more than 120 s"
    read -r bytes lag_ms < <(sql "$P" postgres "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
        coalesce(round(extract(epoch FROM replay_lag) * 1000), 0)::bigint
        FROM pg_stat_replication WHERE application_name = 'standby1'" | tr '|' ' ')
    [ -n "${bytes:-}" ] || fail "standby1 missing from pg_stat_replication during the burst"
    if [ "$bytes" -gt "$MAX_LAG_BYTES" ]; then MAX_LAG_BYTES=$bytes; fi
    if [ "$lag_ms" -gt "$MAX_REPLAY_LAG_MS" ]; then MAX_REPLAY_LAG_MS=$lag_ms; fi
    SAMPLES=$((SAMPLES + 1))
    if [ "$SAMPLES" -eq 1 ]; then
        info "during the burst:"
        psql -X -h "$RUN" -p "$P" -U postgres -d postgres -c "$LAG_QUERY" | sed 's/^/      /'
        info "wardbook-server health during the burst:"
        wbs wardbook_app "$P" health
    fi
    sleep 0.05
done
wait "$BURST_PID" || fail "the burst failed"
BURST_END=$(sql "$P" postgres "SELECT pg_current_wal_lsn()")
t0=$(now_ms)
wait_for 60 "the standby replaying up to $BURST_END" row_exists "$P" postgres \
    "SELECT replay_lsn >= '$BURST_END' FROM pg_stat_replication WHERE application_name = 'standby1'"
CATCHUP_MS=$(($(now_ms) - t0))
ok "peak lag over $SAMPLES samples: $MAX_LAG_BYTES bytes of WAL not yet replayed, replay_lag $MAX_REPLAY_LAG_MS ms"
ok "standby had replayed everything ${CATCHUP_MS} ms after the burst committed"
info "after catching up:"
psql -X -h "$RUN" -p "$P" -U postgres -d postgres -c "$LAG_QUERY" | sed 's/^/      /'
read -r LAG_WRITE LAG_FLUSH LAG_REPLAY < <(sql "$P" postgres "SELECT coalesce(write_lag::text, 'n/a'), coalesce(flush_lag::text, 'n/a'), coalesce(replay_lag::text, 'n/a') FROM pg_stat_replication WHERE application_name = 'standby1'" | tr '|' ' ')

# ------------------------------------------------------- logical backup --

step "5. Logical backup: pg_dump -Fc, restored into a fresh cluster"
DUMP=$BACKUPS/wardbook.dump
t0=$(now_ms)
run pg_dump -h "$RUN" -p "$P" -U postgres -d wardbook -Fc -f "$DUMP"
run pg_dumpall -h "$RUN" -p "$P" -U postgres --roles-only -f "$BACKUPS/roles.sql"
DUMP_MS=$(($(now_ms) - t0))
info "dump: $(du -h "$DUMP" | cut -f1), roles: $(wc -l <"$BACKUPS/roles.sql") lines, in ${DUMP_MS} ms"
info "dump contents (pg_restore --list, tables only):"
pg_restore --list "$DUMP" | awk '$4 == "TABLE" && $5 != "DATA" { print "      " $5 "." $6 " (owner " $7 ")" }'

pg initdb -D "$WORK/restore" -U postgres -E UTF8 --locale=C.UTF-8 --data-checksums --auth-local=trust --auth-host=scram-sha-256 >/dev/null
cat <<EOF | as_pg tee -a "$WORK/restore/postgresql.conf" >/dev/null

# --- wardbook DR rehearsal: logical restore target ---
listen_addresses = '127.0.0.1'
port = $R
unix_socket_directories = '$RUN'
cluster_name = 'restore'
shared_buffers = 32MB
EOF
write_hba "$WORK/restore"
start_cluster restore
t0=$(now_ms)
# roles.sql recreates every role; the bootstrap superuser already exists.
sed '/^CREATE ROLE postgres;$/d' "$BACKUPS/roles.sql" >"$BACKUPS/roles-restore.sql"
run psql -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$R" -U postgres -d postgres -f "$BACKUPS/roles-restore.sql"
run createdb -h "$RUN" -p "$R" -U postgres -O wardbook_owner wardbook
run pg_restore -h "$RUN" -p "$R" -U postgres -d wardbook --exit-on-error --single-transaction "$DUMP"
RESTORE_MS=$(($(now_ms) - t0))
ok "restored in ${RESTORE_MS} ms"

TABLES=$(sql "$P" wardbook "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('public', 'phi') ORDER BY 1")
COUNT_SQL=$(for t in $TABLES; do printf "SELECT '%s', count(*) FROM %s UNION ALL " "$t" "$t"; done)
COUNT_SQL="${COUNT_SQL% UNION ALL } ORDER BY 1"
SRC_COUNTS=$(sql "$P" wardbook "$COUNT_SQL")
DST_COUNTS=$(sql "$R" wardbook "$COUNT_SQL")
printf '      %-34s %10s %10s\n' table source restored
join -t'|' <(echo "$SRC_COUNTS") <(echo "$DST_COUNTS") | while IFS='|' read -r t a b; do
    printf '      %-34s %10s %10s\n' "$t" "$a" "$b"
done
[ "$SRC_COUNTS" = "$DST_COUNTS" ] || fail "row counts differ between the source and the restored database"
ok "row counts identical in all $(echo "$TABLES" | wc -w) tables"
expect_eq "audit_events restored" 200 "$(sql "$R" wardbook "SELECT count(*) FROM audit_events")"
info "audit chains on the restored database:"
wbs wardbook_app "$R" audit verify
info "health of the restored database (the service's role and password came back with roles.sql):"
wbs wardbook_app "$R" health
pg pg_ctl -D "$WORK/restore" -m fast -w stop >/dev/null

# ------------------------------------------------------------------ PITR --

step "6. Base backup + WAL archive: point-in-time recovery"
t0=$(now_ms)
pg pg_basebackup -d "host=127.0.0.1 port=$P user=replicator" -D "$BACKUPS/base" -Ft -z -X fetch -c fast
BASEBACKUP_MS=$(($(now_ms) - t0))
info "base backup in ${BASEBACKUP_MS} ms: $(cd "$BACKUPS/base" && ls | tr '\n' ' ')($(du -sh "$BACKUPS/base" | cut -f1))"

wbs wardbook_app "$P" location add DR-PITR-BEFORE --name "DR rehearsal: before the target"
PHONES_BEFORE=$(sql "$P" wardbook "SELECT count(*) FROM phi.patient_identities WHERE phone IS NOT NULL")
TARGET_TIME=$(sql "$P" postgres "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
TARGET_LSN=$(sql "$P" postgres "SELECT pg_current_wal_lsn()")
info "recovery target: $TARGET_TIME (WAL position $TARGET_LSN); $PHONES_BEFORE patients have a phone number"
info "then the mistake to undo, an UPDATE without WHERE:"
sqlp "$P" wardbook "UPDATE phi.patient_identities SET phone = NULL" >/dev/null
wbs wardbook_app "$P" location add DR-PITR-AFTER --name "DR rehearsal: after the target"
wait_for 10 "the mistake replicated" row_exists "$S" wardbook \
    "SELECT EXISTS (SELECT 1 FROM locations WHERE code = 'DR-PITR-AFTER')"
expect_eq "phones left on the standby (a replica copies mistakes at once)" 0 \
    "$(sql "$S" wardbook "SELECT count(*) FROM phi.patient_identities WHERE phone IS NOT NULL")"
LAST_SEGMENT=$(sql "$P" postgres "SELECT pg_walfile_name(pg_current_wal_lsn())")
sqlp "$P" postgres "SELECT pg_switch_wal()" >/dev/null
wait_for 30 "WAL segment $LAST_SEGMENT in the archive" test -f "$ARCHIVE/$LAST_SEGMENT"
ok "WAL up to segment $LAST_SEGMENT archived ($(ls "$ARCHIVE" | wc -l) files in the archive)"

info "restore into a new cluster directory:"
as_pg mkdir -m 0700 "$WORK/pitr"
pg tar -xzf "$BACKUPS/base/base.tar.gz" -C "$WORK/pitr"
pg cp "$BACKUPS/base/backup_manifest" "$WORK/pitr/"
pg pg_verifybackup "$WORK/pitr" | sed 's/^/      /'
cat <<EOF | as_pg tee -a "$WORK/pitr/postgresql.conf" >/dev/null

# --- wardbook DR rehearsal: point-in-time restore ---
port = $T
cluster_name = 'pitr'
archive_mode = off            # a restored copy must never write into the production archive
restore_command = 'cp $ARCHIVE/%f %p'
recovery_target_time = '$TARGET_TIME'
recovery_target_action = 'promote'
EOF
info "postgresql.conf additions on the restored copy:"
sed -n '/wardbook DR rehearsal: point-in-time restore/,$p' "$WORK/pitr/postgresql.conf" | sed 's/^/      /'
pg touch "$WORK/pitr/recovery.signal"
t0=$(now_ms)
start_cluster pitr
wait_for 120 "the PITR copy to finish recovery" not_in_recovery "$T"
PITR_MS=$(($(now_ms) - t0))
info "from the PITR cluster's log:"
grep -E 'starting point-in-time recovery|restored log file|recovery stopping|selected new timeline|archive recovery complete' "$WORK/logs/pitr.log" |
    sed 's/^.*\] *//; s/^/      /' | tail -n 12
expect_eq "row written before the target is present" 1 \
    "$(sql "$T" wardbook "SELECT count(*) FROM locations WHERE code = 'DR-PITR-BEFORE'")"
expect_eq "row written after the target is absent" 0 \
    "$(sql "$T" wardbook "SELECT count(*) FROM locations WHERE code = 'DR-PITR-AFTER'")"
expect_eq "phone numbers back as they were before the mistake" "$PHONES_BEFORE" \
    "$(sql "$T" wardbook "SELECT count(*) FROM phi.patient_identities WHERE phone IS NOT NULL")"
expect_eq "patients in the PITR copy" "$PATIENTS" "$(sql "$T" wardbook "SELECT count(*) FROM patients")"
info "audit chains and health on the PITR copy:"
wbs wardbook_app "$T" audit verify
wbs wardbook_app "$T" health
pg pg_ctl -D "$WORK/pitr" -m fast -w stop >/dev/null

# ------------------------------------------------- synchronous replication --

step "7. Synchronous replication: RPO 0, and what it costs"
printf "INSERT INTO dr_load (payload) VALUES ('pgbench');\n" >"$WORK/insert.sql"
pgbench_latency() { # pgbench_latency LABEL
    local out
    out=$(pgbench -n -h "$RUN" -p "$P" -U postgres -c 1 -t 500 -f "$WORK/insert.sql" dr_scratch 2>&1) ||
        fail "pgbench failed: $out"
    sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out"
}
printf '    $ pgbench -n -h %s -p %s -U postgres -c 1 -t 500 -f insert.sql dr_scratch   # insert.sql: %s' \
    "$RUN" "$P" "$(cat "$WORK/insert.sql")"
echo
ASYNC_LAT=$(pgbench_latency async)
info "asynchronous (synchronous_standby_names = ''): $ASYNC_LAT ms per single-row commit"
sqlp "$P" postgres "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1)'" >/dev/null
sqlp "$P" postgres "SELECT pg_reload_conf()" >/dev/null
wait_for 15 "standby1 to become synchronous" row_exists "$P" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync')"
ok "pg_stat_replication: standby1 sync_state = sync"
SYNC_LAT=$(pgbench_latency sync)
info "synchronous (commit waits for the standby's flush): $SYNC_LAT ms per single-row commit"

info "the cost when the only synchronous standby is down: commits wait for it."
pg pg_ctl -D "$WORK/standby" -m fast -w stop >/dev/null
t0=$(now_ms)
printf '    $ psql -h %s -p %s -U postgres -d dr_scratch -c "%s" &\n' "$RUN" "$P" \
    "INSERT INTO dr_load (payload) VALUES ('while the standby is down')" >&3
timeout 60 psql -X -h "$RUN" -p "$P" -U postgres -d dr_scratch \
    -c "INSERT INTO dr_load (payload) VALUES ('while the standby is down')" >"$WORK/blocked.out" 2>&1 &
BLOCKED_PID=$!
BG_PIDS+=("$BLOCKED_PID")
wait_for 10 "the commit to wait for the standby" row_exists "$P" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep')"
sleep 3 # one fixed pause (not a poll): the commit is still waiting afterwards
info "3 s later, the client is still waiting (pg_stat_activity):"
psql -X -h "$RUN" -p "$P" -U postgres -d postgres \
    -c "SELECT pid, state, wait_event_type, wait_event, left(query, 40) AS query FROM pg_stat_activity WHERE wait_event = 'SyncRep'" |
    sed 's/^/      /'
row_exists "$P" postgres "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep')" ||
    fail "expected the commit to still wait for the synchronous standby"
sqlp "$P" postgres "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'" >/dev/null
wait_for 10 "the waiting client to return" bash -c "! kill -0 $BLOCKED_PID 2>/dev/null"
wait "$BLOCKED_PID" || true
BLOCKED_MS=$(($(now_ms) - t0))
sed 's/^/      /' "$WORK/blocked.out"
grep -q 'canceling wait for synchronous replication' "$WORK/blocked.out" ||
    fail "expected the cancelled commit to report the synchronous replication wait"
ok "the commit waited ${BLOCKED_MS} ms, until cancelled by hand (committed locally, not yet on a standby)"
info "health while the standby is down:"
wbs wardbook_app "$P" health
start_cluster standby
wait_for 30 "standby1 synchronous again" row_exists "$P" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync')"
ok "standby1 back and synchronous"

# -------------------------------------------------------------- failover --

step "8. Failover: the primary crashes under writes, the standby is promoted"
ACKED=$WORK/acked
: >"$ACKED"
# A client writing one row per transaction, noting each id once its commit
# is acknowledged; it stops at its first error (the primary is gone).
(
    for ((i = 1; i <= 1000000; i++)); do
        psql -X -q -h "$RUN" -p "$P" -U postgres -d dr_scratch -c "INSERT INTO dr_writes (id) VALUES ($i)" \
            >/dev/null 2>&1 || exit 0
        echo "$i" >>"$ACKED"
    done
) &
WRITER_PID=$!
BG_PIDS+=("$WRITER_PID")
wait_for 30 "50 acknowledged writes" bash -c "[ \$(wc -l <'$ACKED') -ge 50 ]"
info "writer running ($(wc -l <"$ACKED") commits acknowledged so far); crashing the primary:"
pg pg_ctl -D "$WORK/primary" -m immediate -w stop >/dev/null
DOWN_MS=$(now_ms)
wait_for 30 "the writer to notice the primary is down" bash -c "! kill -0 $WRITER_PID"
wait "$WRITER_PID" || true
LAST_ACKED=$(tail -n 1 "$ACKED")
RECEIVED_LSN=$(sql "$S" postgres "SELECT pg_last_wal_receive_lsn()")
info "last write acknowledged to the client: id $LAST_ACKED; standby received WAL up to $RECEIVED_LSN"

t0=$(now_ms)
pg pg_ctl -D "$WORK/standby" -w -t 60 promote >/dev/null
PROMOTE_MS=$(($(now_ms) - t0))
wait_for 30 "the promoted standby to accept writes" \
    sql "$S" dr_scratch "INSERT INTO dr_writes (id) VALUES (-1)"
RTO_MS=$(($(now_ms) - DOWN_MS))
ok "standby accepts writes ${RTO_MS} ms after the primary went down (pg_ctl promote: ${PROMOTE_MS} ms)"
expect_eq "promoted standby is out of recovery" f "$(in_recovery "$S")"
expect_eq "new timeline" 00000002 "$(sql "$S" postgres "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")"
expect_eq "synchronous_standby_names on the new primary (empty: its writes do not wait for a standby it lacks)" "" \
    "$(sql "$S" postgres "SHOW synchronous_standby_names")"

LOST=$(sql "$S" dr_scratch "SELECT count(*) FROM generate_series(1, $LAST_ACKED) g WHERE NOT EXISTS (SELECT 1 FROM dr_writes WHERE id = g)")
expect_eq "acknowledged commits missing on the promoted standby (RPO, synchronous replication)" 0 "$LOST"
EXTRA=$(sql "$S" dr_scratch "SELECT count(*) FROM dr_writes WHERE id > $LAST_ACKED")
info "rows on the standby committed but not yet acknowledged when the primary died: $EXTRA"
# WAL the crashed primary wrote that never reached the standby.
printf '    $ %spg_waldump -p %s -s %s\n' "${AS_PG[*]:+${AS_PG[*]} }" "$WORK/primary/pg_wal" "$RECEIVED_LSN"
WALDUMP=$(as_pg pg_waldump -p "$WORK/primary/pg_wal" -s "$RECEIVED_LSN" 2>&1 || true)
UNSENT_RECORDS=$(grep -c '^rmgr:' <<<"$WALDUMP" || true)
if [ "$UNSENT_RECORDS" -gt 0 ]; then
    last=$(grep '^rmgr:' <<<"$WALDUMP" | tail -n 1)
    last_lsn=$(sed -n 's/.*lsn: \([0-9A-F]*\/[0-9A-F]*\),.*/\1/p' <<<"$last")
    last_len=$(sed -n 's/.*len (rec\/tot): *[0-9]*\/ *\([0-9]*\),.*/\1/p' <<<"$last")
    UNSENT_BYTES=$(sql "$S" postgres "SELECT pg_wal_lsn_diff('$last_lsn', '$RECEIVED_LSN') + $last_len")
    UNSENT_COMMITS=$(grep -c 'desc: COMMIT' <<<"$WALDUMP" || true)
else
    UNSENT_BYTES=0 UNSENT_COMMITS=0
fi
info "WAL on the crashed primary beyond what the standby received: $UNSENT_RECORDS records, $UNSENT_BYTES bytes, $UNSENT_COMMITS commits (never acknowledged to a client)"

info "wardbook-server against the promoted standby (repointed: only the port in WARDBOOK_DATABASE_URL changed):"
wbs wardbook_app "$S" location add DR-AFTER-FAILOVER --name "DR rehearsal: written after failover"
wbs wardbook_app "$S" health
expect_eq "health after promotion: status, role, replicas" "ok primary 0" \
    "$(health_json "$S" | jq -r '[.status, .database.role, (.database.replicas | length | tostring)] | join(" ")')"
wbs wardbook_app "$S" audit verify
expect_eq "patients on the new primary" "$PATIENTS" "$(sql "$S" wardbook "SELECT count(*) FROM patients")"
sql "$S" postgres "SELECT pg_switch_wal()" >/dev/null
wait_for 30 "the new primary archiving its timeline history" test -f "$ARCHIVE/00000002.history"
ok "the new primary archives into the same WAL archive (00000002.history present)"

# ----------------------------------------------------- rebuild old primary --

step "9. The old primary rejoins as a standby of the new one (pg_rewind)"
sqlp "$S" postgres "SELECT pg_create_physical_replication_slot('oldprimary')" >/dev/null
t0=$(now_ms)
# pg_rewind reads the new timeline from the source's control file, which
# only has it after the first checkpoint following promotion.
sqlp "$S" postgres "CHECKPOINT" >/dev/null
pg pg_rewind --target-pgdata="$WORK/primary" --source-server="host=$RUN port=$S user=postgres dbname=postgres" \
    >"$WORK/logs/pg_rewind.out" 2>&1 || { cat "$WORK/logs/pg_rewind.out"; fail "pg_rewind failed"; }
grep '^pg_rewind:' "$WORK/logs/pg_rewind.out" | sed 's/^/      /'
grep -q '^pg_rewind: Done!' "$WORK/logs/pg_rewind.out" || fail "pg_rewind did not rewind (see above)"
REWIND_MS=$(($(now_ms) - t0))
# pg_rewind copied the new primary's configuration files: give the old
# primary back its own port and point it at the new primary.
cat <<EOF | as_pg tee -a "$WORK/primary/postgresql.auto.conf" >/dev/null
port = $P
cluster_name = 'oldprimary'
primary_conninfo = 'host=127.0.0.1 port=$S user=replicator passfile=$PGPASSFILE application_name=oldprimary'
primary_slot_name = 'oldprimary'
restore_command = 'cp $ARCHIVE/%f %p'
EOF
info "appended to the old primary's postgresql.auto.conf:"
sed -n '/^port = '"$P"'$/,$p' "$WORK/primary/postgresql.auto.conf" | sed 's/^/      /'
pg touch "$WORK/primary/standby.signal"
start_cluster primary
wait_for 60 "old primary streaming from the new primary" row_exists "$S" postgres \
    "SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = 'oldprimary' AND state = 'streaming')"
REJOIN_MS=$(($(now_ms) - t0))
expect_eq "old primary is now in recovery" t "$(in_recovery "$P")"
wait_for 10 "the post-failover row on the old primary" row_exists "$P" wardbook \
    "SELECT EXISTS (SELECT 1 FROM locations WHERE code = 'DR-AFTER-FAILOVER')"
ok "old primary rewound (${REWIND_MS} ms) and streaming again ${REJOIN_MS} ms after the rewind began; it holds the row written after failover"
wbs wardbook_app "$S" health

# --------------------------------------------------------------- summary --

TOTAL_S=$(( ($(date +%s%N) - SCRIPT_START) / 1000000000 ))
step "Summary (all checks passed)"
cat <<EOF
    synthetic ward                 $PATIENTS patients, $(sql "$S" wardbook "SELECT count(*) FROM observations") observations, $(sql "$S" wardbook "SELECT count(*) FROM allergies") allergies, 200 audit events
    replication                    row visible on the standby after ${REPL_VISIBLE_MS} ms (incl. CLI start-up)
    lag during a burst (async)     peak ${MAX_LAG_BYTES} bytes / ${MAX_REPLAY_LAG_MS} ms replay_lag during 500,000 rows; caught up ${CATCHUP_MS} ms after commit
                                   (then write_lag ${LAG_WRITE}, flush_lag ${LAG_FLUSH}, replay_lag ${LAG_REPLAY})
    logical backup                 pg_dump ${DUMP_MS} ms, $(du -h "$DUMP" | cut -f1); restore ${RESTORE_MS} ms; row counts identical; audit chains intact
    physical backup + PITR         base backup ${BASEBACKUP_MS} ms; recovery to ${TARGET_TIME} in ${PITR_MS} ms;
                                   row before target present, row after absent, mistaken UPDATE undone
    commit latency                 async ${ASYNC_LAT} ms, sync ${SYNC_LAT} ms (single-row commits, same host)
    sync standby down              a commit waited ${BLOCKED_MS} ms, until cancelled by hand (it waits indefinitely)
    failover (mechanical RTO)      ${RTO_MS} ms from primary down to the standby accepting writes (promote ${PROMOTE_MS} ms)
    data loss (RPO, sync)          ${LOST} acknowledged commits lost (of ${LAST_ACKED}); ${UNSENT_BYTES} bytes of unsent WAL on the crashed primary
    old primary rejoined           CHECKPOINT + pg_rewind ${REWIND_MS} ms; streaming from the new primary after ${REJOIN_MS} ms
    total run time                 ${TOTAL_S} s
EOF
