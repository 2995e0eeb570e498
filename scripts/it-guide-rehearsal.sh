#!/usr/bin/env bash
# Runs the Linux commands of docs/it-guide.md, in the guide's order, against
# the packages in target/packages/ (`make package`), on this machine: the
# central service from its .deb on the distribution's PostgreSQL cluster,
# with the keys that encrypt patient identifiers (created, both kinds
# rotated, a backup restored with the key-encryption key of its time),
# three workstations (three OS accounts, each with its own Secret Service
# keyring) enrolled from one batch of codes, a move to another ward, a
# revocation, and both uninstalls. Every check fails loudly.
#
# It changes the machine (packages, /etc/wardbook, the PostgreSQL cluster
# "15 main", three accounts) and undoes all of it on exit: run it on a
# throwaway CI machine, as root, not beside a real installation.
# Deviations from the guide, each for the rehearsal only:
# - no systemd here: the service runs as the unit runs it (user wardbook,
#   server.env, `wardbook-server serve`, and the key-encryption key as the
#   unit's LoadCredential= hands it over: a copy of /etc/wardbook/kek that
#   only user wardbook can read, named by WARDBOOK_KEK_FILE);
#   systemctl/journalctl are not run;
# - patients come from `wardbook-server synth` (synthetic, so the service
#   runs with WARDBOOK_ENV=test; workstations run in production);
# - a self-signed certificate for 127.0.0.1 stands for the hospital's;
# - the offline copies of the key-encryption key (sealed envelope, vault)
#   are files in a directory only root can read, and a backup is restored
#   into a second database, wardbook_restore, of the same cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The helpers the scripts share: step, fail, expect_contains.
# shellcheck source=SCRIPTDIR/lib.sh
. scripts/lib.sh

[[ $(id -u) == 0 ]] || fail "run as root (it installs packages and adds accounts)"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
PKG=$ROOT/target/packages
DESKTOP=wardbook_${VERSION}_amd64.deb
SERVER=wardbook-server_${VERSION}-1_amd64.deb
RPM=wardbook-${VERSION}-1.x86_64.rpm
for f in "$DESKTOP" "$SERVER" "$RPM"; do
  [[ -f $PKG/$f ]] || fail "$PKG/$f is missing: run make package first"
done
[[ ! -e /etc/wardbook/policy.toml ]] || fail "/etc/wardbook/policy.toml exists: not on a machine with a real installation"
# (The clean-up removes /etc/wardbook/kek: never on a machine that has one.)
for f in /etc/wardbook/kek /etc/wardbook/kek.old /etc/wardbook/kek.new; do
  [[ ! -e $f ]] || fail "$f exists: not on a machine with a real installation"
done
! dpkg-query -W wardbook wardbook-server >/dev/null 2>&1 || fail "wardbook or wardbook-server is installed already"
PORT=18443
URL=https://127.0.0.1:$PORT
USERS=(kiosk7a kiosk7b kiosk7c)
WORK=$(mktemp -d /tmp/it-guide-rehearsal.XXXXXX)
chmod 0755 "$WORK"
SERVICE_PID=
STARTED_CLUSTER=

cleanup() {
  set +e
  [[ -n $SERVICE_PID ]] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
  if pg_lsclusters -h 15 main 2>/dev/null | grep -q online; then
    runuser -u postgres -- psql -q -c "DROP DATABASE IF EXISTS wardbook" 2>/dev/null
    runuser -u postgres -- psql -q -c "DROP DATABASE IF EXISTS wardbook_restore" 2>/dev/null
    for role in wardbook_app wardbook_owner wardbook_service; do
      runuser -u postgres -- psql -q -c "DROP ROLE IF EXISTS $role" 2>/dev/null
    done
    [[ -n $STARTED_CLUSTER ]] && pg_ctlcluster 15 main stop
  fi
  for u in "${USERS[@]}"; do id "$u" >/dev/null 2>&1 && userdel -r "$u" 2>/dev/null; done
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq wardbook wardbook-server >/dev/null 2>&1
  getent passwd wardbook >/dev/null && userdel wardbook 2>/dev/null
  getent group wardbook >/dev/null && groupdel wardbook 2>/dev/null
  rm -rf /etc/wardbook/policy.toml /etc/wardbook/hospital-ca.pem /etc/wardbook/tls "$WORK"
  rm -f /etc/wardbook/kek /etc/wardbook/kek.old /etc/wardbook/kek.new
  rmdir /etc/wardbook 2>/dev/null
}
trap cleanup EXIT

# Runs a script as a workstation account, inside its own D-Bus session with
# an unlocked gnome-keyring (what a desktop sign-in gives it).
as_user() { # as_user USER SCRIPT
  local user=$1 script=$WORK/$1.sh
  printf 'set -eu\ncd\n%s\n' "$2" >"$script"
  chmod 0755 "$script"
  install -d -m 0700 -o "$user" "$WORK/run-$user"
  runuser -u "$user" -- env -i HOME="/home/$user" PATH=/usr/bin:/bin LANG=C.UTF-8 XDG_RUNTIME_DIR="$WORK/run-$user" \
    dbus-run-session -- sh -c "echo -n rehearsal | gnome-keyring-daemon --unlock --components=secrets >/dev/null; sh $script" \
    >"$script.out" 2>&1 || { cat "$script.out" >&2; fail "as $user: $2"; }
  grep -v 'Failed to set fd limit' "$script.out" || true
}

# The unit's LoadCredential=kek:/etc/wardbook/kek and
# Environment=WARDBOOK_KEK_FILE=%d/kek, by hand: at each start systemd copies
# the file (root's, mode 0600) into a directory only the service's user can
# read, and the service reads that copy.
CREDENTIALS=$WORK/credentials # stands for /run/credentials/wardbook-server.service
start_service() {
  rm -rf "$CREDENTIALS"
  install -d -m 0500 -o wardbook -g wardbook "$CREDENTIALS"
  install -m 0400 -o wardbook -g wardbook /etc/wardbook/kek "$CREDENTIALS/kek"
  runuser -u wardbook -- env -u WARDBOOK_LOG WARDBOOK_KEK_FILE="$CREDENTIALS/kek" \
    sh -c 'set -a; . /etc/wardbook/server.env; set +a; exec /usr/bin/wardbook-server serve' \
    >>"$WORK/service.log" 2>&1 &
  SERVICE_PID=$!
  local out deadline=$((SECONDS + 60))
  until out=$(wardbook-server health 2>&1) && answers; do
    ((SECONDS < deadline)) || { cat "$WORK/service.log"; fail "the service did not become healthy: $out"; }
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$WORK/service.log"; fail "the service exited"; }
  done
  echo "$out"
}
stop_service() { # SIGTERM, as systemctl stop sends it
  kill "$SERVICE_PID"
  wait "$SERVICE_PID" || true
  SERVICE_PID=
}
answers() { # the TLS listener answers, trusting only its certificate
  python3 -c 'import ssl, sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/v1/health", context=ssl.create_default_context(cafile=sys.argv[2]), timeout=5)' \
    "$URL" "$WORK/ca.pem" 2>/dev/null
}
# One field of `health --json`'s database.encryption (what `keys status` shows).
encryption() { # encryption EXPRESSION, over e = database.encryption
  wardbook-server --json health 2>/dev/null | python3 -c 'import json, sys
e = json.load(sys.stdin)["database"]["encryption"]
print(eval(sys.argv[1], {"e": e}))' "$1"
}
# `serve` as the unit runs it, but in production and with the given key
# file: it must stop before it listens, naming the file.
serve_refuses() { # serve_refuses WHAT KEK_FILE
  local out rc
  set +e
  # shellcheck disable=SC2016 # $KEK expands in the service user's shell
  out=$(runuser -u wardbook -- env KEK="$2" timeout 60 sh -c \
    'set -a; . /etc/wardbook/server.env; WARDBOOK_ENV=production; WARDBOOK_KEK_FILE=$KEK; set +a
exec /usr/bin/wardbook-server serve' 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out" | sed 's/^/    | /'
  ((rc != 124)) || fail "serve started with $1 (stopped after 60 s)"
  ((rc != 0)) || fail "serve exited 0 with $1"
  expect_contains "serve with $1" "$out" "$2"
}
# An admin command that needs the keys, with the given key file: it must
# fail, naming the file and the fingerprint of the key the database expects
# (the label of the offline copy to fetch), and change nothing.
command_refuses() { # command_refuses WHAT KEK_FILE EXPECTED_FINGERPRINT COMMAND...
  local what=$1 kek=$2 expected=$3 out
  shift 3
  if out=$(WARDBOOK_KEK_FILE=$kek "$@" 2>&1); then fail "$* ran with $what"; fi
  printf '%s\n' "$out" | sed 's/^/    | /'
  expect_contains "$* with $what" "$out" "$kek"
  expect_contains "$* with $what" "$out" "$expected"
}
fingerprint() { python3 -c 'import json, sys; print(json.load(sys.stdin)["kek_fingerprint"])'; }

# ---------------------------------------------------------------- section 2
step "2. Install a workstation package"
cd "$PKG"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$DESKTOP" >/dev/null
out=$(wardbook --version)
expect_contains "installed version" "$out" "wardbook $VERSION"
expect_contains "dpkg-deb -I" "$(dpkg-deb -I "$DESKTOP")" "Package: wardbook"
expect_contains "dpkg-deb -c" "$(dpkg-deb -c "$DESKTOP")" "usr/bin/wardbook"
expect_contains "rpm -qpi" "$(rpm -qpi "$RPM" 2>/dev/null)" "Version     : $VERSION"
expect_contains "rpm -qpl" "$(rpm -qpl "$RPM" 2>/dev/null)" "/usr/bin/wardbook"

# ---------------------------------------------------------------- section 8
step "8. Install the central service"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$SERVER" >/dev/null
expect_contains "service version" "$(wardbook-server --version)" "wardbook-server $VERSION"
getent passwd wardbook >/dev/null || fail "the package did not create the system user wardbook"
[[ $(stat -c '%a %U %G' /etc/wardbook/server.env) == "640 root wardbook" ]] || fail "server.env is not 0640 root:wardbook"
cd "$WORK"

step "8. The database (the distribution's cluster 15/main)"
if ! pg_lsclusters -h 15 main | grep -q online; then
  pg_ctlcluster 15 main start
  STARTED_CLUSTER=1
fi
runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'wardbook_owner'" | grep -q 1 &&
  fail "the cluster already has a wardbook_owner role: not on a machine with a real installation"
runuser -u postgres -- createuser --createrole wardbook_owner
runuser -u postgres -- psql -c "ALTER ROLE wardbook_owner PASSWORD 'owner-change-me'"
runuser -u postgres -- createdb -O wardbook_owner wardbook
WARDBOOK_DATABASE_URL=postgres://wardbook_owner:owner-change-me@localhost/wardbook wardbook-server migrate
runuser -u postgres -- psql -c "ALTER ROLE wardbook_owner NOCREATEROLE"
runuser -u postgres -- psql -c "CREATE ROLE wardbook_app LOGIN PASSWORD 'change-me' IN ROLE wardbook_service"
runuser -u postgres -- psql -c "GRANT pg_monitor TO wardbook_service"

step "8. Settings and TLS"
install -d -m 0750 -g wardbook /etc/wardbook/tls
# A rehearsal CA and the service's certificate signed by it (the hospital's PKI).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Rehearsal hospital CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout /etc/wardbook/tls/key.pem -out "$WORK/service.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$WORK/service.ext"
openssl x509 -req -in "$WORK/service.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/service.ext" -out /etc/wardbook/tls/cert.pem 2>/dev/null
chgrp wardbook /etc/wardbook/tls/key.pem /etc/wardbook/tls/cert.pem
chmod 0640 /etc/wardbook/tls/key.pem
cat >>/etc/wardbook/server.env <<EOF
WARDBOOK_DATABASE_URL=postgres://wardbook_app:change-me@localhost/wardbook
WARDBOOK_LISTEN=127.0.0.1:$PORT
WARDBOOK_TLS_CERT=/etc/wardbook/tls/cert.pem
WARDBOOK_TLS_KEY=/etc/wardbook/tls/key.pem
WARDBOOK_ENV=test
EOF

step "8. Keys: the key-encryption key, then the first data key (before the first start)"
set -a; . /etc/wardbook/server.env; set +a
export WARDBOOK_LOG=warn
wardbook-server keys generate-kek /etc/wardbook/kek
expect_eq "/etc/wardbook/kek mode and owner" "600 root:root" "$(stat -c '%a %U:%G' /etc/wardbook/kek)"
expect_eq "/etc/wardbook/kek lines" 1 "$(wc -l </etc/wardbook/kek)"
expect_eq "bytes of the key (base64 of 32 random bytes)" 32 "$(base64 -d /etc/wardbook/kek | wc -c)"
# The offline copy (the sealed envelope, the vault): here, a directory of root's.
install -d -m 0700 "$WORK/offline"
cp /etc/wardbook/kek "$WORK/offline/kek-1"
if wardbook-server keys generate-kek /etc/wardbook/kek >"$WORK/generate-again.out" 2>&1; then
  fail "keys generate-kek overwrote an existing key file"
fi
cmp -s /etc/wardbook/kek "$WORK/offline/kek-1" || fail "keys generate-kek changed an existing key file"
ok "keys generate-kek refuses an existing file: $(head -1 "$WORK/generate-again.out")"
! runuser -u wardbook -- test -r /etc/wardbook/kek || fail "user wardbook can read /etc/wardbook/kek: only root (systemd) may"
ok "user wardbook cannot read /etc/wardbook/kek"
export WARDBOOK_KEK_FILE=/etc/wardbook/kek
FINGERPRINT_1=$(wardbook-server --json keys init | fingerprint) # the label of kek-1's offline copies
info "keys init: encryption keys created under the key-encryption key $FINGERPRINT_1"
if wardbook-server keys init >"$WORK/init-again.out" 2>&1; then fail "keys init ran twice"; fi
ok "keys init refuses keys that exist: $(head -1 "$WORK/init-again.out")"
wardbook-server keys status
expect_eq "a current data key, from the file (not a throwaway)" "True False" \
  "$(encryption 'e["current_key_id"] is not None, e["throwaway_kek"]' | tr -d '(),')"

step "8. Keys: serve stops, naming the file, when its key is missing, unreadable, not a key or the wrong one"
openssl rand -base64 32 >"$WORK/other-kek"
echo "not a key" >"$WORK/bad-kek"
chown wardbook "$WORK/other-kek" "$WORK/bad-kek"
chmod 0400 "$WORK/other-kek" "$WORK/bad-kek"
serve_refuses "a missing key file" "$WORK/no-such-kek"
serve_refuses "a key file it cannot read" /etc/wardbook/kek
serve_refuses "a file that holds no key" "$WORK/bad-kek"
serve_refuses "another key" "$WORK/other-kek"

step "8. Run the service as its unit does"
unit=/lib/systemd/system/wardbook-server.service
[[ -f $unit ]] || unit=/usr/lib/systemd/system/wardbook-server.service
grep -q '^ExecStart=/usr/bin/wardbook-server serve$' "$unit" || fail "the unit does not run wardbook-server serve"
grep -q '^User=wardbook$' "$unit" || fail "the unit does not run as wardbook"
grep -q '^LoadCredential=kek:/etc/wardbook/kek$' "$unit" || fail "the unit does not hand the service /etc/wardbook/kek as a credential"
grep -q '^Environment=WARDBOOK_KEK_FILE=%d/kek$' "$unit" || fail "the unit does not point WARDBOOK_KEK_FILE at the credential"
start_service

step "8. Admin commands"
echo "synthetic-rehearsal-password" >"$WORK/password.txt"
wardbook-server user add it.admin --display-name "IT Admin" --role admin <"$WORK/password.txt"
wardbook-server location add 7A --name "Ward 7A"
wardbook-server location add 7B --name "Ward 7B"
# Synthetic patients (rehearsal only), then two assigned to 7A and one to 7B.
wardbook-server synth --patients 6 >/dev/null
# Their MRNs: the database holds them encrypted, so they come from the same
# ward (same seed) written as FHIR files.
wardbook-server synth --patients 6 --fhir "$WORK/ward-fhir" >/dev/null
mapfile -t MRNS < <(python3 -c 'import json, sys
mrns = [i["value"] for line in open(sys.argv[1]) for i in json.loads(line).get("identifier", []) if i.get("system") == "urn:wardbook:mrn"]
print("\n".join(sorted(mrns)[:3]))' "$WORK/ward-fhir/Patient.ndjson")
((${#MRNS[@]} == 3)) || fail "no synthetic patients"
wardbook-server patient assign "${MRNS[0]}" --location 7A
wardbook-server patient assign "${MRNS[1]}" --location 7A
wardbook-server patient assign "${MRNS[2]}" --location 7B

step "8. Keys: rotate the data key; the running service re-encrypts every row"
wardbook-server keys rotate --wait
wardbook-server keys status
expect_eq "rows in clear text, rows pending" "0 0" "$(encryption 'e["clear_rows"], e["pending_rows"]' | tr -d '(),')"
# --wait returns once no row is pending; the service retires the old key
# right after its next (empty) batch.
deadline=$((SECONDS + 30))
until [[ $(encryption '" ".join(sorted(set(k["state"] for k in e["keys"])))') == "current retired" ]]; do
  ((SECONDS < deadline)) || { wardbook-server keys status; fail "the old data key was not retired within 30 s of the rotation"; }
  sleep 0.5
done
ok "the old data key is retired (destroyed); the new one is current"
runuser -u postgres -- pg_dump wardbook >"$WORK/plain.sql"
for mrn in "${MRNS[@]}"; do
  if grep -qF "$mrn" "$WORK/plain.sql"; then fail "the MRN $mrn is in clear text in the database"; fi
done
ok "no MRN in clear text anywhere in a pg_dump of the database"
rm -f "$WORK/plain.sql"

step "9. A backup, and the key-encryption key it needs"
install -d -m 0700 "$WORK/backups"
runuser -u postgres -- pg_dump -Fc wardbook >"$WORK/backups/wardbook-before-rewrap.dump"

step "8. Keys: rotate the key-encryption key, then restart the service with it"
wardbook-server keys generate-kek /etc/wardbook/kek.new
FINGERPRINT_2=$(wardbook-server --json keys rotate-kek --new-kek-file /etc/wardbook/kek.new | fingerprint)
info "keys rotate-kek: data keys re-wrapped under the key-encryption key $FINGERPRINT_2"
mv /etc/wardbook/kek /etc/wardbook/kek.old
mv /etc/wardbook/kek.new /etc/wardbook/kek
expect_eq "/etc/wardbook/kek mode and owner" "600 root:root" "$(stat -c '%a %U:%G' /etc/wardbook/kek)"
stop_service
start_service
wardbook-server keys status
wardbook-server patient assign "${MRNS[0]}" --location 7A # found by MRN: the index key opens with the new KEK
cp /etc/wardbook/kek "$WORK/offline/kek-2"
command_refuses "the key before the rewrap" "$WORK/offline/kek-1" "$FINGERPRINT_2" \
  wardbook-server patient assign "${MRNS[0]}" --location 7A
# A backup taken after the rewrap: the old key may leave the server (its
# offline copy stays while backups taken before the rewrap are kept).
runuser -u postgres -- pg_dump -Fc wardbook >"$WORK/backups/wardbook-after-rewrap.dump"
rm /etc/wardbook/kek.old

step "9. Restore: a backup opens with the key-encryption key of its time, and only with it"
runuser -u postgres -- createdb -O wardbook_owner wardbook_restore
runuser -u postgres -- pg_restore -d wardbook_restore --exit-on-error --single-transaction <"$WORK/backups/wardbook-before-rewrap.dump"
RESTORED=postgres://wardbook_app:change-me@localhost/wardbook_restore
WARDBOOK_DATABASE_URL=$RESTORED command_refuses "today's key" /etc/wardbook/kek "$FINGERPRINT_1" \
  wardbook-server keys status
(
  export WARDBOOK_DATABASE_URL=$RESTORED WARDBOOK_KEK_FILE=$WORK/offline/kek-1
  wardbook-server patient assign "${MRNS[0]}" --location 7A
  wardbook-server keys rotate
  wardbook-server keys reencrypt # opens every encrypted row: a wrong key or a damaged row stops it
  wardbook-server keys status
  expect_eq "restored copy: rows in clear text, rows pending" "0 0" "$(encryption 'e["clear_rows"], e["pending_rows"]' | tr -d '(),')"
)
runuser -u postgres -- psql -q -c "DROP DATABASE wardbook_restore"

# ---------------------------------------------------------------- section 3
step "3. The policy file"
install -d -m 0755 /etc/wardbook
install -m 0644 /usr/share/doc/wardbook/policy.toml.example /etc/wardbook/policy.toml
sed -i "s|^#server_url = .*|server_url = \"$URL\"|; s|^#environment = .*|environment = \"production\"|; s|^#idle_lock_minutes = .*|idle_lock_minutes = 5|" /etc/wardbook/policy.toml
install -m 0644 "$WORK/ca.pem" /etc/wardbook/hospital-ca.pem
sed -i 's|^#ca_file = .*|ca_file = "/etc/wardbook/hospital-ca.pem"|' /etc/wardbook/policy.toml
for u in "${USERS[@]}"; do useradd -m -s /bin/sh "$u"; done
out=$(as_user kiosk7a 'wardbook settings')
echo "$out"
expect_contains "settings" "$out" "server_url                 policy         $URL"
expect_contains "settings" "$out" "idle_lock_minutes          policy         5"
expect_contains "settings" "$out" "environment                policy         production"

step "3. An invalid policy stops Wardbook, naming the line and the key"
cp /etc/wardbook/policy.toml "$WORK/policy.good"
sed -i 's|^idle_lock_minutes = 5|idle_lock_minutes = 0|' /etc/wardbook/policy.toml
line=$(grep -n '^idle_lock_minutes = 0' /etc/wardbook/policy.toml | cut -d: -f1)
out=$(as_user kiosk7a 'wardbook status || echo "exit $?"')
echo "$out"
expect_contains "invalid policy" "$out" "not valid at line $line (idle_lock_minutes)"
expect_contains "invalid policy exit code" "$out" "exit 2"
cp "$WORK/policy.good" /etc/wardbook/policy.toml

# ---------------------------------------------------------------- section 4
step "4. Many workstations at once"
wardbook-server device enroll-code --location 7A --count 3 --hours 48 >codes-7A.txt
[[ $(wc -l <codes-7A.txt) == 3 ]] || fail "three codes, one a line"
out=$(wardbook-server device codes --location 7A)
echo "$out"
i=0
for u in "${USERS[@]}"; do
  i=$((i + 1))
  CODE=$(sed -n "${i}p" codes-7A.txt)
  out=$(as_user "$u" "wardbook enroll --code $CODE
wardbook sync --once")
  echo "$out"
  expect_contains "$u enrolled" "$out" "for 7A"
  expect_contains "$u synced" "$out" "Synced:"
done
out=$(wardbook-server device codes --location 7A --all)
echo "$out"
[[ $(grep -c ' used ' <<<"$out") == 3 ]] || fail "all three codes used"

step "7. Where the keys live"
out=$(as_user kiosk7a 'secret-tool search --all service org.wardbook.desktop 2>&1')
expect_contains "keyring entries" "$out" "database-key/"
expect_contains "keyring entries" "$out" "device-credential/"

step "10. A healthy workstation's doctor"
out=$(as_user kiosk7a 'wardbook doctor')
echo "$out"
if grep -q '^FAIL' <<<"$out"; then fail "doctor fails on a healthy workstation"; fi
expect_contains "doctor enrolment" "$out" "serves 7A; not revoked"
cp <(echo "$out") "$WORK/doctor-ok.txt"

step "4. A workstation moves to ward 7B"
CODE=$(wardbook-server device enroll-code --location 7B --count 1)
out=$(as_user kiosk7b "wardbook reenroll --code $CODE
wardbook sync --once
wardbook doctor | grep enrolment")
echo "$out"
expect_contains "moved" "$out" "now serves 7B"
expect_contains "doctor after the move" "$out" "serves 7B; not revoked"

step "6. Uninstall, data first: sync, check, then remove (kiosk7c)"
out=$(as_user kiosk7c 'wardbook sync --once
wardbook status
test -d ~/.local/share/wardbook && echo "data folder present"')
echo "$out"
expect_contains "nothing pending" "$out" "Pending edits:    0"
expect_contains "nothing pending" "$out" "Pending audit:    0 events"
out=$(as_user kiosk7c 'rm -rf ~/.local/share/wardbook
secret-tool clear service org.wardbook.desktop
test ! -e ~/.local/share/wardbook && echo "data folder removed"
secret-tool search --all service org.wardbook.desktop 2>&1 | grep -c "device-credential" || true')
echo "$out"
expect_contains "data removed" "$out" "data folder removed"
[[ $(tail -1 <<<"$out") == 0 ]] || fail "keyring entries remain after secret-tool clear"

step "4. Revocation is seen at the next sync (kiosk7a)"
DEVICE=$(as_user kiosk7a 'wardbook doctor --json' | python3 -c '
import json, re, sys
checks = json.load(sys.stdin)
line = next(c["detail"] for c in checks if c["name"] == "enrolment")
print(re.search(r"device ([0-9a-f-]{36})", line).group(1))')
wardbook-server device revoke "$DEVICE"
out=$(as_user kiosk7a 'wardbook sync --once || echo "exit $?"
wardbook doctor | grep -E "enrolment|last sync" || true')
echo "$out"
expect_contains "revoked sync" "$out" "exit 1"
expect_contains "revoked sync" "$out" "revoked"
expect_contains "revoked doctor" "$out" "FAIL  enrolment"

step "6. Uninstall the workstation package: program gone, data kept"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq wardbook >/dev/null
[[ ! -e /usr/bin/wardbook ]] || fail "/usr/bin/wardbook is still there"
[[ -f /home/kiosk7a/.local/share/wardbook/wardbook.db ]] || fail "the user's data folder was removed"
[[ -f /etc/wardbook/policy.toml ]] || fail "IT's policy file was removed"

step "8. Uninstall the service package: remove keeps server.env, purge removes it"
stop_service
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq wardbook-server >/dev/null
[[ -f /etc/wardbook/server.env ]] || fail "remove deleted server.env"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq wardbook-server >/dev/null
[[ ! -e /etc/wardbook/server.env ]] || fail "purge kept server.env"
[[ -f /etc/wardbook/kek ]] || fail "purge removed /etc/wardbook/kek, which is IT's file, not the package's"
[[ $(runuser -u postgres -- psql -tAc "SELECT count(*) FROM pg_database WHERE datname = 'wardbook'") == 1 ]] ||
  fail "the database must survive the package"

step "The IT guide's Linux commands ran: OK"
echo "A healthy workstation's doctor:"
cat "$WORK/doctor-ok.txt"
