// bench/courier_bench/runs.cpp — one run of a transport: the forked child's
// side (child_main) or the other thread's (thread_main), the parent's
// measurement, the bounded waits, and the outcome (percentiles or rates).
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "runs.hpp"
#include "transports.hpp"

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace cbench {

bool pin_to(int cpu) { return pin_to_cpu(cpu); }

namespace {

int child_main(Transport& t, Mode mode, const RunConfig& cfg, Control* ctrl, pid_t parent, const Options& o) {
  cleanup::reset_handlers_in_child();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
  if (::getppid() != parent) return 3;
  if (!pin_to(o.cpu_child)) {
    // Not fatal: the parent said so already when it could not pin itself; go on unpinned.
  }
  std::string err;
  if (!t.child_attach(cfg, err)) {
    ctrl->fail("attach: " + err);
    return 2;
  }
  ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything attach wrote
  Watchdog wd = Watchdog::for_child(parent, static_cast<std::uint64_t>(o.timeout_s * 1e9));
  const bool ok = mode == Mode::pingpong ? t.serve_pingpong(cfg, wd, err) : t.stream_receive(cfg, wd, *ctrl, err);
  if (!ok) {
    t.child_detach();
    ctrl->fail(err.empty() ? wd.reason() : err);
    return 2;
  }
  ctrl->state.store(Control::done, std::memory_order_release);  // release: t_end_ns / received are visible
  // Stay until dismissed, so that the parent never sees us gone while it is
  // still waiting for something (an exit is a failure to its watchdog), and
  // keep our side open until then: the last echo may still be on its way
  // (ZeroMQ's I/O thread drops what it has not sent when its socket closes).
  wd.begin();
  while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {  // acquire: partner of the parent's store
    timespec ts{0, 50'000};
    ::nanosleep(&ts, nullptr);
    if (!wd.check()) break;
  }
  t.child_detach();
  return 0;
}

// Turn the samples (ping-pong) or the consumer's window stamps (stream) of a
// finished run into its outcome.
// t_sent: when the producer's stream_send returned (after finish_stream: a
// log row's last batch is on disk then); the whole run ends at the later of
// that and the consumer's last message.
void finish(RunOutcome& out, Mode mode, const RunConfig& cfg, std::vector<std::uint64_t>& ticks, std::uint64_t t0,
            std::uint64_t t_sent, Control* ctrl) {
  if (mode == Mode::pingpong) {
    out.pct = summarize(ticks, out.curve);
  } else {
    const std::uint64_t t1 = std::max(ctrl->t_end_ns.load(std::memory_order_relaxed), t_sent);
    if (t1 <= t0) {
      out.error = "no end time from the consumer";
      return;
    }
    out.msgs_per_s_wall = static_cast<double>(cfg.iterations) * 1e9 / static_cast<double>(t1 - t0);
    std::vector<double> rates;
    if (cfg.window != 0) {
      const std::uint64_t windows = std::min<std::uint64_t>((cfg.iterations - 1) / cfg.window, Control::max_windows);
      for (std::uint64_t w = 1; w < windows; ++w) {  // window 0 includes the start: skipped
        const std::uint64_t d = ctrl->window_end_ns[w] - ctrl->window_end_ns[w - 1];
        if (d > 0) rates.push_back(static_cast<double>(cfg.window) * 1e9 / static_cast<double>(d));
      }
    }
    out.msgs_per_s = rates.empty() ? out.msgs_per_s_wall : median(rates);
  }
  out.ok = true;
}

// ------------------------------------------------------------ one run, two threads
// The in-process topology: the other side is a second instance of the
// transport (`side`) on a thread pinned to CPU B, doing what a forked child
// does (child_main); `exited` tells the main thread's watchdog it is gone.
void thread_main(Transport& side, Mode mode, const RunConfig& cfg, Control* ctrl, std::atomic<std::uint32_t>* exited,
                 const Options& o) {
  (void)pin_to(o.cpu_child);  // not fatal, as for the child process
  std::string err;
  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  // The main thread is gone for us once it dismisses us (done, or gave up).
  Watchdog wd = Watchdog::for_thread(&ctrl->dismissed, "the measuring thread", nullptr, timeout_ns);
  if (!side.child_attach(cfg, err)) {
    ctrl->fail("attach: " + err);
  } else {
    ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything attach wrote
    const bool ok =
        mode == Mode::pingpong ? side.serve_pingpong(cfg, wd, err) : side.stream_receive(cfg, wd, *ctrl, err);
    if (!ok) {
      ctrl->fail(err.empty() ? wd.reason() : err);
    } else {
      ctrl->state.store(Control::done, std::memory_order_release);  // release: t_end_ns / received are visible
      wd.begin();
      // Acquire: partner of the main thread's release store.
      while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {
        timespec ts{0, 50'000};
        ::nanosleep(&ts, nullptr);
        if (!wd.check()) break;
      }
    }
    side.child_detach();  // as a child process: only once dismissed (or failed)
  }
  exited->store(1, std::memory_order_release);  // release: after every store of this thread
}

// The parent's measured part: ping-pong round trips into ticks, or a stream
// sent between t0 and t_sent.
struct Measured {
  std::vector<std::uint64_t> ticks;
  std::uint64_t t0 = 0, t_sent = 0;
};
bool measure(Transport& t, Mode mode, const RunConfig& cfg, Watchdog& wd, Measured& m, std::string& err) {
  if (mode == Mode::pingpong) return t.measure_pingpong(cfg, m.ticks, wd, err);
  m.t0 = mono_ns();
  const bool ok = t.stream_send(cfg, wd, err);
  m.t_sent = mono_ns();
  return ok;
}

// The run of an in-process transport once t is set up (run_one).
RunOutcome run_threads(Transport& t, Transport& side, Mode mode, const RunConfig& cfg, Control* ctrl,
                       const Options& o) {
  RunOutcome out;
  std::string err;
  std::atomic<std::uint32_t> exited{0};
  std::thread th(thread_main, std::ref(side), mode, std::cref(cfg), ctrl, &exited, std::cref(o));
  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  Watchdog wd = Watchdog::for_thread(&exited, "the echoing thread", ctrl, timeout_ns);
  bool ok = t.parent_attach(err);
  if (!ok) err = "attach: " + err;
  if (ok) ok = await_state(*ctrl, Control::ready, wd, "waiting for the thread to attach", err);
  Measured m;
  rusage ru0{}, ru1{};
  ::getrusage(RUSAGE_SELF, &ru0);  // both threads
  if (ok) ok = measure(t, mode, cfg, wd, m, err);
  if (ok) ok = await_state(*ctrl, Control::done, wd, "waiting for the thread to finish", err);
  ::getrusage(RUSAGE_SELF, &ru1);
  ctrl->dismissed.store(1, std::memory_order_release);  // release: the thread may leave (or give up) now
  th.join();  // bounded: the thread's every wait gives up within the timeout once dismissed
  if (!ok) {
    if (ctrl->state.load(std::memory_order_acquire) == Control::failed && err.find(ctrl->error) == std::string::npos)
      err += std::string(" [thread: ") + ctrl->error + "]";
    out.error = err;
    return out;
  }
  out.preemptions = ru1.ru_nivcsw - ru0.ru_nivcsw;
  finish(out, mode, cfg, m.ticks, m.t0, m.t_sent, ctrl);
  return out;
}

// The run against a forked child once t is set up (run_one).
RunOutcome run_forked(Transport& t, Mode mode, const RunConfig& cfg, Control* ctrl, const Options& o) {
  RunOutcome out;
  std::string err;
  const pid_t pid = fork_child([&](pid_t parent) { return child_main(t, mode, cfg, ctrl, parent, o); }, err);
  if (pid < 0) {
    out.error = err;
    return out;
  }

  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  Watchdog wd = Watchdog::for_parent(pid, ctrl, timeout_ns);
  bool ok = t.parent_attach(err);
  if (!ok) err = "attach: " + err;
  if (ok) ok = await_state(*ctrl, Control::ready, wd, "waiting for the child to attach", err);
  Measured m;
  rusage ru0{};
  ::getrusage(RUSAGE_SELF, &ru0);
  if (ok) ok = measure(t, mode, cfg, wd, m, err);
  // The child finishes its side (stream: drains the rest) and reports done.
  if (ok) ok = await_state(*ctrl, Control::done, wd, "waiting for the child to finish", err);
  rusage ru1{}, ruc{};
  ::getrusage(RUSAGE_SELF, &ru1);
  bool have_child_usage = false;
  // The child is gone at the end of a run, whatever happened.
  ctrl->dismissed.store(1, std::memory_order_release);  // release: nothing more to read from us
  if (!wd.child_reaped()) {
    if (!ok) ::kill(pid, SIGKILL);
    int st = 0;
    const std::uint64_t deadline = mono_ns() + timeout_ns;
    pid_t r = 0;
    while ((r = ::wait4(pid, &st, WNOHANG, &ruc)) == 0) {
      if (mono_ns() > deadline) {
        ::kill(pid, SIGKILL);
        r = ::wait4(pid, &st, 0, &ruc);
        if (ok) {
          ok = false;
          err = "the child did not exit after its run (killed)";
        }
        break;
      }
      timespec ts{0, 100'000};
      ::nanosleep(&ts, nullptr);
    }
    have_child_usage = r == pid;
    if (ok && r == pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      ok = false;
      err = "the child ended badly (status " + std::to_string(st) + ")";
    }
  }
  cleanup::set_child(0);
  if (!ok) {
    if (ctrl->state.load(std::memory_order_acquire) == Control::failed && err.find(ctrl->error) == std::string::npos)
      err += std::string(" [child: ") + ctrl->error + "]";
    out.error = err;
    return out;
  }
  if (have_child_usage) out.preemptions = (ru1.ru_nivcsw - ru0.ru_nivcsw) + ruc.ru_nivcsw;
  finish(out, mode, cfg, m.ticks, m.t0, m.t_sent, ctrl);
  return out;
}

}  // namespace

// ------------------------------------------------------------ one run
RunOutcome run_one(Transport& t, Transport* side, Mode mode, RunConfig cfg, Control* ctrl, const Options& o) {
  RunOutcome out;
  if (t.in_process() && side == nullptr) {
    out.error = "in-process transport without its other side";
    return out;
  }
  cfg.tag = unique_tag();
  struct Teardown {
    Transport& t;
    ~Teardown() { t.teardown(); }
  } teardown{t};
  std::string err;
  if (!t.setup(cfg, err)) {
    out.error = "setup: " + err;
    return out;
  }
  ctrl->reset();
  return t.in_process() ? run_threads(t, *side, mode, cfg, ctrl, o) : run_forked(t, mode, cfg, ctrl, o);
}

}  // namespace cbench
