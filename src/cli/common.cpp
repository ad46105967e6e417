// cli/common.cpp — the command line (Args over CLI11), the bus operand and
// its options (see common.hpp); what `courier` prints is in output.cpp.
#include "common.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "courier/names.hpp"

namespace courier::cli {

namespace {
constexpr OptionSpec all_options[] = {
    {"help", false, cmd_any},
    {"version", false, cmd_any},
    // Geometry of a bus `create` makes (or a command rebuilds from its
    // journals after a reboot); ignored when the bus exists.
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
    {"priority", true, cmd_send | cmd_bench},
    {"expiry", true, cmd_send},
    {"type", true, cmd_send},
    {"id", true, cmd_send},
    {"wait", true, cmd_send},
    {"lines", false, cmd_send},
    {"timeout", true, cmd_send | cmd_recv},
    {"count", true, cmd_recv | cmd_top | cmd_bench},
    {"once", false, cmd_top},
    {"no-ack", false, cmd_recv},
    {"read", false, cmd_recv},
    // Every command that prints (recv prints JSON lines with or without it).
    {"json", false,
     cmd_stat | cmd_status | cmd_group_ls | cmd_recover | cmd_log | cmd_create | cmd_send | cmd_recv | cmd_sweep |
         cmd_endpoint_ls | cmd_ls | cmd_peek | cmd_doctor | cmd_top | cmd_bench},
    {"long", false, cmd_endpoint_ls},
    {"limit", true, cmd_peek},
    {"log", true, cmd_opens_bus | cmd_rm | cmd_log},
    {"sync", true, cmd_opens_bus},
    {"log-cpus", true, cmd_opens_bus},
    {"no-log-direct-io", false, cmd_opens_bus},
    {"purge", false, cmd_rm},
    {"force", false, cmd_rm},
    {"nats", true, cmd_bridge},
    {"host", true, cmd_bridge},
    {"stream", true, cmd_bridge},
    {"ack-wait", true, cmd_bridge},
    // courier bench (src/cli/bench.cpp)
    {"mode", true, cmd_bench},
    {"size", true, cmd_bench},
    {"warmup", true, cmd_bench},
    {"tracked", false, cmd_bench},
    {"idle", true, cmd_bench},
    {"plot", true, cmd_bench},
};

// A lane record's header: a payload may take half a lane less this.

// CLI11's words for a refused option value, in ours: "--NAME: ...".
[[noreturn]] void rethrow_in_our_words(const CLI::ParseError& e) {
  const std::string what = e.what();
  if (what.find("disallowed flag override") != std::string::npos)
    throw UsageError("--" + what.substr(0, what.find(' ')) + ": takes no value");
  throw UsageError(what + " (see courier --help)");
}

// --log-cpus LIST: "0", "0-1,3" (CPU numbers as taskset(1) gives them).
std::vector<unsigned> cpu_list_option(std::string_view v) {
  const auto bad = [&] {
    return UsageError("--log-cpus: a list like 0 or 0-1,3 (CPUs 0..4095), got " + single_quoted(v));
  };
  std::vector<unsigned> cpus;
  for (std::string_view rest = v;;) {
    const std::string_view item = rest.substr(0, rest.find(','));
    const std::size_t dash = item.find('-');
    unsigned first = 0, last = 0;
    const auto number = [](std::string_view t, unsigned& out) {
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
      return !t.empty() && ec == std::errc() && end == t.data() + t.size() && out < 4096;
    };
    if (!number(item.substr(0, dash), first)) throw bad();
    last = first;
    if (dash != std::string_view::npos && (!number(item.substr(dash + 1), last) || last < first)) throw bad();
    for (unsigned c = first; c <= last; ++c) cpus.push_back(c);
    if (item.size() == rest.size()) return cpus;
    rest.remove_prefix(item.size() + 1);
  }
}
}  // namespace

const std::span<const OptionSpec> option_specs(all_options);

// ------------------------------------------------------------ Args

Args Args::parse(std::span<char* const> argv, std::span<const OptionSpec> specs) {
  // "--" ends the options: what follows are operands, given to CLI11 as none.
  std::vector<std::string> before, after;
  bool ended = false;
  for (char* const a : argv) {
    if (!ended && std::string_view(a) == "--")
      ended = true;
    else
      (ended ? after : before).emplace_back(a);
  }

  CLI::App app;
  app.set_help_flag();  // ours: --help, -h (a flag like the others; main prints the help)
  app.allow_extras();   // unknown options, reported below in our words
  std::vector<std::string> words;
  app.add_option("operands", words);
  std::vector<CLI::Option*> options;
  for (const OptionSpec& s : specs) {
    const std::string name = s.name == "help" ? "-h,--help" : "--" + std::string(s.name);
    // Values: 0 or 1, so that a missing one is ours to report (CLI11 would take the next option as the value).
    options.push_back(s.takes_value ? app.add_option(name)->expected(0, 1)
                                    : app.add_flag(name)->disable_flag_override());
    options.back()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  std::vector<std::string> reversed;  // CLI11 takes them last first
  for (auto it = before.rbegin(); it != before.rend(); ++it) {
    if (it->size() > 3 && it->starts_with("--") &&
        it->ends_with("=")) {  // "--log=": CLI11 would take the next argument
      reversed.emplace_back();
      reversed.push_back(it->substr(0, it->size() - 1));
    } else {
      reversed.push_back(*it);
    }
  }
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    rethrow_in_our_words(e);
  }
  for (const std::string& extra : app.remaining()) {
    if (!extra.starts_with("--"))
      throw UsageError(extra + ": unknown option (options begin with --; see courier --help)");
    throw UsageError(extra.substr(0, extra.find('=')) + ": unknown option (see courier --help)");
  }
  Args a;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const CLI::Option& o = *options[i];
    if (o.count() == 0) continue;
    const std::string name = "--" + std::string(specs[i].name);
    if (o.count() > 1) throw UsageError(name + ": given more than once");
    Given g{&specs[i], {}};
    if (specs[i].takes_value) {
      // CLI11 says "" both for no value and for an empty one ("--log=", "--log ''").
      g.value = o.results().empty() ? std::string() : o.results().front();
      const auto at = std::find(before.begin(), before.end(), name);
      if (g.value.empty() && at != before.end() && (at + 1 == before.end() || at[1].starts_with("-")))
        throw UsageError(name + ": missing value");
    }
    a.given_.push_back(std::move(g));
  }
  for (const std::string& w : words)  // "-5": CLI11 takes a negative number for an operand; not so we
    if (w.size() > 1 && w[0] == '-')
      throw UsageError(w + ": unknown option (options begin with --; see courier --help)");
  a.operands_ = std::move(words);
  a.operands_.insert(a.operands_.end(), after.begin(), after.end());
  return a;
}

void Args::allow_only(unsigned command, std::string_view command_name) const {
  for (const Given& g : given_)
    if ((g.spec->commands & command) == 0)
      throw UsageError("--" + std::string(g.spec->name) + ": not an option of '" + std::string(command_name) + "'");
}

const Args::Given* Args::find(std::string_view name) const {
  for (const Given& g : given_)
    if (g.spec->name == name) return &g;
  return nullptr;
}

std::optional<std::string_view> Args::value(std::string_view name) const {
  const Given* g = find(name);
  if (g == nullptr) return std::nullopt;
  return std::string_view(g->value);
}

std::optional<std::uint64_t> Args::bytes(std::string_view name) const {
  auto v = value(name);
  if (!v) return std::nullopt;
  return parse_bytes(*v, "--" + std::string(name));
}

std::optional<std::chrono::nanoseconds> Args::duration(std::string_view name) const {
  auto v = value(name);
  if (!v) return std::nullopt;
  auto d = parse_duration(*v);
  if (!d) throw UsageError("--" + std::string(name) + ": " + d.error().message);
  return *d;
}

std::uint64_t Args::parse_uint(std::string_view text, const std::string& what, std::uint64_t min, std::uint64_t max,
                               std::uint64_t type_max) {
  std::uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || p != end || ec == std::errc::invalid_argument)
    throw UsageError(what + ": not a non-negative integer: '" + std::string(text) + "'");
  if (ec == std::errc::result_out_of_range || n < min || n > max) {
    const std::string range = max != type_max ? std::to_string(min) + ".." + std::to_string(max)
                              : min > 0       ? "at least " + std::to_string(min)
                                              : "at most " + std::to_string(max);
    throw UsageError(what + ": must be " + range + ", got " + std::string(text));
  }
  return n;
}

std::uint64_t Args::parse_bytes(std::string_view text, const std::string& what) {
  struct Suffix {
    std::string_view text;
    unsigned shift;
  };
  static constexpr Suffix suffixes[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"K", 10},
                                        {"k", 10},   {"M", 20},   {"G", 30},   {"B", 0}};
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view suffix = text.substr(digits);
  unsigned shift = 0;
  bool known = suffix.empty();
  for (const Suffix& s : suffixes)
    if (suffix == s.text) shift = s.shift, known = true;
  if (digits == 0 || !known)
    throw UsageError(what + ": not a size: '" + std::string(text) + "' (bytes, or with K, KiB, M, MiB, G or GiB)");
  return parse_uint(text.substr(0, digits), what, 0, ~0ull >> shift, ~0ull) << shift;
}

// ------------------------------------------------------------ operands and bus options

std::string single_quoted(std::string_view s) { return "'" + escape_controls(s) + "'"; }

const std::string& bus_operand(const Invocation& inv) {
  const std::string& name = inv.operands[0];
  if (std::string why = bus_name_problem(name); !why.empty())
    throw UsageError("BUS " + single_quoted(name) + ": " + why);
  return name;
}

std::string checked_endpoint(std::string_view name, std::string_view what) {
  if (std::string why = endpoint_name_problem(name); !why.empty())
    throw UsageError(std::string(what) + " " + single_quoted(name) + ": " + why);
  return std::string(name);
}

std::string name_operand(const Invocation& inv) { return checked_endpoint(inv.operands[1], "NAME"); }

std::string checked_group(std::string_view name, std::string_view what) {
  if (std::string why = endpoint_name_problem(name); !why.empty()) {
    if (why.starts_with("endpoint name")) why.replace(0, 8, "group");
    throw UsageError(std::string(what) + " " + single_quoted(name) + ": " + why);
  }
  return std::string(name);
}

std::string required_endpoint_option(const Args& args, std::string_view option) {
  const std::string what = "--" + std::string(option);
  auto v = args.value(option);
  if (!v) throw UsageError(what + ": required");
  return checked_endpoint(*v, what);
}

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
  const std::uint64_t payload_limit = o.lane_capacity / 2 - message_header_bytes;  // a record fills half a lane
  if (auto p = args.bytes("max-payload")) {
    if (*p > payload_limit)
      throw UsageError("--max-payload: must fit in half a lane: at most " + std::to_string(payload_limit) +
                       " bytes with lanes of " + std::to_string(o.lane_capacity) + " bytes, got " + std::to_string(*p));
    o.max_payload = static_cast<std::uint32_t>(*p);
  }  // not given: the library fits its default to the lanes (a bus's settings not named count as not given)
  if (auto t = args.duration("claim-timeout")) {
    if (*t < std::chrono::milliseconds(1) || *t > std::chrono::hours(1))
      throw UsageError("--claim-timeout: must be 1ms..1h, got " + format_duration(*t));
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
    Sync sync = Sync::group;
    if (!sync_from_name(*v, sync)) throw UsageError("--sync: must be always, group or os, got " + single_quoted(*v));
    o.sync = sync;  // named: compared with the bus's
  }
  if (auto v = args.value("log-cpus")) o.log_cpus = cpu_list_option(*v);
  if (args.flag("no-log-direct-io")) o.log_direct_io = false;
  return o;
}

Bus open_bus(const Invocation& inv, const Options& o) {
  auto bus = Bus::open(bus_operand(inv), o);
  if (!bus) throw Failure(bus.error().message);
  // Only the flags the user gave were named: the library refused any that differs from the bus's.
  return std::move(*bus);
}

void or_fail(Result<void> r) {
  if (!r) throw Failure(r.error().message);
}

void flush_log(Bus& bus) {
  if (bus.has_log()) or_fail(bus.flush_log());
}

}  // namespace courier::cli
