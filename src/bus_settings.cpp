// The settings a bus owns, recorded by its creator and adopted by its openers
// (bus_settings.hpp).
#include "courier/detail/bus_settings.hpp"

#include <filesystem>
#include <system_error>

#include "courier/detail/log.hpp"
#include "courier/duration.hpp"

namespace courier::detail {
namespace {

std::string text_of(std::uint64_t v) { return std::to_string(v); }
std::string text_of(std::chrono::nanoseconds d) { return format_duration(d); }
std::string text_of(Sync s) { return std::string(sync_name(s)); }

template <class T, class U>
T converted(const U& v) {
  if constexpr (requires { std::chrono::duration_cast<T>(v); })
    return std::chrono::duration_cast<T>(v);
  else
    return static_cast<T>(v);
}

// A named setting that differs from the bus's refuses the open; one not named takes the bus's value.
template <class T, class U>
Result<void> adopt(Setting<T>& s, const U& bus_value, std::string_view field, std::string_view bus) {
  const T v = converted<T>(bus_value);
  if (!s.named()) {
    s = Setting<T>::unnamed(v);
    return {};
  }
  if (s.value() == v) return {};
  using Shown = std::conditional_t<std::is_integral_v<T>, std::uint64_t,
                                   std::conditional_t<std::is_same_v<T, Sync>, Sync, std::chrono::nanoseconds>>;
  return Error(Errc::incompatible, "bus '" + std::string(bus) + "' was created with " + std::string(field) + " " +
                                       text_of(Shown(v)) + "; this open asks for " + text_of(Shown(s.value())));
}

// A setting not named takes `v` (a manifest's), still not named.
template <class T, class U>
void fall_back(Setting<T>& s, const U& v) {
  if (!s.named()) s = Setting<T>::unnamed(converted<T>(v));
}

Result<std::string> canonical_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (!ec) p = fs::weakly_canonical(p, ec);
  if (ec) return Error(Errc::system, "resolving log directory '" + dir + "': " + ec.message());
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<Options> creator_options(std::string_view name, const Options& in) {
  Options o = in;
  if (!o.log_dir.empty()) {
    auto dir = canonical_dir(o.log_dir);
    if (!dir) return std::move(dir).error();
    o.log_dir = std::move(*dir);
    if (o.create && !o.in_process && !Segment::exists(name)) {
      auto m = read_manifest(bus_log_directory(o.log_dir, name));
      if (!m) return std::move(m).error();
      if (*m) {
        const BusManifest& f = **m;
        fall_back(o.max_endpoints, f.geometry.max_endpoints);
        fall_back(o.lane_capacity, f.geometry.lane_capacity);
        fall_back(o.max_payload, f.geometry.max_payload);
        fall_back(o.max_groups, f.geometry.max_groups);
        fall_back(o.max_group_members, f.geometry.max_group_members);
        fall_back(o.tracker_capacity, f.geometry.tracker_capacity);
        fall_back(o.status_capacity, f.geometry.status_capacity);
        fall_back(o.claim_timeout, std::chrono::nanoseconds(f.claim_timeout_ns));
        fall_back(o.status_retention, std::chrono::nanoseconds(f.status_retention_ns));
        fall_back(o.sync, f.sync);
        fall_back(o.group_commit_interval, std::chrono::nanoseconds(f.group_commit_interval_ns));
        fall_back(o.group_commit_bytes, f.group_commit_bytes);
      }
    }
  }
  // A lane holds records of up to half its capacity: a default payload too large for the lanes named shrinks.
  const std::uint64_t fits =
      o.lane_capacity / 2 > message_header_bytes ? o.lane_capacity / 2 - message_header_bytes : 0;
  if (!o.max_payload.named() && o.max_payload > fits)
    o.max_payload = Setting<std::uint32_t>::unnamed(static_cast<std::uint32_t>(fits));
  return o;
}

SegmentOptions segment_options(const Options& o) {
  SegmentOptions so;
  so.geometry = Geometry{o.max_endpoints,     o.lane_capacity,    o.max_payload,    o.max_groups,
                         o.max_group_members, o.tracker_capacity, o.status_capacity};
  so.claim_timeout_ns = static_cast<std::uint64_t>(o.claim_timeout.value().count());
  so.status_retention_ns = static_cast<std::uint64_t>(o.status_retention.value().count());
  so.mode = o.group_access ? 0660 : 0600;
  so.create = o.create;
  so.reserve_tracker = o.prefault_tracker;  // a creator that does not prefault keeps the table sparse
  so.open_timeout_ns = static_cast<std::uint64_t>(o.open_timeout.count());
  so.recovery_pending = !o.log_dir.empty() && o.recover && !o.in_process;
  so.log_dir = o.log_dir;
  so.sync = o.sync;
  so.group_commit_interval_ns =
      static_cast<std::uint64_t>(std::chrono::nanoseconds(o.group_commit_interval.value()).count());
  so.group_commit_bytes = o.group_commit_bytes;
  return so;
}

Result<Options> adopt_settings(std::string_view name, const Segment& seg, const Options& in) {
  Options o = in;
  const Geometry& g = seg.geometry();
  const SegmentHeader& h = seg.header();
  const SegmentLogSettings& log = seg.log_settings();
  const std::string bus(name);
  for (Result<void> r : {
           adopt(o.max_endpoints, g.max_endpoints, "max_endpoints", bus),
           adopt(o.lane_capacity, g.lane_capacity, "lane_capacity", bus),
           adopt(o.max_payload, g.max_payload, "max_payload", bus),
           adopt(o.max_groups, g.max_groups, "max_groups", bus),
           adopt(o.max_group_members, g.max_group_members, "max_group_members", bus),
           adopt(o.tracker_capacity, g.tracker_capacity, "tracker_capacity", bus),
           adopt(o.status_capacity, g.status_capacity, "status_capacity", bus),
           adopt(o.claim_timeout, std::chrono::nanoseconds(h.claim_timeout_ns), "claim_timeout", bus),
           adopt(o.status_retention, std::chrono::nanoseconds(h.status_retention_ns), "status_retention", bus),
       })
    if (!r) return std::move(r).error();
  if (!o.log_dir.empty() && o.log_dir != log.dir) {
    if (log.dir.empty())
      return Error(Errc::incompatible,
                   "bus '" + bus + "' was created without a log; this open asks for log directory '" + o.log_dir + "'");
    return Error(Errc::incompatible, "bus '" + bus + "' was created with log directory '" + log.dir +
                                         "'; this open asks for '" + o.log_dir + "'");
  }
  o.log_dir = log.dir;
  if (log.dir.empty()) return o;  // no log: its policy means nothing here
  for (Result<void> r : {
           adopt(o.sync, log.sync, "sync", bus),
           adopt(o.group_commit_interval, std::chrono::nanoseconds(log.group_commit_interval_ns),
                 "group_commit_interval", bus),
           adopt(o.group_commit_bytes, log.group_commit_bytes, "group_commit_bytes", bus),
       })
    if (!r) return std::move(r).error();
  return o;
}

BusManifest manifest_of(const Segment& seg) {
  const SegmentHeader& h = seg.header();
  const SegmentLogSettings& log = seg.log_settings();
  return BusManifest{seg.geometry(), h.claim_timeout_ns,           h.status_retention_ns,
                     log.sync,       log.group_commit_interval_ns, log.group_commit_bytes};
}

}  // namespace courier::detail
