#!/usr/bin/env bash
# Installs what `make run` and `make test` need, only what is missing:
# Debian/Ubuntu system packages (as root, or with sudo), and tauri-driver.
# Without root or sudo it prints the exact apt-get line and stops.
#   --with-tauri-driver  also tauri-driver (the end-to-end tests)
#   --with-packaging     also lintian, rpm, jq, help2man, desktop-file-utils and cargo-deb
#                        (make package, make package-test)
#   --with-api-tools     also schemathesis and hl7 (PyPI) in target/api-tools/venv:
#                        the property-based tests of the API against its document,
#                        and the independent MLLP peer of server/tests/hl7_peer.rs
set -euo pipefail

SYSTEM_PACKAGES=(
  build-essential pkg-config libssl-dev          # Rust builds; SQLCipher links libcrypto
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev  # Tauri on Linux
  xvfb webkit2gtk-driver                          # end-to-end tests: a display and WebKitWebDriver
  gnome-keyring libsecret-1-dev libsecret-tools dbus-x11  # the Secret Service keyring and its CLI
  postgresql                                      # the central service's tests start throwaway clusters
  slapd ldap-utils                                # the LDAP sign-in tests start a throwaway slapd
)

need_tauri_driver=no
need_packaging=no
need_api_tools=no
for arg in "$@"; do
  case "$arg" in
    --with-tauri-driver) need_tauri_driver=yes ;;
    --with-packaging) need_packaging=yes ;;
    --with-api-tools) need_api_tools=yes ;;
    *) echo "usage: $0 [--with-tauri-driver] [--with-packaging] [--with-api-tools]" >&2; exit 2 ;;
  esac
done
if [[ "$need_packaging" == yes ]]; then
  # lintian checks the .debs; rpm reads the .rpm (the Tauri bundler writes it
  # natively: rpmbuild is not needed); jq reads cargo metadata; help2man
  # writes the man pages; desktop-file-validate checks the desktop entry.
  SYSTEM_PACKAGES+=(lintian rpm jq help2man desktop-file-utils)
fi

if [[ "$need_api_tools" == yes ]]; then
  SYSTEM_PACKAGES+=(python3-venv)                 # the virtual environment schemathesis lives in
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: this is not a Debian/Ubuntu system; install the equivalents of: ${SYSTEM_PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

# slapd: the tests run their own server (test-support/src/slapd.rs). Tell the
# package not to create a directory of its own, so that installing it sets
# up no system database and starts no system slapd.
SLAPD_PRESEED="slapd slapd/no_configuration boolean true"

if ((${#missing[@]})); then
  echo "install-deps: installing missing system packages: ${missing[*]}"
  if [[ "$(id -u)" == 0 ]]; then
    echo "$SLAPD_PRESEED" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  elif command -v sudo >/dev/null 2>&1; then
    echo "$SLAPD_PRESEED" | sudo debconf-set-selections
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "install-deps: Wardbook needs system packages that are not installed, and this account can use neither root nor sudo." >&2
    echo "Ask an administrator to run:" >&2
    echo "  echo '$SLAPD_PRESEED' | debconf-set-selections" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

for tool in cargo node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-deps: '$tool' is not installed. Install Rust (https://rustup.rs, 1.95 or newer) and Node.js 20 or newer with npm, then run make again." >&2
    exit 1
  fi
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "install-deps: Node.js $(node --version) is too old; the UI build needs Node.js 20 or newer." >&2
  exit 1
fi

if [[ "$need_tauri_driver" == yes ]] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "install-deps: installing tauri-driver (WebDriver bridge for the end-to-end tests)"
  cargo install tauri-driver --locked --version '^2'
fi

if [[ "$need_packaging" == yes ]] && ! cargo deb --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-deb (builds the wardbook-server .deb)"
  cargo install cargo-deb --locked --version '^3'
fi

# schemathesis, pinned, in a virtual environment of the project's own (never
# the system's Python packages). Its version is part of the test's meaning.
SCHEMATHESIS_VERSION=4.32.5
if [[ "$need_api_tools" == yes ]]; then
  venv="$(cd "$(dirname "$0")/.." && pwd)/target/api-tools/venv"
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    echo "install-deps: installing schemathesis $SCHEMATHESIS_VERSION into target/api-tools/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  # python-hl7, pinned: an MLLP client and HL7 parser the project did not
  # write, the peer of server/tests/hl7_peer.rs.
  HL7_PEER_VERSION=0.4.5
  if ! "$venv/bin/python" -c "import sys, hl7, hl7.client; sys.exit(hl7.__version__ != '$HL7_PEER_VERSION')" 2>/dev/null; then
    echo "install-deps: installing hl7 $HL7_PEER_VERSION (python-hl7) into target/api-tools/venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hl7==$HL7_PEER_VERSION"
  fi
fi
