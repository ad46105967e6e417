#!/usr/bin/env bash
# ctest event_loop.services: both event-loop services (epoll, Boost.Asio) and
# a client each, as real processes, through examples/event_loop/run.sh, which
# checks that every request was answered and read and every reply delivered.
#   tests/event_loop_test.sh BIN_DIR N COURIER_CLI
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$1
n=$2
bash "$here/../examples/event_loop/run.sh" "$bin" "$n" "$3"
