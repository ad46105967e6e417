#!/usr/bin/env bash
# Build courier's API reference (Doxygen over include/courier/*.hpp, with
# docs/api-mainpage.md as its first page) and fail on any warning: an
# undocumented public class, function, field or enumerator, or a comment
# Doxygen cannot read. CI runs it as the ctest `apidoc`.
#
#   bash scripts/apidoc.sh            # into build/apidoc/html/index.html
#   bash scripts/apidoc.sh OUT_DIR    # into OUT_DIR/html/index.html
#
# Exit status: 0 built without a warning; 1 warnings (listed on stderr, kept
# in OUT_DIR/warnings.log) or doxygen failed; 2 usage. Needs doxygen (Debian:
# doxygen, installed by scripts/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: bash scripts/apidoc.sh [OUT_DIR]   (default: build/apidoc)" >&2
  exit 2
fi
out=${1:-$root/build/apidoc}
case $out in /*) ;; *) out=$PWD/$out ;; esac

if ! command -v doxygen >/dev/null 2>&1; then
  echo "apidoc: doxygen not found: install it with scripts/install-deps.sh (Debian package doxygen)" >&2
  exit 1
fi

mkdir -p "$out"
rm -rf "$out/html"
log=$out/warnings.log
: >"$log"
cd "$root"
# The checked-in Doxyfile, with this run's output directory and warnings log.
rc=0
{
  cat docs/Doxyfile
  echo "OUTPUT_DIRECTORY = \"$out\""
  echo "WARN_LOGFILE = \"$log\""
} | doxygen - >"$out/doxygen.out" 2>&1 || rc=$?

if [ -s "$log" ]; then
  echo "apidoc: FAIL: $(grep -c . "$log") doxygen warning line(s) (every public declaration needs a /// comment):" >&2
  sed 's/^/  /' "$log" | head -100 >&2
  exit 1
fi
if [ $rc -ne 0 ] || [ ! -f "$out/html/index.html" ]; then
  echo "apidoc: FAIL: doxygen exited with status $rc:" >&2
  sed 's/^/  /' "$out/doxygen.out" | tail -40 >&2
  exit 1
fi
echo "apidoc: $out/html/index.html (no warnings)"
