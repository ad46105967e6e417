// bench/courier_bench/scale.cpp — the scale section (see scale.hpp): receive
// cost against the number of endpoints and of lanes holding messages, and the
// latency of an urgent message with and without a flood, through the public
// API only (courier/bus.hpp).
//
// Every case runs in rounds, the cases interleaved within each round (the
// machine drifts); the samples of all rounds are kept and pooled.
#include "scale.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

#include "courier/bus.hpp"

namespace cbench {
namespace {

constexpr std::size_t payload = 64;

// A bus for one part of the section: "cbench-<pid>-<n>-<what>", removed when
// done (and by the signal handlers / the next start if we die).
class ScratchBus {
 public:
  ScratchBus() = default;
  ScratchBus(const ScratchBus&) = delete;
  ScratchBus& operator=(const ScratchBus&) = delete;
  ~ScratchBus() { close(); }

  bool create(const std::string& what, courier::Options o, std::string& err) {
    std::string t = unique_tag();
    for (char& c : t)
      if (c == '.') c = '-';
    name_ = "cbench-" + t + "-" + what;
    if (courier::Segment::exists(name_)) {
      err = "bus '" + name_ + "' exists already";
      name_.clear();
      return false;
    }
    cleanup::register_shm(courier::Segment::shm_name(name_));
    o.create = true;
    auto b = courier::Bus::open(name_, o);
    if (!b) {
      err = b.error().message;
      return false;
    }
    bus_.emplace(std::move(*b));
    return true;
  }
  void close() noexcept {
    bus_.reset();
    if (!name_.empty()) {
      (void)courier::Bus::remove(name_);
      cleanup::unregister_shm(courier::Segment::shm_name(name_));
      name_.clear();
    }
  }
  courier::Bus& bus() { return *bus_; }
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::optional<courier::Bus> bus_;
};

// One receiving endpoint ("dst") and a sender on the same thread.
struct Loop {
  std::optional<courier::Receiver> rx;
  std::optional<courier::Endpoint> tx;
  courier::SendOptions so{};

  bool open(courier::Bus& bus, const char* rx_name, const char* tx_name, std::string& err) {
    courier::ReceiverOptions ro;
    ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
    auto r = bus.attach(rx_name, ro);
    if (!r) {
      err = r.error().message;
      return false;
    }
    rx.emplace(std::move(*r));
    auto t = bus.endpoint(tx_name);
    if (!t) {
      err = t.error().message;
      return false;
    }
    tx.emplace(std::move(*t));
    auto d = tx->resolve(rx_name);
    if (!d) {
      err = d.error().message;
      return false;
    }
    so.to = *d;
    so.priority = courier::default_priority;
    so.expiry = std::chrono::nanoseconds{0};
    return true;
  }
};

ScaleRow failed_row(const char* test, const std::string& label, const char* metric, const std::string& why) {
  ScaleRow r;
  r.test = test;
  r.label = label;
  r.metric = metric;
  r.note = why;
  return r;
}

// ------------------------------------------------------------ endpoints
struct EndpointCase {
  unsigned registered = 0;
  ScratchBus bus;
  Loop loop;
  std::vector<double> send_ns, recv_ns;
  std::string error;
};

bool endpoint_batches(EndpointCase& c, unsigned batches, bool keep, std::string& err) {
  constexpr unsigned batch = 16;  // 16 records of 128 B: half a 4 KiB lane
  std::byte msg[payload] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  for (unsigned b = 0; b < batches; ++b) {
    const std::uint64_t t0 = Timer::now();
    for (unsigned i = 0; i < batch; ++i) {
      courier::SendResult r = c.loop.tx->send(c.loop.so, data);
      if (!r) {
        err = std::string("send: ") + std::string(courier::status_name(r.status));
        return false;
      }
    }
    const std::uint64_t t1 = Timer::now();
    for (unsigned i = 0; i < batch; ++i) {
      auto m = c.loop.rx->try_receive();
      if (!m) {
        err = "a sent message is missing";
        return false;
      }
      if (m->payload().size() != payload) {
        err = "a message of the wrong size";
        return false;
      }
    }
    c.loop.rx->release();
    const std::uint64_t t2 = Timer::now();
    if (keep) {
      c.send_ns.push_back(Timer::to_ns(t1 - t0) / batch);
      c.recv_ns.push_back(Timer::to_ns(t2 - t1) / batch);
    }
  }
  return true;
}

void endpoints_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  constexpr unsigned counts[] = {1, 100, 1000};
  const unsigned batches = so.quick ? 1'000 : 10'000;  // per case and round
  EndpointCase cases[3];
  for (unsigned k = 0; k < 3; ++k) {
    EndpointCase& c = cases[k];
    c.registered = counts[k];
    courier::Options o;
    o.max_endpoints = 1001;
    o.lane_capacity = 4096;
    o.max_payload = 1024;
    std::string err;
    bool ok = c.bus.create("ep" + std::to_string(c.registered), o, err);
    for (unsigned i = 0; ok && i + 1 < c.registered; ++i) {
      std::string name = std::to_string(i);
      name.insert(name.begin(), 'e');  // "e" + to_string(i) trips a GCC 12 -Wrestrict false positive
      auto id = c.bus.bus().add_endpoint(name);
      if (!id) {
        err = id.error().message;
        ok = false;
      }
    }
    // The receiver is the last endpoint registered (slot registered - 1) and sends to itself.
    if (ok) ok = c.loop.open(c.bus.bus(), "dst", "dst", err);
    if (ok) ok = endpoint_batches(c, 200, false, err);  // warm-up
    if (!ok) c.error = err;
  }
  for (unsigned round = 0; round < rounds; ++round)
    for (EndpointCase& c : cases)
      if (c.error.empty()) {
        std::string err;
        if (!endpoint_batches(c, batches, true, err)) c.error = err;
      }
  for (EndpointCase& c : cases) {
    const std::string label = std::to_string(c.registered) + (c.registered == 1 ? " endpoint" : " endpoints") +
                              " registered";
    if (!c.error.empty()) {
      out.ok = false;
      out.rows.push_back(failed_row("endpoints", label, "send ns/msg", c.error));
      continue;
    }
    ScaleRow s{"endpoints", label, "send ns/msg", summarize_ns(c.send_ns), "batch of 16 / 16"};
    ScaleRow r{"endpoints", label, "receive ns/msg", summarize_ns(c.recv_ns), "batch of 16 / 16"};
    out.rows.push_back(std::move(s));
    out.rows.push_back(std::move(r));
    std::fprintf(stderr, "  %-28s send %6.1f ns/msg  receive %6.1f ns/msg (p50)\n", label.c_str(), out.rows.end()[-2].pct.p50,
                 out.rows.back().pct.p50);
  }
}

// ------------------------------------------------------------ lanes
// The inbox keeps a bitmap of lanes that may hold messages; the receiver
// clears the bit of a drained lane only when idle (after InboxReader::tidy_every
// empty polls), so a busy receiver may keep looking into lanes emptied earlier.
// Hence three cases, each preparing its own state, one batch of each in turn:
enum class LaneCase {
  one_clean,  // 1 lane (15) holds 1,024; the receiver idled first: the bitmap is exact
  sixteen,    // 16 lanes hold 64 each, drained highest priority first
  one_stale,  // 1 lane (15) holds 1,024 right after a 16-lane drain: lanes 0..14 are empty but still flagged
};

bool fill(Loop& l, unsigned lanes, std::string& err) {
  constexpr unsigned total = 1024;
  std::byte msg[payload] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  for (unsigned k = 0; k < lanes; ++k) {
    l.so.priority = static_cast<std::uint8_t>(lanes == 1 ? courier::priority_levels - 1 : k);
    for (unsigned i = 0; i < total / lanes; ++i) {
      courier::SendResult r = l.tx->send(l.so, data);
      if (!r) {
        err = std::string("send: ") + std::string(courier::status_name(r.status));
        return false;
      }
    }
  }
  return true;
}

bool drain(Loop& l, std::string& err) {
  for (unsigned i = 0; i < 1024; ++i)
    if (!l.rx->try_receive()) {
      err = "a sent message is missing";
      return false;
    }
  l.rx->release();
  return true;
}

bool lane_batches(Loop& l, LaneCase c, unsigned batches, std::vector<double>* keep, std::string& err) {
  for (unsigned b = 0; b < batches; ++b) {
    // Prepare (not timed).
    if (c == LaneCase::one_clean) {
      for (unsigned i = 0; i < courier::InboxReader::tidy_every + 4; ++i)
        if (l.rx->try_receive()) {
          err = "an unexpected message";
          return false;
        }
    } else if (c == LaneCase::one_stale) {
      if (!fill(l, 16, err) || !drain(l, err)) return false;
    }
    if (!fill(l, c == LaneCase::sixteen ? 16 : 1, err)) return false;
    const std::uint64_t t0 = Timer::now();
    if (!drain(l, err)) return false;
    const std::uint64_t t1 = Timer::now();
    if (keep != nullptr) keep->push_back(Timer::to_ns(t1 - t0) / 1024);
  }
  return true;
}

void lanes_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const unsigned batches = so.quick ? 100 : 1'000;  // per case and round
  ScratchBus bus;
  Loop loop;
  courier::Options o;
  o.max_endpoints = 2;
  o.lane_capacity = 256 * 1024;
  o.max_payload = 1024;
  std::string err;
  bool ok = bus.create("lanes", o, err) && loop.open(bus.bus(), "dst", "src", err);
  constexpr LaneCase cases[] = {LaneCase::one_clean, LaneCase::sixteen, LaneCase::one_stale};
  std::vector<double> ns[3];
  for (unsigned k = 0; ok && k < 3; ++k) ok = lane_batches(loop, cases[k], 20, nullptr, err);  // warm-up
  // One batch of each case in turn (the machine drifts), `batches` per round.
  for (unsigned i = 0; ok && i < rounds * batches; ++i)
    for (unsigned k = 0; ok && k < 3; ++k) ok = lane_batches(loop, cases[k], 1, &ns[k], err);
  if (!ok) {
    out.ok = false;
    out.rows.push_back(failed_row("lanes", "1 vs 16 lanes holding messages", "receive ns/msg", err));
    return;
  }
  const char* labels[] = {"1 lane holding messages (lane 15), 15 empty lanes, bitmap exact",
                          "16 lanes holding messages (64 each)",
                          "1 lane holding messages (lane 15) right after a 16-lane drain"};
  const char* notes[] = {"timed drain of 1,024 / 1,024; the receiver idled first (the idle tidy clears the bits)",
                         "timed drain of 1,024 / 1,024, highest priority first",
                         "timed drain of 1,024 / 1,024; lanes 0..14 empty but still flagged (cleared only when idle)"};
  for (unsigned k = 0; k < 3; ++k) {
    out.rows.push_back(ScaleRow{"lanes", labels[k], "receive ns/msg", summarize_ns(ns[k]), notes[k]});
    std::fprintf(stderr, "  %-64s %6.1f ns/msg (p50)\n", labels[k], out.rows.back().pct.p50);
  }
}

// ------------------------------------------------------------ urgent
enum class Flood { none, below, same_lane };
constexpr std::uint64_t pace_ns = 20'000;      // one urgent message every 20 us
constexpr std::uint64_t work_ns = 200;         // the receiver's work per flood message
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
  const auto pace = static_cast<std::uint64_t>(static_cast<double>(pace_ns) / Timer::ns_per_tick());
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
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) ::_exit(urgent_child(bus.name(), c.flood, n, ctrl, parent, so));
  cleanup::set_child(pid);
  Watchdog wd = Watchdog::for_parent(pid, ctrl, so.timeout_ns);
  const auto work = static_cast<std::uint64_t>(static_cast<double>(work_ns) / Timer::ns_per_tick());
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
      const double refused = c.flood_sent + c.flood_full == 0
                                 ? 0
                                 : 100.0 * static_cast<double>(c.flood_full) / static_cast<double>(c.flood_sent + c.flood_full);
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

}  // namespace

ScaleOutcome run_scale_section(const ScaleOptions& so) {
  ScaleOutcome out;
  const unsigned rounds = so.quick ? 3 : 5;
  const unsigned urgent_rounds = so.quick ? 2 : 3;
  endpoints_part(so, rounds, out);
  lanes_part(so, rounds, out);
  urgent_part(so, urgent_rounds, out);
  char b[600];
  std::snprintf(b, sizeof b,
                "64 B messages, one thread unless said; endpoints: a bus of 1,001 endpoints x 16 lanes x 4 KiB, "
                "%u rounds x %u batches per case; lanes: 256 KiB lanes, %u rounds x %u drains of 1,024; urgent: "
                "another process on CPU %d sends one every %llu us (%u rounds x %llu), the receiver spends %llu ns "
                "on each flood message, stamps from the TSC",
                rounds, so.quick ? 1'000u : 10'000u, rounds, so.quick ? 100u : 1'000u, so.cpu_child,
                static_cast<unsigned long long>(pace_ns / 1000), urgent_rounds,
                static_cast<unsigned long long>(so.quick ? 5'000 : 30'000), static_cast<unsigned long long>(work_ns));
  out.settings = b;
  return out;
}

}  // namespace cbench
