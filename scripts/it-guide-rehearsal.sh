#!/usr/bin/env bash
# Runs the Linux commands of docs/it-guide.md, in the guide's order, against
# the packages in target/packages/ (`make package`), on this machine: the
# central service from its .deb on the distribution's PostgreSQL cluster,
# three workstations (three OS accounts, each with its own Secret Service
# keyring) enrolled from one batch of codes, a move to another ward, a
# revocation, and both uninstalls. Every check fails loudly.
#
# It changes the machine (packages, /etc/wardbook, the PostgreSQL cluster
# "15 main", three accounts) and undoes all of it on exit: run it on a
# throwaway CI machine, as root, not beside a real installation.
# Deviations from the guide, each for the rehearsal only:
# - no systemd here: the service runs as the unit runs it (user wardbook,
#   server.env, `wardbook-server serve`); systemctl/journalctl are not run;
# - patients come from `wardbook-server synth` (synthetic, so the service
#   runs with WARDBOOK_ENV=test; workstations run in production);
# - a self-signed certificate for 127.0.0.1 stands for the hospital's.
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

step "8. Run the service as its unit does"
unit=/lib/systemd/system/wardbook-server.service
[[ -f $unit ]] || unit=/usr/lib/systemd/system/wardbook-server.service
grep -q '^ExecStart=/usr/bin/wardbook-server serve$' "$unit" || fail "the unit does not run wardbook-server serve"
grep -q '^User=wardbook$' "$unit" || fail "the unit does not run as wardbook"
runuser -u wardbook -- sh -c 'set -a; . /etc/wardbook/server.env; set +a; exec /usr/bin/wardbook-server serve' \
  >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
set -a; . /etc/wardbook/server.env; set +a
export WARDBOOK_LOG=warn
deadline=$((SECONDS + 60))
answers() { # the TLS listener answers, trusting only its certificate
  python3 -c 'import ssl, sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/v1/health", context=ssl.create_default_context(cafile=sys.argv[2]), timeout=5)' \
    "$URL" "$WORK/ca.pem" 2>/dev/null
}
until out=$(wardbook-server health 2>&1) && answers; do
  ((SECONDS < deadline)) || { cat "$WORK/service.log"; fail "the service did not become healthy: $out"; }
  kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$WORK/service.log"; fail "the service exited"; }
done
echo "$out"

step "8. Admin commands"
echo "synthetic-rehearsal-password" >"$WORK/password.txt"
wardbook-server user add it.admin --display-name "IT Admin" --role admin <"$WORK/password.txt"
wardbook-server location add 7A --name "Ward 7A"
wardbook-server location add 7B --name "Ward 7B"
# Synthetic patients (rehearsal only), then two assigned to 7A and one to 7B.
wardbook-server synth --patients 6 >/dev/null
mapfile -t MRNS < <(runuser -u postgres -- psql -d wardbook -tAc "SELECT mrn FROM phi.patient_identities ORDER BY mrn LIMIT 3")
((${#MRNS[@]} == 3)) || fail "no synthetic patients"
wardbook-server patient assign "${MRNS[0]}" --location 7A
wardbook-server patient assign "${MRNS[1]}" --location 7A
wardbook-server patient assign "${MRNS[2]}" --location 7B

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
kill "$SERVICE_PID"
wait "$SERVICE_PID" || true
SERVICE_PID=
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq wardbook-server >/dev/null
[[ -f /etc/wardbook/server.env ]] || fail "remove deleted server.env"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq wardbook-server >/dev/null
[[ ! -e /etc/wardbook/server.env ]] || fail "purge kept server.env"
[[ $(runuser -u postgres -- psql -tAc "SELECT count(*) FROM pg_database WHERE datname = 'wardbook'") == 1 ]] ||
  fail "the database must survive the package"

step "The IT guide's Linux commands ran: OK"
echo "A healthy workstation's doctor:"
cat "$WORK/doctor-ok.txt"
