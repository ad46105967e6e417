// The log's threads (courier/detail/log.hpp): the flusher's and the
// housekeeper's loops, their names and CPUs (Options::log_cpus), and the test
// hooks that count their wake-ups.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "courier/detail/log.hpp"

namespace courier::detail {

namespace {

// The test hooks' counts, over every Log of this process. Relaxed: statistics
// only; a test reads them after await_log_flushers_idle (its mutex orders them)
// or after an event the counting thread published later (a `sent`).
std::atomic<std::uint64_t> flusher_wakeups{0};
std::atomic<std::uint64_t> housekeeper_wakeups{0};
std::atomic<std::uint64_t> flusher_batches{0};
std::atomic<std::uint64_t> flusher_write_sync_ns{0};  // a batch's start to its sync's end
std::atomic<std::uint64_t> flusher_post_ns{0};        // its sync's end to the end of its events (and a roll)

std::uint64_t nanoseconds(std::chrono::steady_clock::duration d) noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// Flushers of this process not asleep for want of work (await_log_flushers_idle).
struct BusyFlushers {
  std::mutex mu;
  std::condition_variable idle;
  unsigned busy = 0;
};
BusyFlushers& busy_flushers() {
  static BusyFlushers* b = new BusyFlushers;  // never destroyed: a Log may outlive static destruction
  return *b;
}
void flusher_busy(bool busy) {
  BusyFlushers& b = busy_flushers();
  std::lock_guard<std::mutex> lk(b.mu);
  if (busy)
    ++b.busy;
  else
    --b.busy;
  if (b.busy == 0) b.idle.notify_all();
}

// "0-1,3": the CPUs of `set`.
std::string cpu_list(const cpu_set_t& set) {
  std::string out;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set) || (c > 0 && CPU_ISSET(c - 1, &set))) continue;
    unsigned last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(c);  // appended, not "," + ...: GCC 12 warns falsely (-Wrestrict) on that
    if (last != c) out.append("-").append(std::to_string(last));
  }
  return out.empty() ? "none" : out;
}

// The CPUs the threads of this process may be placed on: the kernel narrows a
// mask of every CPU to them (cpuset, online CPUs) on a short thread of our
// own, so that the caller's own placement (a pinned thread) neither limits
// the answer nor changes.
Result<cpu_set_t> allowed_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  int err = 0;
  std::thread probe([&] {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (unsigned c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
    if (::sched_setaffinity(0, sizeof all, &all) != 0 || ::sched_getaffinity(0, sizeof allowed, &allowed) != 0)
      err = errno;
  });
  probe.join();
  if (err != 0) return Error(Errc::system, std::string("log_cpus: reading the CPUs allowed: ") + std::strerror(err));
  return allowed;
}

// Settings::cpus as a mask, each CPU checked against those allowed.
Result<cpu_set_t> log_cpu_set(const std::vector<unsigned>& cpus) {
  auto allowed = allowed_cpus();
  if (!allowed) return std::move(allowed).error();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned c : cpus) {
    if (c >= CPU_SETSIZE || !CPU_ISSET(c, &*allowed))
      return Error(Errc::invalid_argument, "log_cpus: CPU " + std::to_string(c) +
                                               " is not one this process may run on (allowed: " + cpu_list(*allowed) +
                                               ")");
    CPU_SET(c, &set);
  }
  return set;
}

// Name a log thread (seen in top -H, /proc/PID/task/TID/comm) and place it on `cpus`.
Result<void> place_thread(std::thread& t, const char* name, const cpu_set_t* cpus) {
  (void)::pthread_setname_np(t.native_handle(), name);  // a name is a courtesy: no failure
  if (cpus == nullptr) return {};
  if (const int rc = ::pthread_setaffinity_np(t.native_handle(), sizeof *cpus, cpus); rc != 0)
    return Error(Errc::system, std::string("log_cpus: placing the log's ") + name + " thread on CPUs " +
                                   cpu_list(*cpus) + ": " + std::strerror(rc));
  return {};
}

}  // namespace

LogThreadCounts log_thread_counts() noexcept {
  return {flusher_wakeups.load(std::memory_order_relaxed), housekeeper_wakeups.load(std::memory_order_relaxed),
          flusher_batches.load(std::memory_order_relaxed), flusher_write_sync_ns.load(std::memory_order_relaxed),
          flusher_post_ns.load(std::memory_order_relaxed)};
}

bool await_log_flushers_idle(std::chrono::milliseconds guard) {
  BusyFlushers& b = busy_flushers();
  std::unique_lock<std::mutex> lk(b.mu);
  return b.idle.wait_for(lk, guard, [&] { return b.busy == 0; });
}

Result<cpu_set_t> Log::cpu_set_of(const std::vector<unsigned>& cpus) { return log_cpu_set(cpus); }

void Log::set_busy_locked(bool busy) {
  if (busy_ == busy) return;
  busy_ = busy;
  flusher_busy(busy);
}

Result<void> Log::start_flusher() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    set_busy_locked(true);  // until it first sleeps for want of work
  }
  flusher_ = std::thread([this] { run(); });
  // Placed before its first batch: it sleeps until the first append.
  return place_thread(flusher_, "courier-flusher", pinned_ ? &cpus_ : nullptr);
}

// A batch starts one interval after the last one started, at once when that
// time has passed, or as soon as batch_bytes wait: under load a batch starts at
// most one interval after the last one started, and at once when that one's
// write and fdatasync took longer than the interval (group commit without an
// idle gap: a record waits for at most the batch being synced and its own).
// With nothing to write the flusher sleeps with no timeout: an append that
// gives it work wakes it (wake_flusher), and a record that finds no batch
// started in the last interval is written at once. Batch starts are at least
// an interval apart either way (docs/design.md, "A record that finds the log
// idle is written at once"), except for spilled records: a batch holding one
// starts at once (docs/design.md, "Spill written in the log's batches").
void Log::run() {
  using clock = std::chrono::steady_clock;
  auto woke = [] { flusher_wakeups.fetch_add(1, std::memory_order_relaxed); };  // relaxed: a statistic
  std::unique_lock<std::mutex> lk(mu_);
  clock::time_point anchor = clock::now();
  for (;;) {
    // Asleep for want of work: not busy, each time it sleeps. An append that gave it work set busy_ and woke
    // it, and that work may be gone by the time it holds the lock (a write_now() or flush() of another thread
    // took it): asleep again, it must be not busy again, or no later append would wake it.
    while (!stop_ && !has_work_locked()) {
      set_busy_locked(false);
      wake_.wait(lk);
      woke();
    }
    set_busy_locked(true);
    if (stop_) break;
    // One interval after the last batch started (or failed), which may have passed: then at once.
    const clock::time_point deadline = std::max(clock::now(), anchor + settings_.interval);
    // Spilled records are written at once: their receiver cannot forward them before (Log::Spill).
    while (!stop_ && spills_.empty() && w_.buffered_bytes() < settings_.batch_bytes && clock::now() < deadline) {
      const std::cv_status st = wake_.wait_until(lk, deadline);
      woke();
      if (st == std::cv_status::timeout) break;
    }
    if (stop_) break;
    if (flushing_) {  // a flush() on another thread writes: wait for its end (no loop while it runs)
      done_.wait(lk, [&] { return !flushing_ || stop_; });
      continue;
    }
    if (!has_work_locked()) continue;  // a flush() on another thread wrote it
    flushing_ = true;
    anchor = clock::now();  // the next batch starts one interval after this one started
    // Counted before its messages are said sent: a test that saw `sent` sees the batch.
    flusher_batches.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    // A failure is reported with the batch (and kept: last_error); retried one interval after this
    // batch's end (a failing disk is not retried in a loop).
    const clock::time_point started = anchor;
    if (!write_batch(lk)) anchor = clock::now();
    // Relaxed: statistics, read as flusher_batches is. write_batch() set synced_at_ after `started`.
    flusher_write_sync_ns.fetch_add(nanoseconds(synced_at_ - started), std::memory_order_relaxed);
    flusher_post_ns.fetch_add(nanoseconds(clock::now() - synced_at_), std::memory_order_relaxed);
    flushing_ = false;
    done_.notify_all();
  }
  set_busy_locked(false);
}

// The housekeeper keeps a period: its work (other processes' expiries, dead
// processes' leases and orphans, compaction) is announced by no event of this
// process (docs/design.md, "Log threads").
void Log::start_housekeeping(std::chrono::milliseconds interval, std::function<void()> f) {
  housekeeper_ = std::thread([this, interval, f = std::move(f)] {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      housekeeping_wake_.wait_for(lk, interval, [&] { return stop_; });
      housekeeper_wakeups.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      if (stop_) break;
      lk.unlock();
      f();
      lk.lock();
    }
  });
  // open() checked the CPUs: a failure here (a CPU gone offline since) leaves
  // the thread where it was, kept as the log's last error.
  if (auto r = place_thread(housekeeper_, "courier-housekp", pinned_ ? &cpus_ : nullptr); !r)
    (void)failed(std::move(r).error());
}

}  // namespace courier::detail
