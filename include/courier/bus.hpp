/// @file
/// The public API: open a bus, register endpoints and groups, send, receive,
/// follow statuses. Including this header is enough.
///
///     auto bus = courier::Bus::open("orders");
///     if (!bus) { std::cerr << bus.error().message << '\n'; return 1; }
///     auto alice = bus->endpoint("alice");          // register or find; send as alice
///     auto bob   = bus->attach("bob");              // bob's receiver: exclusive lease
///     alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s, .type = 7}, bytes);
///     if (auto m = bob->receive(100ms)) use(m->payload());
///
/// The parts: options.hpp (how a bus is opened), endpoint.hpp (sending),
/// receiver.hpp (receiving), status.hpp (what became of a message),
/// stats.hpp (what a bus says about itself), result.hpp / error.hpp (errors).
/// Nothing under courier/detail/ is meant for a user.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/bus_state.hpp"
#include "courier/endpoint.hpp"
#include "courier/ids.hpp"
#include "courier/limits.hpp"
#include "courier/options.hpp"
#include "courier/receiver.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"
#include "courier/status.hpp"

/// courier: a message bus for the processes of one Linux host (see the main
/// page). Everything a user needs is in this namespace; courier::detail is internal.
namespace courier {

/// The header fields of a relayed message that identify its send
/// (Bus::report_relayed): a relay such as courier bridge keeps them for a
/// message it took without acknowledging, to report its fate later.
struct RelayedMessage {
  std::uint64_t id = 0;             ///< the message's id
  EndpointId from = no_endpoint;    ///< the sender on this bus
  EndpointId to = no_endpoint;      ///< the endpoint the relay received it as
  GroupId group = 0;                ///< its group, 0 when sent to an endpoint
  std::uint64_t timestamp_ns = 0;   ///< CLOCK_REALTIME when sent
  std::uint64_t expires_ns = 0;     ///< absolute CLOCK_REALTIME deadline; 0: real-time
};
/// The fields of `m` that Bus::report_relayed needs. Does not block or allocate.
inline RelayedMessage relayed(const Message& m) noexcept {
  return {m.id(), m.from(), m.to(), m.group(), m.timestamp_ns(), m.expires_ns()};
}

/// A bus: open it, register endpoints and groups, get handles to send
/// (endpoint()) and receive (attach()), ask for statuses and counters.
///
/// A Bus is a handle to the process's view of one bus (its shared memory
/// mapping and, with a log, this process's journal writer and threads).
/// Copies share that view; so do the Endpoints and Receivers made from it,
/// which keep it alive. The view goes with the last of them: the log is then
/// flushed and synced (blocking) and its threads joined.
///
/// @threads Its member functions may be called from several threads at once:
/// directory changes take the bus's process-shared (robust) directory lock,
/// log operations the process's log mutex, and the rest reads shared memory
/// with atomics. Endpoint and Receiver handles are one thread at a time each.
///
/// @blocking The registry calls (add_/find_/remove_ endpoint and group
/// members, endpoint(), attach(), endpoints(), groups()) take the directory
/// lock: short, but a holder that is alive and stopped makes them wait up to
/// Options::open_timeout (then Errc::timeout). They allocate. On a bus with
/// a log, group changes are written and synced before they return.
///
/// @errors Every call on a bus removed since this process opened it answers
/// Errc::removed. Directory-lock failures: Errc::timeout (held by a stopped
/// process), Errc::corrupt (damaged by a foreign write), Errc::system.
class Bus {
 public:
  /// Create or attach the bus `name` ([A-Za-z0-9._-]{1,64}).
  ///
  /// Maps its shared memory (creating it, sized for the geometry, when it
  /// does not exist and options.create); waits up to options.open_timeout for
  /// a creator that is still initialising it. With a log: opens LOG_DIR/NAME,
  /// starts the group-commit thread (Sync::group, Sync::os) and, with a
  /// housekeeping_interval, the housekeeping thread; when this open created
  /// the shared memory and the log holds records, recovers before returning
  /// (reads every journal: seconds for gigabytes), or waits (up to 10
  /// minutes) for another process's recovery. Blocks and allocates: a cold path.
  /// @threads Safe from any thread; opens of one name in one process share
  /// nothing but an in-process bus.
  /// @errors invalid_argument (bad name, an option out of bounds, a log_dir
  /// that is not a directory of this user's, in_process with a log_dir);
  /// not_found (!create and no such bus, or LOG_DIR missing); incompatible (a
  /// segment of another layout version, a named setting that differs from the
  /// bus's: both values in the message); corrupt (shared memory or
  /// bus.settings that fail validation); timeout (a creator that did not
  /// finish in open_timeout, a rebuild over 10 minutes); busy (a rebuild that
  /// failed, or whose process died without a log given to finish it);
  /// capacity (a tracker too small for what the log owes); system (an OS call,
  /// another user's object).
  static Result<Bus> open(std::string_view name, const Options& options = {});
  /// Remove the bus's shared memory. Refused (busy, naming them) while a
  /// living process has a receiver attached to one of its endpoints, unless
  /// options.force. Processes that still have it open are told: their next
  /// call answers Errc::removed (Status::removed for a send; a receiver hands
  /// out nothing and says so in error(), a parked one is woken); with a log,
  /// what was reported `sent` comes back in the bus the next open creates
  /// (docs/design.md, "Safe removal"). A bus whose shared memory cannot be
  /// read is removed. In-process buses are not touched (they go with their last Bus).
  /// @errors invalid_argument (bad name), not_found (no such bus), busy,
  /// corrupt (not a courier segment, without force), system (another user's
  /// object, shm_unlink failed).
  static Result<void> remove(std::string_view name, const RemoveOptions& options = {});
  /// Whether a bus of this name has shared memory on this host (in-process
  /// buses of this process included). One stat(2); false for an invalid name.
  static bool exists(std::string_view name);
  /// The directory of a bus's journals under a log directory: LOG_DIR/NAME.
  static std::string log_directory_for(std::string_view log_dir, std::string_view name);
  /// Delete the journals of bus `name` under `log_dir` (then its directory
  /// when nothing else is in it). Ok when there is nothing to delete.
  /// @errors invalid_argument (bad name), system (a file or the directory
  /// could not be deleted, naming it).
  static Result<void> remove_log(std::string_view log_dir, std::string_view name);

  const std::string& name() const noexcept { return s_->name; }  ///< the bus's name
  /// Its geometry as this process validated it (an internal type; BusSettings
  /// via settings() is the stable view).
  const Geometry& geometry() const noexcept { return s_->seg.geometry(); }

  /// Register an endpoint; one that exists already is not an error: its id is
  /// returned (like add_member of a member), so that setup code may run twice.
  /// @errors invalid_argument (bad name), capacity (max_endpoints reached), removed.
  Result<EndpointId> add_endpoint(std::string_view name);
  /// The id of endpoint `name`. @errors invalid_argument, not_found, removed.
  Result<EndpointId> find_endpoint(std::string_view name) const {
    if (s_->removed()) return removed_error(s_->name);
    return s_->dir.find(name);
  }
  /// Remove an endpoint (refused while a receiver is attached). Tracked
  /// messages still waiting for it are reported invalid_destination to their
  /// senders (its lanes are walked). @errors invalid_argument, not_found,
  /// busy (a receiver is attached), removed; with a log, system when the
  /// membership change could not be logged (the removal is made).
  Result<void> remove_endpoint(std::string_view name);
  /// Every endpoint, in slot order. Under the directory lock; when that cannot
  /// be had (damaged, or held by a stopped process) read without it: a change
  /// racing with the read may show a torn name.
  std::vector<EndpointEntry> endpoints() const { return s_->dir.list(); }
  /// The name of endpoint `id`, or "" when it does not exist (any longer).
  std::string endpoint_name(EndpointId id) const { return s_->dir.name_of(id); }

  /// Create group `name`; one that exists already is not an error (its id).
  /// With a log, add_group, remove_group, add_member and remove_member write
  /// the change to it (durable per the sync policy when they return ok).
  /// @errors invalid_argument, capacity (max_groups reached), removed; with a
  /// log, system (the change is made but not in the log).
  Result<GroupId> add_group(std::string_view name);
  /// The id of group `name`. @errors invalid_argument, not_found, removed.
  Result<GroupId> find_group(std::string_view name) const {
    if (s_->removed()) return removed_error(s_->name);
    return s_->dir.find_group(name);
  }
  /// Delete group `name` (its members stay endpoints). @errors
  /// invalid_argument, not_found, removed; with a log, system.
  Result<void> remove_group(std::string_view name);
  /// Add `endpoint` (registered when missing) to `group`; a member already is
  /// not an error. @errors invalid_argument, not_found (no such group),
  /// capacity (the group or the endpoints are full), removed; with a log, system.
  Result<void> add_member(std::string_view group, std::string_view endpoint);
  /// Take `endpoint` out of `group`. @errors invalid_argument, not_found (no
  /// such group or endpoint, not a member), removed; with a log, system.
  Result<void> remove_member(std::string_view group, std::string_view endpoint);
  /// Every group with its members.
  std::vector<GroupEntry> groups() const { return s_->dir.list_groups(); }
  /// The name of group `id`, or "" when it does not exist (any longer).
  std::string group_name(GroupId id) const { return s_->dir.group_name_of(id); }

  /// Report tracked messages that expired waiting in any lane (their senders
  /// are told `expired`) and retire tracker entries past their deadline.
  /// Walks every lane and the tracker (O(bus size); lists the endpoints under
  /// the directory lock); never fails.
  SweepResult sweep();
  /// The housekeeping of a bus with a log: take the housekeeping lease (one
  /// process at a time; taken over when its holder died), sweep (as sweep()),
  /// and delete the journal segments whose records are all settled. Bus::open
  /// runs it every Options::housekeeping_interval on a thread of its own.
  /// Reads journal files (disk I/O), allocates. holder == false: another live
  /// process keeps the bus, nothing was done. @errors invalid_argument (no
  /// log), removed, system (the journal directory cannot be read).
  Result<HousekeepResult> housekeep();
  /// Status of a tracked message sent by `sender` (see Endpoint::status).
  /// @errors invalid_argument / not_found (no such sender), not_found (no such
  /// tracked message: never tracked, or retired), removed.
  Result<StatusReport> status(std::string_view sender, std::uint64_t id) const;
  /// For a relay (courier bridge) that took `m` from its receiver, released it
  /// unacknowledged and carried it on elsewhere: report to m's sender what
  /// became of it there (delivered, read, or an error such as expired), as the
  /// receiver's ack / mark_read would, also after the message left the lane.
  /// Only the fields of relayed(message) are used. Does not allocate; safe from
  /// any thread. False when the tracker no longer holds that send or the
  /// status does not move it forward.
  bool report_relayed(const RelayedMessage& m, Status status) noexcept {
    RecordHeader h{};
    h.id = m.id;
    h.from = m.from;
    h.to = m.to;
    h.group = m.group;
    h.timestamp_ns = m.timestamp_ns;
    h.expires_ns = m.expires_ns;
    return !s_->removed() && s_->report(h, m.to, status);
  }

  /// A handle to send as `name` (registered if missing); allocates its tables.
  /// @errors invalid_argument (bad name), capacity (max_endpoints reached), removed.
  Result<Endpoint> endpoint(std::string_view name);
  /// Become the receiver of `name` (registered if missing): an exclusive lease,
  /// taken over when its holder has died. Never waits for a live holder.
  /// @errors invalid_argument, capacity, busy (a live process holds the lease,
  /// or this process does already), not_found (removed while attaching), removed.
  Result<Receiver> attach(std::string_view name, const ReceiverOptions& options = {});

  /// Rebuild the tracker from the journals and put back into their lanes the
  /// messages owed that are in no lane (all of them after a reboot; on a live
  /// bus, those the log holds alone), report the expired ones to their
  /// senders. Safe on a live bus; reads every journal (blocks, allocates);
  /// `progress` is called on this thread. @errors invalid_argument (no log),
  /// capacity (the tracker cannot hold what is owed), removed, system.
  Result<RecoveryReport> recover(const std::function<void(const RecoveryProgress&)>& progress = {});
  /// What open() recovered (ran == false when it did not).
  const RecoveryReport& recovery() const noexcept;
  /// Write and sync what this process has buffered in its log now, and report
  /// `sent` for it (Sync::group / os do this by themselves within the interval).
  /// Blocks on write and fdatasync (none with Sync::os). @errors
  /// invalid_argument (no log), system (log_error() has the file and reason).
  Result<void> flush_log();
  bool has_log() const noexcept;  ///< the bus has a durable log
  /// Why this process's log last failed (a send or flush that said
  /// log_failed): the file and the system's reason. Empty when it never failed.
  std::optional<Error> log_error() const;
  const std::string& log_directory() const noexcept;  ///< LOG_DIR/BUS, or empty

  /// Endpoints, groups, counters and tracker use, read now (relaxed loads;
  /// takes the directory lock to list; allocates). Never fails.
  BusStats stat() const;
  /// Copies of the messages waiting for `endpoint`, not taken: priority 0's
  /// lane first, each lane oldest first, at most `limit`, with the first
  /// `head_bytes` of each payload. A snapshot of shared memory, checked as a
  /// receiver checks it: a record consumed meanwhile is left out. Allocates;
  /// does not block; safe from any thread. Errors: Errc::not_found (no such
  /// endpoint), Errc::removed.
  Result<std::vector<WaitingMessage>> peek(std::string_view endpoint, std::size_t limit,
                                           std::size_t head_bytes = 64) const;
  /// The settings the bus was created with (from this process's validated copy).
  BusSettings settings() const noexcept;
  /// The bus was removed (Bus::remove, courier rm) since this process opened
  /// it: every call that changes or sends answers Errc::removed (a send
  /// Status::removed); the getters (stat, settings, endpoints, groups, names)
  /// keep answering from the removed memory, stat() with `removed` set, and
  /// sweep() does nothing. Open it again for the new bus.
  bool removed() const noexcept { return s_->removed(); }
  /// This open created the bus's shared memory (first open, or after a reboot).
  bool created() const noexcept { return s_->seg.created(); }

  /// For benchmarks only: bring in now the pages a run will write, so that its
  /// first pass takes no page fault and, for a lane, reserves no more space
  /// for its first `bytes` (contents unchanged; best effort) ...
  void prefault_lane(EndpointId to, std::uint8_t priority, std::uint64_t bytes) const noexcept;
  /// ... the same for the status ring of `sender` ...
  void prefault_status_ring(EndpointId sender, std::uint64_t bytes) const noexcept;
  /// ... and empty the tracker between runs: every entry retired as if past its
  /// deadline. Never on a bus in use: statuses and dedup are lost.
  void retire_all_tracked_for_benchmark() noexcept;

  /// The shared-memory segment (an internal type, for the CLI and tests).
  const Segment& segment() const noexcept { return s_->seg; }
  bool in_process() const noexcept { return s_->in_process; }  ///< an in-process bus (Options::in_process)

 private:
  explicit Bus(std::shared_ptr<detail::BusState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::BusState> s_;
};

}  // namespace courier
