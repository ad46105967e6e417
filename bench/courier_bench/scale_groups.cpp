// bench/courier_bench/scale_groups.cpp — the scale section: group fan-out per member (see scale.hpp).
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

// ------------------------------------------------------------ groups
// Fan-out: one send to a group of N members (N = 1, 4, 16, 64) puts one copy
// in each member's lane. A sample is ns per member of a timed batch of 16
// group sends (time / (16 N)); the reference is ns per message of a batch of
// 16 sends to one endpoint. Fire-and-forget and tracked (expiry 30 s: a group
// send makes N + 1 tracker entries, one per member and the group's total;
// a group of one, not stored, makes one: tracker_role::group_one).
constexpr unsigned group_sizes[] = {1, 4, 16, 64};
constexpr unsigned group_batch = 16;

struct GroupBench {
  ScratchBus bus;
  std::optional<courier::Endpoint> tx;
  std::vector<courier::Receiver> rx;  // m0 .. m63, every one attached (real-time sends need a receiver)
  courier::Destination single;        // m0
  courier::Destination groups[4];     // g1, g4, g16, g64: the first N members
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
  const unsigned copies = members == 0 ? 1 : members;       // messages per send
  const unsigned entries = members == 0 ? 1 : members + 1;  // events per send (and at most its tracker entries)
  for (unsigned b = 0; b < batches; ++b) {
    if (tracked) g.ts.make_room(g.bus.bus(), group_batch * entries);
    const std::uint64_t t0 = Timer::now();
    for (unsigned i = 0; i < group_batch; ++i) {
      const courier::SendResult r = g.tx->send(so, data);
      if (!r || (members != 0 && r.accepted != members)) {
        err = std::string("send: ") + std::string(courier::status_name(r.status)) + " (" + std::to_string(r.accepted) +
              " of " + std::to_string(r.recipients) + " members accepted)";
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
    // Per tracker entry: `sent` (the send's outcome: no on_status callback took it) and `delivered`.
    if (*events != (tracked ? 2 * group_batch * entries : 0u)) {
      err = "expected " + std::to_string(tracked ? 2 * group_batch * entries : 0u) + " status events, got " +
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
      if (t == 1)
        note += c == 0 || members_of(c) == 1 ? "; 1 tracker entry per send" : "; members + 1 tracker entries per send";
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

}  // namespace cbench::scale_parts
