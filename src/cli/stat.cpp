// cli/stat.cpp — `courier stat` (a bus's settings, endpoints, counters, tracker
// and groups) and `courier sweep`.
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "inspect.hpp"

namespace courier::cli {
namespace {

struct Counter {
  std::string_view name;
  std::uint64_t EndpointStats::*field;
};
// As a receiver (full and offline: sends refused to this endpoint).
constexpr Counter receiver_counters[] = {
    {"received", &EndpointStats::received}, {"delivered", &EndpointStats::delivered},
    {"read", &EndpointStats::read},         {"expired", &EndpointStats::expired},
    {"stale", &EndpointStats::stale},       {"revoked", &EndpointStats::revoked},
    {"corrupt", &EndpointStats::corrupt},   {"redelivered", &EndpointStats::redelivered},
    {"full", &EndpointStats::full},         {"offline", &EndpointStats::offline},
};
// As a sender.
constexpr Counter sender_counters[] = {
    {"sent", &EndpointStats::sent},
    {"duplicates", &EndpointStats::duplicates},
    {"tracker_full", &EndpointStats::tracker_full},
    {"status_dropped", &EndpointStats::status_dropped},
};

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

// "group (batches every 250us or 1 MiB)"
std::string sync_text(const BusSettings& b) {
  std::string t(sync_name(b.sync));
  if (b.sync != Sync::always)
    t += " (batches every " + format_duration(b.group_commit_interval) + " or " + size_text(b.group_commit_bytes) + ")";
  return t;
}

Json stat_json(const BusStats& s, const BusSettings& b, const Bus& bus, std::optional<std::uint64_t> resident) {
  const Json geometry{{"max_endpoints", b.max_endpoints},
                      {"lane_capacity", b.lane_capacity},
                      {"max_payload", b.max_payload},
                      {"claim_timeout_ns", b.claim_timeout.count()},
                      {"max_groups", b.max_groups},
                      {"max_group_members", b.max_group_members},
                      {"tracker_capacity", b.tracker_capacity},
                      {"status_capacity", b.status_capacity},
                      {"status_retention_ns", b.status_retention.count()}};
  Json endpoints = Json::array();
  for (const EndpointStats& e : s.endpoints) {
    Json j{{"name", e.name},
           {"id", e.id},
           {"receiver_attached", e.receiver_attached},
           {"receiver_pid", e.receiver_attached ? Json(e.receiver_pid) : Json()},
           {"waiting_total", e.waiting_total},
           {"waiting", e.waiting}};
    for (const Counter& c : receiver_counters) j[c.name] = e.*c.field;
    for (const Counter& c : sender_counters) j[c.name] = e.*c.field;
    endpoints.push_back(std::move(j));
  }
  Json groups = Json::array();
  for (const GroupEntry& g : s.groups) {
    Json members = Json::array();
    for (EndpointId m : g.members) members.push_back(endpoint_label(bus, m));
    groups.push_back(
        Json{{"name", g.name}, {"id", g.id}, {"member_count", g.members.size()}, {"members", std::move(members)}});
  }
  const Json log = b.log_dir.empty() ? Json()
                                     : Json{{"dir", b.log_dir},
                                            {"journals", Bus::log_directory_for(b.log_dir, s.name)},
                                            {"sync", sync_name(b.sync)},
                                            {"group_commit_interval_ns", b.group_commit_interval.count()},
                                            {"group_commit_bytes", b.group_commit_bytes}};
  const Json shm = s.in_process ? Json() : Json{{"total_bytes", s.shm_total_bytes}, {"free_bytes", s.shm_free_bytes}};
  return Json{{"bus", s.name},
              {"created_ns", s.created_ns},
              {"removed", s.removed},
              {"removed_ns", s.removed ? Json(s.removed_ns) : Json()},
              {"log", log},
              {"segment_bytes", s.segment_bytes},
              {"segment_fixed_bytes", s.fixed_bytes},
              {"shm", shm},
              {"resident_bytes", resident ? Json(*resident) : Json()},
              {"geometry", geometry},
              {"endpoints", std::move(endpoints)},
              {"tracker",
               {{"used", s.tracker.used},
                {"capacity", s.tracker.capacity},
                {"full_events", s.tracker.full_events},
                {"retired", s.tracker.retired}}},
              {"groups", std::move(groups)}};
}

std::string stat_text(const BusStats& s, const BusSettings& b, const Bus& bus, std::optional<std::uint64_t> resident) {
  const BusSettings& g = b;
  const auto& t = s.tracker;
  std::string out = table_text(
      {
          {"bus:", s.name},
          {"created:", utc_text(s.created_ns)},
          {"removed:", s.removed ? "yes (at " + utc_text(s.removed_ns) + ")" : std::string("no")},
          {"segment:", size_text(s.segment_bytes) + " reserved, " +
                           (resident ? size_text(*resident) + " resident" : std::string("resident unknown"))},
          {"of which:", size_text(s.fixed_bytes) +
                            " fixed: header, directory, tracker, an inbox per endpoint; the rest is lanes, reserved as "
                            "they fill"},
          {"/dev/shm:", s.in_process ? std::string("- (in-process bus)")
                                     : size_text(s.shm_free_bytes) + " free of " + size_text(s.shm_total_bytes)},
          {"max endpoints:", std::to_string(g.max_endpoints)},
          {"lane capacity:", size_text(g.lane_capacity) + " (16 priority lanes per endpoint)"},
          {"max payload:", size_text(g.max_payload)},
          {"claim timeout:", format_duration(b.claim_timeout)},
          {"max groups:",
           std::to_string(g.max_groups) + " (up to " + std::to_string(g.max_group_members) + " members each)"},
          {"tracker:", std::to_string(t.used) + " of " + std::to_string(t.capacity) + " entries used, " +
                           std::to_string(t.full_events) + " full events, " + std::to_string(t.retired) + " retired"},
          {"status kept:", format_duration(b.status_retention) + " past expiry"},
          {"log:", b.log_dir.empty() ? std::string("none (messages live in shared memory only)")
                                     : b.log_dir + " (journals in " + Bus::log_directory_for(b.log_dir, s.name) + ")"},
          {"sync:", b.log_dir.empty() ? std::string("-") : sync_text(b)},
      },
      2);
  out += '\n';
  if (s.endpoints.empty()) {
    out += "no endpoints\n";
  } else {
    std::vector<std::string> header{"ENDPOINT", "RECEIVER", "WAITING (PRIORITY:COUNT)", "TOTAL"};
    for (const Counter& c : receiver_counters) header.push_back(upper(c.name));
    std::vector<std::vector<std::string>> rows{header};
    for (const EndpointStats& e : s.endpoints) {
      std::vector<std::string> row{e.name, receiver_text(e), waiting_lanes_text(e), std::to_string(e.waiting_total)};
      for (const Counter& c : receiver_counters) row.push_back(std::to_string(e.*c.field));
      rows.push_back(std::move(row));
    }
    out += table_text(rows, 3) + '\n';
    std::vector<std::string> sender_header{"SENDER"};
    for (const Counter& c : sender_counters) sender_header.push_back(upper(c.name));
    std::vector<std::vector<std::string>> sender_rows{sender_header};
    for (const EndpointStats& e : s.endpoints) {
      std::vector<std::string> row{e.name};
      for (const Counter& c : sender_counters) row.push_back(std::to_string(e.*c.field));
      sender_rows.push_back(std::move(row));
    }
    out += table_text(sender_rows, 1);
  }
  out += '\n';
  if (s.groups.empty()) return out + "no groups\n";
  std::vector<std::vector<std::string>> group_rows{{"GROUP", "MEMBERS", "NAMES"}};
  for (const GroupEntry& e : s.groups) {
    std::string names;
    for (EndpointId m : e.members) (names.empty() ? names : names += ' ') += endpoint_label(bus, m);
    group_rows.push_back({e.name, std::to_string(e.members.size()), names.empty() ? "-" : names});
  }
  return out + table_text(group_rows, 1, 2);
}

}  // namespace

int run_stat(const Invocation& inv) {
  const Bus bus = open_bus(inv, Missing::fail);
  const BusStats s = bus.stat();
  const BusSettings b = bus.settings();
  // Resident: the pages of the shared-memory object in use (st_blocks), not its reserved length.
  std::optional<std::uint64_t> resident;
  if (auto use = bus_shm_use(s.name)) resident = use->resident;
  write_out(inv.args.flag("json") ? json_line(stat_json(s, b, bus, resident)) : stat_text(s, b, bus, resident));
  return 0;
}

int run_sweep(const Invocation& inv) {
  Bus bus = open_bus(inv, Missing::fail);
  const SweepResult r = bus.sweep();
  flush_log(bus);  // the expired records
  if (inv.args.flag("json"))
    write_out(json_line(Json{{"expired", r.expired}, {"retired", r.retired}, {"expired_stored", r.expired_stored}}));
  else
    write_out("expired " + std::to_string(r.expired) + " retired " + std::to_string(r.retired) + "\n");
  return 0;
}

}  // namespace courier::cli
