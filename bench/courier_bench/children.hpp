// bench/courier_bench/children.hpp — run a part of a benchmark in a forked
// child and get its result back through a pipe (a clean RSS per part; no
// thread crosses a fork). The child dies with the parent (PR_SET_PDEATHSIG)
// and is killed by the cleanup handlers (harness.hpp) on a signal.
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

namespace cbench {

// write() all n bytes of p to fd, again on EINTR; false on an error or a
// write of nothing (errno says why when it was an error).
bool write_all(int fd, const void* p, std::size_t n);

// body(out) in a child; out (size bytes) comes back through a pipe. Waits up
// to timeout_s, then kills the child. usage: the child's (ru_maxrss: its peak
// RSS, ru_nivcsw: preemptions). false: err says why.
bool run_in_child(const std::function<void(void* out)>& body, void* out, std::size_t size, rusage& usage,
                  std::string& err, int timeout_s);

// The same for a trivially copyable T, value-initialised in the child.
template <class T, class F>
bool in_child(F&& body, T& out, rusage& usage, std::string& err, int timeout_s = 900) {
  static_assert(std::is_trivially_copyable_v<T>);
  return run_in_child(
      [&body](void* dst) {
        T r{};
        body(r);
        std::memcpy(dst, &r, sizeof r);
      },
      &out, sizeof out, usage, err, timeout_s);
}

}  // namespace cbench
