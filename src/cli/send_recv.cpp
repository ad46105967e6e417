// cli/send_recv.cpp — `courier send` and `courier recv`.
#include <signal.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <unordered_map>

#include "send.hpp"

namespace courier::cli {
namespace {

using namespace std::chrono_literals;

// A lane's memory is reserved as it fills: with /dev/shm full, a lane with
// room in its ring is full too (docs/design.md, "Memory faults").
std::string shm_full_note() {
  struct statvfs v {};
  if (::statvfs("/dev/shm", &v) != 0 || std::uint64_t(v.f_bavail) * v.f_frsize >= (1u << 20)) return "";
  return ", or /dev/shm is (" + size_text(std::uint64_t(v.f_bavail) * v.f_frsize) +
         " free: the lane's memory cannot be reserved)";
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

}  // namespace

// ------------------------------------------------------------ send

std::string why_not_sent(const SendResult& r, const SendOptions& o, std::string_view size, Bus& bus) {
  const std::string to = single_quoted(o.to.name);
  if (r.duplicate)
    return "a duplicate of an earlier send of id " + std::to_string(r.id) + " (not enqueued again), which ended " +
           std::string(status_name(r.status));
  if (o.to.is_group) {
    switch (r.status) {
      case Status::invalid_destination:
        return bus.find_group(o.to.name) ? "group " + to + " has no members"
                                         : "no group named " + to + " on bus " + single_quoted(bus.name());
      case Status::offline:
        return "no member of group " + to +
               " has a receiver attached (a real-time message, --expiry 0, is delivered now or not at all)";
      case Status::full:
        return "the priority " + std::to_string(o.priority) + " lanes of the members of group " + to + " are full";
      case Status::too_large:
      case Status::removed: break;  // as for an endpoint
      default:
        return "no member of group " + to +
               " took the message (the first refusal: " + std::string(status_name(r.status)) + ")";
    }
  }
  switch (r.status) {
    case Status::offline:
      return to + " has no receiver attached (a real-time message, --expiry 0, is delivered now or not at all)";
    case Status::full:
      return "the priority " + std::to_string(o.priority) + " lane of " + to + " is full" + shm_full_note() +
             (o.timeout.count() > 0 ? " (waited " + format_duration(o.timeout) + ")" : " (--timeout waits for room)");
    case Status::invalid_destination: return "no endpoint named " + to + " on bus " + single_quoted(bus.name());
    case Status::too_large:
      return "the payload (" + std::string(size) + ") is larger than the bus's max_payload (" +
             std::to_string(bus.settings().max_payload) + " bytes)";
    case Status::revoked: return "the message was not committed within the bus's claim timeout and was stepped over";
    case Status::tracker_full:
      return "the bus's tracker of messages in flight is full (a tracked message is refused rather than "
             "sent without duplicate detection; see courier stat, courier sweep)";
    case Status::log_failed:
      return "the bus's log in " + single_quoted(bus.log_directory()) +
             " could not store it (disk full, or an I/O error): it is not promised";
    case Status::removed:
      return "the bus " + single_quoted(bus.name()) +
             " was removed (courier rm) before the message was accepted: it is not promised";
    default: return "the bus refused the message";
  }
}

namespace {

// --wait's status: sent, delivered or read.
std::optional<Status> wait_option(const Args& a) {
  auto v = a.value("wait");
  if (!v) return std::nullopt;
  Status s{};
  if (!status_from_name(*v, s) || status_rank(s) < status_rank(Status::sent) ||
      status_rank(s) > status_rank(Status::read))
    throw UsageError("--wait: must be sent, delivered or read, got " + single_quoted(*v));
  return s;
}

// Poll the tracker until message `id` of `me` reaches `target` (by rank:
// outbox < sent < delivered < read), ends in an error status, or `deadline`
// (monotonic ns) passes. Polls every 1 ms at first, slowing to every 10 ms.
// Returns the last report, or nothing when the tracker forgot the message
// (`why` says why).
std::optional<StatusReport> wait_for_status(const Endpoint& me, std::uint64_t id, Status target, std::uint64_t deadline,
                                            std::string& why) {
  std::uint64_t interval_ns = 1'000'000;
  for (;;) {
    auto r = me.status(id);
    if (!r) {
      why = r.error().message;
      return std::nullopt;
    }
    const std::uint64_t now = now_monotonic_ns();
    // Reached (or passed), ended in an error, or out of time.
    if (!moves_forward(r->status, target) || now >= deadline) return std::move(*r);
    const std::uint64_t nap = std::min(interval_ns, deadline - now);
    timespec ts{static_cast<std::time_t>(nap / 1'000'000'000ull), static_cast<long>(nap % 1'000'000'000ull)};
    ::nanosleep(&ts, nullptr);
    interval_ns = std::min<std::uint64_t>(interval_ns + 1'000'000, 10'000'000);
  }
}

void write_result(std::uint64_t id, Status s, bool json) {
  std::string line;
  append_result(line, id, s, json);
  write_out(line);
}

// With a log and --sync group or os, a tracked send is "outbox" until the
// batch that holds it is written. This process is about to exit: write the
// batch now, and say "sent" once the tracker has it past outbox (it may be
// delivered already), or the error it ended in. Any other result as it is.
Status logged_send_status(Bus& bus, const Endpoint& me, const SendResult& r, bool json) {
  if (r.status != Status::outbox || r.duplicate || !bus.has_log()) return r.status;
  if (auto flushed = bus.flush_log(); !flushed) {
    write_result(r.id, r.status, json);
    throw Failure("the message is not known to be in the log (still outbox): " + flushed.error().message);
  }
  auto now = me.status(r.id);
  if (!now) return r.status;
  return now->status != Status::outbox && !is_error(now->status) ? Status::sent : now->status;
}

}  // namespace

void append_result(std::string& out, std::uint64_t id, Status s, bool json) {
  if (json) {
    out += "{\"id\":\"" + std::to_string(id) + "\",\"status\":\"";  // a string: id_json
    out += status_name(s);
    out += "\"}\n";
    return;
  }
  out += std::to_string(id);
  out += ' ';
  out += status_name(s);
  out += '\n';
}

SendCommand send_command(const Invocation& inv) {
  const Args& a = inv.args;
  SendCommand c;
  c.from = required_endpoint_option(a, "from");
  const bool to_given = a.value("to").has_value(), group_given = a.value("group").has_value();
  if (to_given && group_given) throw UsageError("--to, --group: give one of them, not both");
  if (!to_given && !group_given) throw UsageError("--to or --group: required (the destination)");
  SendOptions& o = c.options;
  o.to = to_given ? peer(required_endpoint_option(a, "to")) : group(checked_group(*a.value("group"), "--group"));
  o.priority = a.uint<std::uint8_t>("priority", 0, priority_levels - 1).value_or(default_priority);
  o.expiry = a.duration("expiry").value_or(0ns);
  o.type = a.uint<std::uint32_t>("type").value_or(0);
  if (auto id = a.value("id")) o.id = parse_message_id(*id, "--id", true);
  c.wait = wait_option(a);
  if (c.wait && o.expiry.count() == 0 && o.id == 0)
    throw UsageError("--wait needs a tracked message: give --expiry or --id");
  c.lines = a.flag("lines");
  c.json = a.flag("json");
  if (c.lines && inv.operands.size() > 1)
    throw UsageError("--lines: the messages are the lines of stdin; no DATA or '-' with it (got " +
                     single_quoted(inv.operands[1]) + ")");
  // With --lines, a full lane is waited for by default: a bulk load keeps up
  // with its receiver instead of failing the lines that find it busy.
  o.timeout = a.duration("timeout").value_or(c.wait || c.lines ? default_wait_timeout : 0ns);
  return c;
}

int run_send(const Invocation& inv) {
  const SendCommand cmd = send_command(inv);
  if (cmd.lines) return run_send_lines(inv, cmd);
  const SendOptions& o = cmd.options;
  const std::optional<Status>& wait = cmd.wait;
  const bool from_stdin = inv.operands.size() < 2 || inv.operands[1] == "-";
  const bool json = cmd.json;

  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  Endpoint me = or_fail(bus.endpoint(cmd.from));
  const std::size_t max = bus.settings().max_payload;
  const std::string payload = from_stdin ? read_stdin(max + 1) : inv.operands[1];
  const std::uint64_t start = now_monotonic_ns();
  SendResult r = me.send(o, payload);
  r.status = logged_send_status(bus, me, r, cmd.json);
  if (!r) {
    write_result(r.id, r.status, json);
    const std::string size = from_stdin && payload.size() > max ? "over " + std::to_string(max) + " bytes"
                                                                : std::to_string(payload.size()) + " bytes";
    throw Failure("not sent (" + std::string(status_name(r.status)) + "): " + why_not_sent(r, o, size, bus));
  }
  if (r.duplicate)
    note("duplicate of an earlier send: not enqueued again");
  else if (o.to.is_group && r.accepted < r.recipients)
    note("delivered to lanes of " + std::to_string(r.accepted) + " of " + std::to_string(r.recipients) + " members");
  if (!wait) {
    write_result(r.id, r.status, json);
    return 0;
  }

  std::string why;
  const std::optional<StatusReport> last =
      wait_for_status(me, r.id, *wait, start + static_cast<std::uint64_t>(o.timeout.count()), why);
  if (!last) {
    write_result(r.id, r.status, json);
    throw Failure("waiting for " + std::string(status_name(*wait)) + ": " + why);
  }
  write_result(r.id, last->status, json);
  const std::string target(status_name(*wait)), now(status_name(last->status));
  if (is_error(last->status)) throw Failure("the message ended " + now + " before it was " + target);
  if (status_rank(last->status) < status_rank(*wait))
    throw Failure("timeout: the message is still " + now + " after " + format_duration(o.timeout) + " (--wait " +
                  target + ")");
  if (last->group != 0 && last->failed > 0)
    note(std::to_string(last->failed) + " of " + std::to_string(last->recipients) +
         " members did not get it (see courier status)");
  return 0;
}

namespace {

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

// One line of `recv`: the message as a JSON object, its keys in this order.
// Written field by field rather than built as an ordered_json, which took 2.5x
// the CPU time of the whole `recv` per line (docs/design.md, "The CLI: CLI11 and nlohmann-json, and where not"); the strings
// are still escaped by nlohmann::json.
std::string message_line(const Message& m, Receiver& rx, GroupNames& groups) {
  auto name = [](std::string& out, std::string_view key, const std::string& n) {
    out += key;
    if (n.empty())
      out += "null";  // the endpoint (group) was removed since
    else
      append_json_string(out, n);
  };
  std::string out = "{\"id\":\"" + std::to_string(m.id()) + '"';  // a string: id_json
  name(out, ",\"from\":", rx.name_of(m.from()));
  name(out, ",\"to\":", rx.name_of(m.to()));
  if (m.group() == 0)
    out += ",\"group\":null";
  else
    name(out, ",\"group\":", groups(m.group()));
  out += ",\"priority\":" + std::to_string(m.priority());
  out += ",\"type\":" + std::to_string(m.type());
  out += ",\"timestamp_ns\":" + std::to_string(m.timestamp_ns());
  out += ",\"expires_ns\":" + std::to_string(m.expires_ns());
  out += m.redelivered() ? ",\"redelivered\":true" : ",\"redelivered\":false";
  out += ",\"status\":\"";
  out += incoming_name(m.status());
  out += '"';
  append_payload(out, m.payload());
  out += "}\n";
  return out;
}

// The most messages `recv` takes in one batch (between two looks at a signal or the deadline).
constexpr std::uint64_t recv_batch = 64;

}  // namespace

int run_recv(const Invocation& inv) {
  const std::optional<std::uint64_t> count = inv.args.uint<std::uint64_t>("count", 1);
  const std::optional<std::chrono::nanoseconds> timeout = inv.args.duration("timeout");
  const bool mark_read = inv.args.flag("read");
  const bool ack = !inv.args.flag("no-ack");
  const std::string name = name_operand(inv);

  // Before the attach: a signal that comes once the endpoint shows a receiver
  // (what a supervisor, or a test, waits for) must end us cleanly, not by the
  // default action (exit 143 with the lease left for the next opener to reclaim).
  const StopSignals stop;
  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  // Acknowledged once its line is written, not when taken (unless --read: the
  // sender sees read before the line): a message we could not hand on is given
  // to the next receiver, and an acknowledged one never is.
  std::optional<Receiver> rx(or_fail(bus.attach(name, ReceiverOptions{.idle = {}, .auto_ack = false})));
  GroupNames groups(bus);
  const std::uint64_t start = now_monotonic_ns();
  const std::uint64_t deadline = timeout ? start + static_cast<std::uint64_t>(timeout->count()) : ~0ull;
  std::uint64_t received = 0;
  std::string line;
  int failed = 0;  // errno of a line that could not be written
  // Takes the messages waiting in batches (Receiver::drain): their lane space
  // is given back with one store per lane after the batch's lines are written.
  const auto one = [&](Message& m) {
    if (mark_read) {  // before printing: whoever reads our line may ask the sender's status
      if (ack) rx->ack(m);
      rx->mark_read(m);
    }
    line = message_line(m, *rx, groups);
    if (!try_write_out(line)) {
      failed = errno;
      return false;  // declined: not taken, the batch stops before it
    }
    if (ack && !mark_read) rx->ack(m);  // handed on: now it may be acknowledged
    return true;
  };
  while (!count || received < *count) {
    // Wait in slices of at most 100 ms: a signal does not cut a wait short.
    const std::uint64_t now = now_monotonic_ns();
    const std::uint64_t slice = std::min<std::uint64_t>(deadline - std::min(now, deadline), 100'000'000ull);
    const std::uint64_t limit = count ? std::min<std::uint64_t>(*count - received, recv_batch) : recv_batch;
    received += rx->drain(one, limit, std::chrono::nanoseconds(slice));
    if (failed != 0) {
      // Leave without acknowledging or releasing the message we could not
      // hand on (a normal return would release it, in ~Receiver): whoever
      // attaches next gets it again, flagged redelivered (the lines before it
      // in the batch were released by drain). A closed pipe is the reader's
      // choice: ended by SIGPIPE, silently, as filters are.
      errno = failed;
      if (errno == EPIPE) die_of_closed_pipe();
      std::cerr << "courier: " << write_error() << '\n';
      std::_Exit(1);
    }
    if (auto gone = rx->error()) throw Failure(gone->message);  // removed (courier rm --force): exit 1
    if (stop.requested() || now_monotonic_ns() >= deadline) break;
  }
  rx.reset();  // releases the last message; then what it wrote to the log is flushed
  flush_log(bus);
  if (count && received < *count)
    throw Failure((stop.requested() ? "interrupted: received " : "timeout: received ") + std::to_string(received) +
                  " of " + std::to_string(*count));
  return 0;
}

}  // namespace courier::cli
