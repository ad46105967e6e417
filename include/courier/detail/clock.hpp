// courier/detail/clock.hpp — the two clocks courier reads.
//   realtime_ns:  message timestamps and deadlines (CLOCK_REALTIME, ns since the
//                 epoch), so that a deadline means the same in every process and
//                 in the log after a reboot.
//   monotonic_ns: timeouts and waits (CLOCK_MONOTONIC), immune to clock steps.
// And how a waiting thread spins: cpu_relax (a pause), cpu_yield (sched_yield).
#pragma once

#include <sched.h>

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

// CLOCK_REALTIME for the hot path: the time-stamp counter scaled against the
// real clock, re-anchored every millisecond per thread. A vDSO clock_gettime
// costs ~27 ns on this KVM guest (kvm-clock), rdtsc ~13 ns; a send stamps
// every message, so this is a measurable share of a ~300 ns round trip.
// Error against realtime_ns(): the drift of one millisecond at the measured
// rate, tens of ns. Falls back to clock_gettime where the TSC is not invariant.
namespace detail {
__extension__ typedef unsigned __int128 u128;  // GCC/Clang extension, for the 64x32.32 product

struct TscAnchor {
  std::uint64_t tsc = 0;      // counter at the anchor
  std::uint64_t ns = 0;       // CLOCK_REALTIME at the anchor
  std::uint64_t mult = 0;     // ns per tick, 32.32 fixed point (0: not calibrated yet)
  std::uint64_t span = 0;     // ticks after which to re-anchor (~1 ms)
  std::uint64_t cal_tsc = 0;  // start of the calibration interval
  std::uint64_t cal_ns = 0;
};
inline thread_local TscAnchor tsc_anchor;

// Whether the time-stamp counter is invariant (constant rate, runs in every
// C-state), asked of cpuid once (src/clock.cpp).
bool tsc_usable() noexcept;
std::uint64_t tsc_reanchor(std::uint64_t tsc) noexcept;
}  // namespace detail

inline std::uint64_t fast_realtime_ns() noexcept {
#if defined(__x86_64__)
  const std::uint64_t t = __builtin_ia32_rdtsc();  // the builtin: <x86intrin.h> is ~30,000 lines
  detail::TscAnchor& a = detail::tsc_anchor;
  const std::uint64_t dt = t - a.tsc;
  if (dt < a.span) return a.ns + static_cast<std::uint64_t>((static_cast<detail::u128>(dt) * a.mult) >> 32);
  return detail::tsc_reanchor(t);
#else
  return realtime_ns();
#endif
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

// Give the CPU to another runnable thread of this CPU, if there is one (else
// returns at once, one syscall). A spinning receiver calls it between polls so
// that a sender sharing its CPU can run: without it each side of a ping-pong
// on one CPU spun its whole spin_ns before the other could reply.
inline void cpu_yield() noexcept { ::sched_yield(); }

}  // namespace courier
