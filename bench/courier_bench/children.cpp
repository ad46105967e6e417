// bench/courier_bench/children.cpp — run_in_child: fork, a pipe, a bounded wait.
#include "children.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "harness.hpp"

namespace cbench {

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool run_in_child(const std::function<void(void* out)>& body, void* out, std::size_t size, rusage& usage,
                  std::string& err, int timeout_s) {
  std::fflush(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    err = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    ::close(p[0]);
    ::close(p[1]);
    return false;
  }
  if (pid == 0) {
    cleanup::reset_handlers_in_child();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(p[0]);
    std::vector<char> r(size);
    body(r.data());
    _exit(write_all(p[1], r.data(), size) ? 0 : 1);
  }
  cleanup::set_child(pid);
  ::close(p[1]);
  std::size_t got = 0;
  auto* dst = static_cast<char*>(out);
  const std::uint64_t deadline = mono_ns() + static_cast<std::uint64_t>(timeout_s) * 1'000'000'000ull;
  while (got < size) {
    pollfd pfd{p[0], POLLIN, 0};
    const std::uint64_t t = mono_ns();
    if (t >= deadline) break;
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<std::uint64_t>((deadline - t) / 1'000'000 + 1, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    const ssize_t r = ::read(p[0], dst + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(p[0]);
  if (got < size) ::kill(pid, SIGKILL);
  int status = 0;
  usage = rusage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  cleanup::set_child(0);
  if (got < size) {
    err = WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status))
                              : "child exited with " + std::to_string(WEXITSTATUS(status)) + " before reporting";
    if (mono_ns() >= deadline) err = "child timed out after " + std::to_string(timeout_s) + " s";
    return false;
  }
  return true;
}

}  // namespace cbench
