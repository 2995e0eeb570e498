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
# gnome-keyring-daemon has been seen to abort under load (a GLib trap, in
# dmesg); the daemon D-Bus then activates on demand is locked, and every
# keyring call after that failed. So the daemon runs in the foreground under
# a loop that starts it again at once, unlocked (--replace takes the bus name
# back from an activated one); its keyring file, and so every item, stays.
dbus-run-session -- sh -c '
  ( while :; do
      echo -n wardbook-test | gnome-keyring-daemon --foreground --replace --unlock --components=secrets >/dev/null 2>&1
      echo "with-keyring: gnome-keyring-daemon exited (status $?); starting it again, unlocked" >&2
    done ) &
  supervisor=$!
  # Ready once the Secret Service has an owner on the bus (20 s at most).
  tries=0
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || { echo "with-keyring: gnome-keyring-daemon did not start" >&2; kill "$supervisor"; exit 1; }
    sleep 0.1
  done
  status=0
  "$@" || status=$?
  kill "$supervisor" 2>/dev/null
  exit "$status"
' with-keyring "$@"
