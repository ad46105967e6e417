// courier/detail/lane_orphans.hpp — stored sends whose sender died between
// marking its tracker entry committed and its lane commit (the housekeeper's
// part of docs/design.md, "No wedged ids"; src/housekeeping_lanes.cpp).
#pragma once

#include <cstdint>
#include <span>

#include "courier/detail/bus_state.hpp"

namespace courier::detail {

// A candidate the housekeeper's tracker walk found: outbox, marked committed
// and nothing else, its inserting process dead.
struct LaneOrphan {
  std::uint64_t slot = 0;
  TrackerKey key;
  EndpointId to = no_endpoint;  // the lane's endpoint (the member for a group copy)
  unsigned priority = 0;
  std::uint64_t expires = 0;
  std::uint64_t deadline = 0;
  std::uint64_t pid = 0;  // the tag's pid bits of the dead inserter
};

// For each orphan whose claim its lane proves never committed
// (detail/lane_claims.hpp): adopted as spilled when the dead writer's journal
// holds its record (the file synced first), else settled `revoked`, which
// frees its id for a resend. Orphans the lane cannot judge yet are left.
void settle_lane_orphans(BusState& st, std::span<const LaneOrphan> orphans, std::uint64_t now) noexcept;

}  // namespace courier::detail
