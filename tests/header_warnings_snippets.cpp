// Compiled (not run) by tests/header_warnings.sh with g++ and clang++ at
// -Wall -Wextra -Wpedantic -Werror: the README's designated initialisers, and
// every aggregate of the public API that a user may build with designated
// initialisers, named once by its first field only and once by its last field
// only, so that a field without a default member initialiser (which g++'s
// -Wmissing-field-initializers reports) is caught whichever it is.
#include <courier/bus.hpp>
#include <courier/duration.hpp>
#include <courier/log_inspect.hpp>
#include <courier/names.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

// A named namespace, not an anonymous one: functions with external linkage
// are compiled through the optimiser (an unused internal one may be dropped
// before g++'s middle-end warnings run).
namespace header_warnings {

using namespace std::chrono_literals;

// The batched receive's templates, instantiated (void and bool callbacks, the
// blocking drain, run) so that their bodies are compiled with the user's warnings.
std::size_t batched_receive(courier::Receiver& rx, const std::atomic<bool>& stop) {
  std::size_t n = rx.try_drain([](const courier::Message& m) { (void)m.payload(); }, 16);
  n += rx.try_drain([&rx](courier::Message& m) { return rx.mark_read(m); }, 16);
  n += rx.drain([](courier::Message&) {}, 16, 1ms);
  return n + static_cast<std::size_t>(rx.run([](const courier::Message&) {}, stop));
}

// The README, "The C++ API" (and DESIGN.md's shape of the API).
void readme_snippets(const std::string& state_dir) {
  std::string d = state_dir;
  auto bus = courier::Bus::open("orders", {.log_dir = d, .sync = courier::Sync::group});
  if (!bus) return;
  auto alice = bus->endpoint("alice");
  auto bob = bus->attach("bob", {.auto_ack = false});
  if (!alice || !bob) return;
  auto sent = alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s, .type = 7}, "hello");
  auto to_team = alice->send({.to = courier::group("team"), .expiry = 1min}, "to everyone in team");
  auto quick = courier::Bus::open("quick", {.in_process = true});
  auto spin = bus->attach("carol", {.idle = {.spin_ns = 0}});
  auto gone = courier::Bus::remove("orders", {.force = true});
  (void)sent;
  (void)to_team;
  (void)quick;
  (void)spin;
  (void)gone;
}

// The inline functions of the headers that build strings (g++ 12 has false
// positives of -Wrestrict in std::string's operator+ at -O2, GCC PR 105329:
// a user's -Werror build must not meet one of ours).
std::string string_builders(const std::string& text, std::int64_t ns) {
  std::string out = courier::bus_name_problem(text) + courier::endpoint_name_problem(text);
  out += courier::escape_controls(text);
  if (auto d = courier::parse_duration(text); !d) out += d.error().message;
  out += courier::format_duration(std::chrono::nanoseconds(ns));
  courier::Error e = courier::removed_error(text);
  e.with_context(text);
  out += courier::Error(courier::Errc::system, text).with_context(text).message + e.message;
  out += courier::status_name(courier::Status::sent);
  out += courier::errc_name(courier::Errc::busy);
  return out;
}

// Every aggregate, first field only and last field only.
#define COURIER_BOTH_ENDS(T, first, last)                   \
  [[maybe_unused]] const courier::T first_##T{.first = {}}; \
  [[maybe_unused]] const courier::T last_##T{.last = {}};

COURIER_BOTH_ENDS(Options, max_endpoints, housekeeping_interval)
COURIER_BOTH_ENDS(RemoveOptions, force, force)
COURIER_BOTH_ENDS(IdleStrategy, spin_ns, park)
COURIER_BOTH_ENDS(ReceiverOptions, idle, auto_ack)
COURIER_BOTH_ENDS(RecoveryProgress, pass, bytes_total)
COURIER_BOTH_ENDS(Destination, name, is_group)
COURIER_BOTH_ENDS(SendOptions, to, timeout)
COURIER_BOTH_ENDS(StatusEvent, id, time_ns)
COURIER_BOTH_ENDS(RecipientStatus, recipient, status)
COURIER_BOTH_ENDS(StatusReport, id, members)
COURIER_BOTH_ENDS(BusGeometry, max_endpoints, status_capacity)
COURIER_BOTH_ENDS(BusSettings, max_endpoints, group_commit_bytes)
COURIER_BOTH_ENDS(EndpointEntry, name, created_ns)
COURIER_BOTH_ENDS(GroupEntry, name, members)
COURIER_BOTH_ENDS(TrackerUsage, used, retired)
COURIER_BOTH_ENDS(EndpointStats, name, status_dropped)
COURIER_BOTH_ENDS(BusStats, name, tracker)
COURIER_BOTH_ENDS(SweepResult, expired, expired_stored)
COURIER_BOTH_ENDS(HousekeepResult, holder, bytes_read)
COURIER_BOTH_ENDS(JournalDamage, file, reason)
COURIER_BOTH_ENDS(RecoveryReport, ran, elapsed_ns)
COURIER_BOTH_ENDS(LogRecord, kind, member)
COURIER_BOTH_ENDS(LogRegion, file, reason)

}  // namespace header_warnings
