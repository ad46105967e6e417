// bench/courier_bench/report.hpp — results over rounds and the three outputs:
// markdown, JSON lines, plot (percentiles: stats.hpp; the machine line: machine.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "machine.hpp"
#include "stats.hpp"

namespace cbench {

// One transport at one payload in one mode, over all rounds.
struct ItemResult {
  std::string transport;
  std::size_t payload = 0;
  Mode mode = Mode::pingpong;
  bool threads = false;                     // two threads of one process (inproc.*), not two processes
  bool durable = false;                     // the durable block: against floor.fdatasync
  std::vector<Percentiles> rounds;          // successful rounds
  std::vector<std::vector<double>> curves;  // per successful round
  std::vector<double> ratios;               // p50 / adjacent floor p50 (ping-pong) or msgs/s / floor.spsc (stream)
  std::vector<double> ratios_p99;           // ping-pong: p99 / the adjacent floor runs' p99
  std::vector<double> ratio_by_round;       // as ratios, one per round (NaN: failed), to pair two transports' rounds
  std::vector<double> msgs_per_s;           // stream mode, per successful round: median over 1% windows
  std::vector<double> msgs_per_s_wall;      // stream mode, per successful round: whole run
  std::vector<double> preemptions;          // involuntary context switches (both processes) per successful round
  std::vector<std::string> errors;          // failed rounds

  // Aggregates over rounds.
  Percentiles agg() const;  // median of rounds for p50..p99.9, max of max
  double ratio() const { return median(ratios); }
  double ratio_p99() const { return median(ratios_p99); }
  double ratio_lo() const;
  double ratio_hi() const;
  double rate() const { return median(msgs_per_s); }
  double rate_wall() const { return median(msgs_per_s_wall); }
  std::vector<double> curve() const;  // point-wise median
};

bool is_floor_reference(const std::string& transport);  // floor.cacheline, inproc.floor.cacheline, floor.fdatasync
const char* floor_of(const ItemResult& r);              // the reference of r's ratios

// One line of the scale section (scale.cpp): a distribution in ns.
struct ScaleRow {
  std::string test;    // "endpoints", "lanes", "urgent"
  std::string label;   // the case, e.g. "1000 endpoints registered"
  std::string metric;  // what one sample is, e.g. "receive ns/msg"
  Percentiles pct;     // p50 .. max over the samples, in ns
  std::string note;
};

// A target of the issue, evaluated on this run's ratios.
struct Target {
  std::string what;   // "courier.spin round trip p50 / floor.cacheline (64 B)"
  std::string limit;  // "≤ 1.10×"
  double limit_value = 0;
  bool at_most = true;  // measured must be <= limit_value (else >=)
  double measured = 0;  // NaN: not measured in this run
  bool met = false;
  std::string how;             // how the measured value was formed
  bool informational = false;  // no limit: the ratio is shown, not judged (limit_value NaN)
};

struct Report {
  Machine machine;
  std::string date;                 // ISO 8601, local time
  std::string settings;             // rounds, iterations, sizes, timer
  std::vector<ItemResult> latency;  // floor.cacheline first
  std::vector<ItemResult> throughput;
  std::vector<ScaleRow> scale;
  std::string scale_settings;

  // The targets at `payload` (64 B), from the rounds of this run.
  std::vector<Target> targets(std::size_t payload = 64) const;

  std::string markdown() const;
  std::vector<std::string> json_lines() const;
};

// Write a PNG of the latency percentile distribution (ping-pong items at
// `payload`). Returns false with a reason when gnuplot is missing or fails.
bool plot(const Report& r, std::size_t payload, const std::string& png, std::string& why);

}  // namespace cbench
