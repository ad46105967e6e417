// bench/courier_bench/stats.cpp — percentiles (exact, by sorting every sample) and medians.
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "timer.hpp"

namespace cbench {

const std::vector<double>& curve_nines() {
  static const std::vector<double> x = [] {
    std::vector<double> v;
    for (int i = 0; i <= 120; ++i) v.push_back(i * 0.05);
    return v;
  }();
  return x;
}

Percentiles summarize(std::vector<std::uint64_t>& ticks, std::vector<double>& curve) {
  Percentiles p;
  curve.clear();
  if (ticks.empty()) return p;
  std::sort(ticks.begin(), ticks.end());
  const std::size_t n = ticks.size();
  auto at = [&](double q) {
    // Nearest rank: ceil(q * n), 1-based.
    std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    rank = std::clamp<std::size_t>(rank, 1, n);
    return Timer::to_ns(ticks[rank - 1]);
  };
  if (std::getenv("CBENCH_DEBUG_TAIL") != nullptr) {
    std::size_t a = 0, b = 0, c = 0;
    for (std::uint64_t t : ticks) {
      const double ns = Timer::to_ns(t);
      a += ns > 10e3;
      b += ns > 100e3;
      c += ns > 1e6;
    }
    std::fprintf(stderr, "    tail: >10us %zu  >100us %zu  >1ms %zu  top:", a, b, c);
    for (std::size_t i = n > 8 ? n - 8 : 0; i < n; ++i) std::fprintf(stderr, " %.0f", Timer::to_ns(ticks[i]) / 1e3);
    std::fprintf(stderr, " us\n");
  }
  p.count = n;
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = Timer::to_ns(ticks.back());
  long double sum = 0;
  for (std::uint64_t t : ticks) sum += t;
  p.mean = Timer::to_ns(1) * static_cast<double>(sum / n);
  for (double x : curve_nines()) curve.push_back(at(1.0 - std::pow(10.0, -x)));
  return p;
}

Percentiles summarize_ns(std::vector<double>& ns) {
  Percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  const std::size_t n = ns.size();
  auto at = [&](double q) {
    std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    return ns[std::clamp<std::size_t>(rank, 1, n) - 1];
  };
  p.count = n;
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = ns.back();
  double sum = 0;
  for (double v : ns) sum += v;
  p.mean = sum / static_cast<double>(n);
  return p;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace cbench
