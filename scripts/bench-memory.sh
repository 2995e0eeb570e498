#!/usr/bin/env bash
# `make bench`: the resident memory of the app as it ships (the release
# build) and of WebKit's processes, after a clinician has left the ward
# census on screen, signed in, for ten minutes. The real app under Xvfb with
# the real sync service and PostgreSQL, as the end-to-end tests run it
# (tests/e2e/run.sh), driven by tests/e2e/bench/idle-memory.bench.ts; the
# tables (t=0, once a minute, at the end, then after each of five
# lock-and-unlock cycles) go to target/bench-memory/. docs/memory.md says
# what the figures mean.
#
# Usage: scripts/bench-memory.sh
#   WARDBOOK_APP=/path/to/wardbook   the binary (default target/release/wardbook)
#   WARDBOOK_IDLE_SECONDS=600        how long the census stays untouched
#   WARDBOOK_BENCH_SYNC_INTERVAL_SECONDS=60   background sync (default: the shipped 60 s)
# Build first: npm --prefix ui run build && cargo build --release --features wardbook/custom-protocol
#              cargo build --workspace --bins --features wardbook/custom-protocol   (wardbook-stack)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The helpers the scripts share: step, info, fail.
# shellcheck source=SCRIPTDIR/lib.sh
. "$repo/scripts/lib.sh"

app="$(realpath -m "${WARDBOOK_APP:-$repo/target/release/wardbook}")"
idle="${WARDBOOK_IDLE_SECONDS:-600}"
sync_interval="${WARDBOOK_BENCH_SYNC_INTERVAL_SECONDS:-60}"
[[ "$idle" =~ ^[0-9]+$ ]] || fail "WARDBOOK_IDLE_SECONDS must be whole seconds, not '$idle'"
if ! [[ "$sync_interval" =~ ^[0-9]+$ ]] || ((sync_interval < 1)); then
  fail "WARDBOOK_BENCH_SYNC_INTERVAL_SECONDS must be whole seconds from 1, not '$sync_interval'"
fi
[ -x "$app" ] || fail "$app is missing: npm --prefix ui run build && cargo build --release --features wardbook/custom-protocol"

# The end-to-end run's idle lock (90 s) and sync interval (2 s) are for
# tests: IT's policy file beats both (src-tauri/config/mod.rs). The lock
# stays five minutes beyond the idle period; sync runs as shipped.
lock_minutes=$(((idle + 59) / 60 + 5))
((lock_minutes <= 240)) || fail "WARDBOOK_IDLE_SECONDS=$idle: the idle lock cannot be kept off that long (240 minutes at most)"
scratch="$(mktemp -d -t wardbook-bench-memory.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
cat >"$scratch/policy.toml" <<EOF
# scripts/bench-memory.sh: no idle lock during the measurement; sync as shipped.
idle_lock_minutes = $lock_minutes
sync_interval_seconds = $sync_interval
EOF

# A binary just built or copied is dirty in the page cache until written
# back, and its mapped pages would count as the app's private dirty memory.
sync -- "$app"

step "idle memory: $app, ${idle} s on the census (sync every ${sync_interval} s)"
report="$repo/target/bench-memory/idle-memory.txt"
rm -f "$report" "${report%.txt}.json"
status=0
WARDBOOK_APP="$app" WARDBOOK_POLICY_FILE="$scratch/policy.toml" WARDBOOK_IDLE_SECONDS="$idle" \
  "$repo/tests/e2e/run.sh" --spec bench/idle-memory.bench.ts --mochaOpts.timeout=$(((idle + 300) * 1000)) ||
  status=$?

# The figures, even when a check after them failed (the run's exit status is kept).
[ -f "$report" ] || fail "the bench wrote no report ($report)"
step "report ($report)"
cat "$report"
exit "$status"
