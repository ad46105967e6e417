// Test support: unique bus names, and child processes that re-execute the test
// binary (so multi-process tests use real processes, boost.unordered-style).
//
//   COURIER_CHILD(sender) { ...; return 0; }           // runs in the child
//   auto c = Child::spawn("sender", {"arg1", "arg2"});  // parent side
//   c.expect_line("ready");  c.kill9();  c.wait();
//   c.send_line("go");                                  // to the child's stdin (read_stdin_line there)
//
// Bus modes: tests parameterised over shared memory and in-process buses
// (BusMode, options_for, INSTANTIATE_TEST_SUITE_P(..., ::testing::ValuesIn(all_bus_modes), bus_mode_name)).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "courier/bus.hpp"
#include "courier/detail/process.hpp"

extern char** environ;

namespace courier::test {

inline std::string unique_bus_name(const std::string& prefix = "t") {
  static std::mt19937_64 rng{std::random_device{}()};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rng() % 1000000000ull);
}

// Removes the bus's shared memory when the test ends, whatever happens.
struct BusName {
  std::string name = unique_bus_name();
  ~BusName() { (void)Bus::remove(name, RemoveOptions{.force = true}); }  // cleanup: even with receivers attached
  operator std::string_view() const { return name; }                     // NOLINT
};

// A private scratch directory (mkdtemp), removed with what it holds when the test ends.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& prefix = "courier-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Small geometry for tests: 64 KiB lanes, 16 KiB payloads.
// Pages of `path` in the page cache, over its first `bytes` (mincore); ~0 when it cannot be looked at.
inline std::size_t resident_pages(const std::string& path, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ~std::size_t{0};
  const long page = ::sysconf(_SC_PAGESIZE);
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return ~std::size_t{0};
  std::vector<unsigned char> in((bytes + page - 1) / page);
  std::size_t n = ~std::size_t{0};
  if (::mincore(m, bytes, in.data()) == 0)
    n = std::count_if(in.begin(), in.end(), [](unsigned char c) { return c & 1; });
  ::munmap(m, bytes);
  return n;
}

// Whether the file system of directory `dir` takes O_DIRECT (Options::log_direct_io has an effect there).
inline bool takes_direct_io(const std::string& dir) {
  const std::string f = dir + "/.direct-probe";
  const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  ::unlink(f.c_str());
  return fd >= 0;
}

inline Options small_options() {
  Options o;
  o.max_endpoints = 16;
  o.lane_capacity = 64 * 1024;
  o.max_payload = 16 * 1024;
  o.claim_timeout = std::chrono::milliseconds(100);
  return o;
}

// Where a test's bus lives: a shared-memory segment, or this process's memory
// (Options::in_process). Behaviour must be the same in both.
enum class BusMode { shared_memory, in_process };
inline constexpr BusMode all_bus_modes[] = {BusMode::shared_memory, BusMode::in_process};
inline std::string bus_mode_name(const ::testing::TestParamInfo<BusMode>& i) {
  return i.param == BusMode::in_process ? "InProcess" : "SharedMemory";
}
inline Options options_for(BusMode mode, Options o = small_options()) {
  o.in_process = mode == BusMode::in_process;
  return o;
}

// Poll `done` until it holds or `timeout` passes; for conditions that only time
// can bring about (an expiry, a retention), never for another thread's or
// process's progress (wait on its line or its exit instead).
template <class Pred>
bool eventually(Pred&& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A status event reduced to what tests compare (StatusEvent without the time).
struct Event {
  std::uint64_t id;
  EndpointId recipient;
  GroupId group;
  Status status;
  bool operator==(const Event&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << "{id " << e.id << ", recipient " << e.recipient << ", group " << e.group << ", " << status_name(e.status)
            << "}";
}
inline Event ev(const StatusEvent& e) { return {e.id, e.recipient, e.group, e.status}; }

using ChildMain = std::function<int(const std::vector<std::string>&)>;
inline std::map<std::string, ChildMain>& child_registry() {
  static std::map<std::string, ChildMain> r;
  return r;
}
struct ChildRegistrar {
  ChildRegistrar(const char* name, ChildMain f) { child_registry()[name] = std::move(f); }
};
#define COURIER_CHILD(name)                                                                     \
  static int courier_child_##name(const std::vector<std::string>& args);                        \
  static ::courier::test::ChildRegistrar courier_child_reg_##name(#name, courier_child_##name); \
  static int courier_child_##name([[maybe_unused]] const std::vector<std::string>& args)

// A send (or commit) r that ended revoked (the receiver stepped over its claim,
// not committed within the bus's claim timeout: the sender was descheduled
// that long, as happens on a loaded machine) was delivered to no one: send it
// again, in its place in the order. `revoked` counts them; more than 1000 in
// one stream would be a bug, not the scheduler: then r is returned as it is.
inline SendResult resend_if_revoked(Endpoint& e, const SendOptions& o, std::string_view payload, SendResult r,
                                    unsigned& revoked) {
  while (r.status == Status::revoked && ++revoked <= 1000) r = e.send(o, payload);
  return r;
}

// In a child: one line to the parent (stdout is a pipe), flushed.
inline void tell_parent(const std::string& line) {
  std::string l = line + "\n";
  (void)!::write(STDOUT_FILENO, l.data(), l.size());
}

// In a child: the next line the parent sent (Child::send_line), "" on EOF.
// Unbuffered (one byte per read) so nothing is read ahead of the line.
inline std::string read_stdin_line() {
  std::string line;
  char c = 0;
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') return line;
    line.push_back(c);
  }
}

class Child {
 public:
  static Child spawn(const std::string& role, const std::vector<std::string>& args = {},
                     const std::vector<std::string>& extra_env = {}) {
    Child c;
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    std::vector<std::string> argv_s = {"/proc/self/exe", "--courier-child", role};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) std::abort();
    exe[n] = '\0';
    if (posix_spawn(&c.pid_, exe, &fa, nullptr, argv.data(), envp.data()) != 0) std::abort();
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(in[0]);
    c.out_ = out[0];
    c.in_ = in[1];
    return c;
  }

  Child() = default;
  Child(Child&& o) noexcept : pid_(o.pid_), out_(o.out_), in_(o.in_), buf_(std::move(o.buf_)), status_(o.status_) {
    o.pid_ = -1;
    o.out_ = -1;
    o.in_ = -1;
  }
  Child& operator=(Child&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(out_, o.out_);
    std::swap(in_, o.in_);
    std::swap(buf_, o.buf_);
    std::swap(status_, o.status_);
    return *this;
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }

  pid_t pid() const { return pid_; }
  // The read end of the child's stdout (to poll beside other fds; read_line reads it).
  int output_fd() const { return out_; }

  // EOF on the child's stdin.
  void close_input() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  // One line to the child's stdin (it reads it with read_stdin_line).
  bool send_line(const std::string& line) {
    std::string l = line + "\n";
    // A child that died has closed its end: report it, do not die of SIGPIPE.
    struct sigaction ign {
    }, old{};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
    const bool ok = in_ >= 0 && ::write(in_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
    ::sigaction(SIGPIPE, &old, nullptr);
    return ok;
  }

  // Next line from the child's stdout, or "" on EOF / timeout.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char tmp[4096];
      ssize_t n = ::read(out_, tmp, sizeof tmp);
      if (n <= 0) return {};
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  void expect_line(const std::string& want) {
    std::string got = read_line();
    ASSERT_EQ(got, want) << "child " << pid_ << " said something else";
  }

  void kill9() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  // Exit code, or 128 + signal; waits at most `timeout` then kills.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (pid_ <= 0) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int st = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        ADD_FAILURE() << "child " << pid_ << " did not exit in time";
        break;
      }
      pollfd p{out_, POLLIN, 0};  // wait on the pipe (EOF when the child exits) rather than sleeping blindly
      if (::poll(&p, 1, 10) > 0) {
        char tmp[4096];
        ssize_t n = ::read(out_, tmp, sizeof tmp);
        if (n > 0) buf_.append(tmp, static_cast<std::size_t>(n));
      }
    }
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;  // the child's stdin
  std::string buf_;
  int status_ = -1;
};

// main() of every test binary: dispatches to a child role, or runs gtest.
inline int test_main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--courier-child") {
    auto it = child_registry().find(argv[2]);
    if (it == child_registry().end()) {
      std::fprintf(stderr, "unknown child role %s\n", argv[2]);
      return 99;
    }
    std::vector<std::string> args(argv + 3, argv + argc);
    return it->second(args);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

}  // namespace courier::test

#define COURIER_TEST_MAIN \
  int main(int argc, char** argv) { return ::courier::test::test_main(argc, argv); }
