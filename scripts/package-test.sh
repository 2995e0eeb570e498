#!/usr/bin/env bash
# `make package-test`: checks the packages `make package` left in
# target/packages/. Every check says what it checks and stops the run with
# the reason when it fails; none is skipped silently.
#
#  1. the desktop .deb: control fields, file list, dependencies against what
#     the binary links
#  2. the desktop .rpm: header fields, requirements, file list
#  3. the wardbook-server .deb: control fields, file list, conffiles,
#     maintainer scripts, the unit
#  4. lintian on both .debs: no errors (warnings printed)
#  5. the desktop app extracted into a temporary root: --version, `doctor`
#     with a real Secret Service, the example policy file parsed
#  6. the desktop .deb installed with apt-get (dependencies resolved), run,
#     purged again
#  7. the service extracted: --version, `systemd-analyze verify` of the
#     installed unit (and of broken copies, which must fail), its exposure
#  8. the service .deb installed: system user, env file ownership, unit
#     neither enabled nor started; purged again
#
# Steps 6 and 8 change the machine (a throwaway CI machine) and restore it,
# also when a check fails half-way; they need root or sudo. WARDBOOK_PACKAGE_TEST_NO_INSTALL=1 leaves them out,
# saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
# The helpers the scripts share: step, check, fail, expect_eq, expect_contains, expect_lacks.
# shellcheck source=SCRIPTDIR/lib.sh
. scripts/lib.sh

if [[ "$(id -u)" == 0 ]]; then as_root=(); elif command -v sudo >/dev/null 2>&1; then as_root=(sudo); else as_root=(none); fi

metadata=$(cargo metadata --no-deps --format-version 1)
version=$(jq -r '.packages[] | select(.name == "wardbook") | .version' <<<"$metadata")
target_dir=$(jq -r '.target_directory' <<<"$metadata")
out="$target_dir/packages"
homepage="https://wardbook.invalid/"

app_deb="$out/wardbook_${version}_amd64.deb"
app_rpm="$out/wardbook-${version}-1.x86_64.rpm"
server_deb="$out/wardbook-server_${version}-1_amd64.deb"
for f in "$app_deb" "$app_rpm" "$server_deb"; do
  [[ -f "$f" ]] || fail "$f is missing: run make package first (Cargo version $version)"
done
for tool in dpkg-deb dpkg-shlibdeps rpm rpm2archive lintian desktop-file-validate objdump systemd-analyze apt-get; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing: run scripts/install-deps.sh --with-packaging"
done

scratch=$(mktemp -d -t wardbook-package-test.XXXXXX)
# What steps 6 and 8 put on this machine, undone here too if a check fails
# half-way (each step also undoes it itself, and checks that).
installed=()
created_user=no
cleanup() {
  if ((${#installed[@]})); then
    printf '\ncleanup: purging %s\n' "${installed[*]}" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${installed[@]}" >/dev/null 2>&1 ||
      printf 'cleanup: could not purge %s: do it by hand\n' "${installed[*]}" >&2
  fi
  if [[ $created_user == yes ]] && getent passwd wardbook >/dev/null; then
    "${as_root[@]}" deluser --system --quiet wardbook >/dev/null 2>&1 ||
      printf 'cleanup: could not remove the user wardbook: do it by hand\n' >&2
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# The file list as "mode owner path" lines, paths absolute ("./usr/..." and
# "usr/..." both occur), owners by name (the Tauri bundler stores only ids).
deb_files() {
  dpkg-deb -c "$1" | awk '{ p = $6; sub(/^\.?\//, "", p); o = $2; if (o == "0/0") o = "root/root"; print $1, o, "/" p }'
}
expect_file() { # what list path [mode]
  local line
  line=$(awk -v p="$3" '$3 == p' <<<"$2")
  [[ -n "$line" ]] || fail "$1: $3 is not in the package"
  if [[ -n "${4:-}" ]]; then
    [[ "$line" == "$4 root/root $3" ]] || fail "$1: $3 should be $4 root/root, is: $line"
  fi
  printf '    ok: %s ships %s %s\n' "$1" "$3" "${4:-}"
}

# ---------------------------------------------------------------------------
step "1. desktop .deb: control fields ($app_deb)"
dpkg-deb -I "$app_deb"
field() { dpkg-deb -f "$1" "$2"; }
expect_eq "Package" wardbook "$(field "$app_deb" Package)"
expect_eq "Version (the Cargo workspace's)" "$version" "$(field "$app_deb" Version)"
expect_eq "Architecture" amd64 "$(field "$app_deb" Architecture)"
expect_eq "Maintainer" "Wardbook developers <packaging@wardbook.invalid>" "$(field "$app_deb" Maintainer)"
expect_eq "Homepage" "$homepage" "$(field "$app_deb" Homepage)"
expect_eq "Section" science "$(field "$app_deb" Section)"
expect_eq "Priority" optional "$(field "$app_deb" Priority)"
expect_eq "Description (synopsis)" "Clinical records for ward workstations" "$(field "$app_deb" Description | head -1)"
app_depends=$(field "$app_deb" Depends)
for dep in "libssl3 (>= 3.0.0) | libssl3t64" "libwebkit2gtk-4.1-0" "libgtk-3-0"; do
  expect_contains "Depends" "$app_depends" "$dep"
done
expect_contains "Recommends (a Secret Service for the database key)" "$(field "$app_deb" Recommends)" gnome-keyring

step "1. desktop .deb: file list"
app_files=$(deb_files "$app_deb")
printf '%s\n' "$app_files"
expect_file "wardbook.deb" "$app_files" /usr/bin/wardbook -rwxr-xr-x
expect_file "wardbook.deb" "$app_files" /usr/share/applications/Wardbook.desktop -rw-r--r--
# hicolor directory, and the pixel size the file there must have.
icon_sizes="32x32:32 128x128:128 128x128@2:256 256x256:256 512x512:512"
for entry in $icon_sizes; do
  expect_file "wardbook.deb" "$app_files" "/usr/share/icons/hicolor/${entry%%:*}/apps/wardbook.png" -rw-r--r--
done
icons_shipped=$(grep -c '/usr/share/icons/hicolor/.*/apps/wardbook.png$' <<<"$app_files")
expect_eq "number of hicolor icons" 5 "$icons_shipped"
expect_file "wardbook.deb" "$app_files" /usr/share/doc/wardbook/copyright -rw-r--r--
expect_file "wardbook.deb" "$app_files" /usr/share/doc/wardbook/changelog.gz -rw-r--r--
expect_file "wardbook.deb" "$app_files" /usr/share/doc/wardbook/policy.toml.example -rw-r--r--
expect_file "wardbook.deb" "$app_files" /usr/share/man/man1/wardbook.1.gz -rw-r--r--

step "1. desktop .deb: what is inside"
app_root="$scratch/app-root"
dpkg-deb -x "$app_deb" "$app_root"
png_size() { # "WxH" from the PNG header
  local w h
  read -r w h < <(od -An -tu4 --endian=big -j16 -N8 "$1")
  printf '%sx%s' "$w" "$h"
}
for entry in $icon_sizes; do
  px=${entry##*:}
  expect_eq "pixels of hicolor/${entry%%:*}/apps/wardbook.png" "${px}x${px}" \
    "$(png_size "$app_root/usr/share/icons/hicolor/${entry%%:*}/apps/wardbook.png")"
done
check "the man page is this build's (from its --help)"
manpage=$(zcat "$app_root/usr/share/man/man1/wardbook.1.gz")
expect_contains "wardbook.1" "$manpage" '.TH WARDBOOK "1"'
expect_contains "wardbook.1" "$manpage" "wardbook $version"
expect_contains "wardbook.1" "$manpage" "doctor"
check "the changelog's newest entry is this version"
expect_eq "changelog.gz" "wardbook ($version) unstable; urgency=medium" "$(zcat "$app_root/usr/share/doc/wardbook/changelog.gz" | head -1)"
check "the copyright file states the licence"
expect_contains "copyright" "$(cat "$app_root/usr/share/doc/wardbook/copyright")" "License: Apache-2.0"
check "the policy example is the one in packaging/"
cmp "$app_root/usr/share/doc/wardbook/policy.toml.example" packaging/policy.toml.example ||
  fail "policy.toml.example in the package differs from packaging/policy.toml.example"
desktop=$(cat "$app_root/usr/share/applications/Wardbook.desktop")
printf '%s\n' "$desktop"
expect_contains "desktop entry" "$desktop" "Exec=wardbook"
expect_contains "desktop entry" "$desktop" "Icon=wardbook"
expect_contains "desktop entry" "$desktop" "Name=Wardbook"
expect_contains "desktop entry" "$desktop" "Categories=Science;MedicalSoftware;"
check "desktop-file-validate Wardbook.desktop"
desktop-file-validate "$app_root/usr/share/applications/Wardbook.desktop" || fail "the desktop entry is invalid"

step "1. desktop .deb: Depends covers every library the binary links"
# dpkg-shlibdeps (what Debian's own packages use) lists, from the binary's
# ELF NEEDED entries and the symbol versions it uses, the packages and
# minimum versions it needs on this system. Each must be in Depends (alone or
# as the first of alternatives, the others being the Debian 13 / Ubuntu 24.04
# "t64" names) with at least that version.
ldd_out=$(ldd "$app_root/usr/bin/wardbook")
if grep -q "not found" <<<"$ldd_out"; then fail "the binary links a library this machine lacks:"$'\n'"$ldd_out"; fi
objdump -p "$app_root/usr/bin/wardbook" | awk '/NEEDED/ { print "    NEEDED " $2 }'
mkdir -p "$scratch/shlibdeps/debian"
printf 'Source: wardbook\n\nPackage: wardbook\nArchitecture: any\n' >"$scratch/shlibdeps/debian/control"
shlibs=$(cd "$scratch/shlibdeps" && dpkg-shlibdeps -O "$app_root/usr/bin/wardbook" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n "$shlibs" ]] || fail "dpkg-shlibdeps found no dependencies"
printf '    dpkg-shlibdeps: %s\n' "$shlibs"
declared_version() { # package -> its minimum version in Depends, "any", or nothing
  local relation alt ver
  while IFS= read -r relation; do
    while IFS= read -r alt; do
      [[ "${alt%% *}" == "$1" ]] || continue
      ver=$(sed -n 's/^[^ ]* (>= \(.*\))$/\1/p' <<<"$alt")
      echo "${ver:-any}"
      return
    done < <(sed 's/ | /\n/g' <<<"$relation")
  done < <(sed 's/, /\n/g' <<<"$app_depends")
}
while IFS= read -r need; do
  pkg=${need%% *}
  min=$(sed -n 's/.*(>= \(.*\))/\1/p' <<<"$need")
  have=$(declared_version "$pkg")
  [[ -n "$have" ]] || fail "the binary needs $need; Depends does not name $pkg: $app_depends"
  if [[ -n "$min" ]] && { [[ "$have" == any ]] || ! dpkg --compare-versions "$have" ge "$min"; }; then
    fail "the binary needs $need; Depends asks only for $pkg ${have/any/(any version)}"
  fi
  printf '    ok: %s (Depends: %s)\n' "$need" "$pkg${have:+ >= $have}"
done < <(sed 's/, /\n/g' <<<"$shlibs")

# ---------------------------------------------------------------------------
step "2. desktop .rpm: header ($app_rpm)"
rpm_info=$(rpm -qpi "$app_rpm" 2>&1)
printf '%s\n' "$rpm_info"
check "rpm -K: the digests match"
rpm -K "$app_rpm" || fail "rpm -K: the .rpm is damaged"
rpm_tag() { rpm -qp --qf "%{$2}" "$1" 2>/dev/null; }
expect_eq "Name" wardbook "$(rpm_tag "$app_rpm" NAME)"
expect_eq "Version (the Cargo workspace's)" "$version" "$(rpm_tag "$app_rpm" VERSION)"
expect_eq "Release" 1 "$(rpm_tag "$app_rpm" RELEASE)"
expect_eq "Arch" x86_64 "$(rpm_tag "$app_rpm" ARCH)"
expect_eq "License" Apache-2.0 "$(rpm_tag "$app_rpm" LICENSE)"
expect_eq "URL" "$homepage" "$(rpm_tag "$app_rpm" URL)"
expect_eq "Summary" "Clinical records for ward workstations" "$(rpm_tag "$app_rpm" SUMMARY)"
rpm_requires=$(rpm -qpR "$app_rpm" 2>/dev/null)
printf '    requires:\n%s\n' "$rpm_requires"
for dep in openssl-libs webkit2gtk4.1 "libgtk-3.so.0()(64bit)"; do
  expect_contains "Requires" "$rpm_requires" "$dep"
done

step "2. desktop .rpm: file list"
rpm_files=$(rpm -qpl "$app_rpm" 2>/dev/null)
printf '%s\n' "$rpm_files"
rpm_expected=(/usr/bin/wardbook /usr/share/applications/Wardbook.desktop /usr/share/man/man1/wardbook.1.gz
  /usr/share/licenses/wardbook/copyright /usr/share/doc/wardbook/policy.toml.example)
for entry in $icon_sizes; do rpm_expected+=("/usr/share/icons/hicolor/${entry%%:*}/apps/wardbook.png"); done
for f in "${rpm_expected[@]}"; do
  grep -qxF "$f" <<<"$rpm_files" || fail "the .rpm lacks $f"
  printf '    ok: wardbook.rpm ships %s\n' "$f"
done
expect_eq "files in the .rpm" "${#rpm_expected[@]}" "$(wc -l <<<"$rpm_files")"
check "the .rpm's binary runs"
# (Not byte-equal to the .deb's: the bundler writes the bundle type into each.)
rpm_root="$scratch/rpm-root"
mkdir -p "$rpm_root"
# (rpm2archive, not rpm2cpio: Debian 12's rpm2cpio exits 1 on the bundler's
# payload although it extracts it whole; rpm -K above says the digests match.)
rpm2archive -n - <"$app_rpm" | tar -xf - -C "$rpm_root" ./usr/bin/wardbook
expect_eq "wardbook --version from the .rpm" "wardbook $version" "$("$rpm_root/usr/bin/wardbook" --version)"

# ---------------------------------------------------------------------------
step "3. wardbook-server .deb: control fields ($server_deb)"
dpkg-deb -I "$server_deb"
expect_eq "Package" wardbook-server "$(field "$server_deb" Package)"
expect_eq "Version (the Cargo workspace's, revision 1)" "$version-1" "$(field "$server_deb" Version)"
expect_eq "Architecture" amd64 "$(field "$server_deb" Architecture)"
expect_eq "Maintainer" "Wardbook developers <packaging@wardbook.invalid>" "$(field "$server_deb" Maintainer)"
expect_eq "Homepage" "$homepage" "$(field "$server_deb" Homepage)"
expect_eq "Section" net "$(field "$server_deb" Section)"
server_depends=$(field "$server_deb" Depends)
for dep in adduser "libc6 (>= "; do
  expect_contains "Depends" "$server_depends" "$dep"
done

step "3. wardbook-server .deb: file list"
server_files=$(deb_files "$server_deb")
printf '%s\n' "$server_files"
expect_file "wardbook-server.deb" "$server_files" /usr/bin/wardbook-server -rwxr-xr-x
expect_file "wardbook-server.deb" "$server_files" /usr/lib/systemd/system/wardbook-server.service -rw-r--r--
expect_file "wardbook-server.deb" "$server_files" /etc/wardbook/server.env -rw-r-----
expect_file "wardbook-server.deb" "$server_files" /usr/share/doc/wardbook-server/copyright -rw-r--r--
expect_file "wardbook-server.deb" "$server_files" /usr/share/doc/wardbook-server/changelog.Debian.gz -rw-r--r--
expect_file "wardbook-server.deb" "$server_files" /usr/share/man/man1/wardbook-server.1.gz -rw-r--r--
expect_file "wardbook-server.deb" "$server_files" /usr/share/lintian/overrides/wardbook-server -rw-r--r--

step "3. wardbook-server .deb: conffiles and maintainer scripts"
server_ctrl="$scratch/server-control"
dpkg-deb -e "$server_deb" "$server_ctrl"
expect_eq "conffiles" /etc/wardbook/server.env "$(cat "$server_ctrl/conffiles")"
postinst=$(grep -vE '^[[:space:]]*#' "$server_ctrl/postinst")  # the code, not its comments
expect_contains "postinst" "$postinst" "adduser --system --group"
expect_contains "postinst" "$postinst" "chown root:wardbook /etc/wardbook/server.env"
# Neither enabled nor started by the package, nor restarted on upgrade.
for word in "deb-systemd-invoke start" "deb-systemd-invoke restart" "deb-systemd-invoke try-restart" "migrate"; do
  expect_lacks "postinst" "$postinst" "$word"
done
check "postinst only re-enables a unit the administrator had enabled"
expect_contains "postinst" "$postinst" "if deb-systemd-helper debian-installed wardbook-server.service"
check "prerm stops the service on removal only"
expect_contains "prerm" "$(cat "$server_ctrl/prerm")" '[ "$1" = remove ]'
for s in postinst prerm postrm; do
  sh -n "$server_ctrl/$s" || fail "$s is not valid sh"
done

server_root="$scratch/server-root"
dpkg-deb -x "$server_deb" "$server_root"
unit="$server_root/usr/lib/systemd/system/wardbook-server.service"
unit_settings=$(grep -vE '^[[:space:]]*(#|;|$)' "$unit")
check "the unit only serves (migrations never run at start)"
expect_eq "ExecStart" "ExecStart=/usr/bin/wardbook-server serve" "$(grep '^ExecStart' <<<"$unit_settings")"
expect_lacks "unit settings" "$unit_settings" "migrate"
for setting in User=wardbook Group=wardbook EnvironmentFile=/etc/wardbook/server.env \
  NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes StandardError=journal; do
  expect_contains "unit settings" "$unit_settings" "$setting"
done
check "the unit hands the service its key-encryption key as a credential (the file stays root's)"
expect_contains "unit settings" "$unit_settings" "LoadCredential=kek:/etc/wardbook/kek"
expect_contains "unit settings" "$unit_settings" "Environment=WARDBOOK_KEK_FILE=%d/kek"
env_file=$(cat "$server_root/etc/wardbook/server.env")
for key in WARDBOOK_DATABASE_URL WARDBOOK_LISTEN WARDBOOK_TLS_CERT WARDBOOK_TLS_KEY WARDBOOK_ENV=production; do
  expect_contains "server.env (commented template)" "$env_file" "#$key"
done
if grep -qvE '^[[:space:]]*(#|$)' <<<"$env_file"; then fail "server.env must only hold comments: every setting is the site's choice"; fi
# The unit provides WARDBOOK_KEK_FILE; server.env only says where the key lives.
expect_contains "server.env (where the key-encryption key lives)" "$env_file" "/etc/wardbook/kek"

# ---------------------------------------------------------------------------
step "4. lintian"
for deb in "$app_deb" "$server_deb"; do
  check "lintian $(basename "$deb") (errors fail; warnings, information and overridden tags (O:) are printed)"
  set +e
  lintian_out=$(lintian --fail-on error --display-info --show-overrides "$deb" 2>&1)
  lintian_rc=$?
  set -e
  printf '%s\n' "${lintian_out:-(no findings)}"
  ((lintian_rc == 0)) || fail "lintian found errors in $(basename "$deb") (exit $lintian_rc)"
  if grep -q '^E: ' <<<"$lintian_out"; then fail "lintian reported errors for $(basename "$deb")"; fi
  printf '    ok: no lintian errors\n'
done

# ---------------------------------------------------------------------------
step "5. desktop app from the .deb, extracted: --version and doctor"
check "usr/bin/wardbook --version"
version_out=$("$app_root/usr/bin/wardbook" --version)
expect_eq "--version" "wardbook $version" "$version_out"

run_doctor() { # label, then extra environment
  local label=$1 rc
  shift
  mkdir -p "$scratch/home-$label" "$scratch/data-$label"
  set +e
  doctor_out=$(env HOME="$scratch/home-$label" WARDBOOK_DATA_DIR="$scratch/data-$label" "$@" \
    scripts/with-keyring.sh "$app_root/usr/bin/wardbook" doctor 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$doctor_out" | sed 's/^/    | /'
  [[ $rc == 0 || $rc == 1 ]] || fail "wardbook doctor ($label) did not run to the end: exit $rc"
  printf '    ok: doctor ran (exit %s)\n' "$rc"
}
check "wardbook doctor with a real Secret Service, HOME and the data folder in a temporary directory"
run_doctor plain
grep -qE '^ok +SQLCipher +[0-9]' <<<"$doctor_out" || fail "doctor has no ok line for SQLCipher"
printf '    ok: %s\n' "$(grep -E '^ok +SQLCipher' <<<"$doctor_out")"
grep -qE '^ok +keyring self-test ' <<<"$doctor_out" || fail "doctor has no ok line for the keyring self-test"
printf '    ok: %s\n' "$(grep -E '^ok +keyring self-test' <<<"$doctor_out")"

check "the shipped policy example, every key uncommented, is accepted by this build"
policy="$scratch/policy.toml"
sed -E 's/^#([a-z_]+ = )/\1/' "$app_root/usr/share/doc/wardbook/policy.toml.example" >"$policy"
keys=$(grep -cE '^[a-z_]+ = ' "$policy")
expect_eq "keys in the example" 12 "$keys"
run_doctor policy WARDBOOK_POLICY_FILE="$policy"
grep -qE '^ok +environment +production' <<<"$doctor_out" || fail "doctor with the example policy: no 'ok environment production' line"

# ---------------------------------------------------------------------------
step "6. desktop .deb: dependencies resolve, install, run, remove"
if [[ "${WARDBOOK_PACKAGE_TEST_NO_INSTALL:-}" == 1 ]]; then
  printf '    LEFT OUT (WARDBOOK_PACKAGE_TEST_NO_INSTALL=1): apt-get install/remove of both .debs\n'
else
  [[ "${as_root[0]:-}" != none ]] || fail "installing needs root or sudo (or set WARDBOOK_PACKAGE_TEST_NO_INSTALL=1 to leave steps 6 and 8 out)"
  if dpkg-query -W -f='${Status}' wardbook 2>/dev/null | grep -q "ok installed"; then
    fail "a wardbook package is already installed here; this test installs and removes its own: remove it first"
  fi
  check "apt-get install --simulate (every dependency resolvable from the configured archives)"
  "${as_root[@]}" apt-get install --simulate "$app_deb" >"$scratch/simulate.log" 2>&1 ||
    { cat "$scratch/simulate.log"; fail "apt-get cannot resolve the desktop .deb's dependencies"; }
  grep -E '^(Inst|Conf) ' "$scratch/simulate.log" | sed 's/^/    | /'
  before=$(dpkg-query -W -f='${Package}\n' | sort)
  check "apt-get install -y ./$(basename "$app_deb")"
  installed=(wardbook)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$app_deb" >"$scratch/install.log" 2>&1 ||
    { cat "$scratch/install.log"; fail "apt-get install of the desktop .deb failed"; }
  expect_eq "installed wardbook --version" "wardbook $version" "$(/usr/bin/wardbook --version)"
  expect_eq "dpkg status" "install ok installed" "$(dpkg-query -W -f='${Status}' wardbook)"
  check "apt-get purge -y wardbook, and anything the install pulled in"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q wardbook >"$scratch/remove.log" 2>&1 ||
    { cat "$scratch/remove.log"; fail "apt-get purge wardbook failed"; }
  pulled=$(comm -13 <(printf '%s\n' "$before") <(dpkg-query -W -f='${Package}\n' | sort))
  if [[ -n "$pulled" ]]; then
    printf '    removing what the install pulled in: %s\n' $pulled
    # shellcheck disable=SC2086
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pulled >>"$scratch/remove.log" 2>&1 ||
      { cat "$scratch/remove.log"; fail "could not remove $pulled"; }
  fi
  installed=()
  [[ ! -e /usr/bin/wardbook ]] || fail "/usr/bin/wardbook is still there after the removal"
  after=$(dpkg-query -W -f='${Package}\n' | sort)
  [[ "$after" == "$before" ]] || fail "the installed packages differ from before the test:"$'\n'"$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
  printf '    ok: the same %s packages are installed as before the test\n' "$(wc -l <<<"$after")"
fi

# ---------------------------------------------------------------------------
step "7. wardbook-server from the .deb, extracted: --version and the systemd unit"
expect_eq "wardbook-server --version" "wardbook-server $version" "$("$server_root/usr/bin/wardbook-server" --version)"

# systemd-analyze verify loads the unit as systemd would, with what it
# depends on, and checks that the ExecStart binary exists. It runs against a
# root made of the extracted package plus this machine's own units
# (sysinit.target and the like, which the unit needs implicitly): the unit
# and /usr/bin/wardbook-server are the package's, not this machine's. Any
# message counts as a failure, warnings included: systemd only warns, and
# exits 0, on an unknown setting or a bad value.
verify_root="$scratch/verify-root"
cp -a "$server_root" "$verify_root"
cp -an /usr/lib/systemd/system/. "$verify_root/usr/lib/systemd/system/"
cmp "$server_root/usr/lib/systemd/system/wardbook-server.service" "$verify_root/usr/lib/systemd/system/wardbook-server.service" ||
  fail "this machine has its own /usr/lib/systemd/system/wardbook-server.service, which would hide the package's"
verify_unit() { # root unit-path-inside-root
  local rc
  set +e
  verify_out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$1" "$2" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$verify_out" | sed '/^$/d; s/^/    | /'
  [[ $rc == 0 && -z "$verify_out" ]]
}
check "systemd-analyze verify --root=<extracted .deb + this machine's units> /usr/lib/systemd/system/wardbook-server.service"
verify_unit "$verify_root" /usr/lib/systemd/system/wardbook-server.service ||
  fail "systemd-analyze verify found problems in wardbook-server.service"
printf '    ok: the unit verifies cleanly\n'

check "the check can fail: broken copies (bad value, unknown setting, unknown specifier in the key path, missing binary) must not verify"
broken_root="$scratch/broken-root"
cp -a "$verify_root" "$broken_root"
broken_unit="$broken_root/usr/lib/systemd/system/wardbook-server.service"
for breakage in 's/^ProtectSystem=strict$/ProtectSystem=strictly/' 's/^NoNewPrivileges=yes$/NoNewPrivilege=yes/' \
  's|^Environment=WARDBOOK_KEK_FILE=%d/kek$|Environment=WARDBOOK_KEK_FILE=%Q/kek|'; do
  cp "$verify_root/usr/lib/systemd/system/wardbook-server.service" "$broken_unit"
  sed -i "$breakage" "$broken_unit"
  ! cmp -s "$broken_unit" "$verify_root/usr/lib/systemd/system/wardbook-server.service" ||
    fail "the breakage $breakage changed nothing: update this test along with the unit"
  if verify_unit "$broken_root" /usr/lib/systemd/system/wardbook-server.service; then
    fail "systemd-analyze verify accepted a unit broken with $breakage: the check above proves nothing"
  fi
  printf '    ok: refused (%s)\n' "$breakage"
done
cp "$verify_root/usr/lib/systemd/system/wardbook-server.service" "$broken_unit"
rm "$broken_root/usr/bin/wardbook-server"
if verify_unit "$broken_root" /usr/lib/systemd/system/wardbook-server.service; then
  fail "systemd-analyze verify accepted a unit whose ExecStart binary is missing: the check above proves nothing"
fi
printf '    ok: refused (no /usr/bin/wardbook-server)\n'

check "systemd-analyze security: the hardening keeps the exposure at or below 2.0 (OK)"
set +e
security_out=$(systemd-analyze security --offline=yes --root="$verify_root" --threshold=20 \
  /usr/lib/systemd/system/wardbook-server.service 2>&1)
security_rc=$?
set -e
grep -E 'Overall exposure|^✗' <<<"$security_out" | sed 's/^/    | /'
((security_rc == 0)) || fail "the unit's exposure is above 2.0 (systemd-analyze security exit $security_rc)"

# ---------------------------------------------------------------------------
step "8. wardbook-server .deb: install (system user, env file, unit left alone), purge"
if [[ "${WARDBOOK_PACKAGE_TEST_NO_INSTALL:-}" == 1 ]]; then
  printf '    LEFT OUT (WARDBOOK_PACKAGE_TEST_NO_INSTALL=1)\n'
else
  if dpkg-query -W -f='${Status}' wardbook-server 2>/dev/null | grep -q "ok installed"; then
    fail "a wardbook-server package is already installed here; this test installs and purges its own: remove it first"
  fi
  had_user=no
  getent passwd wardbook >/dev/null && had_user=yes
  before=$(dpkg-query -W -f='${Package}\n' | sort)
  check "apt-get install -y ./$(basename "$server_deb")"
  installed=(wardbook-server)
  [[ $had_user == yes ]] || created_user=yes
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$server_deb" >"$scratch/install-server.log" 2>&1 ||
    { cat "$scratch/install-server.log"; fail "apt-get install of the wardbook-server .deb failed"; }
  expect_eq "installed wardbook-server --version" "wardbook-server $version" "$(/usr/bin/wardbook-server --version)"
  check "the system user and group wardbook"
  user_entry=$(getent passwd wardbook) || fail "postinst did not create the user wardbook"
  printf '    | %s\n' "$user_entry"
  uid=$(cut -d: -f3 <<<"$user_entry")
  ((uid < 1000)) || fail "wardbook is not a system user (uid $uid)"
  expect_eq "wardbook's shell" /usr/sbin/nologin "$(cut -d: -f7 <<<"$user_entry")"
  getent group wardbook >/dev/null || fail "postinst did not create the group wardbook"
  expect_eq "/etc/wardbook/server.env mode and owner" "640 root:wardbook" "$(stat -c '%a %U:%G' /etc/wardbook/server.env)"
  check "the unit is installed but neither enabled nor started"
  expect_eq "systemctl is-enabled" disabled "$(systemctl --root=/ is-enabled wardbook-server.service 2>&1 || true)"
  if [[ -d /run/systemd/system ]]; then
    expect_eq "systemctl is-active" inactive "$(systemctl is-active wardbook-server.service 2>&1 || true)"
  else
    printf '    (systemd is not PID 1 here: nothing could have started the service; is-enabled above covers boot)\n'
  fi
  check "apt-get purge -y wardbook-server"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q wardbook-server >"$scratch/remove-server.log" 2>&1 ||
    { cat "$scratch/remove-server.log"; fail "apt-get purge wardbook-server failed"; }
  installed=()
  [[ ! -e /etc/wardbook/server.env ]] || fail "purge left /etc/wardbook/server.env"
  [[ ! -e /usr/lib/systemd/system/wardbook-server.service ]] || fail "purge left the unit"
  # Debian leaves system users behind on purge (files may still be theirs);
  # this machine gets back to how it was.
  if [[ $had_user == no ]]; then
    # (deluser's note that cron is not installed is not an error.)
    "${as_root[@]}" deluser --system --quiet wardbook >"$scratch/deluser.log" 2>&1 ||
      { cat "$scratch/deluser.log"; fail "could not remove the user wardbook the test created"; }
    ! getent passwd wardbook >/dev/null || fail "the user wardbook is still there"
    created_user=no
    ! getent group wardbook >/dev/null || "${as_root[@]}" delgroup --system --quiet wardbook
    printf '    ok: the user wardbook the test created is gone again\n'
  fi
  after=$(dpkg-query -W -f='${Package}\n' | sort)
  [[ "$after" == "$before" ]] || fail "the installed packages differ from before the test:"$'\n'"$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
  printf '    ok: the same %s packages are installed as before the test\n' "$(wc -l <<<"$after")"
fi

step "all package checks passed: $(basename "$app_deb"), $(basename "$app_rpm"), $(basename "$server_deb")"
