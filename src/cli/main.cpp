// cli/main.cpp — `courier`, the command-line tool: send and receive messages,
// follow the status of tracked ones, manage endpoints and groups, inspect,
// sweep, create and remove buses (courier --help). It uses the public API only.
// Here: the commands, their help, and the dispatch; each command is in a file
// of its own (send_recv.cpp, status.cpp, endpoints.cpp, stat.cpp, log.cpp, recover.cpp,
// create.cpp, bench.cpp; ls.cpp, peek.cpp, doctor.cpp and top.cpp, which only look, share inspect.hpp),
// what they share in common.{hpp,cpp}. Conventions: docs/design.md, "CLI conventions".
//
// Exit status: 0 success; 1 a failure at run time (one line on stderr: the
// library's error message, or why a message was not sent); 2 a bad command
// line (one line on stderr naming the argument).
#include <algorithm>
#include <csignal>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "courier/names.hpp"
#include "courier/version.hpp"

namespace courier::cli {
namespace {

// Operands after the required ones: no limit (group add/rm MEMBER...).
constexpr std::size_t any_number = ~std::size_t{0};

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
options of create (and of send, recv, endpoint add, group add and recover
when they rebuild a bus from its journals after a reboot), ignored when the
bus exists:
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
                            (only DIR/BUS is created, mode 0700; it must be
                            yours and not writable by others). Messages sent
                            with --expiry are written there and survive crashes
                            of processes (and of the machine, unless --sync
                            os); a bus whose
                            shared memory was removed (a reboot) is rebuilt from
                            the journals by the next send, recv, endpoint add or
                            group add with --log DIR (or by recover). The bus
                            keeps DIR and --sync from its creation: later
                            commands use them without --log, and one that
                            gives another DIR or --sync is refused.
  --sync always|group|os    when "sent" is said of a message sent with --expiry
                            (create: needs --log): always (the journal is fdatasync'ed
                            before send returns), group (the default: group
                            commit, fdatasync of a batch of messages), os (written
                            to the page cache only: survives crashes of
                            processes, not of the machine)
  --log-cpus LIST           run this command's log threads on these CPUs
                            (0 or 0-1,3; each one this process may use)
  --no-log-direct-io        write this command's journal through the page
                            cache (by default a synced batch, --sync group or
                            always, is written with O_DIRECT and not cached)

Options may come before or after the command and its operands; "--" ends
them (for DATA that begins with '-'). -h is --help.
DURATION: a number and a unit, ns us ms s m h d, parts may be joined (each
  unit once, largest first): 250ms, 10s, 5m, 2h, 3d, 1h30m; at most 36500d.
  A plain number other than 0 is refused.
Only create makes a bus: the other commands fail on a missing one ("no bus
  named ...") and create nothing, unless --log DIR holds its journals (above).
names: BUS [A-Za-z0-9._-]{1,64}; endpoint NAME and GROUP
  [A-Za-z0-9._@:-]{1,63}; none may be . or ..
tracked messages: those sent with --expiry or --id. The bus keeps their status
  (outbox, sent, delivered, read, or an error such as expired, offline, full)
  until their expiry plus the bus's status retention (default 10s), and does
  not enqueue a second send of the same --from and --id (a duplicate) unless
  the first was refused (full, offline).
exit status: 0 success, 1 failure (reason on stderr), 2 bad command line.
  courier --version prints the version.
)";

constexpr Command commands[] = {
    {"create", cmd_create, "BUS", 1, R"(  create BUS [--max-endpoints N] [--lane-capacity BYTES] [--max-payload BYTES]
       [--claim-timeout DURATION] [--max-groups N] [--max-group-members N]
       [--tracker-capacity N] [--log DIR [--sync always|group|os]] [--json]
      Create the bus (the only command that does), with the creation options
      below, and print what it made: "created bus 'BUS': SIZE of shared
      memory, N endpoints at most, lanes of SIZE" and, with --log, the
      directory of its journals and the sync policy; --json: one JSON
      object. Exit status 1 when the
      bus exists already (courier stat BUS shows it).
)",
     run_create},
    {"send", cmd_send, "BUS", 2, R"(  send BUS --from NAME (--to NAME | --group GROUP) [--priority 0-15]
       [--expiry DURATION] [--type N] [--id N] [--wait sent|delivered|read]
       [--timeout DURATION] [DATA | - | --lines] [--json]
      Send one message as NAME (registered if missing) to an existing endpoint,
      or to every member of an existing group (one copy each); prints
      "<id> <status>" (--json: {"id":"<id>","status":"<status>"}, the id a
      string). Without DATA, or with "-", the payload is stdin.
      --to         the destination endpoint
      --group      the destination group (give --to or --group, not both); when
                   some members' lanes refused it, a note on stderr says how
                   many of the members took it (exit status 0 if any did)
      --priority   0 is the highest (default 8)
      --expiry     how long the bus may hold the message for delivery (default 0:
                   real-time, delivered now to an attached receiver or "offline")
      --type       user-defined number, 0..4294967295 (default 0)
      --id         identifier, as printed (123 or "123"; default: generated
                   when --expiry is given, else 0).
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
      --lines      one message per line of stdin (its '\n' removed; an empty
                   line is a message of 0 bytes; a last line without '\n' is
                   one), each with the options above, sent without waiting for
                   the one before; no DATA. Prints "<id> <status>" per message:
                   in line order without --wait; with --wait, as each reaches
                   the status or an error (ids grow with the line number). --id
                   N gives line k the id N+k-1 (so a rerun is not enqueued
                   twice). --timeout (default 10s) is per message: waiting for
                   room in a full lane, and with --wait from its send to the
                   status; a message short of it then is printed with its last
                   status. Reading stops at the first line refused (reason on
                   stderr, naming the line), longer than the bus's max_payload,
                   or timed out: the lines sent are exactly those before it
                   (stderr says from which line on none was sent); the messages
                   in flight are still waited for. Exit status 0 only if every
                   line was sent and reached the status
      Exit status 1 unless the status is "sent" (or the --wait status).
)",
     run_send},
    {"recv", cmd_recv, "BUS NAME", 2, R"(  recv BUS NAME [--count N] [--timeout DURATION] [--no-ack] [--read] [--json]
      Receive as NAME (registered if missing; one receiver per endpoint). Prints
      one JSON object per message and line (--json or not): id (a string,
      "123": 64-bit ids are strings in every JSON courier prints), from, to, group (the group's
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
      The status of tracked message ID (123 or "123") sent by NAME: one word (outbox, sent,
      delivered, read, or an error: expired, offline, full, invalid_destination,
      too_large, revoked, tracker_full, log_failed, invalid_argument). For a
      group message, the total first, then one line per member it was sent to:
      "<member> <status>". --json: one JSON object instead. Exit status 1 when
      the bus keeps no status for it (never tracked, or retired).
)",
     run_status},
    {"endpoint add", cmd_endpoint_add, "BUS NAME", 2,
     "  endpoint add BUS NAME\n      Register an endpoint (one that exists: nothing to do, a note says so).\n",
     run_endpoint_add},
    {"endpoint rm", cmd_endpoint_rm, "BUS NAME", 2,
     "  endpoint rm BUS NAME\n      Remove an endpoint (refused while a receiver is attached).\n", run_endpoint_rm},
    {"endpoint ls", cmd_endpoint_ls, "BUS", 1,
     "  endpoint ls BUS [--long] [--json]\n      List endpoint names, one per line; --long adds receiver and waiting "
     "messages;\n      --json: one JSON object per endpoint and line (name, id, receiver_attached, receiver_pid,\n"
     "      waiting_total).\n",
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
    {"ls", cmd_ls, "", 0, R"(  ls [--json]
      Every bus on this host (its shared memory, /dev/shm/courier.BUS), one
      line each: reserved size (what its shared memory may grow to use),
      resident size (the pages it uses now), endpoints, receivers attached,
      messages waiting, and the directory of its journals. An entry of another
      user, not a regular file, or not a bus name is listed as skipped, with
      why, and not opened. --json: one JSON object per bus and line (bus,
      reserved_bytes, resident_bytes, endpoints, receivers, waiting, journals,
      skipped: null, or why it was not opened).
)",
     run_ls},
    {"peek", cmd_peek, "BUS NAME", 2, R"(  peek BUS NAME [--limit N] [--json]
      The messages waiting for endpoint NAME, shown and not taken (no receiver
      is attached, nothing is acknowledged): priority 0 first, oldest first in
      each priority, at most N (default 20; 1..1000000), one line each: id,
      from (and group), priority, type, size, when it expires, and its first 64
      bytes (\xHH for bytes that are not printable ASCII, "..." when there is
      more). --json: one JSON object per message and line: id (a string), from,
      group, priority, type, timestamp_ns, expires_ns, redelivered, size,
      truncated, and "data" or "data_b64" (the first 64 bytes).
)",
     run_peek},
    {"doctor", cmd_doctor, "BUS", 1, R"(  doctor BUS [--json]
      Check the bus's health without changing it: receiver leases held by
      processes that died, room in /dev/shm for the rest of what the bus has
      reserved, its log (the journal directory, this process's log errors,
      damage in the journals), the tracker's fill (90% or more, or tracked
      sends refused for want of room), status events dropped, corrupt records
      stepped over. Prints "bus 'BUS': healthy" (exit status 0), or one line
      per problem, "CHECK: what is wrong" (exit status 1). --json: one JSON
      object (bus, healthy, checked, problems: [{check, problem}]).
)",
     run_doctor},
    {"top", cmd_top, "BUS", 1, R"(  top BUS [--once | --count N] [--json]
      A live view of the bus, redrawn every second: per endpoint the
      messages sent and received per second, those waiting per priority lane
      and its receiver; the tracker's fill; status events dropped. Ends with
      exit status 0 on q (typed on a terminal), SIGINT or SIGTERM, the
      terminal restored. --count N: N views, then exit (--once: one, with
      rates over its first second). When stdout is not a terminal, each view
      is plain lines with no screen control, one blank line between views.
      --json: one JSON object per view and line.
)",
     run_top},
    {"sweep", cmd_sweep, "BUS", 1, R"(  sweep BUS [--json]
      Report tracked messages that expired waiting in a lane to their senders
      (status "expired") and retire tracker entries past their expiry plus
      retention; prints "expired N retired M" (--json: one JSON object, with
      expired_stored, the spilled messages found expired in the log).
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
    {"rm", cmd_rm, "BUS", 1, R"(  rm BUS [--log DIR --purge] [--force]
      Remove the bus's shared memory (processes using it keep it until they
      exit), as a reboot would: its journals stay, and the next open with --log
      rebuilds the bus from them. --log DIR --purge: delete its journals
      (DIR/BUS) too. Refused (exit 1, naming them) while receivers of living
      processes are attached; --force: remove it anyway.
)",
     run_rm},
#ifdef COURIER_HAVE_NATS
    {"bridge", cmd_bridge, "BUS", 1,
     R"(  bridge BUS --nats URL --host NAME [--stream S] [--ack-wait DURATION] [--log DIR]
      Join the bus to the other hosts' buses through NATS JetStream (URL, e.g.
      nats://10.0.0.2:4222; the server runs with -js). NAME is this host's name
      ([A-Za-z0-9_-]{1,32}); an endpoint of another host is addressed
      ENDPOINT@HOST: register ENDPOINT@HOST here (courier endpoint add) and
      send to it; the bridge carries it to HOST's bus, where it arrives from
      SENDER@NAME with the same id, exactly once, and brings back delivered,
      read, expired or the error. S names the bridge network (default
      "courier"; one JetStream stream, courier-S). A message this bridge took
      from JetStream and did not acknowledge (it died) is handed out again
      after --ack-wait (default 10s). Runs until SIGINT/SIGTERM.
)",
     run_bridge},
#endif
    {"bench", cmd_bench, "BUS", 1, R"(  bench BUS [--mode pingpong|stream] [--size N[,N...]] [--count N] [--warmup N]
       [--priority 0-15] [--tracked] [--idle default|spin|park]
       [--log DIR [--sync always|group|os]]
       [--json] [--plot FILE]
      Measure the bus between two processes (this one and a copy it forks),
      on endpoints of their own (bench.PID.ping, bench.PID.pong, removed
      after). The bus is created when missing, with the creation options,
      and then removed at the end (its journals too when the run made them).
      --mode     pingpong (default): round trips, one sample each, with
                 percentiles p50 p90 p99 p99.9 p99.99 max (us); stream: one
                 way, as fast as the lane takes them, msgs/s and MB/s
      --size     payload bytes, a list (suffixes K KiB M ...; default 64):
                 one run per size, each at most the bus's max_payload
      --count    measured messages per size (default 10000 pingpong,
                 100000 stream); --warmup N unmeasured ones before (1000)
      --priority the lane (default 8)
      --idle     how both receivers wait: default (spin 50us, then sleep on
                 the futex), spin (busy-spin: a CPU each), park (sleep at once)
      --tracked  send with an expiry (60s) and an id: tracked, statuses
                 followed, and on a bus with a log written to it (per its
                 --sync); default: fire-and-forget. A bus made for the run
                 gets a tracker large enough; an existing one must have room
      --json     one JSON object: the run's settings, the host, and per size
                 sent, received, peer_received, delivered (--tracked),
                 elapsed_ns, msgs_per_s, mb_per_s (pingpong: both directions)
                 and latency_ns (p50 p90 p99 p99_9 p99_99 max mean; null in
                 a stream)
      --plot     write the round-trip distribution of each size as a PNG
                 (needs gnuplot; refused before the run when it is missing)
      Exit status 1 when the other process fails or stops answering (60s).
)",
     run_bench},
};

std::string full_usage() {
  std::string u(usage_head);
  for (const Command& c : commands) u += c.help;
  u += "  help [COMMAND]\n      This text, or one command's.\n";
  u += usage_tail;
  return u;
}

// The synopsis of every command (the first line of its help), for a bare `courier`.
std::string short_usage() {
  std::string u(usage_head);
  for (const Command& c : commands) u += c.help.substr(0, c.help.find('\n') + 1);
  return u + "\ncourier help COMMAND describes one command, courier --help all of them.\n";
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

// ------------------------------------------------------------ main

int run(std::span<char* const> argv) {
  const Args args = Args::parse(argv, option_specs);
  if (args.flag("version")) {
    write_out("courier " COURIER_VERSION_STRING "\n");
    return 0;
  }
  std::vector<std::string> words = args.operands();
  const bool help = args.flag("help") || (!words.empty() && words[0] == "help");
  if (!words.empty() && words[0] == "help") words.erase(words.begin());
  if (help) {
    write_out(help_text(words));
    return 0;
  }
  if (words.empty()) {  // a bare `courier`: the commands, on stderr, and exit status 2
    std::cerr << short_usage();
    return 2;
  }
  const Command* cmd = find_command(words);
  if (cmd == nullptr) {
    if (words[0] == "endpoint" || words[0] == "group")
      throw UsageError(words.size() < 2
                           ? words[0] + ": missing subcommand (add, rm or ls)"
                           : words[0] + ": unknown subcommand " + single_quoted(words[1]) + " (add, rm or ls)");
    throw UsageError("unknown command " + single_quoted(words[0]) + " (see courier --help)");
  }
  args.allow_only(cmd->bit, cmd->name);
  Invocation inv{args, {words.begin() + static_cast<std::ptrdiff_t>(word_count(cmd->name)), words.end()}};
  const std::size_t required = word_count(cmd->operands);
  if (inv.operands.size() < required)
    throw UsageError(std::string(cmd->name) + ": missing " + std::string(nth_word(cmd->operands, inv.operands.size())));
  if (inv.operands.size() > cmd->max_operands)
    throw UsageError(std::string(cmd->name) + ": unexpected argument " +
                     single_quoted(inv.operands[cmd->max_operands]));
  return cmd->run(inv);
}

}  // namespace
}  // namespace courier::cli

int main(int argc, char** argv) {
  using namespace courier::cli;
  // A closed stdout is seen as EPIPE at the write: recv leaves its message
  // unacknowledged and send --lines says which lines were not sent before the
  // process ends; the others end by SIGPIPE then, silently (write_out).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(std::span<char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
  } catch (const UsageError& e) {
    // One line, whatever a name or a file quoted in it held (names.hpp).
    std::cerr << "courier: " << courier::escape_controls(e.what()) << '\n';
    return 2;
  } catch (const std::exception& e) {  // Failure, or bad_alloc
    std::cerr << "courier: " << courier::escape_controls(e.what()) << '\n';
    return 1;
  }
}
