// bench/courier_bench/scale.cpp — the scale section (see scale.hpp): receive
// cost against the number of endpoints and of lanes holding messages, what
// tracking a message costs, group fan-out per member against a single send,
// the in-process round trip beside the cache-line floor of two threads, and
// the latency of an urgent message with and without a flood, through the
// public API (courier/bus.hpp).
//
// Every case runs in rounds, the cases interleaved within each round (the
// machine drifts); the samples of all rounds are kept and pooled.
//
// Files: scale.cpp (the section, the shared loop bus), scale_endpoints.cpp
// (endpoints, lanes), scale_tracked.cpp, scale_groups.cpp, scale_inproc.cpp,
// scale_urgent.cpp.
#include "scale.hpp"

#include <cstdio>

#include "scale_parts.hpp"

namespace cbench {
namespace scale_parts {

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

}  // namespace scale_parts

ScaleOutcome run_scale_section(const ScaleOptions& so) {
  using namespace scale_parts;
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
                static_cast<unsigned long long>(scale_parts::urgent_pace_ns / 1000), urgent_rounds,
                static_cast<unsigned long long>(so.quick ? 5'000 : 30'000),
                static_cast<unsigned long long>(scale_parts::urgent_work_ns));
  out.settings = b;
  return out;
}

}  // namespace cbench
