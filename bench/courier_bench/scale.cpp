// bench/courier_bench/scale.cpp — the scale section (see scale.hpp): receive
// cost against the number of endpoints and of lanes holding messages, what
// tracking a message costs, group fan-out per member against a single send,
// the in-process round trip beside the cache-line floor of two threads, and
// the latency of an urgent message with and without a flood, through the
// public API (courier/bus.hpp; the tracker's own header to empty it between
// batches, see retire_all).
//
// Every case runs in rounds, the cases interleaved within each round (the
// machine drifts); the samples of all rounds are kept and pooled.
#include "scale.hpp"

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

#include "courier/bus.hpp"
#include "transports.hpp"

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
    if (courier::Bus::exists(name_)) {
      err = "bus '" + name_ + "' exists already";
      name_.clear();
      return false;
    }
    cleanup::register_bus(name_);
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
      cleanup::unregister_bus(name_);
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

// A bus of two endpoints, 256 KiB lanes, and a Loop on it ("src" sends to
// "dst"): what the lanes and tracked parts measure on.
bool open_loop_bus(ScratchBus& bus, Loop& loop, const char* what, std::string& err) {
  courier::Options o;
  o.max_endpoints = 2;
  o.lane_capacity = 256 * 1024;
  o.max_payload = 1024;
  return bus.create(what, o, err) && loop.open(bus.bus(), "dst", "src", err);
}

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
  std::string err;
  bool ok = open_loop_bus(bus, loop, "lanes", err);
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


// ------------------------------------------------------------ tracked
// A benchmark sends far more tracked messages than a tracker keeps: an entry
// lives until the message's expiry + status retention (30 s + 10 s here), so a
// table of 65,536 entries holds 1,638 tracked messages a second (docs/design.md).
// Between batches, with nothing in flight, the table is emptied as if every
// deadline had passed (Bus::retire_all_tracked_for_benchmark), untimed, whenever
// the next batch would take it past half full: the timed sends see a table
// between 0 and 50% full.
struct TrackState {
  std::uint64_t in_tracker = 0;  // entries inserted since the table was last emptied
  std::uint64_t retired_runs = 0;
  void make_room(courier::Bus& bus, std::uint64_t need) {
    if (in_tracker + need <= bus.settings().tracker_capacity / 2) return;
    bus.retire_all_tracked_for_benchmark();
    in_tracker = 0;
    ++retired_runs;
  }
};

constexpr unsigned track_batch = 64;  // 64 records of 128 B per batch
constexpr auto tracked_expiry = std::chrono::seconds(30);

// One batch: `track_batch` timed sends (send ns/msg), then the receives (the
// receiver acknowledges tracked ones: auto_ack) and the sender's status poll;
// the whole cycle is timed too (send + receive + ack + status ns/msg).
bool track_batches(courier::Bus& bus, Loop& l, bool tracked, TrackState& ts, unsigned batches,
                   std::vector<double>* send_keep, std::vector<double>* cycle_keep, std::string& err) {
  std::byte msg[payload] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  l.so.expiry = tracked ? std::chrono::nanoseconds(tracked_expiry) : std::chrono::nanoseconds(0);
  for (unsigned b = 0; b < batches; ++b) {
    if (tracked) ts.make_room(bus, track_batch);
    const std::uint64_t t0 = Timer::now();
    for (unsigned i = 0; i < track_batch; ++i) {
      const courier::SendResult r = l.tx->send(l.so, data);
      if (!r) {
        err = std::string("send: ") + std::string(courier::status_name(r.status));
        return false;
      }
      if ((r.id != 0) != tracked) {
        err = tracked ? "a tracked send got no id" : "a fire-and-forget send got an id";
        return false;
      }
    }
    const std::uint64_t t1 = Timer::now();
    for (unsigned i = 0; i < track_batch; ++i)
      if (!l.rx->try_receive()) {
        err = "a sent message is missing";
        return false;
      }
    l.rx->release();
    auto events = l.tx->poll_status();
    const std::uint64_t t2 = Timer::now();
    if (!events) {
      err = "poll_status: " + events.error().message;
      return false;
    }
    if (*events != (tracked ? track_batch : 0u)) {
      err = "expected " + std::to_string(tracked ? track_batch : 0u) + " delivered events, got " +
            std::to_string(*events);
      return false;
    }
    if (tracked) ts.in_tracker += track_batch;
    if (send_keep != nullptr) send_keep->push_back(Timer::to_ns(t1 - t0) / track_batch);
    if (cycle_keep != nullptr) cycle_keep->push_back(Timer::to_ns(t2 - t0) / track_batch);
  }
  return true;
}

void tracked_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const unsigned batches = so.quick ? 1'000 : 5'000;  // per case and round
  ScratchBus bus;
  Loop loop;
  std::string err;
  bool ok = open_loop_bus(bus, loop, "track", err);
  TrackState ts;
  std::vector<double> send_ns[2], cycle_ns[2];  // [0] fire-and-forget, [1] tracked
  for (unsigned k = 0; ok && k < 2; ++k) ok = track_batches(bus.bus(), loop, k == 1, ts, 50, nullptr, nullptr, err);
  for (unsigned i = 0; ok && i < rounds * batches; ++i)
    for (unsigned k = 0; ok && k < 2; ++k)
      ok = track_batches(bus.bus(), loop, k == 1, ts, 1, &send_ns[k], &cycle_ns[k], err);
  if (!ok) {
    out.ok = false;
    out.rows.push_back(failed_row("tracked", "tracked vs fire-and-forget", "send ns/msg", err));
    return;
  }
  const char* labels[] = {"fire-and-forget (expiry 0, id 0)", "tracked (expiry 30 s, id from the bus)"};
  char note[200];
  std::snprintf(note, sizeof note,
                "batch of %u / %u; tracker %llu entries, emptied untimed %llu times (kept <= 50%% full)", track_batch,
                track_batch, static_cast<unsigned long long>(bus.bus().settings().tracker_capacity),
                static_cast<unsigned long long>(ts.retired_runs));
  for (unsigned k = 0; k < 2; ++k) {
    out.rows.push_back(ScaleRow{"tracked", labels[k], "send ns/msg", summarize_ns(send_ns[k]),
                                k == 0 ? std::string("batch of 64 / 64; receiver attached (real-time)") : note});
    out.rows.push_back(ScaleRow{"tracked", labels[k], "send+receive+status ns/msg", summarize_ns(cycle_ns[k]),
                                k == 0 ? std::string("send, receive, poll_status (no events)")
                                       : std::string("send, receive (auto-ack: delivered), poll_status (one event each)")});
    std::fprintf(stderr, "  %-40s send %6.1f ns/msg  send+receive+status %6.1f ns/msg (p50)\n", labels[k],
                 out.rows.end()[-2].pct.p50, out.rows.back().pct.p50);
  }
}

// ------------------------------------------------------------ groups
// Fan-out: one send to a group of N members (N = 1, 4, 16, 64) puts one copy
// in each member's lane. A sample is ns per member of a timed batch of 16
// group sends (time / (16 N)); the reference is ns per message of a batch of
// 16 sends to one endpoint. Fire-and-forget and tracked (expiry 30 s: a group
// send makes N + 1 tracker entries, one per member and the group's total).
constexpr unsigned group_sizes[] = {1, 4, 16, 64};
constexpr unsigned group_batch = 16;

struct GroupBench {
  ScratchBus bus;
  std::optional<courier::Endpoint> tx;
  std::vector<courier::Receiver> rx;  // m0 .. m63, every one attached (real-time sends need a receiver)
  courier::Destination single;         // m0
  courier::Destination groups[4];      // g1, g4, g16, g64: the first N members
  TrackState ts;

  bool open(std::string& err) {
    courier::Options o;
    o.max_endpoints = 66;
    o.lane_capacity = 8192;  // 16 records of 128 B per batch and member
    o.max_payload = 1024;
    o.max_groups = 4;
    o.max_group_members = 64;
    o.status_capacity = 128 * 1024;  // 2,048 events: a tracked batch to 64 members posts 16 x 65
    if (!bus.create("groups", o, err)) return false;
    courier::Bus& b = bus.bus();
    courier::ReceiverOptions ro;
    ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
    for (unsigned i = 0; i < 64; ++i) {
      std::string name = std::to_string(i);
      name.insert(name.begin(), 'm');
      auto r = b.attach(name, ro);
      if (!r) {
        err = r.error().message;
        return false;
      }
      rx.push_back(std::move(*r));
    }
    for (unsigned k = 0; k < 4; ++k) {
      std::string g = std::to_string(group_sizes[k]);
      g.insert(g.begin(), 'g');
      if (auto id = b.add_group(g); !id) {
        err = id.error().message;
        return false;
      }
      for (unsigned i = 0; i < group_sizes[k]; ++i) {
        std::string name = std::to_string(i);
        name.insert(name.begin(), 'm');
        if (auto r = b.add_member(g, name); !r) {
          err = r.error().message;
          return false;
        }
      }
    }
    auto t = b.endpoint("src");
    if (!t) {
      err = t.error().message;
      return false;
    }
    tx.emplace(std::move(*t));
    auto d = tx->resolve("m0");
    if (!d) {
      err = d.error().message;
      return false;
    }
    single = *d;
    for (unsigned k = 0; k < 4; ++k) {
      std::string g = std::to_string(group_sizes[k]);
      g.insert(g.begin(), 'g');
      auto gd = tx->resolve_group(g);
      if (!gd) {
        err = gd.error().message;
        return false;
      }
      groups[k] = *gd;
    }
    return true;
  }
};

// members 0: the single send to m0; else the group of that many members.
bool group_batches(GroupBench& g, unsigned members, bool tracked, unsigned batches, std::vector<double>* keep,
                   std::string& err) {
  std::byte msg[payload] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  courier::SendOptions so;
  unsigned k = 0;
  while (members != 0 && group_sizes[k] != members) ++k;
  so.to = members == 0 ? g.single : g.groups[k];
  so.expiry = tracked ? std::chrono::nanoseconds(tracked_expiry) : std::chrono::nanoseconds(0);
  const unsigned copies = members == 0 ? 1 : members;                  // messages per send
  const unsigned entries = members == 0 ? 1 : members + 1;             // tracker entries (and events) per send
  for (unsigned b = 0; b < batches; ++b) {
    if (tracked) g.ts.make_room(g.bus.bus(), group_batch * entries);
    const std::uint64_t t0 = Timer::now();
    for (unsigned i = 0; i < group_batch; ++i) {
      const courier::SendResult r = g.tx->send(so, data);
      if (!r || (members != 0 && r.accepted != members)) {
        err = std::string("send: ") + std::string(courier::status_name(r.status)) + " (" +
              std::to_string(r.accepted) + " of " + std::to_string(r.recipients) + " members accepted)";
        return false;
      }
    }
    const std::uint64_t t1 = Timer::now();
    for (unsigned m = 0; m < copies; ++m) {
      for (unsigned i = 0; i < group_batch; ++i)
        if (!g.rx[m].try_receive()) {
          err = "member m" + std::to_string(m) + " is missing a message";
          return false;
        }
      g.rx[m].release();
    }
    auto events = g.tx->poll_status();
    if (!events) {
      err = "poll_status: " + events.error().message;
      return false;
    }
    if (*events != (tracked ? group_batch * entries : 0u)) {
      err = "expected " + std::to_string(tracked ? group_batch * entries : 0u) + " status events, got " +
            std::to_string(*events);
      return false;
    }
    if (tracked) g.ts.in_tracker += group_batch * entries;
    if (keep != nullptr) keep->push_back(Timer::to_ns(t1 - t0) / (group_batch * copies));
  }
  return true;
}

void groups_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const unsigned batches = so.quick ? 300 : 2'000;  // per case and round
  GroupBench g;
  std::string err;
  bool ok = g.open(err);
  // Cases: [tracked][0] the single send, [tracked][1..4] groups of 1, 4, 16, 64.
  constexpr unsigned cases = 5;
  std::vector<double> ns[2][cases];
  auto members_of = [](unsigned c) { return c == 0 ? 0u : group_sizes[c - 1]; };
  for (unsigned t = 0; ok && t < 2; ++t)
    for (unsigned c = 0; ok && c < cases; ++c) ok = group_batches(g, members_of(c), t == 1, 20, nullptr, err);
  for (unsigned i = 0; ok && i < rounds * batches; ++i)
    for (unsigned t = 0; ok && t < 2; ++t)
      for (unsigned c = 0; ok && c < cases; ++c) ok = group_batches(g, members_of(c), t == 1, 1, &ns[t][c], err);
  if (!ok) {
    out.ok = false;
    out.rows.push_back(failed_row("groups", "group fan-out", "send ns/member", err));
    return;
  }
  double single_p50 = 0;
  for (unsigned t = 0; t < 2; ++t) {
    const char* kind = t == 0 ? "fire-and-forget" : "tracked";
    for (unsigned c = 0; c < cases; ++c) {
      std::string label, metric, note;
      if (c == 0) {
        label = std::string("single send to 1 endpoint, ") + kind;
        metric = "send ns/msg";
        note = "batch of 16 / 16 (the reference of the fan-out ratios)";
      } else {
        label = "group of " + std::to_string(members_of(c)) + (members_of(c) == 1 ? " member, " : " members, ") + kind;
        metric = "send ns/member";
        note = "batch of 16 group sends / (16 x members)";
      }
      if (t == 1) note += c == 0 ? "; 1 tracker entry per send" : "; members + 1 tracker entries per send";
      out.rows.push_back(ScaleRow{"groups", label, metric, summarize_ns(ns[t][c]), note});
      const double p50 = out.rows.back().pct.p50;
      if (c == 0) {
        single_p50 = p50;
        std::fprintf(stderr, "  %-44s %6.1f ns/msg (p50)\n", label.c_str(), p50);
      } else {
        std::fprintf(stderr, "  %-44s %6.1f ns/member (p50) = %.2fx a single send\n", label.c_str(), p50,
                     p50 / single_p50);
      }
    }
  }
}

// ------------------------------------------------------------ in-process round trip
// inproc.courier (a bus opened with Options::in_process, two threads) beside
// inproc.floor.cacheline (one cache line bounced between the same two
// threads) and inproc.courier.shm (the same threads on a /dev/shm bus), 64 B,
// each run interleaved with the floor: floor, A, floor, B, floor, ... The
// transports are those of the round-trip table, driven by a small runner of
// our own (main.cpp's is for whole rows).
bool inproc_run(Transport& t, Transport& side, std::uint64_t iterations, const ScaleOptions& so,
                std::vector<std::uint64_t>& ticks, std::string& err) {
  RunConfig cfg{payload, std::clamp<std::uint64_t>(iterations / 10, 1'000, 20'000), iterations, unique_tag(), payload, 0};
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
      if (!side.serve_pingpong(cfg, wd, e)) ctrl->fail(e.empty() ? wd.reason() : e);
      else ctrl->state.store(Control::done, std::memory_order_release);
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
                                &c == &floor ? "64 B payload (the line carries up to 56 B), run before and after each "
                                               "courier run; all runs pooled"
                                             : "64 B, receive() busy-spinning; runs interleaved with the floor, pooled"});
    std::fprintf(stderr, "  %-56s p50 %6.0f ns  p99 %6.0f ns\n", c.label, out.rows.back().pct.p50,
                 out.rows.back().pct.p99);
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
  tracked_part(so, rounds, out);
  groups_part(so, rounds, out);
  inproc_part(so, rounds, out);
  urgent_part(so, urgent_rounds, out);
  char b[1200];
  std::snprintf(b, sizeof b,
                "64 B messages, one thread unless said; endpoints: a bus of 1,001 endpoints x 16 lanes x 4 KiB, "
                "%u rounds x %u batches per case; lanes: 256 KiB lanes, %u rounds x %u drains of 1,024; tracked: "
                "%u rounds x %u batches of 64 per case; groups: 64 attached members, 8 KiB lanes, %u rounds x %u "
                "batches of 16 sends per case; inproc: threads on CPUs A and B, %u rounds x %llu round trips per "
                "case; urgent: another process on CPU %d sends one every %llu us (%u rounds x %llu), the receiver "
                "spends %llu ns on each flood message, stamps from the TSC",
                rounds, so.quick ? 1'000u : 10'000u, rounds, so.quick ? 100u : 1'000u, rounds,
                so.quick ? 1'000u : 5'000u, rounds, so.quick ? 300u : 2'000u, rounds,
                static_cast<unsigned long long>(so.quick ? 20'000 : 100'000), so.cpu_child,
                static_cast<unsigned long long>(pace_ns / 1000), urgent_rounds,
                static_cast<unsigned long long>(so.quick ? 5'000 : 30'000), static_cast<unsigned long long>(work_ns));
  out.settings = b;
  return out;
}

}  // namespace cbench
