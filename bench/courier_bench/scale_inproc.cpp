// bench/courier_bench/scale_inproc.cpp — the scale section: the in-process round trip (see scale.hpp).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "scale_parts.hpp"

namespace cbench::scale_parts {

// ------------------------------------------------------------ in-process round trip
// inproc.courier (a bus opened with Options::in_process, two threads) beside
// inproc.floor.cacheline (one cache line bounced between the same two
// threads) and inproc.courier.shm (the same threads on a /dev/shm bus), 64 B,
// each run interleaved with the floor: floor, A, floor, B, floor, ... The
// transports are those of the round-trip table, driven by a small runner of
// our own (main.cpp's is for whole rows).
bool inproc_run(Transport& t, Transport& side, std::uint64_t iterations, const ScaleOptions& so,
                std::vector<std::uint64_t>& ticks, std::string& err) {
  RunConfig cfg{payload, std::clamp<std::uint64_t>(iterations / 10, 1'000, 20'000), iterations, unique_tag(), payload,
                0};
  struct Teardown {
    Transport& t;
    ~Teardown() { t.teardown(); }
  } teardown{t};
  if (!t.setup(cfg, err)) {
    err = "setup: " + err;
    return false;
  }
  Control* ctrl = so.ctrl;
  ctrl->reset();
  std::atomic<std::uint32_t> exited{0};
  std::thread th([&] {
    (void)pin_to_cpu(so.cpu_child);
    Watchdog wd = Watchdog::for_thread(&ctrl->dismissed, "the measuring thread", nullptr, so.timeout_ns);
    std::string e;
    if (!side.child_attach(cfg, e)) {
      ctrl->fail("attach: " + e);
    } else {
      ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything attach wrote
      if (!side.serve_pingpong(cfg, wd, e))
        ctrl->fail(e.empty() ? wd.reason() : e);
      else
        ctrl->state.store(Control::done, std::memory_order_release);
      wd.begin();
      // Acquire: partner of the main thread's release store.
      while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {
        timespec ts{0, 50'000};
        ::nanosleep(&ts, nullptr);
        if (!wd.check()) break;
      }
      side.child_detach();
    }
    exited.store(1, std::memory_order_release);  // release: after every store of this thread
  });
  Watchdog wd = Watchdog::for_thread(&exited, "the echoing thread", ctrl, so.timeout_ns);
  bool ok = t.parent_attach(err);
  if (!ok) err = "attach: " + err;
  if (ok) ok = await_state(*ctrl, Control::ready, wd, "waiting for the thread to attach", err);
  if (ok) ok = t.measure_pingpong(cfg, ticks, wd, err);
  if (ok) ok = await_state(*ctrl, Control::done, wd, "waiting for the thread to finish", err);
  ctrl->dismissed.store(1, std::memory_order_release);  // release: the thread may leave now
  th.join();
  if (!ok && ctrl->state.load(std::memory_order_acquire) == Control::failed)
    err += std::string(" [thread: ") + ctrl->error + "]";
  return ok;
}

void inproc_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const std::uint64_t iterations = so.quick ? 20'000 : 100'000;  // round trips per run
  struct Case {
    const char* label;
    std::unique_ptr<Transport> (*make)();
    std::unique_ptr<Transport> t, side;
    std::vector<double> ns;
    std::string error;
  };
  Case cases[] = {
      {"inproc.floor.cacheline: one cache line, two threads", make_inproc_floor_cacheline, {}, {}, {}, {}},
      {"inproc.courier: Options.in_process bus, two threads", make_inproc_courier, {}, {}, {}, {}},
      {"inproc.courier.shm: /dev/shm bus, two threads", make_inproc_courier_shm, {}, {}, {}, {}},
  };
  for (Case& c : cases) {
    c.t = c.make();
    c.side = c.make();
  }
  auto run = [&](Case& c) {
    if (!c.error.empty()) return;
    std::vector<std::uint64_t> ticks;
    std::string err;
    if (!inproc_run(*c.t, *c.side, iterations, so, ticks, err)) {
      c.error = err;
      return;
    }
    for (std::uint64_t x : ticks) c.ns.push_back(Timer::to_ns(x));
  };
  Case& floor = cases[0];
  for (unsigned round = 0; round < rounds; ++round) {
    run(floor);
    for (unsigned k = 1; k < 3; ++k) {
      run(cases[1 + (k - 1 + round) % 2]);  // the order rotates from round to round
      run(floor);
    }
  }
  for (Case& c : cases) {
    if (!c.error.empty()) {
      out.ok = false;
      out.rows.push_back(failed_row("inproc", c.label, "round trip ns", c.error));
      continue;
    }
    out.rows.push_back(ScaleRow{"inproc", c.label, "round trip ns", summarize_ns(c.ns),
                                &c == &floor
                                    ? "64 B payload (the line carries up to 56 B), run before and after each "
                                      "courier run; all runs pooled"
                                    : "64 B, receive() busy-spinning; runs interleaved with the floor, pooled"});
    std::fprintf(stderr, "  %-56s p50 %6.0f ns  p99 %6.0f ns\n", c.label, out.rows.back().pct.p50,
                 out.rows.back().pct.p99);
  }
}

}  // namespace cbench::scale_parts
