// cli/main.cpp — `courier`, the command-line tool: send and receive messages,
// follow the status of tracked ones, manage endpoints and groups, inspect,
// sweep and remove buses (courier --help). It uses the public API only
// (courier/bus.hpp).
//
// Exit status: 0 success; 1 a failure at run time (one line on stderr: the
// library's error message, or why a message was not sent); 2 a bad command
// line (one line on stderr naming the argument).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "args.hpp"
#include "courier/bus.hpp"
#include "courier/detail/journal.hpp"  // until the CLI reads journals through a public API
#include "courier/detail/log.hpp"
#include "courier/duration.hpp"
#include "courier/names.hpp"
#include "json.hpp"

#ifndef COURIER_VERSION
#define COURIER_VERSION "0.1.0"  // the build may pass the project version
#endif

namespace courier::cli {
namespace {

// ------------------------------------------------------------ the command line

// Commands, as bits of OptionSpec::commands.
enum : unsigned {
  cmd_send = 1u << 0,
  cmd_recv = 1u << 1,
  cmd_endpoint_add = 1u << 2,
  cmd_endpoint_rm = 1u << 3,
  cmd_endpoint_ls = 1u << 4,
  cmd_stat = 1u << 5,
  cmd_rm = 1u << 6,
  cmd_status = 1u << 7,
  cmd_group_add = 1u << 8,
  cmd_group_rm = 1u << 9,
  cmd_group_ls = 1u << 10,
  cmd_sweep = 1u << 11,
  cmd_recover = 1u << 12,
  cmd_log = 1u << 13,
  cmd_any = ~0u,
  // The commands that open a bus (and so take --log and --sync).
  cmd_opens_bus = cmd_send | cmd_recv | cmd_endpoint_add | cmd_endpoint_rm | cmd_endpoint_ls | cmd_stat | cmd_status |
                  cmd_group_add | cmd_group_rm | cmd_group_ls | cmd_sweep | cmd_recover,
};

constexpr OptionSpec option_specs[] = {
    {"help", false, cmd_any},
    {"version", false, cmd_any},
    // Geometry of a bus this command creates; ignored when the bus exists.
    {"max-endpoints", true, cmd_any},
    {"lane-capacity", true, cmd_any},
    {"max-payload", true, cmd_any},
    {"claim-timeout", true, cmd_any},
    {"max-groups", true, cmd_any},
    {"max-group-members", true, cmd_any},
    {"tracker-capacity", true, cmd_any},
    {"from", true, cmd_send | cmd_status},
    {"to", true, cmd_send},
    {"group", true, cmd_send},
    {"priority", true, cmd_send},
    {"expiry", true, cmd_send},
    {"type", true, cmd_send},
    {"id", true, cmd_send},
    {"wait", true, cmd_send},
    {"timeout", true, cmd_send | cmd_recv},
    {"count", true, cmd_recv},
    {"no-ack", false, cmd_recv},
    {"read", false, cmd_recv},
    {"json", false, cmd_stat | cmd_status | cmd_group_ls | cmd_recover | cmd_log},
    {"long", false, cmd_endpoint_ls},
    {"log", true, cmd_opens_bus | cmd_rm | cmd_log},
    {"sync", true, cmd_opens_bus},
    {"purge", false, cmd_rm},
};

// Operands after the required ones: no limit (group add/rm MEMBER...).
constexpr std::size_t any_number = ~std::size_t{0};

struct Invocation {
  const Args& args;
  std::vector<std::string> operands;  // those after the command words
};

struct Command {
  std::string_view name;  // the command words: "send", "endpoint add"
  unsigned bit;
  std::string_view operands;  // required operands, in order: "BUS NAME"
  std::size_t max_operands;
  std::string_view help;  // synopsis and description, for --help
  int (*run)(const Invocation&);
};

constexpr std::string_view usage_head = "usage: courier COMMAND [OPTION...]\n\ncommands:\n";

constexpr std::string_view usage_tail = R"(
options of the commands that create a missing bus (send, recv, endpoint add,
group add, recover; the others never create one), ignored when the bus exists:
  --max-endpoints N         1..4096 (default 64)
  --lane-capacity BYTES     per priority lane, a power of two from 4K to 1G
                            (default 4MiB; suffixes K KiB M MiB G GiB, all binary)
  --max-payload BYTES       largest payload (default 1MiB, or the largest that
                            fits in half a lane when --lane-capacity is smaller)
  --claim-timeout DURATION  a send unfinished this long is stepped over (default 200ms)
  --max-groups N            0..4096 (default 16)
  --max-group-members N     members per group, 1..4096 (default 64)
  --tracker-capacity N      tracked messages in flight (entries), a power of two
                            from 64 to 67108864 (default 65536)

options of every command that opens a bus (all but rm and log, which take
--log for their own use):
  --log DIR                 the bus's durable log: its journals are in DIR/BUS
                            (created with mode 0700). Messages sent with --expiry
                            are written there and survive crashes of processes
                            (and of the machine, unless --sync os); a bus opened
                            after its shared memory was removed (a reboot) is
                            rebuilt from the journals. Give the same DIR to every
                            command of a bus.
  --sync always|group|os    when "sent" is said of a message sent with --expiry
                            (needs --log): always (the journal is fdatasync'ed
                            before send returns), group (the default: group
                            commit, fdatasync of a batch of messages), os (written
                            to the page cache only: survives crashes of
                            processes, not of the machine)

Options may come before or after the command and its operands; "--" ends
them (for DATA that begins with '-'). -h is --help.
DURATION: a number and a unit, ns us ms s m h d, parts may be joined: 250ms,
  10s, 5m, 2h, 3d, 1h30m. A plain number other than 0 is refused.
names: BUS [A-Za-z0-9._-]{1,64} (not . or ..); endpoint NAME and GROUP
  [A-Za-z0-9._@:-]{1,63}
tracked messages: those sent with --expiry or --id. The bus keeps their status
  (outbox, sent, delivered, read, or an error such as expired, offline, full)
  until their expiry plus the bus's status retention (default 10s), and does
  not enqueue a second send of the same --from and --id (a duplicate) unless
  the first was refused (full, offline).
exit status: 0 success, 1 failure (reason on stderr), 2 bad command line.
  courier --version prints the version.
)";

int run_send(const Invocation&);
int run_recv(const Invocation&);
int run_status(const Invocation&);
int run_endpoint_add(const Invocation&);
int run_endpoint_rm(const Invocation&);
int run_endpoint_ls(const Invocation&);
int run_group_add(const Invocation&);
int run_group_rm(const Invocation&);
int run_group_ls(const Invocation&);
int run_stat(const Invocation&);
int run_sweep(const Invocation&);
int run_recover(const Invocation&);
int run_log(const Invocation&);
int run_rm(const Invocation&);

constexpr Command commands[] = {
    {"send", cmd_send, "BUS", 2, R"(  send BUS --from NAME (--to NAME | --group GROUP) [--priority 0-15]
       [--expiry DURATION] [--type N] [--id N] [--wait sent|delivered|read]
       [--timeout DURATION] [DATA | -]
      Send one message as NAME (registered if missing) to an existing endpoint,
      or to every member of an existing group (one copy each); prints
      "<id> <status>". Without DATA, or with "-", the payload is stdin.
      --to         the destination endpoint
      --group      the destination group (give --to or --group, not both); when
                   some members' lanes refused it, a note on stderr says how
                   many of the members took it (exit status 0 if any did)
      --priority   0 is the highest (default 8)
      --expiry     how long the bus may hold the message for delivery (default 0:
                   real-time, delivered now to an attached receiver or "offline")
      --type       user-defined number, 0..4294967295 (default 0)
      --id         identifier (default: generated when --expiry is given, else 0).
                   A message with --expiry or --id is tracked; sending an --id
                   again from the same NAME while it is tracked prints the first
                   send's id and status and a note: it is not enqueued again
      --wait       after sending, wait until the message reaches this status
                   (sent < delivered < read; for a group, every member that took
                   it) and print that instead of "sent". Needs a tracked
                   message. Exit status 1 when it ends in an error status (the
                   word is printed) or on timeout (the last status is printed)
      --timeout    when the destination endpoint's lane is full, wait this long
                   for room (--to only: a group member's full lane is skipped);
                   with --wait, the limit of sending and waiting together
                   (default with --wait: 10s)
      Exit status 1 unless the status is "sent" (or the --wait status).
)",
     run_send},
    {"recv", cmd_recv, "BUS NAME", 2, R"(  recv BUS NAME [--count N] [--timeout DURATION] [--no-ack] [--read]
      Receive as NAME (registered if missing; one receiver per endpoint). Prints
      one JSON object per message and line: id, from, to, group (the group's
      name for a group message, else null), priority, type, timestamp_ns,
      expires_ns, redelivered, status ("new", or "read" once marked read), and
      "data" (UTF-8 text) or "data_b64" (base64). Stops after N messages, when
      DURATION has passed, or on SIGINT/SIGTERM. Exit status 1 when N was given
      and not reached. A message is acknowledged once its line is written (with
      --read, before): one that could not be written goes to the next receiver
      (flagged redelivered).
      --no-ack     do not acknowledge: senders of tracked messages do not see
                   them "delivered"
      --read       mark each message read: its sender sees "read"
)",
     run_recv},
    {"status", cmd_status, "BUS ID", 2, R"(  status BUS --from NAME ID [--json]
      The status of tracked message ID sent by NAME: one word (outbox, sent,
      delivered, read, or an error: expired, offline, full, invalid_destination,
      too_large, revoked, tracker_full, log_failed, invalid_argument). For a
      group message, the total first, then one line per member it was sent to:
      "<member> <status>". --json: one JSON object instead. Exit status 1 when
      the bus keeps no status for it (never tracked, or retired).
)",
     run_status},
    {"endpoint add", cmd_endpoint_add, "BUS NAME", 2, "  endpoint add BUS NAME\n      Register an endpoint.\n",
     run_endpoint_add},
    {"endpoint rm", cmd_endpoint_rm, "BUS NAME", 2,
     "  endpoint rm BUS NAME\n      Remove an endpoint (refused while a receiver is attached).\n", run_endpoint_rm},
    {"endpoint ls", cmd_endpoint_ls, "BUS", 1,
     "  endpoint ls BUS [--long]\n      List endpoint names, one per line; --long adds receiver and waiting "
     "messages.\n",
     run_endpoint_ls},
    {"group add", cmd_group_add, "BUS GROUP MEMBER", any_number, R"(  group add BUS GROUP MEMBER...
      Add endpoints to a group, creating the group when missing and
      registering the endpoints that are missing. Adding a member twice does
      nothing.
)",
     run_group_add},
    {"group rm", cmd_group_rm, "BUS GROUP", any_number, R"(  group rm BUS GROUP [MEMBER...]
      Remove members from a group, or without MEMBER the group itself (its
      endpoints stay).
)",
     run_group_rm},
    {"group ls", cmd_group_ls, "BUS", 1, R"(  group ls BUS [--json]
      List groups, one per line: "GROUP: MEMBER MEMBER...". --json: one JSON
      object per group and line: name, id, created_ns, members (names).
)",
     run_group_ls},
    {"stat", cmd_stat, "BUS", 1, R"(  stat BUS [--json]
      Geometry, endpoints, receivers, messages waiting per priority, counters
      per endpoint (as receiver: received, delivered, read, expired, ...; as
      sender: sent, duplicates, tracker_full, status_dropped), the tracker's
      use and the groups, as tables or as one JSON object.
)",
     run_stat},
    {"sweep", cmd_sweep, "BUS", 1, R"(  sweep BUS
      Report tracked messages that expired waiting in a lane to their senders
      (status "expired") and retire tracker entries past their expiry plus
      retention; prints "expired N retired M".
)",
     run_sweep},
    {"recover", cmd_recover, "BUS", 1, R"(  recover BUS --log DIR [--json]
      Rebuild the bus from its journals in DIR/BUS: when its shared memory is
      gone (a reboot), create it (with the creation options below) and put back
      every message owed and not expired; on a live bus, put back those the
      journals alone hold. Senders of messages found expired are told
      "expired". Prints what it found: segments, records, messages, settles,
      owed (injected, already in a lane, left in the log for want of room),
      expired, retired, damaged regions (each with its file, offset, length and
      reason: the records there are lost; the others are still read), torn
      tails and the time taken; --json: one JSON object. A progress bar goes to
      stderr when it is a terminal and recovery takes more than a second. Exit
      status 0 even when damage was found (it is reported), 1 on an error (and
      when DIR/BUS does not exist: nothing is created then).
)",
     run_recover},
    {"log", cmd_log, "BUS ACTION", 2, R"(  log BUS --log DIR (stat | dump | verify) [--json]
      Read the journals of BUS in DIR/BUS directly (the bus need not exist;
      nothing is written). dump writes JSON lines, with or without --json.
      stat     segments, bytes, records by kind (message, delivered, read,
               expired, name), damaged regions, torn tails, and the unsettled
               messages (a message record with no delivered, read or expired
               record for its sender, id and recipient): how many, how many of
               them past their expiry, and the oldest. --json: one JSON object
      dump     one JSON object per record and line: file, offset, kind, length
               (of the body), then by kind: message: id, from, to, group (names,
               null when the segment names none) with from_id, to_id, group_id,
               priority, type, flags, timestamp_ns, expires_ns, payload_len, and
               "data" (UTF-8 text) or "data_b64" (base64, when the payload is not
               UTF-8); delivered, read, expired: id, sender, recipient (names;
               recipient null with recipient_id 0 in an expired record: every
               recipient still owed), sender_id, recipient_id, at_ns; name: id,
               what (endpoint or group), name. Damage is noted on stderr
      verify   list every damaged region (file, offset, length, reason) and torn
               tail (a write that did not finish: cut, not damage); exit status
               1 when there is damage. --json: one JSON object
)",
     run_log},
    {"rm", cmd_rm, "BUS", 1, R"(  rm BUS [--log DIR --purge]
      Remove the bus's shared memory (processes using it keep it until they
      exit), as a reboot would: its journals stay, and the next open with --log
      rebuilds the bus from them. --log DIR --purge: delete its journals
      (DIR/BUS) too.
)",
     run_rm},
};

std::string full_usage() {
  std::string u(usage_head);
  for (const Command& c : commands) u += c.help;
  u += "  help [COMMAND]\n      This text, or one command's.\n";
  u += usage_tail;
  return u;
}

// The command named by the first one or two of `words`, or nullptr.
const Command* find_command(const std::vector<std::string>& words) {
  for (const Command& c : commands)
    if (c.name == words[0] || (words.size() > 1 && c.name == words[0] + " " + words[1])) return &c;
  return nullptr;
}

// Help on the commands `words` name ("send", "endpoint", "endpoint ls"), or all.
std::string help_text(const std::vector<std::string>& words) {
  if (words.empty()) return full_usage();
  std::string h;
  for (const Command& c : commands)
    if (find_command(words) == &c || (words.size() == 1 && c.name.starts_with(words[0] + " "))) h += c.help;
  if (h.empty()) throw UsageError("help: unknown command '" + words[0] + "'");
  return h + std::string(usage_tail);
}

std::size_t word_count(std::string_view s) {
  return s.empty() ? 0 : 1 + static_cast<std::size_t>(std::count(s.begin(), s.end(), ' '));
}

std::string_view nth_word(std::string_view s, std::size_t n) {
  for (; n > 0; --n) s.remove_prefix(s.find(' ') + 1);
  return s.substr(0, s.find(' '));
}

// ------------------------------------------------------------ shared helpers

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

const std::string& bus_operand(const Invocation& inv) {
  const std::string& name = inv.operands[0];
  if (std::string why = bus_name_problem(name); !why.empty()) throw UsageError("BUS " + quoted(name) + ": " + why);
  return name;
}

// `name` as an endpoint name; `what` says where it came from ("NAME", "--to").
std::string_view checked_endpoint(std::string_view name, std::string_view what) {
  if (std::string why = endpoint_name_problem(name); !why.empty())
    throw UsageError(std::string(what) + " " + quoted(name) + ": " + why);
  return name;
}

std::string name_operand(const Invocation& inv) { return std::string(checked_endpoint(inv.operands[1], "NAME")); }

// `name` as a group name (the rules of endpoint names).
std::string checked_group(std::string_view name, std::string_view what) {
  if (std::string why = endpoint_name_problem(name); !why.empty()) {
    if (why.starts_with("endpoint name")) why.replace(0, 8, "group");
    throw UsageError(std::string(what) + " " + quoted(name) + ": " + why);
  }
  return std::string(name);
}

std::string required_endpoint_option(const Args& args, std::string_view option) {
  const std::string what = "--" + std::string(option);
  auto v = args.value(option);
  if (!v) throw UsageError(what + ": required");
  return std::string(checked_endpoint(*v, what));
}

// --log DIR, checked: nothing when not given.
std::optional<std::string> log_option(const Args& args) {
  auto v = args.value("log");
  if (!v) return std::nullopt;
  if (v->empty()) throw UsageError("--log: empty (give the directory of the bus's journals)");
  return std::string(*v);
}

std::string required_log_option(const Args& args, std::string_view command) {
  auto dir = log_option(args);
  if (!dir) throw UsageError("--log: required by '" + std::string(command) + "' (the directory of the bus's journals)");
  return *dir;
}

// The geometry options, checked here so that a bad one is reported as the
// argument it is (exit 2) rather than as a failure to create the bus.
Options bus_options(const Args& args, bool create) {
  Options o;
  o.create = create;
  o.prefault_tracker = false;  // one command, a few messages: a page fault each beats populating the table
  if (auto n = args.uint<std::uint32_t>("max-endpoints", 1, max_endpoints_limit)) o.max_endpoints = *n;
  if (auto c = args.bytes("lane-capacity")) {
    if (*c < min_lane_capacity || *c > max_lane_capacity || (*c & (*c - 1)) != 0)
      throw UsageError("--lane-capacity: must be a power of two from 4KiB to 1GiB, got " +
                       std::string(*args.value("lane-capacity")));
    o.lane_capacity = *c;
  }
  const std::uint64_t payload_limit = o.lane_capacity / 2 - sizeof(RecordHeader);  // record_bytes(limit) == lane / 2
  if (auto p = args.bytes("max-payload")) {
    if (*p > payload_limit)
      throw UsageError("--max-payload: must fit in half a lane: at most " + std::to_string(payload_limit) +
                       " bytes with lanes of " + std::to_string(o.lane_capacity) + " bytes, got " + std::to_string(*p));
    o.max_payload = static_cast<std::uint32_t>(*p);
  } else {
    o.max_payload = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.max_payload, payload_limit));
  }
  if (auto t = args.duration("claim-timeout")) {
    if (*t < 1ms || *t > 1h) throw UsageError("--claim-timeout: must be 1ms..1h, got " + format_duration(*t));
    o.claim_timeout = *t;
  }
  if (auto n = args.uint<std::uint32_t>("max-groups", 0, max_groups_limit)) o.max_groups = *n;
  if (auto n = args.uint<std::uint32_t>("max-group-members", 1, max_group_members_limit)) o.max_group_members = *n;
  if (auto n = args.uint<std::uint64_t>("tracker-capacity", min_tracker_capacity, max_tracker_capacity)) {
    if ((*n & (*n - 1)) != 0)
      throw UsageError("--tracker-capacity: must be a power of two from " + std::to_string(min_tracker_capacity) +
                       " to " + std::to_string(max_tracker_capacity) + ", got " + std::to_string(*n));
    o.tracker_capacity = *n;
  }
  if (auto dir = log_option(args)) o.log_dir = *dir;
  if (auto v = args.value("sync")) {
    if (o.log_dir.empty())
      throw UsageError("--sync: needs --log DIR (the policy says when a message is safe in the log)");
    if (!sync_from_name(*v, o.sync)) throw UsageError("--sync: must be always, group or os, got " + quoted(*v));
  }
  return o;
}

// Tell the user when creation options were given for a bus that already
// exists with another geometry: they have no effect.
void note_ignored_options(const Bus& bus, const Args& args, const Options& o) {
  const Geometry& g = bus.geometry();
  std::string ignored;
  auto check = [&](std::string_view option, bool differs) {
    if (args.value(option) && differs) ignored += (ignored.empty() ? "--" : ", --") + std::string(option);
  };
  check("max-endpoints", o.max_endpoints != g.max_endpoints);
  check("lane-capacity", o.lane_capacity != g.lane_capacity);
  check("max-payload", o.max_payload != g.max_payload);
  check("max-groups", o.max_groups != g.max_groups);
  check("max-group-members", o.max_group_members != g.max_group_members);
  check("tracker-capacity", o.tracker_capacity != g.tracker_capacity);
  check("claim-timeout",
        static_cast<std::uint64_t>(o.claim_timeout.count()) != bus.segment().header().claim_timeout_ns);
  if (!ignored.empty())
    std::cerr << "courier: note: bus '" << bus.name() << "' already exists with another geometry; " << ignored
              << " ignored (see courier stat)\n";
}

Bus open_bus(const Invocation& inv, const Options& o) {
  auto bus = Bus::open(bus_operand(inv), o);
  if (!bus) throw Failure(bus.error().message);
  if (!bus->segment().created()) note_ignored_options(*bus, inv.args, o);
  return std::move(*bus);
}

Bus open_bus(const Invocation& inv, bool create) { return open_bus(inv, bus_options(inv.args, create)); }

template <class T>
T or_fail(Result<T> r) {
  if (!r) throw Failure(r.error().message);
  return std::move(*r);
}
void or_fail(Result<void> r) {
  if (!r) throw Failure(r.error().message);
}

// Before a command that may have written to the bus's log (a send, an
// acknowledgement, an expiry) exits: write and sync what this process still
// buffers, whatever the sync policy.
void flush_log(Bus& bus) {
  if (bus.has_log()) or_fail(bus.flush_log());
}

// Write all of `text` to stdout and flush it (a reader may be waiting for it).
// False, with errno, when stdout is gone.
bool try_write_out(std::string_view text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
}

std::string write_error() { return std::string("writing to stdout: ") + std::strerror(errno); }

void write_out(std::string_view text) {
  if (!try_write_out(text)) throw Failure(write_error());
}

// Up to `limit` bytes of stdin: a payload larger than the bus takes is refused
// by send without our reading all of it.
std::string read_stdin(std::size_t limit) {
  std::string data;
  char buf[65536];
  while (data.size() < limit) {
    const ssize_t n = ::read(STDIN_FILENO, buf, std::min(sizeof buf, limit - data.size()));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Failure(std::string("reading the payload from stdin: ") + std::strerror(errno));
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

// "4 MiB" when exact, else "4.1 GiB" (one decimal), or "1000 bytes".
std::string size_text(std::uint64_t n) {
  static constexpr const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  double v = static_cast<double>(n);
  while (u + 1 < std::size(units) && v >= 1024) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<std::uint64_t>(v)) ? "%.0f %s" : "%.1f %s", v,
                units[u]);
  return buf;
}

std::string utc_text(std::uint64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000ull);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Columns padded to their widest cell; numeric columns (first_numeric <= index
// < end_numeric) aligned right.
std::string table_text(const std::vector<std::vector<std::string>>& rows, std::size_t first_numeric,
                       std::size_t end_numeric = ~std::size_t{0}) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      line += c >= first_numeric && c < end_numeric ? pad + row[c] : row[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + '\n';
  }
  return out;
}

// ------------------------------------------------------------ send

// `size` describes the payload: "1001 bytes", or "over 1000 bytes" when stdin
// was not read to its end.
std::string why_not_sent(const SendResult& r, const SendOptions& o, std::string_view size, Bus& bus) {
  const std::string to = quoted(o.to.name);
  if (r.duplicate)
    return "a duplicate of an earlier send of id " + std::to_string(r.id) + " (not enqueued again), which ended " +
           std::string(status_name(r.status));
  if (o.to.is_group) {
    switch (r.status) {
      case Status::invalid_destination:
        return bus.find_group(o.to.name) ? "group " + to + " has no members"
                                         : "no group named " + to + " on bus " + quoted(bus.name());
      case Status::offline:
        return "no member of group " + to +
               " has a receiver attached (a real-time message, --expiry 0, is delivered now or not at all)";
      case Status::full:
        return "the priority " + std::to_string(o.priority) + " lanes of the members of group " + to + " are full";
      case Status::too_large:
        break;  // as for an endpoint
      default:
        return "no member of group " + to + " took the message (the first refusal: " +
               std::string(status_name(r.status)) + ")";
    }
  }
  switch (r.status) {
    case Status::offline:
      return to + " has no receiver attached (a real-time message, --expiry 0, is delivered now or not at all)";
    case Status::full:
      return "the priority " + std::to_string(o.priority) + " lane of " + to + " is full" +
             (o.timeout.count() > 0 ? " (waited " + format_duration(o.timeout) + ")" : " (--timeout waits for room)");
    case Status::invalid_destination:
      return "no endpoint named " + to + " on bus " + quoted(bus.name());
    case Status::too_large:
      return "the payload (" + std::string(size) + ") is larger than the bus's max_payload (" +
             std::to_string(bus.geometry().max_payload) + " bytes)";
    case Status::revoked:
      return "the message was not committed within the bus's claim timeout and was stepped over";
    case Status::tracker_full:
      return "the bus's tracker of messages in flight is full (a tracked message is refused rather than "
             "sent without duplicate detection; see courier stat, courier sweep)";
    case Status::log_failed:
      return "the bus's log in " + quoted(bus.log_directory()) +
             " could not store it (disk full, or an I/O error): it is not promised";
    default:
      return "the bus refused the message";
  }
}

// --wait's status: sent, delivered or read.
std::optional<Status> wait_option(const Args& a) {
  auto v = a.value("wait");
  if (!v) return std::nullopt;
  Status s{};
  if (!status_from_name(*v, s) || status_rank(s) < status_rank(Status::sent) ||
      status_rank(s) > status_rank(Status::read))
    throw UsageError("--wait: must be sent, delivered or read, got " + quoted(*v));
  return s;
}

constexpr std::chrono::nanoseconds default_wait_timeout = 10s;

void note(std::string_view text) { std::cerr << "courier: note: " << text << '\n'; }

// Poll the tracker until message `id` of `me` reaches `target` (by rank:
// outbox < sent < delivered < read), ends in an error status, or `deadline`
// (monotonic ns) passes. Polls every 1 ms at first, slowing to every 10 ms.
// Returns the last report, or nothing when the tracker forgot the message
// (`why` says why).
std::optional<StatusReport> wait_for_status(const Endpoint& me, std::uint64_t id, Status target,
                                            std::uint64_t deadline, std::string& why) {
  std::uint64_t interval_ns = 1'000'000;
  for (;;) {
    auto r = me.status(id);
    if (!r) {
      why = r.error().message;
      return std::nullopt;
    }
    const int rank = status_rank(r->status);
    const std::uint64_t now = monotonic_ns();
    if (rank >= status_rank(target) || now >= deadline) return std::move(*r);  // reached, an error (rank 4), or time
    const std::uint64_t nap = std::min(interval_ns, deadline - now);
    timespec ts{static_cast<std::time_t>(nap / 1'000'000'000ull), static_cast<long>(nap % 1'000'000'000ull)};
    ::nanosleep(&ts, nullptr);
    interval_ns = std::min<std::uint64_t>(interval_ns + 1'000'000, 10'000'000);
  }
}

void write_result(std::uint64_t id, Status s) { write_out(std::to_string(id) + " " + std::string(status_name(s)) + "\n"); }

// With a log and --sync group or os, a tracked send is "outbox" until the
// batch that holds it is written. This process is about to exit: write the
// batch now, and say "sent" once the tracker has it past outbox (it may be
// delivered already), or the error it ended in. Any other result as it is.
Status logged_send_status(Bus& bus, const Endpoint& me, const SendResult& r) {
  if (r.status != Status::outbox || r.duplicate || !bus.has_log()) return r.status;
  if (auto flushed = bus.flush_log(); !flushed) {
    write_result(r.id, r.status);
    throw Failure("the message is not known to be in the log (still outbox): " + flushed.error().message);
  }
  auto now = me.status(r.id);
  if (!now) return r.status;
  const int rank = status_rank(now->status);
  return rank >= status_rank(Status::sent) && rank <= status_rank(Status::read) ? Status::sent : now->status;
}

int run_send(const Invocation& inv) {
  const Args& a = inv.args;
  const std::string from = required_endpoint_option(a, "from");
  const bool to_given = a.value("to").has_value(), group_given = a.value("group").has_value();
  if (to_given && group_given) throw UsageError("--to, --group: give one of them, not both");
  if (!to_given && !group_given) throw UsageError("--to or --group: required (the destination)");
  SendOptions o;
  o.to = to_given ? peer(required_endpoint_option(a, "to")) : group(checked_group(*a.value("group"), "--group"));
  o.priority = a.uint<std::uint8_t>("priority", 0, priority_levels - 1).value_or(default_priority);
  o.expiry = a.duration("expiry").value_or(0ns);
  o.type = a.uint<std::uint32_t>("type").value_or(0);
  o.id = a.uint<std::uint64_t>("id").value_or(0);
  const std::optional<Status> wait = wait_option(a);
  if (wait && o.expiry.count() == 0 && o.id == 0)
    throw UsageError("--wait needs a tracked message: give --expiry or --id");
  o.timeout = a.duration("timeout").value_or(wait ? default_wait_timeout : 0ns);
  const bool from_stdin = inv.operands.size() < 2 || inv.operands[1] == "-";

  Bus bus = open_bus(inv, true);
  Endpoint me = or_fail(bus.endpoint(from));
  const std::size_t max = bus.geometry().max_payload;
  const std::string payload = from_stdin ? read_stdin(max + 1) : inv.operands[1];
  const std::uint64_t start = monotonic_ns();
  SendResult r = me.send(o, payload);
  r.status = logged_send_status(bus, me, r);
  if (!r) {
    write_result(r.id, r.status);
    const std::string size = from_stdin && payload.size() > max ? "over " + std::to_string(max) + " bytes"
                                                                : std::to_string(payload.size()) + " bytes";
    throw Failure("not sent (" + std::string(status_name(r.status)) + "): " + why_not_sent(r, o, size, bus));
  }
  if (r.duplicate)
    note("duplicate of an earlier send: not enqueued again");
  else if (o.to.is_group && r.accepted < r.recipients)
    note("delivered to lanes of " + std::to_string(r.accepted) + " of " + std::to_string(r.recipients) + " members");
  if (!wait) {
    write_result(r.id, r.status);
    return 0;
  }

  std::string why;
  const std::optional<StatusReport> last =
      wait_for_status(me, r.id, *wait, start + static_cast<std::uint64_t>(o.timeout.count()), why);
  if (!last) {
    write_result(r.id, r.status);
    throw Failure("waiting for " + std::string(status_name(*wait)) + ": " + why);
  }
  write_result(r.id, last->status);
  const std::string target(status_name(*wait)), now(status_name(last->status));
  if (status_rank(last->status) > status_rank(Status::read))
    throw Failure("the message ended " + now + " before it was " + target);
  if (status_rank(last->status) < status_rank(*wait))
    throw Failure("timeout: the message is still " + now + " after " + format_duration(o.timeout) + " (--wait " +
                  target + ")");
  if (last->group != 0 && last->failed > 0)
    note(std::to_string(last->failed) + " of " + std::to_string(last->recipients) +
         " members did not get it (see courier status)");
  return 0;
}

// ------------------------------------------------------------ recv

volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_stop_signal(int sig) { stop_signal = sig; }

// SIGINT and SIGTERM end `recv` cleanly (the lease is released by the
// Receiver's destructor) instead of killing the process.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool requested() const noexcept { return stop_signal != 0; }

 private:
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

// Group names by id, looked up once each (the lookup takes the directory lock).
class GroupNames {
 public:
  explicit GroupNames(const Bus& bus) : bus_(bus) {}
  // The name, or "" when the group has been removed since.
  const std::string& operator()(GroupId id) {
    auto it = names_.find(id);
    if (it == names_.end()) it = names_.emplace(id, bus_.group_name(id)).first;
    return it->second;
  }

 private:
  const Bus& bus_;
  std::unordered_map<GroupId, std::string> names_;
};

void append_message_json(std::string& out, const Message& m, Receiver& rx, GroupNames& groups) {
  JsonWriter j(out);
  auto name = [&](const std::string& n) {
    if (n.empty())
      j.null();  // the endpoint (group) was removed since
    else
      j.value(n);
  };
  j.begin_object();
  j.key("id").value(m.id());
  j.key("from");
  name(rx.name_of(m.from()));
  j.key("to");
  name(rx.name_of(m.to()));
  j.key("group");
  if (m.group() == 0)
    j.null();
  else
    name(groups(m.group()));
  j.key("priority").value(m.priority());
  j.key("type").value(m.type());
  j.key("timestamp_ns").value(m.timestamp_ns());
  j.key("expires_ns").value(m.expires_ns());
  j.key("redelivered").value(m.redelivered());
  j.key("status").value(incoming_name(m.status()));
  j.payload(m.payload());
  j.end_object();
}

int run_recv(const Invocation& inv) {
  const std::optional<std::uint64_t> count = inv.args.uint<std::uint64_t>("count", 1);
  const std::optional<std::chrono::nanoseconds> timeout = inv.args.duration("timeout");
  const bool mark_read = inv.args.flag("read");
  const bool ack = !inv.args.flag("no-ack");
  const std::string name = name_operand(inv);

  Bus bus = open_bus(inv, true);
  // Acknowledged once its line is written, not when taken (unless --read: the
  // sender sees read before the line): a message we could not hand on is given
  // to the next receiver, and an acknowledged one never is.
  std::optional<Receiver> rx(or_fail(bus.attach(name, ReceiverOptions{.idle = {}, .auto_ack = false})));
  GroupNames groups(bus);
  const StopSignals stop;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = timeout ? start + static_cast<std::uint64_t>(timeout->count()) : ~0ull;
  std::uint64_t received = 0;
  std::string line;
  while (!count || received < *count) {
    // Wait in slices of at most 100 ms: a signal does not cut a wait short.
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t slice = std::min<std::uint64_t>(deadline - std::min(now, deadline), 100'000'000ull);
    if (auto m = rx->receive(std::chrono::nanoseconds(slice))) {
      if (mark_read) {  // before printing: whoever reads our line may ask the sender's status
        if (ack) rx->ack(*m);
        rx->mark_read(*m);
      }
      line.clear();
      append_message_json(line, *m, *rx, groups);
      line += '\n';
      if (!try_write_out(line)) {
        // Leave without acknowledging or releasing the message we could not
        // hand on (a normal return would release it, in ~Receiver): whoever
        // attaches next gets it again, flagged redelivered.
        std::cerr << "courier: " << write_error() << '\n';
        std::_Exit(1);
      }
      if (ack && !mark_read) rx->ack(*m);  // handed on: now it may be acknowledged
      ++received;  // released by the next receive, or by ~Receiver
    }
    if (stop.requested() || monotonic_ns() >= deadline) break;
  }
  rx.reset();  // releases the last message; then what it wrote to the log is flushed
  flush_log(bus);
  if (count && received < *count)
    throw Failure((stop.requested() ? "interrupted: received " : "timeout: received ") + std::to_string(received) +
                  " of " + std::to_string(*count));
  return 0;
}

// ------------------------------------------------------------ status

// ID: a positive integer.
std::uint64_t id_operand(const std::string& text) {
  std::uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || p != end || ec == std::errc::invalid_argument || n == 0 || text[0] == '+')
    throw UsageError("ID: not a positive integer: " + quoted(text));
  if (ec == std::errc::result_out_of_range) throw UsageError("ID: must be at most 18446744073709551615, got " + text);
  return n;
}

// The name of a live endpoint, or "#<id>" when it has been removed since.
std::string endpoint_label(const Bus& bus, EndpointId id) {
  std::string n = bus.endpoint_name(id);
  return n.empty() ? "#" + std::to_string(id) : n;
}

int run_status(const Invocation& inv) {
  const std::string from = required_endpoint_option(inv.args, "from");
  const std::uint64_t id = id_operand(inv.operands[1]);
  const Bus bus = open_bus(inv, false);
  if (auto e = bus.find_endpoint(from); !e)
    throw Failure(e.error().code == Errc::not_found ? "no endpoint named " + quoted(from) + " on bus " + quoted(bus.name())
                                                    : e.error().message);
  auto found = bus.status(from, id);
  if (!found) {
    if (found.error().code != Errc::not_found) throw Failure(found.error().message);
    throw Failure("no status of message " + std::to_string(id) + " from " + quoted(from) +
                  ": never tracked, or retired after its expiry plus the bus's status retention");
  }
  const StatusReport& r = *found;
  std::string out;
  if (inv.args.flag("json")) {
    JsonWriter j(out);
    j.begin_object();
    j.key("id").value(r.id);
    j.key("from").value(from);
    j.key("status").value(status_name(r.status));
    j.key("to");
    if (r.group == 0 && r.dest != no_endpoint)
      j.value(endpoint_label(bus, r.dest));
    else
      j.null();
    j.key("group");
    if (r.group == 0) {
      j.null();
    } else {
      const std::string g = bus.group_name(r.group);
      j.value(g.empty() ? "#" + std::to_string(r.group) : g);
    }
    j.key("recipients").value(r.recipients);
    j.key("delivered").value(r.delivered);
    j.key("read").value(r.read);
    j.key("failed").value(r.failed);
    j.key("expires_ns").value(r.expires_ns);
    j.key("updated_ns").value(r.updated_ns);
    j.key("members").begin_array();
    for (const RecipientStatus& m : r.members) {
      j.begin_object();
      j.key("name").value(endpoint_label(bus, m.recipient));
      j.key("status").value(status_name(m.status));
      j.end_object();
    }
    j.end_array();
    j.end_object();
    out += '\n';
  } else {
    out = std::string(status_name(r.status)) + '\n';
    if (r.group != 0)
      for (const RecipientStatus& m : r.members)
        out += endpoint_label(bus, m.recipient) + " " + std::string(status_name(m.status)) + '\n';
  }
  write_out(out);
  return 0;
}

// ------------------------------------------------------------ endpoints

int run_endpoint_add(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, true);
  or_fail(bus.add_endpoint(name));
  return 0;
}

int run_endpoint_rm(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, false);
  or_fail(bus.remove_endpoint(name));  // senders of messages still owed to it are told: records to the log
  flush_log(bus);
  return 0;
}

std::string receiver_text(const EndpointStats& e) {
  return e.receiver_attached ? "pid " + std::to_string(e.receiver_pid) : "-";
}

// "p0:2 p8:1", the lanes with messages waiting, or "-".
std::string waiting_lanes_text(const EndpointStats& e) {
  std::string s;
  for (unsigned p = 0; p < priority_levels; ++p)
    if (e.waiting[p] != 0) s += (s.empty() ? "p" : " p") + std::to_string(p) + ":" + std::to_string(e.waiting[p]);
  return s.empty() ? "-" : s;
}

int run_endpoint_ls(const Invocation& inv) {
  Bus bus = open_bus(inv, false);
  std::string out;
  if (inv.args.flag("long")) {
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

// ------------------------------------------------------------ groups

std::string group_operand(const Invocation& inv) { return checked_group(inv.operands[1], "GROUP"); }

// MEMBER operands (after BUS GROUP), checked before anything is changed.
std::vector<std::string> member_operands(const Invocation& inv) {
  std::vector<std::string> members;
  for (std::size_t i = 2; i < inv.operands.size(); ++i)
    members.emplace_back(checked_endpoint(inv.operands[i], "MEMBER"));
  return members;
}

int run_group_add(const Invocation& inv) {
  const std::string g = group_operand(inv);
  const std::vector<std::string> members = member_operands(inv);
  Bus bus = open_bus(inv, true);
  if (auto r = bus.add_group(g); !r) throw Failure("group " + quoted(g) + ": " + r.error().message);
  for (const std::string& m : members) or_fail(bus.add_member(g, m));
  return 0;
}

int run_group_rm(const Invocation& inv) {
  const std::string g = group_operand(inv);
  const std::vector<std::string> members = member_operands(inv);
  Bus bus = open_bus(inv, false);
  if (members.empty()) {
    or_fail(bus.remove_group(g));
    return 0;
  }
  for (const std::string& m : members) or_fail(bus.remove_member(g, m));
  return 0;
}

int run_group_ls(const Invocation& inv) {
  const Bus bus = open_bus(inv, false);
  std::string out;
  for (const GroupEntry& g : bus.groups()) {
    if (inv.args.flag("json")) {
      JsonWriter j(out);
      j.begin_object();
      j.key("name").value(g.name);
      j.key("id").value(g.id);
      j.key("created_ns").value(g.created_ns);
      j.key("members").begin_array();
      for (EndpointId m : g.members) j.value(endpoint_label(bus, m));
      j.end_array();
      j.end_object();
      out += '\n';
    } else {
      out += g.name + ':';
      for (EndpointId m : g.members) out += ' ' + endpoint_label(bus, m);
      out += '\n';
    }
  }
  write_out(out);
  return 0;
}

// ------------------------------------------------------------ stat, sweep, rm

struct Counter {
  std::string_view name;
  std::uint64_t EndpointStats::*field;
};
// As a receiver (full and offline: sends refused to this endpoint).
constexpr Counter receiver_counters[] = {
    {"received", &EndpointStats::received},   {"delivered", &EndpointStats::delivered},
    {"read", &EndpointStats::read},           {"expired", &EndpointStats::expired},
    {"stale", &EndpointStats::stale},         {"revoked", &EndpointStats::revoked},
    {"corrupt", &EndpointStats::corrupt},     {"redelivered", &EndpointStats::redelivered},
    {"full", &EndpointStats::full},           {"offline", &EndpointStats::offline},
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

struct BusSettings {
  std::uint64_t claim_timeout_ns = 0, status_retention_ns = 0;
};

std::string stat_json(const BusStats& s, const BusSettings& b, const Bus& bus) {
  std::string out;
  JsonWriter j(out);
  j.begin_object();
  j.key("bus").value(s.name);
  j.key("created_ns").value(s.created_ns);
  j.key("segment_bytes").value(s.segment_bytes);
  j.key("geometry").begin_object();
  j.key("max_endpoints").value(s.geometry.max_endpoints);
  j.key("lane_capacity").value(s.geometry.lane_capacity);
  j.key("max_payload").value(s.geometry.max_payload);
  j.key("claim_timeout_ns").value(b.claim_timeout_ns);
  j.key("max_groups").value(s.geometry.max_groups);
  j.key("max_group_members").value(s.geometry.max_group_members);
  j.key("tracker_capacity").value(s.geometry.tracker_capacity);
  j.key("status_capacity").value(s.geometry.status_capacity);
  j.key("status_retention_ns").value(b.status_retention_ns);
  j.end_object();
  j.key("endpoints").begin_array();
  for (const EndpointStats& e : s.endpoints) {
    j.begin_object();
    j.key("name").value(e.name);
    j.key("id").value(e.id);
    j.key("receiver_attached").value(e.receiver_attached);
    j.key("receiver_pid");
    if (e.receiver_attached)
      j.value(e.receiver_pid);
    else
      j.null();
    j.key("waiting_total").value(e.waiting_total);
    j.key("waiting").begin_array();
    for (std::uint64_t w : e.waiting) j.value(w);
    j.end_array();
    for (const Counter& c : receiver_counters) j.key(c.name).value(e.*c.field);
    for (const Counter& c : sender_counters) j.key(c.name).value(e.*c.field);
    j.end_object();
  }
  j.end_array();
  j.key("tracker").begin_object();
  j.key("used").value(s.tracker.used);
  j.key("capacity").value(s.tracker.capacity);
  j.key("full_events").value(s.tracker.full_events);
  j.key("retired").value(s.tracker.retired);
  j.end_object();
  j.key("groups").begin_array();
  for (const GroupEntry& g : s.groups) {
    j.begin_object();
    j.key("name").value(g.name);
    j.key("id").value(g.id);
    j.key("member_count").value(g.members.size());
    j.key("members").begin_array();
    for (EndpointId m : g.members) j.value(endpoint_label(bus, m));
    j.end_array();
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return out + '\n';
}

std::string stat_text(const BusStats& s, const BusSettings& b, const Bus& bus) {
  const BusGeometry& g = s.geometry;
  const Tracker::Usage& t = s.tracker;
  std::string out = table_text(
      {
          {"bus:", s.name},
          {"created:", utc_text(s.created_ns)},
          {"segment:", size_text(s.segment_bytes)},
          {"max endpoints:", std::to_string(g.max_endpoints)},
          {"lane capacity:", size_text(g.lane_capacity) + " (16 priority lanes per endpoint)"},
          {"max payload:", size_text(g.max_payload)},
          {"claim timeout:", format_duration(std::chrono::nanoseconds(b.claim_timeout_ns))},
          {"max groups:", std::to_string(g.max_groups) + " (up to " + std::to_string(g.max_group_members) +
                              " members each)"},
          {"tracker:", std::to_string(t.used) + " of " + std::to_string(t.capacity) + " entries used, " +
                           std::to_string(t.full_events) + " full events, " + std::to_string(t.retired) + " retired"},
          {"status kept:", format_duration(std::chrono::nanoseconds(b.status_retention_ns)) + " past expiry"},
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
    for (EndpointId m : e.members) names += (names.empty() ? "" : " ") + endpoint_label(bus, m);
    group_rows.push_back({e.name, std::to_string(e.members.size()), names.empty() ? "-" : names});
  }
  return out + table_text(group_rows, 1, 2);
}

int run_stat(const Invocation& inv) {
  const Bus bus = open_bus(inv, false);
  const BusStats s = bus.stat();
  const BusSettings b{bus.segment().header().claim_timeout_ns, bus.segment().header().status_retention_ns};
  write_out(inv.args.flag("json") ? stat_json(s, b, bus) : stat_text(s, b, bus));
  return 0;
}

int run_sweep(const Invocation& inv) {
  Bus bus = open_bus(inv, false);
  const SweepResult r = bus.sweep();
  flush_log(bus);  // the expired records
  write_out("expired " + std::to_string(r.expired) + " retired " + std::to_string(r.retired) + "\n");
  return 0;
}

// ------------------------------------------------------------ the log: rm --purge, recover, log

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

int run_rm(const Invocation& inv) {
  const std::string& bus = bus_operand(inv);
  const std::optional<std::string> log = log_option(inv.args);
  const bool purge = inv.args.flag("purge");
  if (purge && !log) throw UsageError("--purge: needs --log DIR (the directory of the journals to delete)");
  if (log && !purge)
    throw UsageError("--log: rm keeps the journals (as a reboot would); add --purge to delete them too");
  if (!purge) {
    or_fail(Bus::remove(bus));
    return 0;
  }
  // The shared memory first: if deleting the journals fails, the bus is left
  // as after a reboot, and rm --purge again finishes the job.
  const std::string dir = bus_log_directory(*log, bus);
  const bool had_log = path_exists(dir);
  auto removed = Bus::remove(bus);
  if (!removed && removed.error().code != Errc::not_found) throw Failure(removed.error().message);
  or_fail(remove_bus_log(*log, bus));
  if (!removed) {
    if (!had_log) throw Failure(removed.error().message + ", and no journals in " + quoted(dir));
    note("bus " + quoted(bus) + " had no shared memory (removed before); its journals in " + quoted(dir) +
         " are deleted");
  } else if (!had_log) {
    note("bus " + quoted(bus) + " had no journals in " + quoted(dir) + " (its shared memory is removed)");
  }
  return 0;
}

// Damaged regions (JournalDamage, with a reason) or torn tails
// (JournalTornTail): [{"file":...,"offset":N,"length":N[,"reason":...]}, ...].
template <class Region>
void append_regions_json(JsonWriter& j, const std::vector<Region>& regions) {
  j.begin_array();
  for (const Region& r : regions) {
    j.begin_object();
    j.key("file").value(r.file);
    j.key("offset").value(r.offset);
    j.key("length").value(r.length);
    if constexpr (requires { r.reason; }) j.key("reason").value(r.reason);
    j.end_object();
  }
  j.end_array();
}

// One line per region: "PREFIX FILE at offset N, N bytes: REASON" for damage,
// "... bytes (a write that did not finish: cut, not damage)" for a torn tail.
template <class Region>
std::string region_lines(const std::vector<Region>& regions, std::string_view prefix) {
  std::string out;
  for (const Region& r : regions) {
    out += std::string(prefix) + r.file + " at offset " + std::to_string(r.offset) + ", " + std::to_string(r.length) +
           " bytes";
    if constexpr (requires { r.reason; })
      out += ": " + r.reason + "\n";
    else
      out += " (a write that did not finish: cut, not damage)\n";
  }
  return out;
}

// "1 damaged region", "3 torn tails".
std::string counted(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

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
      : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1), start_(monotonic_ns()) {}
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void show(const RecoveryProgress& p) {
    if (!enabled_) return;
    const std::uint64_t now = monotonic_ns();
    if (now - start_ < 1'000'000'000ull || (drawn_ && now - last_ < 100'000'000ull)) return;
    last_ = now;
    drawn_ = true;
    constexpr std::size_t width = 30;
    const double done = p.bytes_total == 0 ? 1.0
                                           : std::min(1.0, static_cast<double>(p.bytes_done) /
                                                               static_cast<double>(p.bytes_total));
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

std::string recovery_json(const std::string& bus, const std::string& dir, bool at_open, const RecoveryReport& r) {
  std::string out;
  JsonWriter j(out);
  j.begin_object();
  j.key("bus").value(bus);
  j.key("directory").value(dir);
  j.key("at_open").value(at_open);
  j.key("segments").value(r.segments);
  j.key("bytes").value(r.bytes);
  j.key("records").value(r.records);
  j.key("messages").value(r.messages);
  j.key("settles").value(r.settles);
  j.key("names").value(r.names);
  j.key("settled").value(r.settled);
  j.key("owed").value(r.owed);
  j.key("injected").value(r.injected);
  j.key("in_lane").value(r.in_lane);
  j.key("left").value(r.left);
  j.key("expired").value(r.expired);
  j.key("retired").value(r.retired);
  j.key("unnamed").value(r.unnamed);
  j.key("tracker_full").value(r.tracker_full);
  j.key("damaged").value(r.damaged);
  j.key("damage");
  append_regions_json(j, r.damage);
  j.key("torn").value(r.torn);
  j.key("max_id").value(r.max_id);
  j.key("elapsed_ns").value(r.elapsed_ns);
  j.end_object();
  return out + '\n';
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
    rows.push_back({"unnamed:", counted(r.unnamed, "record", "records") + " skipped (ids their segment does not name)"});
  if (r.tracker_full > 0)
    rows.push_back({"tracker full:", std::to_string(r.tracker_full) + " owed messages put back without duplicate "
                                                                        "detection"});
  rows.push_back({"damaged:", r.damaged == 0 ? "none"
                                             : counted(r.damaged, "region", "regions") +
                                                   " (the records there are lost; those after them were read)"});
  rows.push_back({"torn:", counted(r.torn, "tail", "tails") + " cut (writes that did not finish)"});
  rows.push_back({"elapsed:", elapsed_text(r.elapsed_ns)});
  return table_text(rows, 2) + region_lines(r.damage, "  damaged: ");
}

int run_recover(const Invocation& inv) {
  const std::string log = required_log_option(inv.args, "recover");
  const std::string& name = bus_operand(inv);
  Options o = bus_options(inv.args, true);
  // A mistyped name or directory must not make up a new bus and log.
  if (const std::string dir = bus_log_directory(log, name); !path_exists(dir))
    throw Failure("no journals of bus " + quoted(name) + " in " + quoted(dir) + " (no such directory)");
  ProgressBar bar("courier: recovering bus " + quoted(name));
  const auto progress = [&bar](const RecoveryProgress& p) { bar.show(p); };
  o.recover = true;  // a bus whose shared memory is gone is rebuilt by the open itself
  o.on_recovery_progress = progress;
  Bus bus = open_bus(inv, o);
  const bool at_open = bus.recovery().ran;
  const RecoveryReport r = at_open ? bus.recovery() : or_fail(bus.recover(progress));
  bar.clear();
  flush_log(bus);  // the expired records it wrote
  const std::string dir = bus.log_directory();
  write_out(inv.args.flag("json") ? recovery_json(name, dir, at_open, r) : recovery_text(name, dir, at_open, r));
  if (r.damaged > 0)
    note(counted(r.damaged, "damaged region", "damaged regions") + " in the journals: the records there are lost");
  return 0;
}

// Reads every record of a bus's journals in file order, and keeps the names
// the segment being read gives its ids: an endpoint or group id in a record
// means something only with the name records of its own segment.
class JournalScan {
 public:
  explicit JournalScan(const std::string& dir) : reader_(open(dir)) {}

  // The next record into record() (name records too, once their name is
  // taken), or false after the last one.
  bool next() {
    auto more = reader_.next(record_);
    if (!more) throw Failure(more.error().message);
    if (!*more) return false;
    if (record_.segment->path != segment_) {
      segment_ = record_.segment->path;
      names_.clear();
    }
    if (record_.kind == logfmt::Kind::name)
      if (auto n = decode_journal_name(record_.body)) names_[name_key(n->id, n->group)] = n->name;
    return true;
  }
  const JournalRecord& record() const noexcept { return record_; }
  const JournalReader& reader() const noexcept { return reader_; }

  // The name of endpoint (or group) `id` in this segment, or nullptr.
  const std::string* name(std::uint32_t id, bool group = false) const {
    auto it = names_.find(name_key(id, group));
    return it == names_.end() ? nullptr : &it->second;
  }
  // The name, or "#ID" when the segment names none.
  std::string label(std::uint32_t id) const {
    const std::string* n = name(id);
    return n != nullptr ? *n : id_label(id);
  }
  static std::string id_label(std::uint32_t id) { return "#" + std::to_string(id); }

  // Bytes of the segment files (those still there).
  std::uint64_t bytes() const {
    std::uint64_t total = 0;
    for (const std::string& f : reader_.files()) {
      struct stat st {};
      if (::stat(f.c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_size);
    }
    return total;
  }

 private:
  static JournalReader open(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      const int err = errno;
      throw Failure(err == ENOENT ? "no journals in " + quoted(dir) + " (no such directory)"
                                  : quoted(dir) + ": " + std::strerror(err));
    }
    if (!S_ISDIR(st.st_mode)) throw Failure(quoted(dir) + ": not a directory");
    auto r = JournalReader::open_directory(dir);
    if (!r) throw Failure(r.error().message);
    return std::move(*r);
  }
  static std::uint64_t name_key(std::uint32_t id, bool group) { return std::uint64_t{group} << 32 | id; }

  JournalReader reader_;
  JournalRecord record_;
  std::string segment_;
  std::unordered_map<std::uint64_t, std::string> names_;
};

// The key of a settlement: (sender name, id, recipient name); recipient ""
// stands for every recipient (an expired record with recipient 0).
std::string settle_key(const std::string& sender, std::uint64_t id, const std::string& recipient) {
  std::string k = sender;
  k += '\0';
  k.append(reinterpret_cast<const char*>(&id), sizeof id);
  k += recipient;
  return k;
}

struct LogStat {
  std::string dir;
  std::uint64_t segments = 0, bytes = 0, records = 0;
  std::uint64_t unnamed = 0;  // settle records naming an id their segment does not name (matched by id)
  std::uint64_t by_kind[logfmt::max_kind + 1] = {};
  std::vector<JournalDamage> damage;
  std::vector<JournalTornTail> torn;
  std::uint64_t unsettled = 0, past_expiry = 0;  // past_expiry: of the unsettled, those past their deadline
  struct Oldest {
    RecordHeader header{};
    std::string from, to, file;
    std::uint64_t offset = 0;
  };
  std::optional<Oldest> oldest;
};

// Whether message h (its segment's names in `scan`) has a settlement in
// `settled`: for its recipient or for every recipient, keyed by names, or by
// ids where the settle's segment named none.
bool is_settled(const std::unordered_set<std::string>& settled, const JournalScan& scan, const RecordHeader& h) {
  for (const std::string& from : {scan.label(h.from), JournalScan::id_label(h.from)})
    for (const std::string& to : {scan.label(h.to), JournalScan::id_label(h.to), std::string()})
      if (settled.contains(settle_key(from, h.id, to))) return true;
  return false;
}

// Two passes: the settlements first (into a set of keys: a settle may be in
// another writer's segment, read before or after its message), then the
// message records that no settlement matches.
LogStat log_stat(const std::string& dir) {
  LogStat s;
  s.dir = dir;
  std::unordered_set<std::string> settled;
  {
    JournalScan scan(dir);
    while (scan.next()) {
      const JournalRecord& rec = scan.record();
      ++s.records;
      ++s.by_kind[static_cast<std::uint8_t>(rec.kind)];
      if (rec.kind != logfmt::Kind::delivered && rec.kind != logfmt::Kind::read && rec.kind != logfmt::Kind::expired)
        continue;
      auto b = decode_journal_settle(rec.body);
      if (!b) continue;
      const bool to_all = b->recipient == no_endpoint;
      if (scan.name(b->sender) == nullptr || (!to_all && scan.name(b->recipient) == nullptr)) ++s.unnamed;
      settled.insert(settle_key(scan.label(b->sender), b->id, to_all ? "" : scan.label(b->recipient)));
    }
    s.segments = scan.reader().files().size();
    s.bytes = scan.bytes();
    s.damage = scan.reader().damage();
    s.torn = scan.reader().torn_tails();
  }
  JournalScan scan(dir);
  const std::uint64_t now = realtime_ns();
  while (scan.next()) {
    const JournalRecord& rec = scan.record();
    if (rec.kind != logfmt::Kind::message) continue;
    auto m = decode_journal_message(rec.body);
    if (!m) continue;
    const RecordHeader& h = m->header;
    if (is_settled(settled, scan, h)) continue;
    ++s.unsettled;
    if (h.expires_ns < now) ++s.past_expiry;
    if (!s.oldest || h.timestamp_ns < s.oldest->header.timestamp_ns)
      s.oldest = LogStat::Oldest{h, scan.label(h.from), scan.label(h.to), rec.segment->path, rec.offset};
  }
  return s;
}

std::string log_stat_json(const LogStat& s) {
  std::string out;
  JsonWriter j(out);
  j.begin_object();
  j.key("directory").value(s.dir);
  j.key("segments").value(s.segments);
  j.key("bytes").value(s.bytes);
  j.key("records").value(s.records);
  j.key("by_kind").begin_object();
  for (std::uint8_t k = logfmt::min_kind; k <= logfmt::max_kind; ++k)
    j.key(logfmt::kind_name(static_cast<logfmt::Kind>(k))).value(s.by_kind[k]);
  j.end_object();
  j.key("damaged").value(s.damage.size());
  j.key("damage");
  append_regions_json(j, s.damage);
  j.key("torn").value(s.torn.size());
  j.key("torn_tails");
  append_regions_json(j, s.torn);
  j.key("unnamed_settles").value(s.unnamed);
  j.key("unsettled").value(s.unsettled);
  j.key("unsettled_past_expiry").value(s.past_expiry);
  j.key("oldest_unsettled");
  if (!s.oldest) {
    j.null();
  } else {
    const LogStat::Oldest& o = *s.oldest;
    j.begin_object();
    j.key("id").value(o.header.id);
    j.key("from").value(o.from);
    j.key("to").value(o.to);
    j.key("priority").value(o.header.priority);
    j.key("timestamp_ns").value(o.header.timestamp_ns);
    j.key("expires_ns").value(o.header.expires_ns);
    j.key("file").value(o.file);
    j.key("offset").value(o.offset);
    j.end_object();
  }
  j.end_object();
  return out + '\n';
}

std::string log_stat_text(const LogStat& s, const std::string& bus) {
  std::vector<std::vector<std::string>> rows{
      {"journals:", s.dir},
      {"segments:", std::to_string(s.segments) + " (" + size_text(s.bytes) + ")"},
      {"records:", std::to_string(s.records)},
  };
  for (std::uint8_t k = logfmt::min_kind; k <= logfmt::max_kind; ++k)
    rows.push_back({"  " + std::string(logfmt::kind_name(static_cast<logfmt::Kind>(k))) + ":",
                    std::to_string(s.by_kind[k])});
  const std::string listed = s.damage.empty() && s.torn.empty() ? "" : "  (courier log " + bus + " verify lists them)";
  rows.push_back({"damaged:", counted(s.damage.size(), "region", "regions") + listed});
  rows.push_back({"torn:", counted(s.torn.size(), "tail", "tails")});
  if (s.unnamed > 0)
    rows.push_back({"unnamed:", counted(s.unnamed, "settle record", "settle records") +
                                    " name ids their segment does not name (matched by id)"});
  rows.push_back({"unsettled:", counted(s.unsettled, "message", "messages") +
                                    " (no delivered, read or expired record for its recipient), " +
                                    std::to_string(s.past_expiry) + " of them past their expiry"});
  std::string oldest = "-";
  if (s.oldest) {
    const LogStat::Oldest& o = *s.oldest;
    const bool past = o.header.expires_ns != 0 && o.header.expires_ns < realtime_ns();
    oldest = "id " + std::to_string(o.header.id) + " from " + quoted(o.from) + " to " + quoted(o.to) + ", sent " +
             utc_text(o.header.timestamp_ns) + ", " + (past ? "expired " : "expires ") +
             utc_text(o.header.expires_ns) + " (" + o.file + " at offset " + std::to_string(o.offset) + ")";
  }
  rows.push_back({"oldest unsettled:", oldest});
  return table_text(rows, 2);
}

// "name": the name the record's segment gives `id`, or null; "name_id": the id.
void append_name_field(JsonWriter& j, const JournalScan& scan, std::string_view key, std::uint32_t id, bool group) {
  j.key(key);
  if (const std::string* n = id == 0 ? nullptr : scan.name(id, group))
    j.value(*n);
  else
    j.null();
  j.key(std::string(key) + "_id").value(id);
}

void append_record_json(std::string& out, const JournalScan& scan) {
  const JournalRecord& rec = scan.record();
  JsonWriter j(out);
  j.begin_object();
  j.key("file").value(rec.segment->path);
  j.key("offset").value(rec.offset);
  j.key("kind").value(logfmt::kind_name(rec.kind));
  j.key("length").value(rec.body.size());
  switch (rec.kind) {
    case logfmt::Kind::message:
      if (auto m = decode_journal_message(rec.body)) {
        const RecordHeader& h = m->header;
        j.key("id").value(h.id);
        append_name_field(j, scan, "from", h.from, false);
        append_name_field(j, scan, "to", h.to, false);
        append_name_field(j, scan, "group", h.group, true);
        j.key("priority").value(h.priority);
        j.key("type").value(h.type);
        j.key("flags").value(h.flags);
        j.key("timestamp_ns").value(h.timestamp_ns);
        j.key("expires_ns").value(h.expires_ns);
        j.key("payload_len").value(h.payload_len);
        j.payload(m->payload);
      } else {
        j.key("error").value(m.error().message);
      }
      break;
    case logfmt::Kind::delivered:
    case logfmt::Kind::read:
    case logfmt::Kind::expired:
      if (auto b = decode_journal_settle(rec.body)) {
        j.key("id").value(b->id);
        append_name_field(j, scan, "sender", b->sender, false);
        append_name_field(j, scan, "recipient", b->recipient, false);
        j.key("at_ns").value(b->at_ns);
      } else {
        j.key("error").value(b.error().message);
      }
      break;
    case logfmt::Kind::name:
      if (auto n = decode_journal_name(rec.body)) {
        j.key("id").value(n->id);
        j.key("what").value(n->group ? "group" : "endpoint");
        j.key("name").value(n->name);
      } else {
        j.key("error").value(n.error().message);
      }
      break;
  }
  j.end_object();
  out += '\n';
}

void note_damage(const JournalReader& r, const std::string& bus) {
  if (!r.damage().empty())
    note(counted(r.damage().size(), "damaged region", "damaged regions") + " skipped (courier log " + bus +
         " verify lists them)");
}

int log_dump(JournalScan& scan, const std::string& bus) {
  std::string out;
  while (scan.next()) {
    append_record_json(out, scan);
    if (out.size() >= (64u << 10)) {
      write_out(out);
      out.clear();
    }
  }
  write_out(out);
  note_damage(scan.reader(), bus);
  return 0;
}

int log_verify(JournalScan& scan, const std::string& dir, const std::string& bus, bool json) {
  std::uint64_t records = 0;
  while (scan.next()) ++records;
  const JournalReader& r = scan.reader();
  std::string out;
  if (json) {
    JsonWriter j(out);
    j.begin_object();
    j.key("directory").value(dir);
    j.key("segments").value(r.files().size());
    j.key("records").value(records);
    j.key("damaged").value(r.damage().size());
    j.key("damage");
    append_regions_json(j, r.damage());
    j.key("torn").value(r.torn_tails().size());
    j.key("torn_tails");
    append_regions_json(j, r.torn_tails());
    j.end_object();
    out += '\n';
  } else {
    // Each region, then "3 segments, 40 valid records: no damage, 1 torn tail (not damage)".
    out = region_lines(r.damage(), "damaged: ") + region_lines(r.torn_tails(), "torn tail: ") +
          counted(r.files().size(), "segment", "segments") + ", " + counted(records, "valid record", "valid records") +
          ": " + (r.damage().empty() ? "no damage" : counted(r.damage().size(), "damaged region", "damaged regions"));
    if (!r.torn_tails().empty())
      out += ", " + counted(r.torn_tails().size(), "torn tail", "torn tails") + " (not damage)";
    out += '\n';
  }
  write_out(out);
  if (!r.damage().empty())
    throw Failure(counted(r.damage().size(), "damaged region", "damaged regions") + " in the journals of bus " +
                  quoted(bus) + " (" + dir + ")");
  return 0;
}

int run_log(const Invocation& inv) {
  const std::string log = required_log_option(inv.args, "log");
  const std::string& bus = bus_operand(inv);
  const std::string& action = inv.operands[1];
  if (action != "stat" && action != "dump" && action != "verify")
    throw UsageError("log: unknown action " + quoted(action) + " (stat, dump or verify)");
  const std::string dir = bus_log_directory(log, bus);
  if (action == "stat") {
    const LogStat s = log_stat(dir);
    write_out(inv.args.flag("json") ? log_stat_json(s) : log_stat_text(s, bus));
    return 0;
  }
  JournalScan scan(dir);
  return action == "dump" ? log_dump(scan, bus) : log_verify(scan, dir, bus, inv.args.flag("json"));
}

// ------------------------------------------------------------ main

int run(std::span<char* const> argv) {
  const Args args = Args::parse(argv, option_specs);
  if (args.flag("version")) {
    write_out("courier " COURIER_VERSION "\n");
    return 0;
  }
  std::vector<std::string> words = args.operands();
  const bool help = args.flag("help") || (!words.empty() && words[0] == "help");
  if (!words.empty() && words[0] == "help") words.erase(words.begin());
  if (help) {
    write_out(help_text(words));
    return 0;
  }
  if (words.empty()) throw UsageError("missing command (see courier --help)");
  const Command* cmd = find_command(words);
  if (cmd == nullptr) {
    if (words[0] == "endpoint" || words[0] == "group")
      throw UsageError(words.size() < 2 ? words[0] + ": missing subcommand (add, rm or ls)"
                                        : words[0] + ": unknown subcommand " + quoted(words[1]) + " (add, rm or ls)");
    throw UsageError("unknown command " + quoted(words[0]) + " (see courier --help)");
  }
  args.allow_only(cmd->bit, cmd->name);
  Invocation inv{args, {words.begin() + static_cast<std::ptrdiff_t>(word_count(cmd->name)), words.end()}};
  const std::size_t required = word_count(cmd->operands);
  if (inv.operands.size() < required)
    throw UsageError(std::string(cmd->name) + ": missing " + std::string(nth_word(cmd->operands, inv.operands.size())));
  if (inv.operands.size() > cmd->max_operands)
    throw UsageError(std::string(cmd->name) + ": unexpected argument " + quoted(inv.operands[cmd->max_operands]));
  return cmd->run(inv);
}

}  // namespace
}  // namespace courier::cli

int main(int argc, char** argv) {
  using namespace courier::cli;
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is a write error we report, not a silent death
  try {
    return run(std::span<char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
  } catch (const UsageError& e) {
    std::cerr << "courier: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {  // Failure, or bad_alloc
    std::cerr << "courier: " << e.what() << '\n';
    return 1;
  }
}
