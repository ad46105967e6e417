// cli/common.hpp — what the commands of `courier` share: the command line
// (Args, parsed by CLI11, and its typed readers), the bus operand and the
// options of every command that opens a bus, errors and exit status, and the
// output helpers (stdout, tables, JSON with nlohmann::ordered_json).
//
// Exit status: 0 success; 1 a failure at run time (Failure: one line on
// stderr); 2 a bad command line (UsageError: one line naming the argument).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "courier/bus.hpp"
#include "courier/duration.hpp"

namespace courier::cli {

using Json = nlohmann::ordered_json;  // keys in the order written: it is part of the output

// A bad command line: exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure at run time (no such bus, endpoint busy, ...): exit status 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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
  cmd_create = 1u << 14,
  cmd_ls = 1u << 15,
  cmd_peek = 1u << 16,
  cmd_doctor = 1u << 17,
  cmd_top = 1u << 18,
  cmd_bridge = 1u << 19,
  cmd_bench = 1u << 20,
  cmd_any = ~0u,
  // The commands that open a bus (and so take --log and --sync).
  cmd_opens_bus = cmd_send | cmd_recv | cmd_endpoint_add | cmd_endpoint_rm | cmd_endpoint_ls | cmd_stat | cmd_status |
                  cmd_group_add | cmd_group_rm | cmd_group_ls | cmd_sweep | cmd_recover | cmd_create | cmd_bridge |
                  cmd_bench,
};

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  bool takes_value;
  unsigned commands;  // bit set of the commands that accept it
};

// The options of `courier`, every command's.
extern const std::span<const OptionSpec> option_specs;

// The command line: operands and options. Syntax: "--name value" or
// "--name=value" for options that take a value, "--name" for flags; options
// may come anywhere, before or after the command and its operands; "--" ends
// them (for an operand that begins with '-'); "-h" is --help.
class Args {
 public:
  // Parse with CLI11 (every problem a UsageError in our words). Which command
  // may use which option is checked later (allow_only), once it is known.
  static Args parse(std::span<char* const> argv, std::span<const OptionSpec> specs);

  const std::vector<std::string>& operands() const noexcept { return operands_; }

  // Refuse options that `command` (a bit of OptionSpec::commands) does not take.
  void allow_only(unsigned command, std::string_view command_name) const;

  bool flag(std::string_view name) const { return find(name) != nullptr; }
  std::optional<std::string_view> value(std::string_view name) const;

  // --name as an unsigned integer in [min, max]; nullopt when not given.
  template <class T>
  std::optional<T> uint(std::string_view name, T min = 0, T max = std::numeric_limits<T>::max()) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    return static_cast<T>(parse_uint(*v, "--" + std::string(name), min, max, std::numeric_limits<T>::max()));
  }
  // --name as a byte count with an optional binary suffix (K, KiB, M, MiB, G, GiB).
  std::optional<std::uint64_t> bytes(std::string_view name) const;
  // --name as a duration (courier/duration.hpp).
  std::optional<std::chrono::nanoseconds> duration(std::string_view name) const;

  // `text` as an integer in [min, max]; `type_max` is the largest of its type
  // (how the range is said when max is that).
  static std::uint64_t parse_uint(std::string_view text, const std::string& what, std::uint64_t min, std::uint64_t max,
                                  std::uint64_t type_max);
  static std::uint64_t parse_bytes(std::string_view text, const std::string& what);

 private:
  struct Given {
    const OptionSpec* spec;
    std::string value;
  };
  const Given* find(std::string_view name) const;

  std::vector<std::string> operands_;
  std::vector<Given> given_;
};

// A command's command line: the options and the operands after its words.
struct Invocation {
  const Args& args;
  std::vector<std::string> operands;
};

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
int run_create(const Invocation&);
int run_ls(const Invocation&);
int run_peek(const Invocation&);
int run_doctor(const Invocation&);
int run_top(const Invocation&);
int run_bridge(const Invocation&);  // bridge.cpp, built with libnats only
int run_bench(const Invocation&);

// ------------------------------------------------------------ operands and bus options

std::string single_quoted(std::string_view s);
const std::string& bus_operand(const Invocation& inv);
// `name` as an endpoint name; `what` says where it came from ("NAME", "--to").
std::string checked_endpoint(std::string_view name, std::string_view what);
std::string name_operand(const Invocation& inv);  // operand 2, NAME
// `name` as a group name (the rules of endpoint names).
std::string checked_group(std::string_view name, std::string_view what);
std::string required_endpoint_option(const Args& args, std::string_view option);
// --log DIR, checked: nothing when not given.
std::optional<std::string> log_option(const Args& args);
std::string required_log_option(const Args& args, std::string_view command);

// The options of a bus this command opens (creating it when `create`),
// checked here so that a bad one is reported as the argument it is (exit 2).
// Only the settings given on the command line are named (Setting): the rest
// are the bus's when it exists, the defaults when this command creates it.
Options bus_options(const Args& args, bool create);
Bus open_bus(const Invocation& inv, const Options& o);

// What opening a bus that has no shared memory does. Only `courier create`
// makes a new bus; the other commands fail ("no bus named ..."), except that
// a command that changes the bus, given --log DIR where DIR/BUS holds the
// bus's journals, rebuilds it from them (the way a bus comes back after a
// reboot).
enum class Missing { fail, rebuild_from_log };
Bus open_bus(const Invocation& inv, Missing missing);
bool path_exists(const std::string& path);

template <class T>
T or_fail(Result<T> r) {
  if (!r) throw Failure(r.error().message);
  return std::move(*r);
}
void or_fail(Result<void> r);

// Before a command that may have written to the bus's log exits: write and
// sync what this process still buffers, whatever the sync policy.
void flush_log(Bus& bus);

// The name of a live endpoint, or "#<id>" when it has been removed since.
std::string endpoint_label(const Bus& bus, EndpointId id);
std::string id_label(std::uint32_t id);  // "#<id>"

// ------------------------------------------------------------ output

std::string receiver_text(const EndpointStats& e);       // "pid 123", or "-"
std::string waiting_lanes_text(const EndpointStats& e);  // "p0:2 p8:1", the lanes with messages waiting, or "-"

// Write all of `text` to stdout and flush it (a reader may be waiting for it).
// False, with errno, when stdout is gone.
bool try_write_out(std::string_view text);
std::string write_error();
// As try_write_out; a failure is a Failure, except a closed pipe (EPIPE: the
// reader has all it wanted, as `courier help | head -1`), which ends the
// process by SIGPIPE, silently, as other filters end.
void write_out(std::string_view text);
// End the process by SIGPIPE (no message, no destructors): stdout's reader is gone.
[[noreturn]] void die_of_closed_pipe();
void note(std::string_view text);  // "courier: note: TEXT" on stderr

std::string size_text(std::uint64_t n);                                             // "4 MiB", "4.1 GiB", "1000 bytes"
std::string utc_text(std::uint64_t ns);                                             // "2026-12-03T21:00:00Z"
std::string counted(std::uint64_t n, std::string_view one, std::string_view many);  // "1 tail", "3 tails"
// Columns padded to their widest cell; numeric columns (first_numeric <= index
// < end_numeric) aligned right.
std::string table_text(const std::vector<std::vector<std::string>>& rows, std::size_t first_numeric,
                       std::size_t end_numeric = ~std::size_t{0});

std::uint64_t now_realtime_ns();
std::uint64_t now_monotonic_ns();

// One JSON value and a newline.
std::string json_line(const Json& j);
// A message id (64-bit) in JSON: a string ("id":"123"), as 64-bit ids are
// usually given, since jq 1.6 and JavaScript read numbers as doubles and would
// round it. Endpoint and group ids (32-bit) stay numbers.
Json id_json(std::uint64_t id);
// An id given back on the command line, as printed or as JSON gave it: 123 or "123".
// `what` names it in the error ("ID", "--id"); 0 is refused unless `zero_ok`.
std::uint64_t parse_message_id(std::string_view text, std::string_view what, bool zero_ok);
// A message payload into `j`: "data" as text when it is valid UTF-8, else
// "data_b64" (base64), so that any payload survives the trip through JSON.
void add_payload(Json& j, std::span<const std::byte> bytes);
// The same as text: `,"data":"..."` or `,"data_b64":"..."`, appended to `out`.
void append_payload(std::string& out, std::span<const std::byte> bytes);
// `s` (valid UTF-8) as a quoted JSON string, appended to `out`.
void append_json_string(std::string& out, std::string_view s);
std::string base64(std::span<const std::byte> bytes);
bool valid_utf8(std::string_view s) noexcept;

// Damaged regions or torn tails: [{"file":...,"offset":N,"length":N[,"reason":...]}, ...].
template <class Region>
Json regions_json(const std::vector<Region>& regions, bool with_reason) {
  Json a = Json::array();
  for (const Region& r : regions) {
    Json o{{"file", r.file}, {"offset", r.offset}, {"length", r.length}};
    if (with_reason) o["reason"] = r.reason;
    a.push_back(std::move(o));
  }
  return a;
}

// One line per region: "PREFIX FILE at offset N, N bytes: REASON" for damage,
// "... bytes (a write that did not finish: cut, not damage)" for a torn tail.
template <class Region>
std::string region_lines(const std::vector<Region>& regions, std::string_view prefix, bool torn) {
  std::string out;
  for (const Region& r : regions) {
    out += std::string(prefix) + r.file + " at offset " + std::to_string(r.offset) + ", " + std::to_string(r.length) +
           " bytes";
    out += torn ? std::string(" (a write that did not finish: cut, not damage)\n") : ": " + r.reason + "\n";
  }
  return out;
}

}  // namespace courier::cli
