// courier/detail/directory.hpp — endpoints by name: register, look up, list, remove.
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

#include "courier/detail/segment.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"

namespace courier {

namespace detail {
// What a directory scan found (under the lock): the first free slot (n if
// none) and the slot named as asked with its id (n and 0 if none).
struct NameScan {
  std::uint32_t free = 0, found = 0;
  std::uint32_t id = 0;
};
}  // namespace detail

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

  // Groups: same name rules and crash rules as endpoints. A member is an
  // endpoint id; adding one twice is a no-op (one copy per member).
  Result<GroupId> add_group(std::string_view name, bool exist_ok);
  Result<GroupId> find_group(std::string_view name) const;
  Result<void> remove_group(std::string_view name);
  Result<void> add_member(GroupId group, EndpointId member);
  // Ok when the member was there; not_found otherwise.
  Result<void> remove_member(GroupId group, EndpointId member);
  std::vector<GroupEntry> list_groups() const;
  std::string group_name_of(GroupId id) const;
  // Lock-free snapshot of a group's members into out (cleared first). Skips
  // empty words, duplicates and ids that are not live endpoints. false when the
  // group id is stale.
  bool members(GroupId group, std::vector<EndpointId>& out) const noexcept;

 private:
  class Lock;
  auto endpoint_at() const noexcept {
    return [s = seg_](std::uint32_t i) -> const EndpointSlot& { return s->slot(i); };
  }
  auto group_at() const noexcept {
    return [s = seg_](std::uint32_t i) -> const GroupSlot& { return s->group(i); };
  }
  template <class At, class F>
  auto locked_scan(std::uint32_t n, At&& at, std::string_view name, F&& f) const -> decltype(f(detail::NameScan{}));
  // f(group's slot) under the directory lock, once `group` is a group that still exists (add_member, remove_member).
  template <class F>
  Result<void> change_group(GroupId group, F&& f);
  const Segment* seg_;
};

}  // namespace courier
