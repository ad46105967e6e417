#!/usr/bin/env bash
# Install what courier needs to build, test, benchmark and plot, on Debian 12.
#
# Idempotent: asks dpkg first and touches the network (apt-get update, then
# apt-get install) only when a package is missing, so a second run is quiet
# and offline. Run as root (or through sudo when it is available).
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build   # toolchain
  libboost-dev libconcurrentqueue-dev     # Boost.Interprocess, moodycamel::ConcurrentQueue
  libcli11-dev nlohmann-json3-dev        # the CLI: argument parsing (CLI11), JSON output (nlohmann::json)
  googletest libgtest-dev                 # tests
  libbenchmark-dev libzmq3-dev            # bench (and a peer transport to compare with)
  gnuplot-nox                             # bench plots
  doxygen                                 # the API reference (scripts/apidoc.sh, ctest apidoc)
  clang libfuzzer-14-dev                  # fuzz targets (scripts/test.sh fuzz): clang++ 14 and its libFuzzer
  help2man pkg-config dpkg-dev man-db     # packaging: the man page, courier.pc, the .deb (tests/package_test.cmake)
  libnats-dev nats-server                 # courier bridge (cnats 3.4) and its tests (a real JetStream server)
)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get here (courier targets Debian 12); install them by hand" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Quiet unless something fails: then the whole apt-get output is shown.
if ! { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: apt-get failed" >&2
  exit 1
fi
echo "install-deps: done"
