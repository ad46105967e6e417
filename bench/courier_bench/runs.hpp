// bench/courier_bench/runs.hpp — courier-bench's options (options.cpp) and
// one run of a transport, in two processes or two threads (runs.cpp); main.cpp
// arranges the runs into rounds and blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "report.hpp"

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace cbench {

struct Options {
  bool quick = false;
  std::string only;
  bool all = false;                   // every transport this build knows, the diagnostic ones (courier.poll) too
  unsigned rounds = 0;                // 0: default for the mode
  std::uint64_t iterations = 0;       // 0: default for the mode
  std::uint64_t peer_iterations = 0;  // round trips of the peers (kernel IPC, microseconds each); 0: default
  std::uint64_t warmup = ~0ull;       // ~0: iterations / 10, 1,000..20,000
  std::uint64_t peer_warmup = ~0ull;
  std::vector<std::size_t> sizes;              // empty: default for the mode
  std::uint64_t stream_messages = ~0ull;       // ~0: default for the mode; 0: no throughput runs
  std::uint64_t peer_stream_messages = ~0ull;  // ~0: stream_messages / 20
  std::size_t stream_payload = 64;
  std::uint64_t log_iterations = 0;  // durable block (two disk syncs per round trip); 0: default
  std::uint64_t log_warmup = ~0ull;
  std::uint64_t log_stream_messages = ~0ull;  // streams of transports that write every message to disk
  std::string disk_dir = "/var/tmp";          // their files (a disk here; /dev/shm or a tmpfs would measure memory)
  bool scale = true;                          // the scale section (endpoints, lanes, tracked, groups, inproc, urgent)
  std::string json, plot;
  std::size_t plot_payload = 64;
  int cpu_parent = 0, cpu_child = 1;
  double timeout_s = 5.0;
  bool save = true;
  std::string results_dir = COURIER_BENCH_RESULTS_DIR;
  bool list = false;
};

// The command line (exit 2 with a one-line error on a bad one).
Options parse(int argc, char** argv);

bool pin_to(int cpu);

// ------------------------------------------------------------ one run
struct RunOutcome {
  bool ok = false;
  std::string error;
  Percentiles pct;
  std::vector<double> curve;
  double msgs_per_s = 0;       // median over windows (robust to lost CPU)
  double msgs_per_s_wall = 0;  // all messages over the whole run
  long preemptions = -1;       // involuntary context switches of both processes during the run (-1: unknown)
};

// One run of t (ping-pong or stream) against a forked child, or for an
// in-process transport against `side` on a thread pinned to CPU B.
RunOutcome run_one(Transport& t, Transport* side, Mode mode, RunConfig cfg, Control* ctrl, const Options& o);

}  // namespace cbench
