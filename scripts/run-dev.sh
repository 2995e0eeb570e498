#!/usr/bin/env bash
# `make run`: Wardbook on synthetic data, the whole way through. Starts a
# throwaway PostgreSQL cluster and the real sync service with a synthetic
# ward (target/debug/wardbook-stack), enrols a fresh development data
# directory with it, prints the synthetic sign-in names, and opens the app.
# Closing the window stops the service and the cluster.
#
# Each run starts from a new central database, so the development data
# directory (DEV_DATA_DIR, default target/dev-data) is recreated each time:
# it only ever holds synthetic data.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="${WARDBOOK_APP:-$repo/target/debug/wardbook}"
stack="${WARDBOOK_STACK:-$repo/target/debug/wardbook-stack}"
data_dir="${DEV_DATA_DIR:-$repo/target/dev-data}"

for bin in "$app" "$stack"; do
  [ -x "$bin" ] || { echo "run-dev: $bin is missing; run make run (it builds both)" >&2; exit 1; }
done
# Reads a field of the stack's JSON line.
field() { python3 -c 'import json,sys; v=json.loads(sys.stdin.read())
for k in sys.argv[1:]: v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$@"; }

export WARDBOOK_ENV=development
rm -rf "$data_dir"
mkdir -p "$data_dir"
export WARDBOOK_DATA_DIR="$data_dir"

# The stack answers one JSON line on stdout, then takes commands on stdin
# and stops everything at end of input.
# The ward arrives through the HL7 v2 feed (admissions, beds, results, one
# transfer), as a hospital's interface engine sends it.
coproc STACK { WARDBOOK_STACK_FEED=hl7 "$stack"; }
stack_in=${STACK[1]}
trap 'exec {stack_in}>&- 2>/dev/null || true; wait 2>/dev/null || true' EXIT
IFS= read -r -t 180 ready <&"${STACK[0]}" || { echo "run-dev: the development stack did not start" >&2; exit 1; }

url=$(field url <<<"$ready")
code=$(field codes 0 <<<"$ready")
export WARDBOOK_SERVER_URL="$url"
export WARDBOOK_SYNC_INTERVAL_SECONDS="${WARDBOOK_SYNC_INTERVAL_SECONDS:-10}"
# The synthetic ward's doses are charted against due times in UTC.
export WARDBOOK_HOSPITAL_TIME_ZONE="${WARDBOOK_HOSPITAL_TIME_ZONE:-UTC}"

"$app" enroll --server "$url" --code "$code"
echo
echo "SYNTHETIC DATA: the service at $url serves a generated ward (Ward 7A on this workstation),"
echo "admitted, placed in beds and given results through its HL7 v2 feed (MLLP at $(field mllp <<<"$ready"))."
echo "Sign in as one of these synthetic users:"
python3 -c 'import json,sys
for u in json.loads(sys.stdin.read())["users"]:
    print("  %s  password %s  (%s)" % (u["username"], u["password"], u["display_name"]))' <<<"$ready"
echo "Emergency access (break-the-glass) demo: MRN $(field out_of_scope_mrn <<<"$ready") is on Ward 7B only."
echo

"$app"
