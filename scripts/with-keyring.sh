#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring
# providing the Secret Service, so the real keyring backend is exercised
# without touching the user's own keyring: its files go to a temporary
# XDG_DATA_HOME that is removed afterwards. Processes end with the session.
set -euo pipefail
if (($# == 0)); then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null 2>&1 || { echo "with-keyring: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
scratch=$(mktemp -d -t wardbook-keyring.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/data" "$scratch/runtime"
chmod 700 "$scratch/data" "$scratch/runtime"
export XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/runtime"
dbus-run-session -- sh -c '
  echo -n wardbook-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null || {
    echo "with-keyring: gnome-keyring-daemon did not start" >&2; exit 1; }
  "$@"
' with-keyring "$@"
