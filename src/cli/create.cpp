// cli/create.cpp — who makes a bus: `courier create`, the one command that
// does, and the opening of a bus by the others, which fail on a missing bus or
// rebuild one from its journals after a reboot (common.hpp, Missing).
#include <sys/stat.h>

#include <string>

#include "common.hpp"

namespace courier::cli {

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Bus open_bus(const Invocation& inv, Missing missing) {
  const std::string& name = bus_operand(inv);
  Options o = bus_options(inv.args, false);
  const std::string journals = o.log_dir.empty() ? std::string() : Bus::log_directory_for(o.log_dir, name);
  // After a reboot the shared memory is gone and the journals are not: the
  // open creates the shared memory and rebuilds the bus from them.
  if (missing == Missing::rebuild_from_log && !journals.empty() && path_exists(journals)) o.create = true;
  if (!o.create && !Bus::exists(name)) {
    std::string why = "no bus named " + single_quoted(name) + " on this host";
    if (missing == Missing::rebuild_from_log && !journals.empty())
      why += ", and no journals in " + single_quoted(journals) + " to rebuild it from";
    throw Failure(why + " (create it with: courier create " + name + ")");
  }
  return open_bus(inv, o);  // removed since we looked: the library's "no bus named ..."
}

int run_create(const Invocation& inv) {
  const std::string& name = bus_operand(inv);
  const Options o = bus_options(inv.args, true);
  const std::string exists = "bus " + single_quoted(name) + " already exists (courier stat " + name + " shows it)";
  if (Bus::exists(name)) throw Failure(exists);
  auto opened = Bus::open(name, o);
  if (!opened) throw Failure(opened.error().message);
  Bus& bus = *opened;
  if (!bus.created()) throw Failure(exists);  // another process made it between our look and our open
  const BusSettings s = bus.settings();
  if (inv.args.flag("json")) {
    const bool rebuilt = bus.has_log() && bus.recovery().ran && bus.recovery().records > 0;
    const Json j{{"bus", name},
                 {"segment_bytes", s.segment_bytes},
                 {"max_endpoints", s.max_endpoints},
                 {"lane_capacity", s.lane_capacity},
                 {"max_payload", s.max_payload},
                 {"journals", bus.has_log() ? Json(bus.log_directory()) : Json()},
                 {"sync", bus.has_log() ? Json(sync_name(s.sync)) : Json()},
                 {"rebuilt_messages", rebuilt ? Json(bus.recovery().injected) : Json()}};
    flush_log(bus);
    write_out(json_line(j));
    return 0;
  }
  std::string line = "created bus " + single_quoted(name) + ": " + size_text(s.segment_bytes) + " of shared memory, " +
                     counted(s.max_endpoints, "endpoint", "endpoints") + " at most, lanes of " +
                     size_text(s.lane_capacity);
  if (bus.has_log()) {
    line += ", log in " + bus.log_directory() + " (sync " + std::string(sync_name(s.sync)) + ")";
    if (bus.recovery().ran && bus.recovery().records > 0)
      line += ", rebuilt from its journals (" + counted(bus.recovery().injected, "message", "messages") + " put back)";
  }
  flush_log(bus);
  write_out(line + "\n");
  return 0;
}

}  // namespace courier::cli
