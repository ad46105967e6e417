// courier/bus.hpp — the public API: open a bus, register endpoints and groups,
// send, receive, follow statuses. Including this header is enough.
//
//   auto bus = courier::Bus::open("orders");
//   if (!bus) { std::cerr << bus.error().message << '\n'; return 1; }
//   auto alice = bus->endpoint("alice");          // register or find; send as alice
//   auto bob   = bus->attach("bob");              // bob's receiver: exclusive lease
//   alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s, .type = 7}, bytes);
//   if (auto m = bob->receive(100ms)) use(m->payload());
//
// The parts: options.hpp (how a bus is opened), endpoint.hpp (sending),
// receiver.hpp (receiving), status.hpp (what became of a message),
// stats.hpp (what a bus says about itself), result.hpp / error.hpp (errors).
// Nothing under courier/detail/ is meant for a user.
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

namespace courier {

// The header fields of a relayed message that identify its send (Bus::report_relayed).
struct RelayedMessage {
  std::uint64_t id = 0;
  EndpointId from = no_endpoint;  // the sender on this bus
  EndpointId to = no_endpoint;    // the endpoint the relay received it as
  GroupId group = 0;
  std::uint64_t timestamp_ns = 0, expires_ns = 0;
};
inline RelayedMessage relayed(const Message& m) noexcept {
  return {m.id(), m.from(), m.to(), m.group(), m.timestamp_ns(), m.expires_ns()};
}

class Bus {
 public:
  // Create or attach the bus `name` ([A-Za-z0-9._-]{1,64}).
  static Result<Bus> open(std::string_view name, const Options& options = {});
  // Remove the bus's shared memory. Refused (busy, naming them) while a
  // living process has a receiver attached to one of its endpoints, unless
  // options.force. Processes that still have it open are told: their next
  // call answers Errc::removed (Status::removed for a send; a receiver hands
  // out nothing and says so in error(), a parked one is woken); with a log,
  // what was reported `sent` comes back in the bus the next open creates
  // (docs/design.md, "Safe removal"). A bus whose shared memory cannot be
  // read is removed. In-process buses are not touched (they go with their last Bus).
  static Result<void> remove(std::string_view name, const RemoveOptions& options = {});
  // Whether a bus of this name has shared memory on this host (in-process
  // buses of this process included).
  static bool exists(std::string_view name);
  // The directory of a bus's journals under a log directory: LOG_DIR/NAME.
  static std::string log_directory_for(std::string_view log_dir, std::string_view name);
  // Delete the journals of bus `name` under `log_dir` (then its directory
  // when nothing else is in it). Ok when there is nothing to delete.
  static Result<void> remove_log(std::string_view log_dir, std::string_view name);

  const std::string& name() const noexcept { return s_->name; }
  const Geometry& geometry() const noexcept { return s_->seg.geometry(); }

  // Register an endpoint; one that exists already is not an error: its id is
  // returned (like add_member of a member), so that setup code may run twice.
  Result<EndpointId> add_endpoint(std::string_view name);
  Result<EndpointId> find_endpoint(std::string_view name) const {
    if (s_->removed()) return removed_error(s_->name);
    return s_->dir.find(name);
  }
  // Remove an endpoint (refused while a receiver is attached). Tracked
  // messages still waiting for it are reported invalid_destination to their senders.
  Result<void> remove_endpoint(std::string_view name);
  std::vector<EndpointEntry> endpoints() const { return s_->dir.list(); }
  std::string endpoint_name(EndpointId id) const { return s_->dir.name_of(id); }

  // Groups. add_member registers the endpoint when missing.
  // With a log, add_group, remove_group, add_member and remove_member write
  // the change to it (durable per the sync policy when they return ok).
  Result<GroupId> add_group(std::string_view name);
  Result<GroupId> find_group(std::string_view name) const {
    if (s_->removed()) return removed_error(s_->name);
    return s_->dir.find_group(name);
  }
  Result<void> remove_group(std::string_view name);
  Result<void> add_member(std::string_view group, std::string_view endpoint);
  Result<void> remove_member(std::string_view group, std::string_view endpoint);
  std::vector<GroupEntry> groups() const { return s_->dir.list_groups(); }
  std::string group_name(GroupId id) const { return s_->dir.group_name_of(id); }

  // Report tracked messages that expired waiting in any lane (their senders
  // are told `expired`) and retire tracker entries past their deadline.
  SweepResult sweep();
  // The housekeeping of a bus with a log: take the housekeeping lease (one
  // process at a time; taken over when its holder died), sweep (as sweep()),
  // and delete the journal segments whose records are all settled. Bus::open
  // runs it every Options::housekeeping_interval on a thread of its own.
  Result<HousekeepResult> housekeep();
  // Status of a tracked message sent by `sender`.
  Result<StatusReport> status(std::string_view sender, std::uint64_t id) const;
  // For a relay (courier bridge) that took `m` from its receiver, released it
  // unacknowledged and carried it on elsewhere: report to m's sender what
  // became of it there (delivered, read, or an error such as expired), as the
  // receiver's ack / mark_read would, also after the message left the lane.
  // Only the fields of relayed(message) are used. False when the
  // tracker no longer holds that send or the status does not move it forward.
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

  // A handle to send as `name` (registered if missing).
  Result<Endpoint> endpoint(std::string_view name);
  // Become the receiver of `name` (registered if missing): an exclusive lease,
  // taken over when its holder has died.
  Result<Receiver> attach(std::string_view name, const ReceiverOptions& options = {});

  // The durable log. recover(): rebuild the tracker from the journals and put
  // back into their lanes the messages owed that are in no lane (all of them
  // after a reboot; on a live bus, those the log holds alone), report the
  // expired ones to their senders. Safe on a live bus; invalid_argument
  // without a log. recovery(): what open() did (ran == false when it did not).
  Result<RecoveryReport> recover(const std::function<void(const RecoveryProgress&)>& progress = {});
  const RecoveryReport& recovery() const noexcept;
  // Write and sync what this process has buffered in its log now, and report
  // `sent` for it (Sync::group / os do this by themselves within the interval).
  Result<void> flush_log();
  bool has_log() const noexcept;
  // Why this process's log last failed (a send or flush that said
  // log_failed): the file and the system's reason. Empty when it never failed.
  std::optional<Error> log_error() const;
  const std::string& log_directory() const noexcept;  // LOG_DIR/BUS, or empty

  BusStats stat() const;
  BusSettings settings() const noexcept;
  // The bus was removed (Bus::remove, courier rm) since this process opened
  // it: every call answers Errc::removed; open it again for the new bus.
  bool removed() const noexcept { return s_->removed(); }
  // This open created the bus's shared memory (first open, or after a reboot).
  bool created() const noexcept { return s_->seg.created(); }

  // For benchmarks only: bring in now the pages a run will write, so that its
  // first pass takes no page fault (contents unchanged; best effort) ...
  void prefault_lane(EndpointId to, std::uint8_t priority, std::uint64_t bytes) const noexcept;
  void prefault_status_ring(EndpointId sender, std::uint64_t bytes) const noexcept;
  // ... and empty the tracker between runs: every entry retired as if past its
  // deadline. Never on a bus in use: statuses and dedup are lost.
  void retire_all_tracked_for_benchmark() noexcept;

  const Segment& segment() const noexcept { return s_->seg; }
  bool in_process() const noexcept { return s_->in_process; }

 private:
  explicit Bus(std::shared_ptr<detail::BusState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::BusState> s_;
};

}  // namespace courier
