#!/usr/bin/env bash
# Writes the section-1 man page of BINARY from its own --help and --version
# (help2man), with the extra sections (FILES, ENVIRONMENT...) of INCLUDE.
# The page follows the command line as built, so it cannot drift from it.
# Used by scripts/package.sh; OUTPUT ending in .gz is compressed (gzip -9n).
set -euo pipefail
if (($# != 4)); then
  echo "usage: $0 BINARY 'one-line description' INCLUDE.h2m OUTPUT.1[.gz]" >&2
  exit 2
fi
binary=$1 name=$2 include=$3 output=$4
page=$(help2man --no-info --section=1 --name="$name" --include="$include" "$binary")
if [[ "$output" == *.gz ]]; then
  printf '%s\n' "$page" | gzip -9 -n >"$output"
else
  printf '%s\n' "$page" >"$output"
fi
