// bench/courier_bench/scale_endpoints.cpp — the scale section: receive cost against endpoints and lanes (see scale.hpp).
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
    const std::string label =
        std::to_string(c.registered) + (c.registered == 1 ? " endpoint" : " endpoints") + " registered";
    if (!c.error.empty()) {
      out.ok = false;
      out.rows.push_back(failed_row("endpoints", label, "send ns/msg", c.error));
      continue;
    }
    ScaleRow s{"endpoints", label, "send ns/msg", summarize_ns(c.send_ns), "batch of 16 / 16"};
    ScaleRow r{"endpoints", label, "receive ns/msg", summarize_ns(c.recv_ns), "batch of 16 / 16"};
    out.rows.push_back(std::move(s));
    out.rows.push_back(std::move(r));
    std::fprintf(stderr, "  %-28s send %6.1f ns/msg  receive %6.1f ns/msg (p50)\n", label.c_str(),
                 out.rows.end()[-2].pct.p50, out.rows.back().pct.p50);
  }
}

// ------------------------------------------------------------ lanes
// The inbox keeps a bitmap of lanes that may hold messages; the receiver
// clears the bit of a drained lane only when idle (after idle_tidy_polls empty
// polls), so a busy receiver may keep looking into lanes emptied earlier.
// Hence three cases, each preparing its own state, one batch of each in turn:
constexpr unsigned idle_tidy_polls = 4096;  // docs/design.md: the receiver tidies every 4096 empty polls
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
      for (unsigned i = 0; i < idle_tidy_polls + 4; ++i)
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

}  // namespace cbench::scale_parts
