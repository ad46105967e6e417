// Registering and removing endpoints and group members through the bus.
#include <string>

#include "courier/bus.hpp"
#include "courier/detail/lane_inspect.hpp"

namespace courier {

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
  return {};
}

Result<EndpointId> Bus::add_endpoint(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  return s_->dir.add(name, true);
}

Result<void> Bus::remove_endpoint(std::string_view name) {
  if (s_->removed()) return removed_error(s_->name);
  auto id = s_->dir.find(name);
  auto r = s_->dir.remove(name);
  if (!r) return r;
  if (id) {
    const std::uint32_t slot = endpoint_slot(*id);
    for (unsigned p = 0; p < priority_levels; ++p)
      detail::walk_lane(s_->seg.lane(slot, p), [&](const RecordHeader& h) {
        if (h.id != 0 && h.to == *id) s_->report(h, *id, Status::invalid_destination);
      });
  }
  return {};
}

}  // namespace courier
