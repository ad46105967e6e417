// cli/endpoints.cpp — `courier endpoint add|rm|ls` and `courier group add|rm|ls`.
#include <string>
#include <vector>

#include "common.hpp"

namespace courier::cli {

// ------------------------------------------------------------ endpoints

int run_endpoint_add(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  // Adding an endpoint that exists does nothing (exit 0), and says so.
  const bool existed = static_cast<bool>(bus.find_endpoint(name));
  or_fail(bus.add_endpoint(name));
  if (existed) note("endpoint " + single_quoted(name) + " already exists: nothing to do");
  return 0;
}

int run_endpoint_rm(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, Missing::fail);
  or_fail(bus.remove_endpoint(name));  // senders of messages still owed to it are told: records to the log
  flush_log(bus);
  return 0;
}

int run_endpoint_ls(const Invocation& inv) {
  Bus bus = open_bus(inv, Missing::fail);
  std::string out;
  if (inv.args.flag("json")) {  // one object per endpoint and line, with what --long shows
    for (const EndpointStats& e : bus.stat().endpoints)
      out += json_line(Json{{"name", e.name},
                            {"id", e.id},
                            {"receiver_attached", e.receiver_attached},
                            {"receiver_pid", e.receiver_attached ? Json(e.receiver_pid) : Json()},
                            {"waiting_total", e.waiting_total}});
  } else if (inv.args.flag("long")) {
    std::vector<std::vector<std::string>> rows{{"NAME", "RECEIVER", "WAITING"}};
    for (const EndpointStats& e : bus.stat().endpoints)
      rows.push_back({e.name, receiver_text(e), std::to_string(e.waiting_total)});
    out = table_text(rows, 2);
  } else {
    for (const EndpointEntry& e : bus.endpoints()) out += e.name + '\n';
  }
  write_out(out);
  return 0;
}

namespace {

// ------------------------------------------------------------ groups

std::string group_operand(const Invocation& inv) { return checked_group(inv.operands[1], "GROUP"); }

// MEMBER operands (after BUS GROUP), checked before anything is changed.
std::vector<std::string> member_operands(const Invocation& inv) {
  std::vector<std::string> members;
  for (std::size_t i = 2; i < inv.operands.size(); ++i)
    members.emplace_back(checked_endpoint(inv.operands[i], "MEMBER"));
  return members;
}

}  // namespace

int run_group_add(const Invocation& inv) {
  const std::string g = group_operand(inv);
  const std::vector<std::string> members = member_operands(inv);
  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  if (auto r = bus.add_group(g); !r) throw Failure("group " + single_quoted(g) + ": " + r.error().message);
  for (const std::string& m : members) or_fail(bus.add_member(g, m));
  return 0;
}

int run_group_rm(const Invocation& inv) {
  const std::string g = group_operand(inv);
  const std::vector<std::string> members = member_operands(inv);
  Bus bus = open_bus(inv, Missing::fail);
  if (members.empty()) {
    or_fail(bus.remove_group(g));
    return 0;
  }
  for (const std::string& m : members) or_fail(bus.remove_member(g, m));
  return 0;
}

int run_group_ls(const Invocation& inv) {
  const Bus bus = open_bus(inv, Missing::fail);
  std::string out;
  for (const GroupEntry& g : bus.groups()) {
    if (inv.args.flag("json")) {
      Json members = Json::array();
      for (EndpointId m : g.members) members.push_back(endpoint_label(bus, m));
      out += json_line(
          Json{{"name", g.name}, {"id", g.id}, {"created_ns", g.created_ns}, {"members", std::move(members)}});
    } else {
      out += g.name + ':';
      for (EndpointId m : g.members) out += ' ' + endpoint_label(bus, m);
      out += '\n';
    }
  }
  write_out(out);
  return 0;
}

}  // namespace courier::cli
