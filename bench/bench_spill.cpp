// bench/bench_spill.cpp — the cost of spill mode (issue 15): a stored burst of
// 4x what a lane holds against stored sends that fit, and whether the
// endpoint leaves spill mode once its backlog is forwarded.
//   bench_spill LOG_DIR [LANE_KIB (default 1024)] [ROUNDS (default 5)] [group|os (default group)]
// Each round, on a new bus with a log and no receiver attached while sending,
// after three rounds of `fit` (warm: the lane's pages, the journal file):
//   fit:   3/4 of the lane's capacity in stored sends (none spills); the receiver drains them;
//   burst: 4x the lane's capacity in stored sends (the lane fills, the rest
//          goes to the log, one write() each); the receiver drains them (the
//          lane, then the forwarder from the log);
//   after: 3/4 of the capacity again: how many reach the lane (the rest spilled).
// Prints per round and the median: ns per send() for fit and burst, their
// ratio (target <= 2), the drain's ns per message, and "after" in the lane.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "courier/bus.hpp"
#include "courier/detail/clock.hpp"
#include "courier/detail/lane_data.hpp"
#include "courier/endpoint.hpp"
#include "courier/receiver.hpp"

namespace {

using namespace std::chrono_literals;

struct Round {
  double fit_ns = 0, burst_ns = 0, drain_ns = 0, after_in_lane = 0, after = 0;
  bool ok = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

Round run_round(const std::string& name, const char* dir, std::uint64_t lane_bytes, courier::Sync sync) {
  Round out;
  const std::uint64_t per_lane = lane_bytes / courier::record_bytes(64);
  const std::uint64_t fit = per_lane * 3 / 4, burst = 4 * per_lane;
  courier::Options o;
  o.max_endpoints = 2;
  o.max_groups = 1;
  o.lane_capacity = lane_bytes;
  o.tracker_capacity = 1u << 20;
  o.log_dir = dir;
  o.sync = sync;
  auto bus = courier::Bus::open(name, o);
  if (!bus) return std::fprintf(stderr, "open: %s\n", bus.error().message.c_str()), out;
  auto src = bus->endpoint("src");
  auto dst = bus->endpoint("dst");
  if (!src || !dst) return out;
  std::array<std::byte, 64> payload{};
  courier::SendOptions so{.to = courier::peer("dst"), .expiry = 60s, .type = 1};
  std::uint64_t next_id = 1, refused = 0;
  const auto send_n = [&](std::uint64_t n) {
    const std::uint64_t t0 = courier::monotonic_ns();
    for (std::uint64_t i = 0; i < n; ++i) {
      so.id = next_id++;
      refused += !src->send(so, payload).ok();
      if (so.id % 4096 == 0) (void)src->poll_status([](const courier::StatusEvent&) {});
    }
    return static_cast<double>(courier::monotonic_ns() - t0) / static_cast<double>(n);
  };
  // Takes n messages (lane first, then what the forwarder brings from the log).
  const auto drain = [&](std::uint64_t n) {
    auto rx = bus->attach("dst");
    if (!rx) return -1.0;
    const std::uint64_t t0 = courier::monotonic_ns();
    std::uint64_t got = 0;
    while (got < n) {
      auto m = rx->receive(1s);
      if (!m) break;  // nothing for a second: lost or stuck (reported below)
      ++got;
      (void)rx->ack(*m);
      if (got % 4096 == 0) (void)src->poll_status([](const courier::StatusEvent&) {});
    }
    if (got < n) return std::fprintf(stderr, "drain: %llu of %llu\n", (unsigned long long)got, (unsigned long long)n), -1.0;
    return static_cast<double>(courier::monotonic_ns() - t0) / static_cast<double>(n);
  };
  for (int warm = 0; warm < 3; ++warm)  // every lane page, tracker line and the journal file touched once
    if (send_n(fit); drain(fit) < 0) return out;
  out.fit_ns = send_n(fit);
  if (drain(fit) < 0) return out;
  out.burst_ns = send_n(burst);
  out.drain_ns = drain(burst);
  if (out.drain_ns < 0) return out;
  (void)send_n(fit);
  const courier::BusStats st = bus->stat();
  for (const courier::EndpointStats& e : st.endpoints)
    if (e.name == "dst") out.after_in_lane = static_cast<double>(e.waiting_total);
  out.after = static_cast<double>(fit);
  out.ok = refused == 0 && drain(fit) >= 0;
  if (refused != 0) std::fprintf(stderr, "%llu sends refused\n", (unsigned long long)refused);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: bench_spill LOG_DIR [LANE_KIB] [ROUNDS] [group|os]\n"), 2;
  const char* dir = argv[1];
  const std::uint64_t lane = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024) << 10;
  const unsigned rounds = argc > 3 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10)) : 5;
  const std::string policy = argc > 4 ? argv[4] : "group";
  const courier::Sync sync = policy == "os" ? courier::Sync::os : courier::Sync::group;
  std::vector<double> fit, burst, ratio, drain, after;
  for (unsigned r = 0; r < rounds; ++r) {
    const std::string name = "bspill-" + std::to_string(::getpid()) + "-" + std::to_string(r);
    const Round x = run_round(name, dir, lane, sync);
    (void)courier::Bus::remove(name);
    (void)courier::Bus::remove_log(dir, name);
    if (!x.ok) return std::fprintf(stderr, "round %u failed\n", r), 1;
    std::printf("round %u: fit %.0f ns/send, burst %.0f ns/send (%.2fx), drain %.0f ns/msg, after the drain "
                "%.0f of %.0f sends in the lane\n",
                r + 1, x.fit_ns, x.burst_ns, x.burst_ns / x.fit_ns, x.drain_ns, x.after_in_lane, x.after);
    fit.push_back(x.fit_ns);
    burst.push_back(x.burst_ns);
    ratio.push_back(x.burst_ns / x.fit_ns);
    drain.push_back(x.drain_ns);
    after.push_back(x.after_in_lane / x.after);
  }
  std::printf("median of %u rounds (%s, lane %llu KiB, 64 B payloads): fit %.0f ns/send, burst %.0f ns/send, "
              "burst/fit %.2fx (range %.2f-%.2f; target <= 2), drain %.0f ns/msg, after the drain %.0f%% in the lane\n",
              rounds, policy.c_str(), (unsigned long long)(lane >> 10), median(fit), median(burst), median(ratio),
              *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()),
              median(drain), 100 * median(after));
  return 0;
}
