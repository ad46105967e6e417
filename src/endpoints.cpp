// Registering and removing endpoints and group members through the bus.
#include <algorithm>
#include <string>

#include "courier/bus.hpp"
#include "courier/detail/clock.hpp"
#include "courier/detail/lane_inspect.hpp"
#include "courier/detail/log.hpp"

namespace courier {
namespace {

namespace mc = logfmt::membership_change;

// A group change made, into the log (docs/design.md, "Groups in the log").
// The time is taken after the change: a later record is a later change.
Result<void> log_change(detail::BusState& st, std::uint8_t change, std::string_view group,
                        std::string_view endpoint = {}) {
  if (!st.log) return {};
  const JournalMembership m{realtime_ns(), change, std::string(group), std::string(endpoint)};
  auto r = st.log->append_membership(std::span(&m, 1));
  if (!r) return std::move(r).error().with_context("the change is made but not in the log");
  return {};
}

}  // namespace

Result<GroupId> Bus::add_group(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);  // docs/design.md, "Safe removal"
  auto g = s_->dir.add_group(name, true);
  if (!g) return g;
  if (auto r = log_change(*s_, mc::group_created, name); !r)
    return std::move(r).error().with_context("group '" + std::string(name) + "'");
  return g;
}

Result<void> Bus::remove_group(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  if (auto r = s_->dir.remove_group(name); !r) return r;
  return log_change(*s_, mc::group_removed, name);
}

Result<Endpoint> Bus::endpoint(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  auto id = s_->dir.add(name, true);
  if (!id) return std::move(id).error().with_context("endpoint '" + std::string(name) + "'");
  return Endpoint(s_, *id, std::string(name));
}

Result<void> Bus::add_member(std::string_view group, std::string_view endpoint) {
  const std::string where = "adding '" + std::string(endpoint) + "' to group '" + std::string(group) + "'";
  if (s_->removed()) return removed_error(s_->name).with_context(where);
  auto g = s_->dir.find_group(group);
  if (!g) return std::move(g).error().with_context(where);
  auto e = s_->dir.add(endpoint, true);
  if (!e) return std::move(e).error().with_context(where);
  auto r = s_->dir.add_member(*g, *e);
  if (!r) return std::move(r).error().with_context(where);
  if (auto l = log_change(*s_, mc::joined, group, endpoint); !l) return std::move(l).error().with_context(where);
  return {};
}

Result<void> Bus::remove_member(std::string_view group, std::string_view endpoint) {
  const std::string where = "removing '" + std::string(endpoint) + "' from group '" + std::string(group) + "'";
  if (s_->removed()) return removed_error(s_->name).with_context(where);
  auto g = s_->dir.find_group(group);
  if (!g) return std::move(g).error().with_context(where);
  auto e = s_->dir.find(endpoint);
  if (!e) return std::move(e).error().with_context(where);
  auto r = s_->dir.remove_member(*g, *e);
  if (!r) return std::move(r).error().with_context(where);
  if (auto l = log_change(*s_, mc::left, group, endpoint); !l) return std::move(l).error().with_context(where);
  return {};
}

Result<EndpointId> Bus::add_endpoint(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  return s_->dir.add(name, true);
}

Result<void> Bus::remove_endpoint(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  auto id = s_->dir.find(name);
  // The groups it leaves with it, for the log (a recovery must not bring it back as a member).
  std::vector<std::string> member_of;
  if (s_->log && id)
    for (const GroupEntry& g : s_->dir.list_groups())
      if (std::find(g.members.begin(), g.members.end(), *id) != g.members.end()) member_of.push_back(g.name);
  auto r = s_->dir.remove(name);
  if (!r) return r;
  if (id) {
    const std::uint32_t slot = endpoint_slot(*id);
    for (unsigned p = 0; p < priority_levels; ++p)
      detail::walk_lane(s_->seg.lane(slot, p), [&](const RecordHeader& h) {
        if (h.id != 0 && h.to == *id) s_->report(h, *id, Status::invalid_destination);
      });
  }
  for (const std::string& g : member_of)
    if (auto l = log_change(*s_, mc::left, g, name); !l) return l;
  return {};
}

}  // namespace courier
