// Shared by recovery, the spill forwarder and compaction (src/ only): the ids
// of a segment mapped to the ids of the bus now, and putting a message from
// the log back into a lane.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "courier/bus.hpp"
#include "courier/detail/bus_log.hpp"

namespace courier::detail {

// Ids in a record are those of the bus that wrote it: a segment carries the
// names of the ids it mentions (before the first mention), and this maps them
// to the ids of the bus now.
struct SegmentNames {
  std::string path;
  std::unordered_map<std::uint32_t, EndpointId> endpoints;
  std::unordered_map<std::uint32_t, GroupId> groups;

  EndpointId endpoint(std::uint32_t old) const {
    auto it = endpoints.find(old);
    return it == endpoints.end() ? no_endpoint : it->second;
  }
  GroupId group(std::uint32_t old) const {
    if (old == 0) return 0;
    auto it = groups.find(old);
    return it == groups.end() ? 0 : it->second;
  }
  // A name record: map its id to the endpoint or group of that name now,
  // registering the name when `add` (recovery) or looking it up (otherwise).
  // False when the body is not a name.
  bool learn(BusState& st, const JournalRecord& rec, bool add);
  // The ids of a message header mapped in place; false when one has no name
  // in this segment (or no endpoint/group of that name exists now).
  bool map(RecordHeader& h) const;
};

// Put a message from the log into its destination's lane (ids already
// mapped), with `flag` added to its record flags. False when the lane has no
// room. Does not touch the tracker.
bool put_back(BusState& st, const RecordHeader& h, std::span<const std::byte> payload, std::uint8_t flag) noexcept;

// Count a spilled tracker entry in spilled[priority] of its destination, once
// (on the transition of its `counted` flag). True on the transition.
bool count_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept;

// Mark a spilled tracker entry accounted (forwarded, or settled while it
// waited): sets in_lane and, on that transition, counts it in forwarded[p] of
// its destination. True on the transition.
bool account_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept;

// Spilled messages (in the log alone, owed, not forwarded) past their
// deadline: reported expired and accounted. Returns how many.
std::uint64_t sweep_spilled(BusState& st, std::uint64_t now) noexcept;

}  // namespace courier::detail

namespace courier {

// A receiver's place in each segment file: where the next scan for its
// spilled messages starts, and the file's names learnt so far.
struct Receiver::Forwarder {
  struct File {
    std::uint64_t cursor = 0;
    detail::SegmentNames names;
  };
  std::map<std::string, File> files;
  std::uint64_t next_scan_ns = 0;
  std::shared_ptr<detail::ReadBuffer> buffer = std::make_shared<detail::ReadBuffer>();
  // Forward what waits for `self`, file by file from each cursor, stopping in
  // a file at the first message whose lane is full. Returns the number forwarded.
  std::uint64_t scan(detail::BusState& st, EndpointId self);
};

}  // namespace courier
