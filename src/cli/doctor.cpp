// cli/doctor.cpp — `courier doctor BUS`: a bus's health, checked without
// changing it: stale receiver leases, room in /dev/shm for what the bus has
// reserved, its log (directory, damage in the journals), the tracker's fill,
// status events dropped, corrupt records. Exit status 0 when healthy, 1 with
// one line per problem.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common.hpp"
#include "courier/log_inspect.hpp"
#include "inspect.hpp"

namespace courier::cli {
namespace {

constexpr std::uint64_t tracker_warn_percent = 90;  // a tracker this full refuses tracked sends soon

struct Problem {
  std::string check;  // stale_lease, shm_space, log, tracker, status_dropped, corrupt
  std::string text;
};

struct Doctor {
  const Bus& bus;
  BusStats stats;
  std::vector<Problem> problems;
  std::vector<std::string> checked;

  void add(std::string check, std::string text) { problems.push_back({std::move(check), std::move(text)}); }

  void leases() {
    checked.push_back("stale_lease");
    for (const EndpointStats& e : stats.endpoints)
      if (e.stale_lease_pid != 0)
        add("stale_lease", "endpoint " + single_quoted(e.name) + ": its receiver lease is held by pid " +
                               std::to_string(e.stale_lease_pid) +
                               ", which is gone (the next attach takes it over; what it held is redelivered)");
  }

  void shm_space() {
    checked.push_back("shm_space");
    const std::optional<ShmUse> use = bus_shm_use(bus.name());
    struct statvfs vfs {};
    if (!use || ::statvfs("/dev/shm", &vfs) != 0) return;  // in-process, or no /dev/shm to ask
    const std::uint64_t free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::uint64_t more = use->reserved > use->resident ? use->reserved - use->resident : 0;
    if (more > free)
      add("shm_space", "/dev/shm has " + size_text(free) + " free, and the bus may still use " + size_text(more) +
                           " more (" + size_text(use->reserved) + " reserved, " + size_text(use->resident) +
                           " resident): a process that touches a page past the free space dies of SIGBUS");
  }

  void log() {
    checked.push_back("log");
    if (!bus.has_log()) return;
    const std::string& dir = bus.log_directory();
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      add("log", "the journal directory " + single_quoted(dir) + " is missing: sends with --expiry fail (log_failed)");
      return;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 0022) != 0)
      add("log", "the journal directory " + single_quoted(dir) +
                     " is not a directory of this user closed to others' writes: the bus refuses it");
    if (auto e = bus.log_error()) add("log", "this process's log failed: " + e->message);
    auto inspector = LogInspector::open(dir);
    if (!inspector) {
      add("log", "reading the journals in " + single_quoted(dir) + ": " + inspector.error().message);
      return;
    }
    LogRecord rec;
    for (;;) {
      auto more = inspector->next(rec);
      if (!more) {
        add("log", "reading the journals in " + single_quoted(dir) + ": " + more.error().message);
        return;
      }
      if (!*more) break;
    }
    for (const LogRegion& r : inspector->damage())
      add("log", "journal damage: " + r.file + " at offset " + std::to_string(r.offset) + ", " +
                     std::to_string(r.length) + " bytes: " + r.reason + " (courier log " + bus.name() + " verify)");
  }

  void tracker() {
    checked.push_back("tracker");
    const TrackerUsage& t = stats.tracker;
    if (t.capacity > 0 && t.used * 100 >= t.capacity * tracker_warn_percent)
      add("tracker", "the tracker is " + std::to_string(t.used * 100 / t.capacity) + "% full (" +
                         std::to_string(t.used) + " of " + std::to_string(t.capacity) +
                         " entries): tracked sends are refused when it is full (courier sweep retires the expired)");
    if (t.full_events > 0)
      add("tracker", counted(t.full_events, "tracked send was", "tracked sends were") +
                         " refused for want of room in the tracker (--tracker-capacity at creation)");
  }

  void counters() {
    checked.push_back("status_dropped");
    checked.push_back("corrupt");
    for (const EndpointStats& e : stats.endpoints) {
      if (e.status_dropped > 0)
        add("status_dropped", "endpoint " + single_quoted(e.name) + ": " +
                                  counted(e.status_dropped, "status event was", "status events were") +
                                  " dropped from its full status ring (its statuses are still in the tracker)");
      if (e.corrupt > 0)
        add("corrupt", "endpoint " + single_quoted(e.name) + ": " +
                           counted(e.corrupt, "corrupt record was", "corrupt records were") +
                           " stepped over in its lanes");
    }
  }
};

}  // namespace

int run_doctor(const Invocation& inv) {
  const Bus bus = open_operand_to_look(inv);
  Doctor d{bus, bus.stat(), {}, {}};
  d.leases();
  d.shm_space();
  d.log();
  d.tracker();
  d.counters();
  if (inv.args.flag("json")) {
    Json problems = Json::array();
    for (const Problem& p : d.problems) problems.push_back(Json{{"check", p.check}, {"problem", printable(p.text)}});
    write_out(json_line(
        Json{{"bus", bus.name()}, {"healthy", d.problems.empty()}, {"checked", d.checked}, {"problems", problems}}));
  } else if (d.problems.empty()) {
    write_out("bus " + single_quoted(bus.name()) + ": healthy (" + counted(d.checked.size(), "check", "checks") +
              " passed)\n");
  } else {
    std::string out;
    for (const Problem& p : d.problems) out += p.check + ": " + printable(p.text) + '\n';
    write_out(out);
  }
  return d.problems.empty() ? 0 : 1;
}

}  // namespace courier::cli
