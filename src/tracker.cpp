#include "courier/detail/tracker.hpp"

#include <sched.h>
#include <signal.h>

#include <cerrno>

namespace courier {

bool Tracker::pid_alive(std::uint64_t pid) noexcept {
  if (pid == 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

void Tracker::sched_yield_now() noexcept { ::sched_yield(); }

}  // namespace courier
