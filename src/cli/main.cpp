// cli/main.cpp — `courier`, the command-line tool: send and receive messages,
// manage endpoints, inspect and remove buses (courier --help). It uses the
// public API only (courier/bus.hpp).
//
// Exit status: 0 success; 1 a failure at run time (one line on stderr: the
// library's error message, or why a message was not sent); 2 a bad command
// line (one line on stderr naming the argument).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"
#include "courier/bus.hpp"
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
  cmd_any = ~0u,
};

constexpr OptionSpec option_specs[] = {
    {"help", false, cmd_any},
    {"version", false, cmd_any},
    // Geometry of a bus this command creates; ignored when the bus exists.
    {"max-endpoints", true, cmd_any},
    {"lane-capacity", true, cmd_any},
    {"max-payload", true, cmd_any},
    {"claim-timeout", true, cmd_any},
    {"from", true, cmd_send},
    {"to", true, cmd_send},
    {"priority", true, cmd_send},
    {"expiry", true, cmd_send},
    {"type", true, cmd_send},
    {"id", true, cmd_send},
    {"timeout", true, cmd_send | cmd_recv},
    {"count", true, cmd_recv},
    {"json", false, cmd_stat},
    {"long", false, cmd_endpoint_ls},
};

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
options of the commands that create a missing bus (send, recv, endpoint add;
the others never create one), ignored when the bus exists:
  --max-endpoints N         1..4096 (default 64)
  --lane-capacity BYTES     per priority lane, a power of two from 4K to 1G
                            (default 4MiB; suffixes K KiB M MiB G GiB, all binary)
  --max-payload BYTES       largest payload (default 1MiB, or the largest that
                            fits in half a lane when --lane-capacity is smaller)
  --claim-timeout DURATION  a send unfinished this long is stepped over (default 200ms)

Options may come before or after the command and its operands; "--" ends
them (for DATA that begins with '-'). -h is --help.
DURATION: a number and a unit, ns us ms s m h d, parts may be joined: 250ms,
  10s, 5m, 2h, 3d, 1h30m. A plain number other than 0 is refused.
names: BUS [A-Za-z0-9._-]{1,64} (not . or ..); endpoint NAME [A-Za-z0-9._@:-]{1,63}
exit status: 0 success, 1 failure (reason on stderr), 2 bad command line.
  courier --version prints the version.
)";

int run_send(const Invocation&);
int run_recv(const Invocation&);
int run_endpoint_add(const Invocation&);
int run_endpoint_rm(const Invocation&);
int run_endpoint_ls(const Invocation&);
int run_stat(const Invocation&);
int run_rm(const Invocation&);

constexpr Command commands[] = {
    {"send", cmd_send, "BUS", 2, R"(  send BUS --from NAME --to NAME [--priority 0-15] [--expiry DURATION]
       [--type N] [--id N] [--timeout DURATION] [DATA | -]
      Send one message as NAME (registered if missing) to an existing endpoint;
      prints "<id> <status>". Without DATA, or with "-", the payload is stdin.
      --priority   0 is the highest (default 8)
      --expiry     how long the bus may hold the message for delivery (default 0:
                   real-time, delivered now to an attached receiver or "offline")
      --type       user-defined number, 0..4294967295 (default 0)
      --id         identifier (default: generated when --expiry is given, else 0)
      --timeout    when the destination's lane is full, wait this long for room
      Exit status 1 unless the status is "sent".
)",
     run_send},
    {"recv", cmd_recv, "BUS NAME", 2, R"(  recv BUS NAME [--count N] [--timeout DURATION]
      Receive as NAME (registered if missing; one receiver per endpoint). Prints
      one JSON object per message and line: id, from, to, group, priority, type,
      timestamp_ns, expires_ns, redelivered, and "data" (UTF-8 text) or
      "data_b64" (base64). Stops after N messages, when DURATION has passed, or
      on SIGINT/SIGTERM. Exit status 1 when N was given and not reached.
)",
     run_recv},
    {"endpoint add", cmd_endpoint_add, "BUS NAME", 2, "  endpoint add BUS NAME\n      Register an endpoint.\n",
     run_endpoint_add},
    {"endpoint rm", cmd_endpoint_rm, "BUS NAME", 2,
     "  endpoint rm BUS NAME\n      Remove an endpoint (refused while a receiver is attached).\n", run_endpoint_rm},
    {"endpoint ls", cmd_endpoint_ls, "BUS", 1,
     "  endpoint ls BUS [--long]\n      List endpoint names, one per line; --long adds receiver and waiting "
     "messages.\n",
     run_endpoint_ls},
    {"stat", cmd_stat, "BUS", 1, R"(  stat BUS [--json]
      Geometry, endpoints, receivers, messages waiting per priority and counters,
      as a table or as one JSON object.
)",
     run_stat},
    {"rm", cmd_rm, "BUS", 1,
     "  rm BUS\n      Remove the bus's shared memory (processes using it keep it until they exit).\n", run_rm},
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

std::string required_endpoint_option(const Args& args, std::string_view option) {
  const std::string what = "--" + std::string(option);
  auto v = args.value(option);
  if (!v) throw UsageError(what + ": required");
  return std::string(checked_endpoint(*v, what));
}

// The geometry options, checked here so that a bad one is reported as the
// argument it is (exit 2) rather than as a failure to create the bus.
Options bus_options(const Args& args, bool create) {
  Options o;
  o.create = create;
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
  check("claim-timeout",
        static_cast<std::uint64_t>(o.claim_timeout.count()) != bus.segment().header().claim_timeout_ns);
  if (!ignored.empty())
    std::cerr << "courier: note: bus '" << bus.name() << "' already exists with another geometry; " << ignored
              << " ignored (see courier stat)\n";
}

Bus open_bus(const Invocation& inv, bool create) {
  const Options o = bus_options(inv.args, create);
  auto bus = Bus::open(bus_operand(inv), o);
  if (!bus) throw Failure(bus.error().message);
  if (!bus->segment().created()) note_ignored_options(*bus, inv.args, o);
  return std::move(*bus);
}

template <class T>
T or_fail(Result<T> r) {
  if (!r) throw Failure(r.error().message);
  return std::move(*r);
}
void or_fail(Result<void> r) {
  if (!r) throw Failure(r.error().message);
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

// Columns padded to their widest cell; numeric columns (index >= first_numeric)
// aligned right.
std::string table_text(const std::vector<std::vector<std::string>>& rows, std::size_t first_numeric) {
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
      line += c >= first_numeric ? pad + row[c] : row[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + '\n';
  }
  return out;
}

// ------------------------------------------------------------ send

// `size` describes the payload: "1001 bytes", or "over 1000 bytes" when stdin
// was not read to its end.
std::string why_not_sent(const SendResult& r, const SendOptions& o, std::string_view size, const Bus& bus) {
  const std::string to = quoted(o.to.name);
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
    default:
      return "the bus refused the message";
  }
}

int run_send(const Invocation& inv) {
  const Args& a = inv.args;
  const std::string from = required_endpoint_option(a, "from");
  SendOptions o;
  o.to = peer(required_endpoint_option(a, "to"));
  o.priority = a.uint<std::uint8_t>("priority", 0, priority_levels - 1).value_or(default_priority);
  o.expiry = a.duration("expiry").value_or(0ns);
  o.type = a.uint<std::uint32_t>("type").value_or(0);
  o.id = a.uint<std::uint64_t>("id").value_or(0);
  o.timeout = a.duration("timeout").value_or(0ns);
  const bool from_stdin = inv.operands.size() < 2 || inv.operands[1] == "-";

  Bus bus = open_bus(inv, true);
  Endpoint me = or_fail(bus.endpoint(from));
  const std::size_t max = bus.geometry().max_payload;
  const std::string payload = from_stdin ? read_stdin(max + 1) : inv.operands[1];
  const SendResult r = me.send(o, payload);
  write_out(std::to_string(r.id) + " " + std::string(status_name(r.status)) + "\n");
  if (!r) {
    const std::string size = from_stdin && payload.size() > max ? "over " + std::to_string(max) + " bytes"
                                                                : std::to_string(payload.size()) + " bytes";
    throw Failure("not sent (" + std::string(status_name(r.status)) + "): " + why_not_sent(r, o, size, bus));
  }
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

void append_message_json(std::string& out, const Message& m, Receiver& rx) {
  JsonWriter j(out);
  auto name = [&](EndpointId id) {
    const std::string& n = rx.name_of(id);
    if (n.empty())
      j.null();  // the endpoint was removed since
    else
      j.value(n);
  };
  j.begin_object();
  j.key("id").value(m.id());
  j.key("from");
  name(m.from());
  j.key("to");
  name(m.to());
  j.key("group");
  if (m.group() == 0)
    j.null();
  else
    j.value(m.group());
  j.key("priority").value(m.priority());
  j.key("type").value(m.type());
  j.key("timestamp_ns").value(m.timestamp_ns());
  j.key("expires_ns").value(m.expires_ns());
  j.key("redelivered").value(m.redelivered());
  if (valid_utf8(m.text()))
    j.key("data").value(m.text());
  else
    j.key("data_b64").base64(m.payload());
  j.end_object();
}

int run_recv(const Invocation& inv) {
  const std::optional<std::uint64_t> count = inv.args.uint<std::uint64_t>("count", 1);
  const std::optional<std::chrono::nanoseconds> timeout = inv.args.duration("timeout");
  const std::string name = name_operand(inv);

  Bus bus = open_bus(inv, true);
  Receiver rx = or_fail(bus.attach(name));
  const StopSignals stop;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = timeout ? start + static_cast<std::uint64_t>(timeout->count()) : ~0ull;
  std::uint64_t received = 0;
  std::string line;
  while (!count || received < *count) {
    // Wait in slices of at most 100 ms: a signal does not cut a wait short.
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t slice = std::min<std::uint64_t>(deadline - std::min(now, deadline), 100'000'000ull);
    if (auto m = rx.receive(std::chrono::nanoseconds(slice))) {
      line.clear();
      append_message_json(line, *m, rx);
      line += '\n';
      if (!try_write_out(line)) {
        // Leave without acknowledging the message we could not hand on (a
        // normal return would, in ~Receiver): whoever attaches next gets it
        // again, flagged redelivered.
        std::cerr << "courier: " << write_error() << '\n';
        std::_Exit(1);
      }
      ++received;  // acknowledged by the next receive, or by ~Receiver
    }
    if (stop.requested() || monotonic_ns() >= deadline) break;
  }
  if (count && received < *count)
    throw Failure((stop.requested() ? "interrupted: received " : "timeout: received ") + std::to_string(received) +
                  " of " + std::to_string(*count));
  return 0;
}

// ------------------------------------------------------------ endpoints, stat, rm

int run_endpoint_add(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, true);
  or_fail(bus.add_endpoint(name));
  return 0;
}

int run_endpoint_rm(const Invocation& inv) {
  const std::string name = name_operand(inv);
  Bus bus = open_bus(inv, false);
  or_fail(bus.remove_endpoint(name));
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

struct Counter {
  std::string_view name;
  std::uint64_t EndpointStats::*field;
};
constexpr Counter counters[] = {
    {"received", &EndpointStats::received}, {"expired", &EndpointStats::expired},
    {"stale", &EndpointStats::stale},       {"revoked", &EndpointStats::revoked},
    {"corrupt", &EndpointStats::corrupt},   {"redelivered", &EndpointStats::redelivered},
    {"full", &EndpointStats::full},         {"offline", &EndpointStats::offline},
};

std::string stat_json(const BusStats& s, std::uint64_t claim_timeout_ns) {
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
  j.key("claim_timeout_ns").value(claim_timeout_ns);
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
    for (const Counter& c : counters) j.key(c.name).value(e.*c.field);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return out + '\n';
}

std::string stat_text(const BusStats& s, std::uint64_t claim_timeout_ns) {
  const Geometry& g = s.geometry;
  std::string out = table_text(
      {
          {"bus:", s.name},
          {"created:", utc_text(s.created_ns)},
          {"segment:", size_text(s.segment_bytes)},
          {"max endpoints:", std::to_string(g.max_endpoints)},
          {"lane capacity:", size_text(g.lane_capacity) + " (16 priority lanes per endpoint)"},
          {"max payload:", size_text(g.max_payload)},
          {"claim timeout:", format_duration(std::chrono::nanoseconds(claim_timeout_ns))},
      },
      2);
  out += '\n';
  if (s.endpoints.empty()) return out + "no endpoints\n";
  std::vector<std::string> header{"ENDPOINT", "RECEIVER", "WAITING (PRIORITY:COUNT)", "TOTAL"};
  for (const Counter& c : counters) {
    std::string& h = header.emplace_back(c.name);
    for (char& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  std::vector<std::vector<std::string>> rows{header};
  for (const EndpointStats& e : s.endpoints) {
    std::vector<std::string> row{e.name, receiver_text(e), waiting_lanes_text(e), std::to_string(e.waiting_total)};
    for (const Counter& c : counters) row.push_back(std::to_string(e.*c.field));
    rows.push_back(std::move(row));
  }
  return out + table_text(rows, 3);
}

int run_stat(const Invocation& inv) {
  const Bus bus = open_bus(inv, false);
  const BusStats s = bus.stat();
  const std::uint64_t claim_timeout_ns = bus.segment().header().claim_timeout_ns;
  write_out(inv.args.flag("json") ? stat_json(s, claim_timeout_ns) : stat_text(s, claim_timeout_ns));
  return 0;
}

int run_rm(const Invocation& inv) {
  or_fail(Bus::remove(bus_operand(inv)));
  return 0;
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
    if (words[0] == "endpoint")
      throw UsageError(words.size() < 2 ? "endpoint: missing subcommand (add, rm or ls)"
                                        : "endpoint: unknown subcommand " + quoted(words[1]) + " (add, rm or ls)");
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
