#!/usr/bin/env bash
# The long crash matrix, on demand (CI runs the bounded one: 120 kills per
# sync policy). Runs tests/crash_test (CrashMatrix.SyncAlways, SyncGroup,
# SyncOs: producers to an endpoint and to a group, receivers, reboots)
# niced, with KILLS SIGKILLs in total split over the three policies, once per
# seed; prints one summary line per policy and run at the end and exits
# non-zero when any run lost a message, handed one out twice unflagged or
# failed otherwise. The whole output (a loss's diagnosis included) stays in
# the log file it names.
#
#   scripts/crash-long.sh [-k KILLS] [-s SEED]... [-l LANE_KIB] [-b BUILD_DIR]
#     -k  kills in total per run (default 1002: 334 per policy)
#     -s  a schedule seed (repeatable: one run per seed; default: the tests' own)
#     -l  lane capacity in KiB (default: the test's 1024; 64 makes sends spill to the log)
#     -b  the build directory holding tests/crash_test (default: build)
#   COURIER_CRASH_KEEP=1 keeps a failed run's journals (the log names them).
set -uo pipefail

usage() {
  echo "usage: $0 [-k KILLS] [-s SEED]... [-l LANE_KIB] [-b BUILD_DIR]" >&2
  exit 2
}

kills=1002
build=build
seeds=()
lane_kib=
while getopts "k:s:l:b:h" opt; do
  case $opt in
    k) kills=$OPTARG ;;
    s) seeds+=("$OPTARG") ;;
    l) lane_kib=$OPTARG ;;
    b) build=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
if ! [[ $kills =~ ^[0-9]+$ ]] || [ "$kills" -lt 3 ]; then
  echo "$0: -k wants a number of kills, 3 or more" >&2
  exit 2
fi
for s in "${seeds[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || { echo "$0: -s wants a number, not '$s'" >&2; exit 2; }
done
if [ -n "$lane_kib" ] && ! [[ $lane_kib =~ ^[0-9]+$ ]]; then
  echo "$0: -l wants a number of KiB, not '$lane_kib'" >&2
  exit 2
fi
bin=$build/tests/crash_test
[ -x "$bin" ] || { echo "$0: $bin not found (build it: nice ninja -C $build crash_test)" >&2; exit 2; }
[ ${#seeds[@]} -gt 0 ] || seeds=("")

per_policy=$(((kills + 2) / 3))
log=$(mktemp /tmp/courier-crash-long-XXXXXX.log)
echo "crash-long: ${#seeds[@]} run(s) of $per_policy kills per policy ($((per_policy * 3)) per run), log in $log"
start=$(date +%s)
failed=0
for s in "${seeds[@]}"; do
  env=(COURIER_CRASH_ITERATIONS="$per_policy")
  [ -z "$s" ] || env+=(COURIER_CRASH_SEED="$s")
  [ -z "$lane_kib" ] || env+=(COURIER_CRASH_LANE_KIB="$lane_kib")
  echo "crash-long: ${env[*]} nice -n 19 $bin --gtest_filter='CrashMatrix.*'" | tee -a "$log"
  env "${env[@]}" nice -n 19 "$bin" --gtest_filter='CrashMatrix.*' >>"$log" 2>&1 || failed=1
done
wall=$(($(date +%s) - start))

echo "crash-long: summary (kills, reboots, sent, received, redelivered, lost, duplicates without the flag):"
grep -E '^\[ crash    \] [a-z]+, seed [0-9]+, [0-9]+ KiB lanes: ' "$log" || echo "crash-long: no summary line: see $log"
summaries=$(grep -cE '^\[ crash    \] [a-z]+, seed [0-9]+, [0-9]+ KiB lanes: ' "$log")
[ "$summaries" -eq $((${#seeds[@]} * 3)) ] || failed=1
if [ $failed -ne 0 ]; then
  echo "crash-long: failures and what the matrix printed of them (all of it in $log):"
  grep -E '^\[  FAILED  \]|^\[ crash    \] (lost|kills and|.*s lanes:|.*journal files)|Failure$' "$log" | head -60
fi
echo "crash-long: $((per_policy * summaries)) kills ($summaries policy runs), wall time ${wall} s: $([ $failed -eq 0 ] && echo passed || echo FAILED)"
exit $failed
