// courier/clock.hpp — the two clocks courier reads.
//   realtime_ns:  message timestamps and deadlines (CLOCK_REALTIME, ns since the
//                 epoch), so that a deadline means the same in every process and
//                 in the log after a reboot.
//   monotonic_ns: timeouts and waits (CLOCK_MONOTONIC), immune to clock steps.
#pragma once

#include <cstdint>
#include <ctime>

namespace courier {

inline std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// One pause instruction: tells the core we are spinning (frees the sibling
// hyperthread, avoids a memory-order machine clear on exit from the loop).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace courier
