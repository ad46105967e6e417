// bench/courier_bench/scale_urgent.cpp — the scale section: an urgent message against a flood (see scale.hpp).
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

// ------------------------------------------------------------ urgent
enum class Flood { none, below, same_lane };
constexpr std::uint32_t urgent_type = 1, flood_type = 0;

// The other process: floods (unless Flood::none) and sends `n` urgent
// messages, each stamped with the TSC when its send began.
int urgent_child(const std::string& bus_name, Flood f, std::uint64_t n, Control* ctrl, pid_t parent,
                 const ScaleOptions& so) {
  cleanup::reset_handlers_in_child();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return 3;
  (void)pin_to_cpu(so.cpu_child);
  courier::Options o;
  o.create = false;
  auto bus = courier::Bus::open(bus_name, o);
  if (!bus) {
    ctrl->fail("open: " + bus.error().message);
    return 2;
  }
  auto tx = bus->endpoint("src");
  if (!tx) {
    ctrl->fail("endpoint: " + tx.error().message);
    return 2;
  }
  auto to = tx->resolve("rx");
  if (!to) {
    ctrl->fail("resolve: " + to.error().message);
    return 2;
  }
  courier::SendOptions flood{}, urgent{};
  flood.to = urgent.to = *to;
  flood.priority = courier::priority_levels - 1;
  flood.type = flood_type;
  urgent.priority = f == Flood::same_lane ? flood.priority : 0;
  urgent.type = urgent_type;
  std::byte fmsg[payload] = {}, umsg[payload] = {};
  const std::span<const std::byte> fdata(fmsg, sizeof fmsg), udata(umsg, sizeof umsg);
  const auto pace = static_cast<std::uint64_t>(static_cast<double>(urgent_pace_ns) / Timer::ns_per_tick());
  Watchdog wd = Watchdog::for_child(parent, so.timeout_ns);
  ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything above
  std::uint64_t flood_sent = 0, flood_full = 0, sent = 0, next = Timer::now() + pace;
  while (sent < n) {
    const std::uint64_t now = Timer::now();
    if (now >= next) {
      std::memcpy(umsg, &now, 8);  // the stamp: when the send began
      std::memcpy(umsg + 8, &sent, 8);
      wd.begin();
      courier::SendResult r;
      // Full only when it shares the flood's lane: wait for room, as a sender would.
      while ((r = tx->send(urgent, udata)).status == courier::Status::full) {
        cpu_relax();
        if (!wd.spin_ok()) {
          ctrl->fail("urgent send: the lane stays full (" + wd.reason() + ")");
          return 2;
        }
      }
      if (!r) {
        ctrl->fail("urgent send: " + std::string(courier::status_name(r.status)));
        return 2;
      }
      ++sent;
      next += pace;
      if (next < now) next = now + pace;  // lost the CPU for a while: no burst to catch up
    } else if (f != Flood::none) {
      const courier::SendResult r = tx->send(flood, fdata);
      if (r) {
        ++flood_sent;
      } else if (r.status == courier::Status::full) {
        ++flood_full;
      } else {
        ctrl->fail("flood send: " + std::string(courier::status_name(r.status)));
        return 2;
      }
    } else {
      cpu_relax();
    }
  }
  ctrl->counters[0].store(flood_sent, std::memory_order_relaxed);  // relaxed: published by the state store
  ctrl->counters[1].store(flood_full, std::memory_order_relaxed);
  ctrl->state.store(Control::done, std::memory_order_release);
  wd.begin();
  while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {  // acquire: partner of the parent's store
    timespec ts{0, 50'000};
    ::nanosleep(&ts, nullptr);
    if (!wd.check()) break;
  }
  return 0;
}

struct UrgentCase {
  Flood flood = Flood::none;
  std::vector<double> ns;
  std::uint64_t flood_received = 0, flood_sent = 0, flood_full = 0;
  double seconds = 0;
  std::uint64_t clock_skew = 0;  // samples whose receive stamp preceded the send stamp (counted as 0)
  std::string error;
};

bool urgent_run(UrgentCase& c, std::uint64_t n, const ScaleOptions& so, std::string& err) {
  ScratchBus bus;
  courier::Options o;
  o.max_endpoints = 4;
  o.lane_capacity = 256 * 1024;
  o.max_payload = 1024;
  if (!bus.create("urgent", o, err)) return false;
  courier::ReceiverOptions ro;
  ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
  auto rx = bus.bus().attach("rx", ro);
  if (!rx) {
    err = rx.error().message;
    return false;
  }
  if (auto id = bus.bus().add_endpoint("src"); !id) {
    err = id.error().message;
    return false;
  }
  Control* ctrl = so.ctrl;
  ctrl->reset();
  const pid_t pid =
      fork_child([&](pid_t parent) { return urgent_child(bus.name(), c.flood, n, ctrl, parent, so); }, err);
  if (pid < 0) return false;
  Watchdog wd = Watchdog::for_parent(pid, ctrl, so.timeout_ns);
  const auto work = static_cast<std::uint64_t>(static_cast<double>(urgent_work_ns) / Timer::ns_per_tick());
  std::uint64_t got = 0, flood = 0;
  bool ok = true;
  const std::uint64_t t0 = mono_ns();
  wd.begin();
  while (got < n) {
    auto m = rx->try_receive();
    if (!m) {
      cpu_relax();
      if (!wd.spin_ok()) {
        ok = false;
        err = "waiting for urgent message " + std::to_string(got) + ": " + wd.reason();
        break;
      }
      continue;
    }
    if (m->type() == urgent_type) {
      const std::uint64_t now = Timer::now();
      std::uint64_t sent = 0;
      std::memcpy(&sent, m->payload().data(), 8);
      if (now < sent) ++c.clock_skew;
      c.ns.push_back(now > sent ? Timer::to_ns(now - sent) : 0.0);
      ++got;
      wd.begin();
    } else {
      ++flood;
      const std::uint64_t until = Timer::now() + work;  // the receiver's work on a flood message
      while (Timer::now() < until) {
      }
    }
  }
  c.seconds += static_cast<double>(mono_ns() - t0) / 1e9;
  c.flood_received += flood;
  if (ok) {  // the child reports done (and its counts)
    wd.begin();
    while (ctrl->state.load(std::memory_order_acquire) != Control::done) {
      timespec ts{0, 20'000};
      ::nanosleep(&ts, nullptr);
      if (!wd.check()) {
        ok = false;
        err = "waiting for the sender to finish: " + wd.reason();
        break;
      }
    }
    if (ok) {
      c.flood_sent += ctrl->counters[0].load(std::memory_order_relaxed);
      c.flood_full += ctrl->counters[1].load(std::memory_order_relaxed);
    }
  }
  ctrl->dismissed.store(1, std::memory_order_release);  // release: nothing more to read from the child
  if (!wd.child_reaped()) {
    if (!ok) ::kill(pid, SIGKILL);
    int st = 0;
    const std::uint64_t deadline = mono_ns() + so.timeout_ns;
    while (::waitpid(pid, &st, WNOHANG) == 0) {
      if (mono_ns() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        break;
      }
      timespec ts{0, 100'000};
      ::nanosleep(&ts, nullptr);
    }
  }
  cleanup::set_child(0);
  if (!ok && ctrl->state.load(std::memory_order_acquire) == Control::failed &&
      err.find(ctrl->error) == std::string::npos)
    err += std::string(" [sender: ") + ctrl->error + "]";
  return ok;
}

void urgent_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const std::uint64_t n = so.quick ? 5'000 : 30'000;  // urgent messages per case and round
  UrgentCase cases[3];
  cases[0].flood = Flood::none;
  cases[1].flood = Flood::below;
  cases[2].flood = Flood::same_lane;
  for (unsigned round = 0; round < rounds; ++round)
    for (UrgentCase& c : cases) {
      if (!c.error.empty()) continue;
      std::string err;
      if (!urgent_run(c, n, so, err)) c.error = err;
    }
  const char* labels[] = {"urgent (priority 0), no flood", "urgent (priority 0) during a priority-15 flood",
                          "urgent sent at priority 15, in the flood's lane (contrast: no overtaking)"};
  for (unsigned k = 0; k < 3; ++k) {
    UrgentCase& c = cases[k];
    if (!c.error.empty()) {
      out.ok = false;
      out.rows.push_back(failed_row("urgent", labels[k], "send→receive ns", c.error));
      continue;
    }
    std::string note = "receiver idle, spinning";
    if (c.flood != Flood::none) {
      char b[200];
      const double refused = c.flood_sent + c.flood_full == 0 ? 0
                                                              : 100.0 * static_cast<double>(c.flood_full) /
                                                                    static_cast<double>(c.flood_sent + c.flood_full);
      std::snprintf(b, sizeof b, "flood received %.1f M msgs/s; %.0f%% of flood sends refused (lane full)",
                    static_cast<double>(c.flood_received) / c.seconds / 1e6, refused);
      note = b;
    }
    if (c.clock_skew != 0) note += "; " + std::to_string(c.clock_skew) + " samples < 0 (TSC skew) counted as 0";
    out.rows.push_back(ScaleRow{"urgent", labels[k], "send→receive ns", summarize_ns(c.ns), note});
    std::fprintf(stderr, "  %-72s p50 %8.0f ns  p99 %8.0f ns\n", labels[k], out.rows.back().pct.p50,
                 out.rows.back().pct.p99);
  }
}

}  // namespace cbench::scale_parts
