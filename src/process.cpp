#include "courier/detail/process.hpp"

#include <pthread.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace courier {
namespace {

// Parses /proc/PID/stat: state (field 3) and starttime (field 22). The comm
// field (2) may hold spaces and parentheses, so parse from the last ')'.
bool read_stat(pid_t pid, char& state, std::uint64_t& start) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char* p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return false;
  p += 2;
  state = *p;
  // fields after comm: 3=state, then 4..22; starttime is the 20th token from state.
  int field = 3;
  while (*p != '\0' && field < 22) {
    if (*p == ' ') ++field;
    ++p;
  }
  if (field != 22) return false;
  start = std::strtoull(p, nullptr, 10);
  return true;
}

}  // namespace

std::uint64_t process_start_ticks(pid_t pid) noexcept {
  char state = 0;
  std::uint64_t start = 0;
  if (!read_stat(pid, state, start)) return 0;
  if (state == 'Z' || state == 'X' || state == 'x') return 0;
  return start == 0 ? 1 : start;
}

namespace {
// relaxed: an idempotent cache of a pure function of the process; a fork()ed
// child clears it in the atfork handler (before any of its threads runs).
std::atomic<std::uint64_t> identity_cache{0};
extern "C" void courier_forget_identity() { identity_cache.store(0, std::memory_order_relaxed); }
}  // namespace

ProcessIdentity self_identity() noexcept {
  // No syscall once cached: getpid() is a real syscall on this glibc (~1 us on
  // a KVM guest), and tracked sends ask for the pid on every tracker insert.
  std::uint64_t c = identity_cache.load(std::memory_order_relaxed);
  if (c != 0) return ProcessIdentity{static_cast<pid_t>(c & 0xffffffffu), c >> 32};
  static const bool registered = [] { return ::pthread_atfork(nullptr, nullptr, courier_forget_identity) == 0; }();
  const pid_t pid = ::getpid();
  ProcessIdentity me{pid, process_start_ticks(pid) & 0xffffffffu};
  if (registered)
    identity_cache.store((me.start_ticks << 32) | static_cast<std::uint32_t>(pid), std::memory_order_relaxed);
  return me;
}

bool process_is(pid_t pid, std::uint64_t start_ticks, std::uint64_t mask) noexcept {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  const std::uint64_t start = process_start_ticks(pid);
  return start != 0 && (start & mask) == (start_ticks & mask);
}

bool lease_holder_alive(std::uint64_t word) noexcept {
  return word != 0 && process_is(lease_pid(word), word >> 22, lease_start_mask);
}

}  // namespace courier
