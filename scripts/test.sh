#!/usr/bin/env bash
# courier's whole test suite, as CI runs it (.ci/run calls this script).
#
#   bash scripts/test.sh                 # release, asan, tsan and fuzz, in that order
#   bash scripts/test.sh release asan    # only the named stages
#
# Stages (each configures with CMake + Ninja and builds with ninja -j$JOBS):
#   release  build/       Release, every test (ctest -j$JOBS; tests labelled
#                         "serial" afterwards, one at a time)
#   asan     build-asan/  -DCOURIER_SANITIZE=address,undefined, every test,
#                         halting on the first report (ASan, UBSan, LSan)
#   tsan     build-tsan/  -DCOURIER_SANITIZE=thread, only the tests labelled
#                         "concurrency" or "multiprocess", halting on the first report
#   fuzz     build-fuzz/  clang++ -DCOURIER_FUZZ=ON (libFuzzer, ASan + UBSan): the
#                         ctest tests labelled "fuzz" (every seed of fuzz/corpus/
#                         and every saved crash of fuzz/regressions/ replayed), then
#                         each target of fuzz/ fuzzed for FUZZ_SECONDS from a copy of
#                         its seed corpus; a crash, leak, sanitizer report or
#                         timeout fails the stage (its input is kept in
#                         build-fuzz/fuzz-artifacts/; docs/building.md, "Fuzzing")
# The sanitizer builds skip bench/ and examples/. A failing stage does not stop
# the next one; the script exits non-zero if any stage failed, after a summary
# whose last line is "total: N passed, N failed".
#
# Environment: JOBS (default 2), CTEST_TIMEOUT (default per-test timeout in
# seconds for tests that set none, 300), ASAN_OPTIONS / UBSAN_OPTIONS /
# TSAN_OPTIONS (defaults below; yours win), CXX (compiler, as for CMake),
# TSAN_SETARCH (auto: run the tsan stage with ASLR off only when a probe needs
# it; always; never), FUZZ_SECONDS (default 60: how long each fuzz target
# runs), FUZZ_CXX (default clang++: the compiler of the fuzz stage).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

JOBS=${JOBS:-2}
CTEST_TIMEOUT=${CTEST_TIMEOUT:-300}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_CXX=${FUZZ_CXX:-clang++}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(release asan tsan fuzz)
for s in "${stages[@]}"; do
  case $s in release | asan | tsan | fuzz) ;; *) echo "test.sh: unknown stage '$s' (release, asan, tsan, fuzz)" >&2; exit 2 ;; esac
done
case $FUZZ_SECONDS in '' | *[!0-9]*) echo "test.sh: FUZZ_SECONDS must be a number of seconds, got '$FUZZ_SECONDS'" >&2; exit 2 ;; esac

: "${ASAN_OPTIONS:=halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}"
: "${UBSAN_OPTIONS:=halt_on_error=1:print_stacktrace=1}"
: "${TSAN_OPTIONS:=halt_on_error=1:second_deadlock_stack=1}"
# Suppressions for reports a sanitizer gets wrong, each entry saying why:
# tests/lsan.supp, tests/ubsan.supp, tests/tsan.supp, used when present.
[ ! -f tests/lsan.supp ] || LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$root/tests/lsan.supp"
[ ! -f tests/ubsan.supp ] || UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$root/tests/ubsan.supp"
[ ! -f tests/tsan.supp ] || TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$root/tests/tsan.supp"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS
[ -z "${LSAN_OPTIONS:-}" ] || export LSAN_OPTIONS

total_passed=0
total_failed=0
failed_stages=()
timings=()

say() { printf '\n=== %s\n' "$*"; }

# Run a command under the stage's prefix (empty, or setarch -R for TSan).
prefix=()
run() { "${prefix[@]}" "$@"; }

# configure_build DIR CMAKE_ARGS... : configure with Ninja and build (the
# targets in build_targets, or all of them when it is empty).
build_targets=()
configure_build() {
  local dir=$1
  shift
  mkdir -p "$dir"
  # A build dir configured with another generator cannot switch: start it anew.
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake -S "$root" -B "$dir" -G Ninja -Wno-dev "$@" >"$dir/configure.log" 2>&1 || {
    cat "$dir/configure.log"
    echo "test.sh: configuring $dir failed" >&2
    return 1
  }
  # The build runs test binaries too (gtest_discover_tests), hence the prefix.
  run ninja -C "$dir" -j"$JOBS" "${build_targets[@]}"
}

# ctest_counts LOG : add the counts of ctest's summary line in LOG to the totals.
ctest_counts() {
  local line failed all
  line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$1" | tail -n1 || true)
  [ -n "$line" ] || return 0
  failed=${line%% *}
  all=${line##* }
  total_failed=$((total_failed + failed))
  total_passed=$((total_passed + all - failed))
}

# run_ctest DIR NO_TESTS(error|warn) CTEST_FILTER... : a parallel pass over the
# selected tests not labelled "serial", then a one-at-a-time pass over the
# selected ones that are. Returns non-zero when a test failed, or when nothing
# was selected and NO_TESTS is "error" ("warn" says so loudly and goes on).
run_ctest() {
  local dir=$1 no_tests=$2
  shift 2
  local rc=0 nall nserial
  local common=(--test-dir "$dir" --output-on-failure --timeout "$CTEST_TIMEOUT")
  nall=$(ctest "${common[@]}" -N "$@" | sed -n 's/^Total Tests: //p')
  nserial=$(ctest "${common[@]}" -N "$@" -L '^serial$' | sed -n 's/^Total Tests: //p')
  nall=${nall:-0}
  nserial=${nserial:-0}
  if [ "$nall" -eq 0 ]; then
    if [ "$no_tests" = error ]; then
      echo "test.sh: no test found in $dir${*:+ for $*}" >&2
      return 1
    fi
    echo "test.sh: WARNING: no test found in $dir${*:+ for $*}: this stage tested nothing" >&2
    return 0
  fi
  if [ "$nall" -gt "$nserial" ]; then
    run ctest "${common[@]}" -j"$JOBS" "$@" -LE '^serial$' 2>&1 | tee "$dir/ctest.log" || rc=1
    ctest_counts "$dir/ctest.log"
  fi
  if [ "$nserial" -gt 0 ]; then
    say "$(basename "$dir"): $nserial test(s) labelled serial, one at a time"
    run ctest "${common[@]}" -j1 "$@" -L '^serial$' 2>&1 | tee "$dir/ctest-serial.log" || rc=1
    ctest_counts "$dir/ctest-serial.log"
  fi
  return $rc
}

# TSan's runtime maps its shadow at fixed addresses; with a wide mmap
# randomisation (vm.mmap_rnd_bits > 28, the default of some 6.x kernels) the
# runtime of GCC 12 / Clang 14 dies with "unexpected memory mapping". Probe a
# tiny program and, if it fails, run the stage with ASLR off (setarch -R).
tsan_prefix() {
  local tmp cxx=${CXX:-c++}
  tmp=$(mktemp -d)
  printf '#include <thread>\nint x; int main() { std::thread t([] { x = 1; }); t.join(); return x - 1; }\n' >"$tmp/p.cpp"
  if ! "$cxx" -std=c++20 -fsanitize=thread -pthread "$tmp/p.cpp" -o "$tmp/p" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    rm -rf "$tmp"
    echo "test.sh: $cxx cannot build with -fsanitize=thread" >&2
    return 1
  fi
  if "$tmp/p" >"$tmp/log" 2>&1; then
    rm -rf "$tmp"
    return 0
  fi
  if setarch "$(uname -m)" -R "$tmp/p" >/dev/null 2>&1; then
    echo "test.sh: TSan fails with ASLR on (vm.mmap_rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?')): running the tsan stage under setarch -R" >&2
    rm -rf "$tmp"
    echo setarch
    return 0
  fi
  cat "$tmp/log" >&2
  rm -rf "$tmp"
  echo "test.sh: TSan programs fail here, even with ASLR off; try 'sysctl vm.mmap_rnd_bits=28'" >&2
  return 1
}

# The fuzz stage's compiler must build and link a libFuzzer target with ASan + UBSan.
fuzz_probe() {
  local tmp
  tmp=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$tmp/p.cpp"
  if ! command -v "$FUZZ_CXX" >/dev/null 2>&1 ||
    ! "$FUZZ_CXX" -fsanitize=fuzzer,address,undefined "$tmp/p.cpp" -o "$tmp/p" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2 2>/dev/null || true
    rm -rf "$tmp"
    echo "test.sh: $FUZZ_CXX cannot build a libFuzzer target (Debian: clang and libfuzzer-14-dev, which scripts/install-deps.sh installs)" >&2
    return 1
  fi
  rm -rf "$tmp"
}

# run_fuzzers DIR : each fuzz target of DIR/fuzz/ for FUZZ_SECONDS, from a copy
# of its seed corpus (fuzz/corpus/TARGET/) in a temporary directory, so that
# nothing is written into the repository. A crash, leak, sanitizer report or
# an input slower than 60 s fails it; its input is kept in
# DIR/fuzz-artifacts/TARGET/. Each target counts as one test in the totals.
run_fuzzers() {
  local dir=$1 rc=0 bin t work log status t0 pid
  local art="$root/$dir/fuzz-artifacts"
  rm -rf "$art"
  local bins=("$root/$dir"/fuzz/fuzz_*)
  local ran=0
  for bin in "${bins[@]}"; do
    t=$(basename "$bin")
    t=${t#fuzz_}
    [ -x "$bin" ] && [ "$t" != make_corpus ] || continue
    ran=$((ran + 1))
    log="$root/$dir/fuzz-$t.log"
    if [ ! -d "fuzz/corpus/$t" ]; then
      echo "test.sh: fuzz target $t has no seed corpus (fuzz/corpus/$t/)" >&2
      total_failed=$((total_failed + 1))
      rc=1
      continue
    fi
    work=$(mktemp -d)
    mkdir "$work/corpus" "$work/artifacts"
    cp -R "fuzz/corpus/$t/." "$work/corpus/"
    t0=$SECONDS
    status=0
    (cd "$work" && TMPDIR="$work" "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=60 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "$work/corpus") >"$log" 2>&1 || status=$?
    if [ "$status" -eq 0 ] && [ -z "$(ls -A "$work/artifacts")" ]; then
      echo "  $t: ok, $(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -n1) inputs in $((SECONDS - t0))s" \
        "(corpus $(ls "$work/corpus" | wc -l) inputs, $(ls "fuzz/corpus/$t" | wc -l) seeds)"
      total_passed=$((total_passed + 1))
    else
      mkdir -p "$art/$t"
      cp -R "$work/artifacts/." "$art/$t/"
      # The segment target's shared-memory object, left when it died before unlinking it.
      pid=$(grep -Eo '^==[0-9]+==' "$log" | head -n1 | tr -d '=' || true)
      [ -z "$pid" ] || rm -f "/dev/shm/courier.fuzz-seg-$pid"
      tail -n 60 "$log"
      echo "test.sh: fuzz target $t FAILED (exit status $status) after $((SECONDS - t0))s; log $log; input(s):" >&2
      ls "$art/$t" | sed "s|^|  $art/$t/|" >&2
      echo "  reproduce: $dir/fuzz/fuzz_$t INPUT; keep it as a regression: fuzz/regressions/$t/" >&2
      total_failed=$((total_failed + 1))
      rc=1
    fi
    rm -rf "$work"
  done
  if [ "$ran" -eq 0 ]; then
    echo "test.sh: no fuzz target in $dir/fuzz/" >&2
    return 1
  fi
  return $rc
}

stage() {
  local name=$1
  local dir no_tests=error filter=() args=()
  prefix=()
  build_targets=()
  case $name in
    release)
      dir=build
      args=(-DCMAKE_BUILD_TYPE=Release -DCOURIER_SANITIZE= -DCOURIER_BUILD_TESTS=ON -DCOURIER_BUILD_BENCH=ON
            -DCOURIER_BUILD_EXAMPLES=ON -DCOURIER_FUZZ=OFF)
      ;;
    asan)
      dir=build-asan
      # -O1 keeps the sanitized tests quick; Debug keeps assert() on.
      args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DCOURIER_SANITIZE=address,undefined
            -DCOURIER_BUILD_TESTS=ON -DCOURIER_BUILD_BENCH=OFF -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_FUZZ=OFF)
      ;;
    tsan)
      dir=build-tsan
      args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DCOURIER_SANITIZE=thread
            -DCOURIER_BUILD_TESTS=ON -DCOURIER_BUILD_BENCH=OFF -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_FUZZ=OFF)
      filter=(-L '^(concurrency|multiprocess)$')
      no_tests=warn
      local how=
      case ${TSAN_SETARCH:-auto} in
        always) how=setarch ;;
        never) ;;
        *) how=$(tsan_prefix) || return 1 ;;
      esac
      [ "$how" != setarch ] || prefix=(setarch "$(uname -m)" -R)
      ;;
    fuzz)
      dir=build-fuzz
      fuzz_probe || return 1
      args=("-DCMAKE_CXX_COMPILER=$FUZZ_CXX" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g"
            -DCOURIER_SANITIZE= -DCOURIER_FUZZ=ON -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_BENCH=OFF
            -DCOURIER_BUILD_EXAMPLES=OFF)
      build_targets=(fuzz_all)
      filter=(-L '^fuzz$')
      ;;
  esac
  say "$name: configure and build $dir/ (${args[*]})${prefix[*]:+, under ${prefix[*]}}"
  configure_build "$dir" "${args[@]}" || return 1
  say "$name: ctest${filter:+ ${filter[*]}} in $dir/"
  local rc=0
  run_ctest "$dir" "$no_tests" "${filter[@]}" || rc=1
  if [ "$name" = fuzz ]; then
    say "fuzz: each target for ${FUZZ_SECONDS}s"
    run_fuzzers "$dir" || rc=1
  fi
  return $rc
}

start_all=$SECONDS
say "dependencies"
bash scripts/install-deps.sh
timings+=("deps $((SECONDS - start_all))s")

for s in "${stages[@]}"; do
  t0=$SECONDS
  if stage "$s"; then
    result=ok
  else
    result=FAILED
    failed_stages+=("$s")
  fi
  timings+=("$s $((SECONDS - t0))s $result")
done

say "summary ($((SECONDS - start_all))s)"
printf '  %s\n' "${timings[@]}"
if [ ${#failed_stages[@]} -gt 0 ]; then
  echo "test.sh: FAILED stage(s): ${failed_stages[*]}"
fi
echo "total: $total_passed passed, $total_failed failed"
[ ${#failed_stages[@]} -eq 0 ] && [ "$total_failed" -eq 0 ]
