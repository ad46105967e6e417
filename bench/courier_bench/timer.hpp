// bench/courier_bench/timer.hpp — the clock the harness stamps round trips with.
//
// One stamp per round trip (sample i = stamp[i+1] - stamp[i]), so the timer's
// own cost is inside every sample once, the same for every transport; main()
// prints that cost with the results. On x86 with an invariant TSC
// (constant_tsc + nonstop_tsc) the stamp is lfence; rdtsc, calibrated against
// CLOCK_MONOTONIC at start-up; elsewhere it is clock_gettime(CLOCK_MONOTONIC).
#pragma once

#include <cstdint>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace cbench {

inline std::uint64_t mono_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

class Timer {
 public:
  // Decide TSC or clock_gettime and calibrate (~50 ms). Call once, before forking.
  static void init();

  static std::uint64_t now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    if (use_tsc_) {
      _mm_lfence();  // do not read the TSC before the preceding loads (the reply) completed
      return __rdtsc();
    }
#endif
    return mono_ns();
  }
  static double ns_per_tick() noexcept { return ns_per_tick_; }
  static double to_ns(std::uint64_t ticks) noexcept { return static_cast<double>(ticks) * ns_per_tick_; }
  static const char* source() noexcept { return use_tsc_ ? "rdtsc" : "clock_gettime"; }
  static double read_cost_ns() noexcept { return read_cost_ns_; }
  static double tsc_mhz() noexcept { return use_tsc_ ? 1000.0 / ns_per_tick_ : 0.0; }

 private:
  static inline bool use_tsc_ = false;
  static inline double ns_per_tick_ = 1.0;
  static inline double read_cost_ns_ = 0.0;
};

}  // namespace cbench
