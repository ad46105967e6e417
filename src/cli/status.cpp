// cli/status.cpp — `courier status`: the status of a tracked message.
#include <string>

#include "common.hpp"

namespace courier::cli {

int run_status(const Invocation& inv) {
  const std::string from = required_endpoint_option(inv.args, "from");
  const std::uint64_t id = parse_message_id(inv.operands[1], "ID", false);
  const Bus bus = open_bus(inv, Missing::fail);
  if (auto e = bus.find_endpoint(from); !e)
    throw Failure(e.error().code == Errc::not_found
                      ? "no endpoint named " + single_quoted(from) + " on bus " + single_quoted(bus.name())
                      : e.error().message);
  auto found = bus.status(from, id);
  if (!found) {
    if (found.error().code != Errc::not_found) throw Failure(found.error().message);
    throw Failure("no status of message " + std::to_string(id) + " from " + single_quoted(from) +
                  ": never tracked, or retired after its expiry plus the bus's status retention");
  }
  const StatusReport& r = *found;
  std::string out;
  if (inv.args.flag("json")) {
    Json members = Json::array();
    for (const RecipientStatus& m : r.members)
      members.push_back(Json{{"name", endpoint_label(bus, m.recipient)}, {"status", status_name(m.status)}});
    std::string group_name;
    if (r.group != 0) group_name = bus.group_name(r.group);
    if (r.group != 0 && group_name.empty()) group_name = id_label(r.group);
    const Json j{{"id", id_json(r.id)},
                 {"from", from},
                 {"status", status_name(r.status)},
                 {"to", r.group == 0 && r.dest != no_endpoint ? Json(endpoint_label(bus, r.dest)) : Json()},
                 {"group", r.group == 0 ? Json() : Json(group_name)},
                 {"recipients", r.recipients},
                 {"delivered", r.delivered},
                 {"read", r.read},
                 {"failed", r.failed},
                 {"expires_ns", r.expires_ns},
                 {"updated_ns", r.updated_ns},
                 {"members", std::move(members)}};
    out = json_line(j);
  } else {
    out = std::string(status_name(r.status)) + '\n';
    if (r.group != 0)
      for (const RecipientStatus& m : r.members)
        out += endpoint_label(bus, m.recipient) + " " + std::string(status_name(m.status)) + '\n';
  }
  write_out(out);
  return 0;
}

}  // namespace courier::cli
