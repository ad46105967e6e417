#!/usr/bin/env bash
# Run the event-loop example: the epoll service and the Boost.Asio service,
# each with a client sending N tracked requests, as four processes on one bus
# (made here, removed at the end). Exit 0 when all four said every request
# was answered, read, and its reply delivered.
#
#   bash examples/event_loop/run.sh BIN_DIR N [COURIER_CLI]
#     BIN_DIR      where event_loop_epoll, event_loop_asio, event_loop_client are
#     COURIER_CLI  the courier binary (default: BIN_DIR/../../courier)
set -uo pipefail
bin=${1:?BIN_DIR}
n=${2:?N}
cli=${3:-$bin/../../courier}
bus="evloop-$$-$RANDOM"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$cli" rm "$bus" --force >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$cli" create "$bus" --max-endpoints 8 --lane-capacity 1M >/dev/null || exit 1
"$bin/event_loop_epoll" "$bus" svc-epoll "$n" >"$tmp/epoll" 2>&1 & pids+=($!)
"$bin/event_loop_asio" "$bus" svc-asio "$n" >"$tmp/asio" 2>&1 & pids+=($!)
"$bin/event_loop_client" "$bus" svc-epoll "$n" >"$tmp/client-epoll" 2>&1 & pids+=($!)
"$bin/event_loop_client" "$bus" svc-asio "$n" >"$tmp/client-asio" 2>&1 & pids+=($!)
failed=0
for i in 0 1 2 3; do
  wait "${pids[$i]}" || failed=1
done
pids=()
for f in epoll asio client-epoll client-asio; do sed 's/^/  /' "$tmp/$f"; done
want_service="$n requests answered, $n replies delivered"
want_client="$n requests sent, $n read by the service, $n replies received"
grep -qx "epoll service: $want_service" "$tmp/epoll" || failed=1
grep -qx "asio service: $want_service" "$tmp/asio" || failed=1
grep -qx "client: $want_client" "$tmp/client-epoll" || failed=1
grep -qx "client: $want_client" "$tmp/client-asio" || failed=1
[ $failed -eq 0 ] && echo "event loops: every request answered and read, every reply delivered" \
  || echo "event loops: FAILED (see above)" >&2
exit $failed
