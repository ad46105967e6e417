#include "courier/detail/clock.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace courier::detail {

bool tsc_usable() noexcept {
#if defined(__x86_64__)
  static const bool usable = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
    __cpuid(0x80000007u, a, b, c, d);
    return (d & (1u << 8)) != 0;  // invariant TSC: constant rate, runs in every C-state
  }();
  return usable;
#else
  return false;
#endif
}

// Cold path of fast_realtime_ns: read the real clock, fold the interval since
// the last calibration into the rate, anchor here. Until a rate is known (the
// first ~1 ms of a thread) every call lands here and returns the real clock.
std::uint64_t tsc_reanchor(std::uint64_t tsc) noexcept {
  TscAnchor& a = tsc_anchor;
  // Pair the counter with the clock tightly: re-read the counter after the
  // clock and retry when something (a preemption) came between the two.
  std::uint64_t now = realtime_ns();
#if defined(__x86_64__)
  if (tsc_usable()) {
    for (int tries = 0; tries < 4; ++tries) {
      const std::uint64_t t1 = __rdtsc();
      now = realtime_ns();
      const std::uint64_t t2 = __rdtsc();
      tsc = t1 + (t2 - t1) / 2;
      if (t2 - t1 < 20'000) break;  // ~10 us at 2 GHz: a clean pair
    }
  }
#endif
  if (!tsc_usable()) {
    a.span = 0;
    return now;
  }
  constexpr std::uint64_t interval_ns = 1'000'000;
  if (a.cal_tsc == 0 || tsc <= a.cal_tsc || now <= a.cal_ns) {
    a.cal_tsc = tsc;
    a.cal_ns = now;
    a.span = 0;
    return now;
  }
  const std::uint64_t dticks = tsc - a.cal_tsc;
  const std::uint64_t dns = now - a.cal_ns;
  if (dns < interval_ns && a.mult == 0) return now;  // still measuring the first interval
  if (dns >= interval_ns) {
    // A step of the real clock (settimeofday, NTP slew) or a migration makes one
    // interval odd: accept rates within 0.1..10 GHz only, else start over.
    const std::uint64_t mult = static_cast<std::uint64_t>((static_cast<u128>(dns) << 32) / dticks);
    if (mult >= (1ull << 32) / 10 && mult <= (10ull << 32)) {
      a.mult = mult;
      a.span = (static_cast<u128>(interval_ns) << 32) / mult;
    } else {
      a.mult = 0;
      a.span = 0;
    }
    a.cal_tsc = tsc;
    a.cal_ns = now;
  }
  a.tsc = tsc;
  a.ns = now;
  return now;
}

}  // namespace courier::detail
