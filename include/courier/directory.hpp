// courier/directory.hpp — endpoints by name: register, look up, list, remove.
// Rare operations, serialised by a robust process-shared mutex in the segment
// header; every change becomes visible through one final store, so a process
// killed mid-change (the next locker gets EOWNERDEAD) leaves nothing to repair.
// Senders never take the lock: they read EndpointSlot::id (acquire).
// Compiled in src/directory.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "courier/result.hpp"
#include "courier/segment.hpp"

namespace courier {

struct EndpointEntry {
  std::string name;
  EndpointId id = no_endpoint;
  std::uint64_t created_ns = 0;
};

class Directory {
 public:
  explicit Directory(const Segment& seg) noexcept : seg_(&seg) {}

  // Register `name`; with exist_ok an existing endpoint of that name is returned.
  Result<EndpointId> add(std::string_view name, bool exist_ok);
  Result<EndpointId> find(std::string_view name) const;
  // Remove `name`. Refused (busy) while a live receiver holds its lease.
  Result<void> remove(std::string_view name);
  std::vector<EndpointEntry> list() const;
  // Name of a live endpoint id, or empty when the id is stale or unknown.
  std::string name_of(EndpointId id) const;

 private:
  class Lock;
  const Segment* seg_;
};

}  // namespace courier
