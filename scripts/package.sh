#!/usr/bin/env bash
# `make package`: the installable packages, in target/packages/:
#   wardbook_<version>_amd64.deb           the workstation app (Tauri bundler)
#   wardbook-<version>-1.x86_64.rpm        the same for RPM-based systems (Tauri bundler)
#   wardbook-server_<version>-1_amd64.deb  the central sync service (cargo-deb)
# Release builds, from the current tree. The tools come from
# `scripts/install-deps.sh --with-packaging` (the Makefile runs it first).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Tauri CLI finds the app at the root and the web UI in ui/ (the Makefile
# exports these too; set here so the script also runs on its own).
export TAURI_APP_PATH="${TAURI_APP_PATH:-.}"
export TAURI_FRONTEND_PATH="${TAURI_FRONTEND_PATH:-ui}"

# The helpers the scripts share: step, fail.
# shellcheck source=SCRIPTDIR/lib.sh
. scripts/lib.sh

metadata=$(cargo metadata --no-deps --format-version 1)
version=$(jq -r '.packages[] | select(.name == "wardbook") | .version' <<<"$metadata")
server_version=$(jq -r '.packages[] | select(.name == "wardbook-server") | .version' <<<"$metadata")
target_dir=$(jq -r '.target_directory' <<<"$metadata")
[[ -n "$version" && "$version" == "$server_version" ]] ||
  fail "the app ($version) and wardbook-server ($server_version) must have the workspace's version"

# The newest changelog entry must be this version: lintian and people read it.
changelog_version() { sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$1"; }
[[ "$(changelog_version packaging/desktop/changelog)" == "$version" ]] ||
  fail "packaging/desktop/changelog's newest entry is $(changelog_version packaging/desktop/changelog), Cargo says $version: add an entry for $version"
[[ "$(changelog_version server/dist/changelog)" == "$version-1" ]] ||
  fail "server/dist/changelog's newest entry is $(changelog_version server/dist/changelog), Cargo says $version (package $version-1): add an entry"

# Packaged binaries are stripped of their symbol tables (lintian:
# unstripped-binary-or-object; Debian ships debug data separately). Through
# the environment rather than [profile.release], so `make bench` keeps its
# symbols; this changes the release profile, so the dependencies built here
# are not shared with other release builds.
export CARGO_PROFILE_RELEASE_STRIP=symbols

work="$target_dir/packaging"
out="$target_dir/packages"
rm -rf "$work" "$out"
mkdir -p "$work" "$out"

# The Tauri bundler's own `changelog` option writes usr/share/doc/Wardbook/
# (the product name, capitalised), not the package's doc folder, so the
# compressed changelog goes in as a custom file through an extra config
# merged over tauri.conf.json.
# The man page is written from the binary's --help once cargo has built it,
# before the bundler runs (beforeBundleCommand).
gzip -9 -n -c packaging/desktop/changelog >"$work/changelog.gz"
manpage_hook=$(printf '%q ' scripts/manpage.sh "$target_dir/release/wardbook" \
  "clinical records for ward workstations" packaging/desktop/wardbook.h2m "$work/wardbook.1.gz")
jq -n --arg gz "$work/changelog.gz" --arg man "$work/wardbook.1.gz" --arg hook "$manpage_hook" --arg root "$PWD" '{
  build: {beforeBundleCommand: {script: $hook, cwd: $root}},
  bundle: {linux: {
    deb: {files: {"/usr/share/doc/wardbook/changelog.gz": $gz, "/usr/share/man/man1/wardbook.1.gz": $man}},
    rpm: {files: {"/usr/share/man/man1/wardbook.1.gz": $man}}
  }}
}' >"$work/tauri.package.json"

step "release build of the app and the service, and the app's .deb and .rpm (Tauri bundler), one call"
bundle_dir="$target_dir/release/bundle"
rm -rf "$bundle_dir/deb" "$bundle_dir/rpm"
# The CLI runs `cargo build --bins --release --features ...` with what
# follows `--`: the app and the service in one cargo call, so that the
# dependencies they share (tokio, rustls, serde, ...) are compiled once with
# one set of features, instead of twice by two calls that unify them
# differently. Not `--workspace`: test-support's tools are not packaged.
npm --prefix ui exec -- tauri build --ci --bundles deb,rpm --features custom-protocol \
  --config "$work/tauri.package.json" -- -p wardbook -p wardbook-server
[[ -x "$target_dir/release/wardbook-server" ]] || fail "the release build did not produce wardbook-server"

step "wardbook-server: its man page, from its --help"
# Where server/Cargo.toml's assets expect it (target/release/ is cargo-deb's
# name for the real target directory).
scripts/manpage.sh "$target_dir/release/wardbook-server" "Wardbook central sync service and its admin commands" \
  server/dist/wardbook-server.h2m "$target_dir/release/wardbook-server.1.gz"

step "wardbook-server: the .deb (cargo-deb, from the binary just built)"
# --no-build: package target/release/wardbook-server exactly as built above
# (already stripped by cargo, see CARGO_PROFILE_RELEASE_STRIP).
cargo deb -p wardbook-server --no-build --output "$out/"

shopt -s nullglob
debs=("$bundle_dir"/deb/*.deb)
rpms=("$bundle_dir"/rpm/*.rpm)
((${#debs[@]} == 1)) || fail "expected one .deb in $bundle_dir/deb, found ${#debs[@]}"
((${#rpms[@]} == 1)) || fail "expected one .rpm in $bundle_dir/rpm, found ${#rpms[@]}"
# The bundler names them after the product (Wardbook_...); give them the
# usual names, from their own headers.
cp "${debs[0]}" "$out/$(dpkg-deb -f "${debs[0]}" Package)_$(dpkg-deb -f "${debs[0]}" Version)_$(dpkg-deb -f "${debs[0]}" Architecture).deb"
cp "${rpms[0]}" "$out/$(rpm -qp --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}' "${rpms[0]}" 2>/dev/null).rpm"

step "packages"
for f in "$out"/*.deb "$out"/*.rpm; do
  bytes=$(stat -c %s "$f")
  printf '%-70s %12s bytes  %s\n' "$f" "$bytes" "$(numfmt --to=iec-i --suffix=B --round=nearest "$bytes")"
done
