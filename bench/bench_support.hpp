// bench/bench_support.hpp — what the Google Benchmark programs share:
//
//   ProgramBus / program_bus(state)  bench_lane and bench_id: one /dev/shm bus
//                                  per program ("<prefix>-<pid>") with a
//                                  receiver "dst" and an endpoint "src"
//                                  addressed to it, opened by the first
//                                  benchmark that asks for it
//   run_benchmarks(argc, argv, prefix)  their main(): runs the benchmarks and
//                                  removes that bus at the end, and on
//                                  SIGINT / SIGTERM / SIGHUP
//   retire_all(bus)                bench_id and bench_tracker: empty a bus's
//                                  tracker as if every deadline had passed
#pragma once

#include <benchmark/benchmark.h>
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "courier/bus.hpp"

namespace bench_support {

// ------------------------------------------------------------ the bus in one process
struct ProgramBus {
  std::string prefix;  // set by run_benchmarks
  std::string name;
  std::optional<courier::Bus> bus;
  std::optional<courier::Endpoint> tx;
  std::optional<courier::Receiver> rx;
  courier::Destination to;

  bool open(std::string& err) {
    if (bus) return true;
    name = prefix + "-" + std::to_string(::getpid());
    courier::Options o;
    o.max_endpoints = 2;
    o.lane_capacity = 256 * 1024;
    o.max_payload = 4096;
    auto b = courier::Bus::open(name, o);
    if (!b) {
      err = b.error().message;
      return false;
    }
    bus.emplace(std::move(*b));
    courier::ReceiverOptions ro;
    ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
    auto r = bus->attach("dst", ro);
    auto t = bus->endpoint("src");
    if (!r || !t) {
      err = !r ? r.error().message : t.error().message;
      return false;
    }
    rx.emplace(std::move(*r));
    tx.emplace(std::move(*t));
    auto d = tx->resolve("dst");
    if (!d) {
      err = d.error().message;
      return false;
    }
    to = *d;
    return true;
  }
  void close() {
    rx.reset();
    tx.reset();
    bus.reset();
    if (!name.empty()) (void)courier::Bus::remove(name);
    name.clear();
  }
};

inline ProgramBus& the_program_bus() {
  static ProgramBus b;
  return b;
}

// The program's bus, opened if it is not yet. nullptr: it could not be (the
// benchmark is skipped with the reason).
inline ProgramBus* program_bus(benchmark::State& state) {
  ProgramBus& b = the_program_bus();
  std::string err;
  if (!b.open(err)) {
    state.SkipWithError(err.c_str());
    return nullptr;
  }
  return &b;
}

inline void remove_bus_on_signal(int sig) {
  const std::string& n = the_program_bus().name;  // set before any benchmark sends; read only here
  if (!n.empty()) {
    const std::string path = "/dev/shm/courier." + n;
    ::unlink(path.c_str());
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// main() of a program that uses program_bus(): its bus is "<bus_prefix>-<pid>".
inline int run_benchmarks(int argc, char** argv, const char* bus_prefix) {
  the_program_bus().prefix = bus_prefix;
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::signal(s, remove_bus_on_signal);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  the_program_bus().close();
  return 0;
}

// ------------------------------------------------------------ the tracker
// Empty the bus's tracker: every entry as if past its deadline
// (Bus::retire_all_tracked_for_benchmark). Only with nothing in flight, and untimed.
inline void retire_all(courier::Bus& bus) { bus.retire_all_tracked_for_benchmark(); }

}  // namespace bench_support
