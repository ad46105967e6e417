// courier/process.hpp — who a process is, in a form that survives pid reuse:
// pid plus its start time (field 22 of /proc/PID/stat, clock ticks since boot).
// A lease word packs both into 64 bits so it can be taken with one CAS:
//   bits 0..31 pid, bits 32..63 low 32 bits of the start time.
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

inline std::uint64_t lease_word(const ProcessIdentity& p) noexcept {
  return (static_cast<std::uint64_t>(p.start_ticks & 0xffffffffu) << 32) | static_cast<std::uint32_t>(p.pid);
}
inline pid_t lease_pid(std::uint64_t word) noexcept { return static_cast<pid_t>(word & 0xffffffffu); }

// True when the process named by a lease word is still running (same pid, same
// start time, not a zombie).
bool lease_holder_alive(std::uint64_t word) noexcept;

}  // namespace courier
