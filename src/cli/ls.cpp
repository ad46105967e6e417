// cli/ls.cpp — `courier ls`: every bus on this host, found as the
// shared-memory objects /dev/shm/courier.NAME. /dev/shm is shared by every
// user: an entry is opened only when it is a regular file of this process's
// user with a valid bus name; the others are listed with the reason they
// were skipped, and nothing in them is read.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"
#include "courier/names.hpp"
#include "inspect.hpp"

namespace courier::cli {
namespace {

constexpr std::string_view shm_dir = "/dev/shm";
constexpr std::string_view shm_prefix = "courier.";

// One entry of /dev/shm named courier.*, and what we could learn of it.
struct Listed {
  std::string name;             // the bus name (after "courier."), as found
  std::string skipped;          // why it was not opened ("" when it was)
  ShmUse use;                   // reserved and resident bytes
  std::uint64_t endpoints = 0;  // registered endpoints
  std::uint64_t receivers = 0;  // endpoints with a receiver attached
  std::uint64_t waiting = 0;    // messages waiting in all lanes
  std::string journals;         // LOG_DIR/BUS, or "" without a log
};

// Why the entry `st` of `name` is not ours to open, or "".
std::string foreign_reason(const std::string& name, const struct stat& st) {
  if (std::string why = bus_name_problem(name); !why.empty()) return "not a bus name: " + why;
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (st.st_uid != ::geteuid()) return "owned by uid " + std::to_string(st.st_uid) + ", not by this user";
  if (st.st_size == 0) return "empty (being created, or its creator died before it was sized)";
  return {};
}

Listed look_at(const std::string& name, const struct stat& st) {
  Listed l;
  l.name = name;
  l.use = shm_use(st);
  l.skipped = foreign_reason(name, st);
  if (!l.skipped.empty()) return l;
  auto bus = open_to_look(name);
  if (!bus) {
    l.skipped = bus.error().message;
    return l;
  }
  const BusStats s = bus->stat();
  l.endpoints = s.endpoints.size();
  for (const EndpointStats& e : s.endpoints) {
    l.receivers += e.receiver_attached ? 1 : 0;
    l.waiting += e.waiting_total;
  }
  if (bus->has_log()) l.journals = bus->log_directory();
  return l;
}

std::vector<Listed> scan() {
  DIR* d = ::opendir(std::string(shm_dir).c_str());
  if (d == nullptr) throw Failure("reading " + std::string(shm_dir) + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n(e->d_name);
    if (n.starts_with(shm_prefix)) names.emplace_back(n.substr(shm_prefix.size()));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<Listed> out;
  for (const std::string& n : names) {
    struct stat st {};
    // lstat: a symbolic link is listed as such, never followed.
    if (::lstat((std::string(shm_dir) + "/" + std::string(shm_prefix) + n).c_str(), &st) != 0) continue;  // gone
    out.push_back(look_at(n, st));
  }
  return out;
}

Json listed_json(const Listed& l) {
  const bool opened = l.skipped.empty();
  return Json{{"bus", printable(l.name)},
              {"reserved_bytes", l.use.reserved},
              {"resident_bytes", l.use.resident},
              {"endpoints", opened ? Json(l.endpoints) : Json()},
              {"receivers", opened ? Json(l.receivers) : Json()},
              {"waiting", opened ? Json(l.waiting) : Json()},
              {"journals", l.journals.empty() ? Json() : Json(printable(l.journals))},
              {"skipped", opened ? Json() : Json(printable(l.skipped))}};
}

}  // namespace

int run_ls(const Invocation& inv) {
  const std::vector<Listed> all = scan();
  std::string out;
  if (inv.args.flag("json")) {
    for (const Listed& l : all) out += json_line(listed_json(l));
    write_out(out);
    return 0;
  }
  if (all.empty()) {
    write_out("no buses on this host\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"BUS", "RESERVED", "RESIDENT", "ENDPOINTS", "RECEIVERS", "WAITING", "LOG"}};
  for (const Listed& l : all) {
    const std::string shown = printable(l.name);
    if (!l.skipped.empty()) {
      rows.push_back({shown, size_text(l.use.reserved), size_text(l.use.resident), "-", "-", "-",
                      "(skipped: " + printable(l.skipped) + ")"});
      continue;
    }
    rows.push_back({shown, size_text(l.use.reserved), size_text(l.use.resident), std::to_string(l.endpoints),
                    std::to_string(l.receivers), std::to_string(l.waiting), l.journals.empty() ? "-" : l.journals});
  }
  write_out(table_text(rows, 1, 6));
  return 0;
}

}  // namespace courier::cli
