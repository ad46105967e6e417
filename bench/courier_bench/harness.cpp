// bench/courier_bench/harness.cpp — watchdog, cleanup registry, shared memory
// regions and the timer's calibration.
#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

namespace cbench {

// ------------------------------------------------------------ timer
void Timer::init() {
  bool tsc = false;
#if defined(__x86_64__) || defined(__i386__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      tsc = line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
      break;
    }
  }
  if (const char* e = std::getenv("CBENCH_NO_TSC"); e != nullptr && *e == '1') tsc = false;
#endif
  use_tsc_ = tsc;
  if (use_tsc_) {
#if defined(__x86_64__) || defined(__i386__)
    // Calibrate: ~50 ms of TSC against CLOCK_MONOTONIC (best of 3).
    double best = 0;
    for (int k = 0; k < 3; ++k) {
      const std::uint64_t m0 = mono_ns(), t0 = __rdtsc();
      std::uint64_t m1 = m0;
      while (m1 - m0 < 20'000'000ull) m1 = mono_ns();
      const std::uint64_t t1 = __rdtsc();
      const double r = static_cast<double>(m1 - m0) / static_cast<double>(t1 - t0);
      best = (best == 0 || r < best) ? r : best;
    }
    ns_per_tick_ = best;
#endif
  } else {
    ns_per_tick_ = 1.0;
  }
  // What one stamp costs (it is inside every sample once).
  constexpr int n = 200'000;
  std::uint64_t sink = 0;
  const std::uint64_t a = mono_ns();
  for (int i = 0; i < n; ++i) sink += now();
  const std::uint64_t b = mono_ns();
  read_cost_ns_ = static_cast<double>(b - a) / n + (sink == 1 ? 1e-9 : 0.0);
}

// ------------------------------------------------------------ watchdog
bool Watchdog::peer_alive() noexcept {
  if (thread_gone_ != nullptr) {
    if (ctrl_ != nullptr && ctrl_->state.load(std::memory_order_acquire) == Control::failed) {
      reason_ = std::string("the other thread failed: ") + ctrl_->error;
      return false;
    }
    // Acquire: partner of the release store that raises the flag.
    if (thread_gone_->load(std::memory_order_acquire) != 0) {
      reason_ = std::string(thread_name_) + " is gone";
      return false;
    }
    return true;
  }
  if (peer_is_parent_) {
    if (::getppid() != peer_) {
      reason_ = "the parent process is gone";
      return false;
    }
    return true;
  }
  if (ctrl_ != nullptr && ctrl_->state.load(std::memory_order_acquire) == Control::failed) {
    reason_ = std::string("the child failed: ") + ctrl_->error;
    return false;
  }
  if (reaped_) {
    reason_ = "the child exited";
    return false;
  }
  int st = 0;
  const pid_t r = ::waitpid(peer_, &st, WNOHANG);
  if (r == peer_) {
    reaped_ = true;
    status_ = st;
    if (WIFSIGNALED(st))
      reason_ = "the child died of signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) + ")";
    else
      reason_ = "the child exited with status " + std::to_string(WEXITSTATUS(st));
    if (ctrl_ != nullptr && ctrl_->state.load(std::memory_order_acquire) == Control::failed)
      reason_ += std::string(": ") + ctrl_->error;
    return false;
  }
  return true;
}

bool Watchdog::check() noexcept {
  const std::uint64_t now = mono_ns();
  if (wait_start_ == 0) wait_start_ = now;
  if (now - wait_start_ > timeout_ns_) {
    reason_ = "no progress for " + std::to_string(timeout_ns_ / 1'000'000ull) + " ms";
    return false;
  }
  if (now - last_peer_check_ >= 2'000'000ull) {  // look at the peer every 2 ms of waiting
    last_peer_check_ = now;
    if (!peer_alive()) return false;
  }
  return true;
}

bool await_state(Control& ctrl, Control::State st, Watchdog& wd, const char* what, std::string& err) {
  wd.begin();
  // Acquire: partner of the other side's release store of the state (child process or thread).
  while (ctrl.state.load(std::memory_order_acquire) != st) {
    timespec ts{0, 20'000};
    ::nanosleep(&ts, nullptr);
    if (!wd.check()) {
      err = std::string(what) + ": " + wd.reason();
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------ cleanup
namespace cleanup {
namespace {
constexpr int max_entries = 32;
constexpr std::size_t path_len = 160;
enum Kind : int { unused = 0, file = 1, mqueue = 2 };
char g_paths[max_entries][path_len];  // file: a path to unlink; mqueue: a name for mq_unlink
volatile sig_atomic_t g_kind[max_entries];
volatile sig_atomic_t g_child = 0;
const char* g_program = "courier-bench";
char g_note[512] = "";

void on_signal(int sig) {
  const pid_t c = static_cast<pid_t>(g_child);
  if (c > 0) ::kill(c, SIGKILL);
  for (int i = 0; i < max_entries; ++i) {
    // unlink is async-signal-safe (shm_unlink is unlink in /dev/shm); mq_unlink is one system call.
    if (g_kind[i] == file)
      ::unlink(g_paths[i]);
    else if (g_kind[i] == mqueue)
      ::mq_unlink(g_paths[i]);
  }
  if (g_note[0] != '\0') {
    (void)!::write(2, g_note, std::strlen(g_note));
    (void)!::write(2, "\n", 1);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}
constexpr int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};

void add(Kind k, const std::string& p) {
  if (p.size() >= path_len) {
    std::fprintf(stderr, "%s: %s: name too long for the cleanup registry\n", g_program, p.c_str());
    return;
  }
  for (int i = 0; i < max_entries; ++i) {
    if (g_kind[i] == unused) {
      std::memcpy(g_paths[i], p.c_str(), p.size() + 1);
      g_kind[i] = k;
      return;
    }
  }
  std::fprintf(stderr, "%s: cleanup registry full; %s is not protected against signals\n", g_program, p.c_str());
}
void remove_entry(Kind k, const std::string& p) {
  for (int i = 0; i < max_entries; ++i)
    if (g_kind[i] == k && p == g_paths[i]) g_kind[i] = unused;
}
}  // namespace

void install_handlers(const char* program) {
  g_program = program;
  for (int s : signals) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(s, &sa, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);
}

void reset_handlers_in_child() {
  for (int s : signals) ::signal(s, SIG_DFL);
  for (int i = 0; i < max_entries; ++i) g_kind[i] = unused;  // the child never removes anything
  g_child = 0;
}

void register_shm(const std::string& shm_name) { add(file, "/dev/shm" + shm_name); }
void unregister_shm(const std::string& shm_name) { remove_entry(file, "/dev/shm" + shm_name); }
void register_bus(const std::string& bus_name) { add(file, "/dev/shm/courier." + bus_name); }
void unregister_bus(const std::string& bus_name) { remove_entry(file, "/dev/shm/courier." + bus_name); }
void register_path(const std::string& path) { add(file, path); }
void unregister_path(const std::string& path) { remove_entry(file, path); }
void register_mq(const std::string& mq_name) { add(mqueue, mq_name); }
void unregister_mq(const std::string& mq_name) { remove_entry(mqueue, mq_name); }

void set_child(pid_t pid) { g_child = pid; }
void set_note(const std::string& note) { std::snprintf(g_note, sizeof g_note, "%s", note.c_str()); }

void sweep_stale(const std::string& disk_dir) {
  // Our names: "cbench.<pid>.<...>" (floors, peers, files and log directories
  // in disk_dir), "courier.cbench-<pid>-<...>" and "courier.cblog-<pid>-<...>" (buses).
  for (const std::string& dir : {std::string("/dev/shm"), std::string("/tmp"), disk_dir}) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      std::size_t at = std::string::npos;
      if (n.rfind("cbench.", 0) == 0)
        at = 7;
      else if (n.rfind("courier.cbench-", 0) == 0)
        at = 15;
      else if (n.rfind("courier.cblog-", 0) == 0)
        at = 14;
      if (at == std::string::npos) continue;
      const long pid = std::strtol(n.c_str() + at, nullptr, 10);
      if (pid <= 0) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
      const std::string path = dir + "/" + n;
      std::error_code ec;
      if (std::filesystem::remove_all(path, ec) > 0 && !ec)
        std::fprintf(stderr, "%s: removed %s left by dead process %ld\n", g_program, path.c_str(), pid);
    }
    ::closedir(d);
  }
}
}  // namespace cleanup

pid_t fork_child(const std::function<int(pid_t parent)>& child, std::string& err) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) ::_exit(child(parent));
  cleanup::set_child(pid);
  return pid;
}

// ------------------------------------------------------------ shared memory
bool ShmRegion::create(const std::string& name, std::size_t size, std::string& err) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = "shm_open(" + name + ", O_CREAT|O_EXCL): " + std::strerror(errno);
    return false;
  }
  name_ = name;
  owner_ = true;
  cleanup::register_shm(name);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    err = "ftruncate(" + name + ", " + std::to_string(size) + "): " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    err = "mmap(" + name + "): " + std::strerror(errno);
    return false;
  }
  base_ = static_cast<std::byte*>(p);
  size_ = size;
  std::memset(base_, 0, size_);  // fault every page in now, not during the measurement
  return true;
}

bool ShmRegion::open(const std::string& name, std::size_t size, std::string& err) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    err = "shm_open(" + name + "): " + std::strerror(errno);
    return false;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    err = "mmap(" + name + "): " + std::strerror(errno);
    return false;
  }
  name_ = name;
  owner_ = false;
  base_ = static_cast<std::byte*>(p);
  size_ = size;
  return true;
}

void ShmRegion::unmap() noexcept {
  if (base_ != nullptr) ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

void ShmRegion::remove() noexcept {
  if (owner_ && !name_.empty()) {
    ::shm_unlink(name_.c_str());
    cleanup::unregister_shm(name_);
  }
  owner_ = false;
  name_.clear();
}

// ------------------------------------------------------------ in-process registry
namespace inproc {
namespace {
std::mutex g_mutex;
std::map<std::string, std::shared_ptr<void>>& registry() {
  static std::map<std::string, std::shared_ptr<void>> m;
  return m;
}
}  // namespace

void publish(const std::string& tag, std::shared_ptr<void> state) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  registry()[tag] = std::move(state);
}
std::shared_ptr<void> find(const std::string& tag) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  auto it = registry().find(tag);
  return it == registry().end() ? nullptr : it->second;
}
void withdraw(const std::string& tag) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  registry().erase(tag);
}
}  // namespace inproc

bool pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;  // 0: the calling thread
}

std::string unique_tag() {
  static unsigned n = 0;
  return std::to_string(::getpid()) + "." + std::to_string(++n);
}

}  // namespace cbench
