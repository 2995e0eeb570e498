#!/usr/bin/env bash
# End-to-end tests: the real Wardbook binary in WebKitGTK, under Xvfb, in a
# private D-Bus session with an unlocked gnome-keyring (the app keeps its
# database key in the Secret Service), with HOME, XDG dirs and the data dir
# in a fresh temp dir. WebdriverIO drives it through tauri-driver
# (wdio.conf.ts). Everything this script starts is stopped at exit and the
# temp dir removed.
#
# Usage: tests/e2e/run.sh            (the app: target/debug/wardbook)
#        WARDBOOK_APP=/path/to/wardbook tests/e2e/run.sh
#        tests/e2e/run.sh --spec specs/census-and-chart.e2e.ts   (extra args go to wdio)
# Build the app first, with the UI embedded:
#        npm --prefix ui ci && npm --prefix ui run build && cargo build --features custom-protocol

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The helpers the scripts share: fail, its messages prefixed "e2e".
script_name=e2e
# shellcheck source=SCRIPTDIR/../../scripts/lib.sh
. "$repo/scripts/lib.sh"

# --- inside Xvfb and dbus-run-session --------------------------------------
if [ "${1:-}" = "--inside-session" ]; then
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || fail "no D-Bus session bus (run through run.sh, not directly)"
  [ -n "${DISPLAY:-}" ] || fail "no X display (run through run.sh, not directly)"

  # The keyring daemon in the foreground, so that its pid is ours to stop.
  printf '%s' "wardbook-e2e" |
    gnome-keyring-daemon --foreground --unlock --components=secrets \
      >"$WARDBOOK_E2E_RUN_DIR/gnome-keyring.log" 2>&1 &
  keyring_pid=$!
  trap 'kill "$keyring_pid" 2>/dev/null || true; wait "$keyring_pid" 2>/dev/null || true' EXIT

  # Wait (bounded) until the Secret Service is on the bus.
  deadline=$((SECONDS + 20))
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
    kill -0 "$keyring_pid" 2>/dev/null || fail "gnome-keyring-daemon exited: $(cat "$WARDBOOK_E2E_RUN_DIR/gnome-keyring.log")"
    [ "$SECONDS" -lt "$deadline" ] || fail "the Secret Service (gnome-keyring) did not appear on the session bus within 20 s"
    sleep 0.1
  done

  shift
  cd "$here"
  status=0
  "$here/node_modules/.bin/wdio" run wdio.conf.ts "$@" || status=$?
  exit "$status"
fi

# --- outside: check, prepare, run, clean up --------------------------------
find_tool() {
  local name=$1
  shift
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  local dir
  for dir in "$@"; do
    if [ -x "$dir/$name" ]; then
      echo "$dir/$name"
      return 0
    fi
  done
  return 1
}

missing=()
tauri_driver="${TAURI_DRIVER:-$(find_tool tauri-driver "$HOME/.cargo/bin" || true)}"
[ -n "$tauri_driver" ] && [ -x "$tauri_driver" ] || missing+=("tauri-driver  (cargo install tauri-driver --locked)")
webkit_driver="${WEBKIT_WEBDRIVER:-$(find_tool WebKitWebDriver /usr/libexec/webkit2gtk-4.1 || true)}"
[ -n "$webkit_driver" ] && [ -x "$webkit_driver" ] || missing+=("WebKitWebDriver  (apt-get install webkit2gtk-driver)")
for tool in xvfb-run:xvfb dbus-run-session:dbus-daemon gnome-keyring-daemon:gnome-keyring dbus-send:dbus-bin node:nodejs; do
  find_tool "${tool%%:*}" >/dev/null || missing+=("${tool%%:*}  (apt-get install ${tool##*:})")
done
app="$(realpath -m "${WARDBOOK_APP:-$repo/target/debug/wardbook}")"
[ -x "$app" ] || missing+=("the app binary $app  (npm --prefix ui run build && cargo build --features custom-protocol)")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "e2e: cannot run the end-to-end tests; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

# The binary must embed the current UI (custom-protocol): without it the
# window would wait for a Vite dev server.
if [ -d "$repo/ui/dist/assets" ]; then
  for asset in "$repo"/ui/dist/assets/index-*.js; do
    [ -e "$asset" ] || continue
    if ! grep -aqF "$(basename "$asset")" "$app"; then
      echo "e2e: warning: $app does not embed ui/dist/assets/$(basename "$asset");" >&2
      echo "e2e:          rebuild with: npm --prefix ui run build && cargo build --features custom-protocol" >&2
    fi
  done
fi

if [ ! -x "$here/node_modules/.bin/wdio" ]; then
  echo "e2e: installing the test runner (npm ci in tests/e2e)"
  npm ci --prefix "$here" --no-audit --no-fund >/dev/null
fi

tmp="$(mktemp -d -t wardbook-e2e.XXXXXX)"
chmod 700 "$tmp"
run_id="wardbook-e2e-$$-${tmp##*.}"

# Stops every process this run started (they all carry WARDBOOK_E2E_RUN_ID
# in their environment), then removes the temp dir.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pids=() d pid
  for pass in term kill; do
    pids=()
    for d in /proc/[0-9]*; do
      pid=${d#/proc/}
      [ "$pid" = "$$" ] && continue
      grep -qzxF "WARDBOOK_E2E_RUN_ID=$run_id" "$d/environ" 2>/dev/null && pids+=("$pid")
    done
    [ "${#pids[@]}" -eq 0 ] && break
    if [ "$pass" = term ]; then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      local deadline=$((SECONDS + 5))
      while [ "$SECONDS" -lt "$deadline" ]; do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
      done
    else
      echo "e2e: killing ${#pids[@]} leftover process(es)" >&2
      kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
  done
  if [ -f "$tmp/run/tauri-driver.log" ]; then
    mkdir -p "$here/.artifacts"
    cp "$tmp/run/tauri-driver.log" "$here/.artifacts/tauri-driver.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  if [ "$status" -eq 0 ]; then
    echo "e2e: PASSED"
  else
    echo "e2e: FAILED (exit $status); screenshots and the driver/app log are in tests/e2e/.artifacts/" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 700 -p "$tmp/home" "$tmp/xdg/data" "$tmp/xdg/config" "$tmp/xdg/cache" "$tmp/xdg/runtime" "$tmp/data" "$tmp/run"
rm -f "$here"/.artifacts/*.png "$repo"/target/e2e-screenshots/*.png

export WARDBOOK_E2E_RUN_ID="$run_id"
export HOME="$tmp/home"
export XDG_DATA_HOME="$tmp/xdg/data"
export XDG_CONFIG_HOME="$tmp/xdg/config"
export XDG_CACHE_HOME="$tmp/xdg/cache"
export XDG_RUNTIME_DIR="$tmp/xdg/runtime"
export WARDBOOK_ENV=development
export WARDBOOK_DATA_DIR="$tmp/data"
export WARDBOOK_E2E_RUN_DIR="$tmp/run"
export WARDBOOK_APP="$app"
export TAURI_DRIVER="$tauri_driver"
export WEBKIT_WEBDRIVER="$webkit_driver"
# Xvfb has no GPU: software rendering, no accessibility bus, X11 only.
export WEBKIT_DISABLE_DMABUF_RENDERER=1
export LIBGL_ALWAYS_SOFTWARE=1
export NO_AT_BRIDGE=1
export GDK_BACKEND=x11
unset WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS

echo "e2e: app $app"
echo "e2e: temp dir $tmp"
status=0
xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" \
  dbus-run-session -- "$here/run.sh" --inside-session "$@" || status=$?
exit "$status"
