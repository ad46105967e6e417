// cli/recover.cpp — `courier recover` (rebuild a bus from its journals) and
// `courier rm` (its shared memory, refused while receivers are attached unless
// --force; with --log DIR --purge, its journals too).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"

namespace courier::cli {
int run_rm(const Invocation& inv) {
  const std::string& bus = bus_operand(inv);
  const std::optional<std::string> log = log_option(inv.args);
  const bool purge = inv.args.flag("purge");
  const RemoveOptions ro{.force = inv.args.flag("force")};
  if (purge && !log) throw UsageError("--purge: needs --log DIR (the directory of the journals to delete)");
  if (log && !purge)
    throw UsageError("--log: rm keeps the journals (as a reboot would); add --purge to delete them too");
  if (!purge) {
    or_fail(Bus::remove(bus, ro));
    return 0;
  }
  // The shared memory first: if deleting the journals fails, the bus is left
  // as after a reboot, and rm --purge again finishes the job.
  const std::string dir = Bus::log_directory_for(*log, bus);
  const bool had_log = path_exists(dir);
  auto removed = Bus::remove(bus, ro);
  if (!removed && removed.error().code != Errc::not_found) throw Failure(removed.error().message);
  or_fail(Bus::remove_log(*log, bus));
  if (!removed) {
    if (!had_log) throw Failure(removed.error().message + ", and no journals in " + single_quoted(dir));
    note("bus " + single_quoted(bus) + " had no shared memory (removed before); its journals in " + single_quoted(dir) +
         " are deleted");
  } else if (!had_log) {
    note("bus " + single_quoted(bus) + " had no journals in " + single_quoted(dir) + " (its shared memory is removed)");
  }
  return 0;
}

namespace {

// "850 us", "12.3 ms", "2.41 s".
std::string elapsed_text(std::uint64_t ns) {
  char buf[32];
  if (ns < 1'000'000)
    std::snprintf(buf, sizeof buf, "%llu us", static_cast<unsigned long long>(ns / 1000));
  else if (ns < 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// Recovery's progress on stderr, only when stderr is a terminal and only once
// recovery has taken more than a second: one line, redrawn at most every
// 100 ms, erased when done.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label)
      : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1), start_(now_monotonic_ns()) {}
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void show(const RecoveryProgress& p) {
    if (!enabled_) return;
    const std::uint64_t now = now_monotonic_ns();
    if (now - start_ < 1'000'000'000ull || (drawn_ && now - last_ < 100'000'000ull)) return;
    last_ = now;
    drawn_ = true;
    constexpr std::size_t width = 30;
    const double done = p.bytes_total == 0
                            ? 1.0
                            : std::min(1.0, static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total));
    const auto filled = static_cast<std::size_t>(done * width);
    char percent[8];
    std::snprintf(percent, sizeof percent, "%3.0f%%", done * 100);
    std::cerr << '\r' << label_ << ": pass " << p.pass << " of " << p.passes << " [" << std::string(filled, '#')
              << std::string(width - filled, '-') << "] " << percent << "  " << size_text(p.bytes_done) << " of "
              << size_text(p.bytes_total) << "\033[K" << std::flush;
  }
  void clear() {
    if (drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::uint64_t start_, last_ = 0;
};

Json recovery_json(const std::string& bus, const std::string& dir, bool at_open, const RecoveryReport& r) {
  return Json{{"bus", bus},
              {"directory", dir},
              {"at_open", at_open},
              {"segments", r.segments},
              {"bytes", r.bytes},
              {"records", r.records},
              {"messages", r.messages},
              {"settles", r.settles},
              {"names", r.names},
              {"settled", r.settled},
              {"owed", r.owed},
              {"injected", r.injected},
              {"in_lane", r.in_lane},
              {"left", r.left},
              {"expired", r.expired},
              {"retired", r.retired},
              {"unnamed", r.unnamed},
              {"tracker_full", r.tracker_full},
              {"damaged", r.damaged},
              {"damage", regions_json(r.damage, true)},
              {"torn", r.torn},
              {"max_id", id_json(r.max_id)},
              {"elapsed_ns", r.elapsed_ns},
              {"load_ns", r.load_ns},
              {"put_back_ns", r.put_back_ns}};
}

std::string recovery_text(const std::string& bus, const std::string& dir, bool at_open, const RecoveryReport& r) {
  std::vector<std::vector<std::string>> rows{
      {"bus:", bus + (at_open ? " (shared memory rebuilt at open)" : " (live: recovered in place)")},
      {"journals:", dir},
      {"segments:", std::to_string(r.segments) + " (" + size_text(r.bytes) + ")"},
      {"records:", std::to_string(r.records) + ": " + counted(r.messages, "message", "messages") + ", " +
                       counted(r.settles, "settle", "settles") + " (delivered, read, expired), " +
                       counted(r.names, "name", "names")},
      {"settled:", std::to_string(r.settled) + " messages delivered, read or expired"},
      {"owed:", std::to_string(r.owed) + ": " + std::to_string(r.injected) + " injected into their lanes, " +
                    std::to_string(r.in_lane) + " already in a lane, " + std::to_string(r.left) +
                    " left in the log (lane full)"},
      {"expired:", std::to_string(r.expired) + " (their senders are told \"expired\")"},
      {"retired:", std::to_string(r.retired) + " (past expiry and status retention: nothing to do)"},
  };
  if (r.unnamed > 0)
    rows.push_back(
        {"unnamed:", counted(r.unnamed, "record", "records") + " skipped (ids their segment does not name)"});
  rows.push_back({"damaged:", r.damaged == 0 ? "none"
                                             : counted(r.damaged, "region", "regions") +
                                                   " (the records there are lost; those after them were read)"});
  rows.push_back({"torn:", counted(r.torn, "tail", "tails") + " cut (writes that did not finish)"});
  rows.push_back({"elapsed:", elapsed_text(r.elapsed_ns) + " (reading and tracking " + elapsed_text(r.load_ns) +
                                  ", putting back " + elapsed_text(r.put_back_ns) + ")"});
  return table_text(rows, 2) + region_lines(r.damage, "  damaged: ", false);
}

}  // namespace

int run_recover(const Invocation& inv) {
  const std::string log = required_log_option(inv.args, "recover");
  const std::string& name = bus_operand(inv);
  Options o = bus_options(inv.args, true);
  // A mistyped name or directory must not make up a new bus and log.
  if (const std::string dir = Bus::log_directory_for(log, name); !path_exists(dir))
    throw Failure("no journals of bus " + single_quoted(name) + " in " + single_quoted(dir) + " (no such directory)");
  ProgressBar bar("courier: recovering bus " + single_quoted(name));
  const auto progress = [&bar](const RecoveryProgress& p) { bar.show(p); };
  o.recover = true;  // a bus whose shared memory is gone is rebuilt by the open itself
  o.on_recovery_progress = progress;
  Bus bus = open_bus(inv, o);
  const bool at_open = bus.recovery().ran;
  const RecoveryReport r = at_open ? bus.recovery() : or_fail(bus.recover(progress));
  bar.clear();
  flush_log(bus);  // the expired records it wrote
  const std::string dir = bus.log_directory();
  write_out(inv.args.flag("json") ? json_line(recovery_json(name, dir, at_open, r))
                                  : recovery_text(name, dir, at_open, r));
  if (r.damaged > 0)
    note(counted(r.damaged, "damaged region", "damaged regions") + " in the journals: the records there are lost");
  return 0;
}

}  // namespace courier::cli
