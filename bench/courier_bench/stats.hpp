// bench/courier_bench/stats.hpp — percentiles (exact, by sorting every sample)
// and medians: shared by courier-bench and bench_log (the bench_harness library).
#pragma once

#include <cstdint>
#include <vector>

namespace cbench {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::uint64_t count = 0;
};

// The latency curve is kept at fixed points q = 1 - 10^-x, x = 0, 0.05, ... 6
// ("nines"), so rounds can be combined point by point without keeping samples.
const std::vector<double>& curve_nines();

// Sorts `ticks`, converts to ns; nearest-rank percentiles: the smallest sample
// with at least q of all samples <= it. curve gets one value per curve_nines().
Percentiles summarize(std::vector<std::uint64_t>& ticks, std::vector<double>& curve);
// The same for samples already in ns (sorts them).
Percentiles summarize_ns(std::vector<double>& ns);

double median(std::vector<double> v);

}  // namespace cbench
