#include "courier/process.hpp"

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

ProcessIdentity self_identity() noexcept {
  // Cached per pid: a forked child computes its own.
  static std::atomic<std::uint64_t> cached{0};  // relaxed: an idempotent cache of a pure function of getpid()
  pid_t pid = ::getpid();
  std::uint64_t c = cached.load(std::memory_order_relaxed);
  if (c != 0 && static_cast<pid_t>(c & 0xffffffffu) == pid) {
    return ProcessIdentity{pid, c >> 32};
  }
  ProcessIdentity me{pid, process_start_ticks(pid)};
  cached.store((static_cast<std::uint64_t>(me.start_ticks & 0xffffffffu) << 32) | static_cast<std::uint32_t>(pid),
               std::memory_order_relaxed);
  me.start_ticks &= 0xffffffffu;
  return me;
}

bool lease_holder_alive(std::uint64_t word) noexcept {
  if (word == 0) return false;
  pid_t pid = lease_pid(word);
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::uint64_t start = process_start_ticks(pid);
  if (start == 0) return false;
  return (start & lease_start_mask) == ((word >> 22) & lease_start_mask);
}

}  // namespace courier
