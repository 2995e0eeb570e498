# shellcheck shell=bash
# scripts/lib.sh: the printing and assertion helpers the scripts share, so
# that each script does not define its own. Sourced, never run: sourcing it
# only defines the functions below (no options, no variables, no output).
# A script sources it by a path computed before any cd of its own, e.g.
#
#   cd "$(dirname "$0")/.."          # then:  . scripts/lib.sh
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # then:  . "$here/lib.sh"
#
# Progress goes to stdout; a failure goes to stderr and ends the script with
# exit status 1, its message prefixed with the script's name (${0##*/}, or
# $script_name when the script sets it).
#
#   step TEXT...                         a heading
#   info TEXT...                         an indented line under it
#   check TEXT...                        an indented line: what is checked next
#   ok TEXT...                           an indented line: a check passed
#   fail TEXT...                         the reason, to stderr; exit 1
#   expect_eq WHAT EXPECTED ACTUAL       ACTUAL must equal EXPECTED (literally)
#   expect_contains WHAT HAYSTACK NEEDLE HAYSTACK must contain NEEDLE (a fixed string)
#   expect_lacks WHAT HAYSTACK NEEDLE    HAYSTACK must not contain NEEDLE (a fixed string)

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
check() { printf '    check: %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '\n%s: FAILED: %s\n' "${script_name:-${0##*/}}" "$*" >&2
  exit 1
}

expect_eq() { # expect_eq WHAT EXPECTED ACTUAL
  [[ "$3" == "$2" ]] || fail "$1: expected '$2', got '$3'"
  ok "$1 = $3"
}
expect_contains() { # expect_contains WHAT HAYSTACK NEEDLE
  grep -qF -- "$3" <<<"$2" || fail "$1: '$3' is missing from:"$'\n'"$2"
  ok "$1 has $3"
}
expect_lacks() { # expect_lacks WHAT HAYSTACK NEEDLE
  if grep -qF -- "$3" <<<"$2"; then fail "$1: must not contain '$3':"$'\n'"$2"; fi
  ok "$1 has no $3"
}
