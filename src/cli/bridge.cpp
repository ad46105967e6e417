// cli/bridge.cpp — `courier bridge BUS --nats URL --host NAME [--stream S]`:
// run a Bridge (src/bridge/) until SIGINT or SIGTERM. Prints one line when it
// is ready ("bridge ready: ...", for scripts and tests), diagnostics on
// stderr, and its counters when it stops.
#include <signal.h>

#include <iostream>
#include <string>

#include "bridge.hpp"
#include "common.hpp"
#include "courier/names.hpp"
#include "subjects.hpp"

namespace courier::cli {

int run_bridge(const Invocation& inv) {
  const auto url = inv.args.value("nats");
  if (!url) throw UsageError("bridge: missing --nats URL");
  const auto host = inv.args.value("host");
  if (!host) throw UsageError("bridge: missing --host NAME");
  bridge::BridgeOptions o;
  o.nats_url = std::string(*url);
  o.host = std::string(*host);
  if (auto s = inv.args.value("stream")) o.stream = std::string(*s);
  if (auto d = inv.args.duration("ack-wait")) {
    if (d->count() <= 0) throw UsageError("--ack-wait: must be more than 0");
    o.ack_wait = *d;
  }
  if (auto p = bridge::token_problem("--host", o.host); !p.empty()) throw UsageError(p);
  if (auto p = bridge::token_problem("--stream", o.stream); !p.empty()) throw UsageError(p);
  o.on_log = [](const std::string& line) { std::cerr << "courier bridge: " + escape_controls(line) + "\n"; };

  // The signals are taken by sigwait below: blocked before the bridge's threads start, so they inherit it.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);

  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  auto b = bridge::Bridge::start(bus, o);
  if (!b) throw Failure("bridge: " + b.error().message);
  write_out("bridge ready: bus " + bus.name() + ", host " + o.host + ", stream " + o.stream + ", " + o.nats_url + "\n");
  int sig = 0;
  sigwait(&stop_set, &sig);
  (*b)->stop();
  const bridge::BridgeStats& st = (*b)->stats();
  auto n = [](const std::atomic<std::uint64_t>& c) { return std::to_string(c.load(std::memory_order_relaxed)); };
  note("bridge stopped: published " + n(st.published) + " (" + n(st.republished) + " again), enqueued " +
       n(st.enqueued) + ", duplicates " + n(st.duplicates) + ", expired " + n(st.expired) + ", refused " +
       n(st.refused) + ", statuses out " + n(st.statuses_out) + ", in " + n(st.statuses_in));
  flush_log(bus);
  return 0;
}

}  // namespace courier::cli
