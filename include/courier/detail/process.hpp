// courier/detail/process.hpp — who a process is, in a form that survives pid reuse:
// pid plus its start time (field 22 of /proc/PID/stat, clock ticks since boot).
// A lease word packs both, and a nonce, into 64 bits so it can be taken with
// one CAS:
//   bits 0..21  pid (Linux pid_max is at most 2^22)
//   bits 22..47 low 26 bits of the start time (clock ticks: wraps after ~7.7
//               days at 100 Hz; a reused pid must also match it exactly)
//   bits 48..63 nonce: a per-process attach counter, so two leases taken by
//               one process one after the other are different words
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace courier {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
};

// This process (computed once; recomputed after fork()).
ProcessIdentity self_identity() noexcept;

// Start time of pid, or 0 when the process does not exist or is a zombie.
std::uint64_t process_start_ticks(pid_t pid) noexcept;

// True while `pid` runs (not a zombie) and its start time, cut to `mask`, is
// `start_ticks`: the same process, not another one given the pid since.
bool process_is(pid_t pid, std::uint64_t start_ticks, std::uint64_t mask) noexcept;

inline constexpr std::uint64_t lease_pid_mask = (1ull << 22) - 1;
inline constexpr std::uint64_t lease_start_mask = (1ull << 26) - 1;

inline std::uint64_t lease_word(const ProcessIdentity& p, std::uint16_t nonce = 0) noexcept {
  return (static_cast<std::uint64_t>(nonce) << 48) | ((p.start_ticks & lease_start_mask) << 22) |
         (static_cast<std::uint64_t>(p.pid) & lease_pid_mask);
}
inline pid_t lease_pid(std::uint64_t word) noexcept { return static_cast<pid_t>(word & lease_pid_mask); }
// Same process (pid and start time), whatever the nonce.
inline bool same_process(std::uint64_t a, std::uint64_t b) noexcept { return ((a ^ b) & ((1ull << 48) - 1)) == 0; }

// True when the process named by a lease word is still running (same pid, same
// start time, not a zombie).
bool lease_holder_alive(std::uint64_t word) noexcept;

}  // namespace courier
