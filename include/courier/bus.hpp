// courier/bus.hpp — the public API: open a bus, register endpoints, send, receive.
//
//   auto bus = courier::Bus::open("orders");
//   if (!bus) { std::cerr << bus.error().message << '\n'; return 1; }
//   auto alice = bus->endpoint("alice");          // register or find; send as alice
//   auto bob   = bus->attach("bob");              // bob's receiver: exclusive lease
//   alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s, .type = 7}, bytes);
//   if (auto m = bob->receive(100ms)) use(m->payload());
//
// Hot paths (send, claim/commit, try_receive) are inline and take no lock, make
// no syscall and allocate nothing once a destination has been resolved; the
// only syscall is the producer's futex wake when the receiver is parked.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <functional>

#include "courier/detail/clock.hpp"
#include "courier/detail/directory.hpp"
#include "courier/detail/status_ring.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/detail/inbox.hpp"
#include "courier/detail/log.hpp"
#include "courier/detail/record.hpp"
#include "courier/status.hpp"
#include "courier/result.hpp"
#include "courier/detail/segment.hpp"

namespace courier {

using namespace std::chrono_literals;

// Options of Bus::open. Geometry fields matter only to the process that
// creates the segment; attachers take the geometry from its header.
struct Options {
  std::uint32_t max_endpoints = 64;           // 1..4096 endpoints on this bus
  std::uint64_t lane_capacity = 4ull << 20;   // bytes per lane, power of two, 4 KiB..1 GiB (16 lanes per endpoint)
  std::uint32_t max_payload = 1u << 20;       // largest payload; must fit in half a lane
  std::chrono::nanoseconds claim_timeout = 200ms;  // a claim unfinished this long is stepped over (dead producer)
  std::chrono::nanoseconds open_timeout = 2s;      // wait this long for a segment another process is creating
  bool create = true;                         // create the bus when it does not exist
  bool group_access = false;                  // mode 0660 instead of 0600
  std::uint32_t max_groups = 16;              // 0..4096 groups
  std::uint32_t max_group_members = 64;       // 1..4096 members per group
  std::uint64_t tracker_capacity = 1u << 16;  // tracked messages in flight (entries, power of two, 64..2^26)
  std::uint64_t status_capacity = 64u << 10;  // bytes of each endpoint's status ring (64 bytes per event)
  std::chrono::nanoseconds status_retention = 10s;  // a tracked message's status is kept this long past its expiry
  // Populate this process's mapping of the tracker when it opens the bus (one
  // madvise(MADV_POPULATE_WRITE), Linux 5.14+): the tracker is hashed, so
  // without it the first touch of each of its pages is a page fault in the
  // middle of a send or a receive, ~10 us apiece on a VM, for as long as the
  // table has untouched pages (a 2^21-entry tracker: 37,000 pages; the round
  // trip of stored messages between two processes in courier-bench: 90-160
  // us without, 5.4-6.6 us with, on the VM of docs/benchmarks.md). Costs ~1.4 us per 4 KiB
  // at open (default tracker: ~1.6 ms) and allocates the whole table at once.
  // false: pages come on first use (short-lived tools, a large table used sparsely).
  bool prefault_tracker = true;
  // In-process mode: the bus lives in this process's memory (no /dev/shm), for
  // threads of one process; same API and semantics. Opening the same name again
  // in this process returns the same bus.
  bool in_process = false;

  // The durable log (issue 4). Empty: no log (messages live in shared memory
  // only, as without it). Otherwise the bus's journals go to LOG_DIR/BUS
  // (created with mode 0700), every message with expiry > 0 is written there,
  // and `sent` is said only when `sync` holds (log.hpp).
  std::string log_dir;
  Sync sync = Sync::group;
  std::chrono::microseconds group_commit_interval{500};  // Sync::group/os: longest wait before a batch is written
  std::uint64_t group_commit_bytes = 1u << 20;            // ... or as soon as this many bytes are waiting
  std::uint64_t log_segment_size = 64ull << 20;           // segments roll at about this size (4 KiB .. 1 GiB)
  // When this open creates the shared memory (first open, or after a reboot)
  // and the log holds records: rebuild the tracker and put back what is owed
  // before open() returns (Bus::recovery() says what was found).
  bool recover = true;
  // Called during that recovery (and by Bus::recover) about every 64 MiB read.
  std::function<void(const RecoveryProgress&)> on_recovery_progress;
  // With a log: run Bus::housekeep this often on a thread (0: never; call it yourself).
  std::chrono::milliseconds housekeeping_interval{1000};
};

struct Destination {
  std::string name;                // endpoint or group name, or empty when id is given
  EndpointId id = no_endpoint;     // a resolved id (Endpoint::resolve) skips the name lookup
  bool is_group = false;           // id/name name a group: fan out to every member once
};
inline Destination peer(std::string_view name) { return Destination{std::string(name), no_endpoint, false}; }
inline Destination peer(EndpointId id) { return Destination{{}, id, false}; }
inline Destination group(std::string_view name) { return Destination{std::string(name), 0, true}; }
inline Destination group(GroupId id) { return Destination{{}, id, true}; }

struct SendOptions {
  Destination to;
  std::uint8_t priority = default_priority;  // 0 (highest) .. 15
  std::chrono::nanoseconds expiry{0};        // 0: real-time (attached receiver now, or offline); > 0: stored until then
  std::uint32_t type = 0;
  std::uint64_t id = 0;                      // 0: generated when expiry > 0; 0 with expiry 0: fire-and-forget
  std::chrono::nanoseconds timeout{0};       // when the lane is full: wait up to this long for room (0: report full)
};

// 16 bytes, so that it comes back in two registers (a 32-byte result went
// through memory and cost the send path ~2 ns, measured).
struct SendResult {
  Status status = Status::sent;
  bool duplicate = false;         // a resend of a tracked (sender, id): not enqueued again; status is the original's
  std::uint16_t recipients = 1;   // group sends: members addressed (max_group_members <= 4096)
  std::uint16_t accepted = 0;     // group sends: members whose lane took it
  std::uint64_t id = 0;

  constexpr SendResult() noexcept = default;
  constexpr SendResult(Status s, std::uint64_t i, bool dup = false, std::uint32_t rec = 1, std::uint32_t acc = 0) noexcept
      : status(s), duplicate(dup), recipients(static_cast<std::uint16_t>(rec)), accepted(static_cast<std::uint16_t>(acc)),
        id(i) {}
  // Accepted now or before (a duplicate whose original is on its way or done).
  // Status::outbox without duplicate: stored in the log, `sent` follows when the sync policy holds.
  bool ok() const noexcept {
    return status == Status::sent || status == Status::outbox ||
           (duplicate && (status == Status::delivered || status == Status::read));
  }
  explicit operator bool() const noexcept { return ok(); }
};
static_assert(sizeof(SendResult) == 16);

struct ReceiverOptions {
  IdleStrategy idle{};
  bool auto_ack = true;  // acknowledge (status delivered) as each message is taken; false: call ack()
};

// The status of a tracked message, as the tracker has it (Endpoint::status).
struct RecipientStatus {
  EndpointId recipient = no_endpoint;
  Status status = Status::outbox;
};
struct StatusReport {
  std::uint64_t id = 0;
  Status status = Status::outbox;  // the message (for groups: sent until every member delivered/read)
  GroupId group = 0;
  EndpointId dest = no_endpoint;   // endpoint sends: the destination
  std::uint32_t recipients = 1, delivered = 0, read = 0, failed = 0;
  std::uint64_t expires_ns = 0, updated_ns = 0;
  std::vector<RecipientStatus> members;  // group sends: each current member that was addressed
};

namespace detail {
// What this process's housekeeper remembers of each journal segment it found
// unsettled (docs/design.md, "Compaction"), so a pass reads only what may
// have changed. Process-local and only a hint: a segment is deleted only
// after a full read finds it settled; this memory can only delay that read.
// A process without it (a new lease holder) reads every segment once.
struct CompactionMemory {
  // A segment found unsettled is looked at again after 1 pass, then 2, 4, ...
  // up to this many passes (64 s at the default 1 s interval).
  static constexpr std::uint64_t max_backoff_passes = 64;
  // The first record that kept the segment, as segment_settled() judged it:
  // while it is still owed the segment is unsettled, so it is not read.
  struct Blocker {
    bool known = false;    // false: damage, an undecodable record, an unreadable file: read it when due
    bool message = false;  // a message record (else a settle record)
    bool keyed = false;    // its ids were mapped: `key` is its tracker entry
    TrackerKey key{};
    std::uint64_t young_until_ns = 0;  // without a tracker entry, owed until then (expiry + retention)
  };
  struct Entry {
    std::uint64_t inode = 0, size = 0;  // the file as last read (another file, or one that grew: read at once)
    std::uint64_t due_pass = 0;         // looked at again from this pass on
    std::uint64_t backoff = 1;          // passes until the next look; doubles up to max_backoff_passes
    std::uint64_t seen_pass = 0;        // the last pass that listed it (entries of vanished files are dropped)
    Blocker blocker;
  };
  std::mutex mutex;        // Bus::housekeep on a caller's thread and the housekeeping thread
  std::uint64_t pass = 0;  // compaction passes run while holding the lease
  std::unordered_map<std::string, Entry> segments;  // by path
};

struct BusState {
  Segment seg;
  Directory dir;
  Tracker tracker;
  std::string name;
  std::uint64_t retention_ns = 0;
  bool in_process = false;
  CompactionMemory compaction;  // the housekeeper's (Bus::housekeep_state)
  explicit BusState(Segment s, std::string n)
      : seg(std::move(s)), dir(seg), tracker(seg.tracker(), seg.geometry().tracker_capacity), name(std::move(n)),
        retention_ns(seg.header().status_retention_ns) {}
  BusState(const BusState&) = delete;
  BusState& operator=(const BusState&) = delete;

  // A tracked message reached `status` for `recipient` (the receiver, a
  // sweeper or a remover saw it). Moves the tracker entry forward, updates the
  // group total, and posts the event to the sender's status ring. True when
  // this call changed the status.
  bool report(const RecordHeader& h, EndpointId recipient, Status status) noexcept;
  // A group member's outcome was counted in the total entry `total`: move the
  // total once every member is settled (delivered / read when every member
  // that did not fail is; `last` when every member failed).
  void settle_total(EndpointId sender, std::uint64_t id, GroupId group, std::uint64_t total, Status last,
                    std::uint64_t now) noexcept;
  // Whether tracker entry e was made by the send of record h, not by another
  // send of the same id (an id may be sent again once its entry has retired,
  // while a copy of the old send still waits in a lane).
  bool same_send(const TrackerEntry& e, const RecordHeader& h) const noexcept {
    const std::uint64_t base = h.expires_ns > h.timestamp_ns ? h.expires_ns : h.timestamp_ns;
    return e.deadline_ns == base + retention_ns;  // as Endpoint::track computes it, from the same clock reading
  }
  void post(EndpointId sender, const StatusEvent& e) noexcept;

  // The durable log (null without one) and what open() recovered. Declared
  // last: the log's flusher thread reports into the members above, so it
  // must stop first.
  RecoveryReport recovery;
  std::unique_ptr<Log> log;
  // A batch of the log is durable (sent) or failed (log_failed).
  void durable(std::span<const Log::Pending> batch, Status st) noexcept;
  // Whether a message is one the log stores (expiry > 0, tracked).
  bool logged(const RecordHeader& h) const noexcept { return log != nullptr && h.id != 0 && h.expires_ns != 0; }
};

// Spilled messages of lane p wait in the log (stored sends to it spill too, to keep their order).
inline bool spill_backlog(const InboxData& in, unsigned p) noexcept {
  // Acquire: partner of the release increments (Endpoint::spill, account_spilled).
  return in.spilled[p].load(std::memory_order_acquire) > in.forwarded[p].load(std::memory_order_acquire);
}
}  // namespace detail

class Endpoint;
class Receiver;

struct EndpointStats {
  std::string name;
  EndpointId id = no_endpoint;
  bool receiver_attached = false;   // a live process holds the lease
  int receiver_pid = 0;
  std::uint64_t waiting[priority_levels] = {};  // committed records waiting per lane
  std::uint64_t waiting_total = 0;
  std::uint64_t received = 0, expired = 0, stale = 0, revoked = 0, corrupt = 0, redelivered = 0, full = 0, offline = 0;
  // as a receiver: acknowledged, marked read
  std::uint64_t delivered = 0, read = 0;
  // as a sender
  std::uint64_t sent = 0, duplicates = 0, tracker_full = 0, status_dropped = 0;
};

struct BusStats {
  std::string name;
  Geometry geometry{};
  std::uint64_t segment_bytes = 0;
  std::uint64_t created_ns = 0;
  bool in_process = false;
  std::vector<EndpointStats> endpoints;
  std::vector<GroupEntry> groups;
  Tracker::Usage tracker{};
};

struct SweepResult {
  std::uint64_t expired = 0;  // tracked messages found past their deadline in a lane (senders told `expired`)
  std::uint64_t retired = 0;  // tracker entries retired past their deadline
  std::uint64_t expired_stored = 0;  // spilled messages (in the log alone) found past their deadline
};

struct HousekeepResult {
  bool holder = false;                 // this process holds the housekeeping lease (else nothing was done)
  SweepResult sweep;
  std::uint64_t segments_deleted = 0;  // journal segments whose every record was settled
  std::uint64_t bytes_deleted = 0;
  std::uint64_t segments_kept = 0;     // still holding something owed (or being written)
  std::uint64_t segments_checked = 0;  // segments read this pass (every record decoded)
  // Segments found unsettled before and not read this pass (counted in
  // segments_kept too): their next look is not due yet (back-off), or the
  // record that kept them is still owed (a tracker lookup, no read).
  std::uint64_t segments_deferred = 0;
};

// The settings a bus was created with: every opener sees the same.
struct BusSettings {
  std::uint32_t max_endpoints = 0;
  std::uint64_t lane_capacity = 0;
  std::uint32_t max_payload = 0;
  std::uint32_t max_groups = 0;
  std::uint32_t max_group_members = 0;
  std::uint64_t tracker_capacity = 0;
  std::uint64_t status_capacity = 0;
  std::chrono::nanoseconds claim_timeout{0};
  std::chrono::nanoseconds status_retention{0};
  std::uint64_t created_ns = 0;     // CLOCK_REALTIME when the shared memory was made
  std::uint64_t segment_bytes = 0;  // size of the shared-memory object
};

class Bus {
 public:
  // Create or attach the bus `name` ([A-Za-z0-9._-]{1,64}).
  static Result<Bus> open(std::string_view name, const Options& options = {});
  // Remove the bus's shared memory. Processes that have it open keep using it.
  static Result<void> remove(std::string_view name);
  // Whether a bus of this name has shared memory on this host (in-process
  // buses of this process included).
  static bool exists(std::string_view name);

  const std::string& name() const noexcept { return s_->name; }
  const Geometry& geometry() const noexcept { return s_->seg.geometry(); }

  Result<EndpointId> add_endpoint(std::string_view name) { return s_->dir.add(name, false); }
  Result<EndpointId> find_endpoint(std::string_view name) const { return s_->dir.find(name); }
  // Remove an endpoint (refused while a receiver is attached). Tracked
  // messages still waiting for it are reported invalid_destination to their senders.
  Result<void> remove_endpoint(std::string_view name);
  std::vector<EndpointEntry> endpoints() const { return s_->dir.list(); }
  std::string endpoint_name(EndpointId id) const { return s_->dir.name_of(id); }

  // Groups. add_member registers the endpoint when missing.
  Result<GroupId> add_group(std::string_view name) { return s_->dir.add_group(name, true); }
  Result<GroupId> find_group(std::string_view name) const { return s_->dir.find_group(name); }
  Result<void> remove_group(std::string_view name) { return s_->dir.remove_group(name); }
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
  const std::string& log_directory() const noexcept;  // LOG_DIR/BUS, or empty

  BusStats stat() const;
  BusSettings settings() const noexcept;
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
  friend class Endpoint;
  static Result<StatusReport> status_of(const detail::BusState& s, EndpointId sender, std::uint64_t id);
  static Result<void> open_log(detail::BusState& st, const Options& o, bool created);
  static Result<void> await_recovery(detail::BusState& st, const Options& o, bool created);
  static SweepResult sweep_state(detail::BusState& st);
  static Result<HousekeepResult> housekeep_state(detail::BusState& st);
  static Result<RecoveryReport> recover_into(detail::BusState& st,
                                             const std::function<void(const RecoveryProgress&)>& progress);
  explicit Bus(std::shared_ptr<detail::BusState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::BusState> s_;
};

// A zero-copy send in progress: write the payload in place, then commit.
class Claim {
 public:
  // Empty when there is no claim (refused, or a duplicate of a tracked id: ok() but nothing to write).
  std::span<std::byte> payload() const noexcept {
    return active() ? std::span<std::byte>{lc_.payload(), capacity_} : std::span<std::byte>{};
  }
  std::uint64_t id() const noexcept { return id_; }
  bool active() const noexcept { return lc_.header != nullptr; }

 private:
  friend class Endpoint;
  LaneClaim lc_{};
  LaneWriter* writer_ = nullptr;
  InboxData* inbox_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t id_ = 0;
  std::uint64_t track_ = Tracker::no_slot;  // tracker slot of a tracked message
  unsigned lane_ = 0;
  bool logged_ = false;  // expiry > 0 on a bus with a log: commit writes it to the log
  bool want_spill_ = false;   // set by send(): a full lane spills to the log instead of failing
  bool spill_ = false;        // claim() found it must spill (no lane claim was made)
  EndpointId spill_to_ = no_endpoint;
  std::uint64_t spill_now_ = 0;
};

// Sends as one endpoint. One thread at a time (make one per thread).
class Endpoint {
 public:
  EndpointId id() const noexcept { return self_; }
  const std::string& name() const noexcept { return name_; }

  // Copy `data` into the destination's lane for `o.priority` (for a group:
  // into each member's, once per member).
  SendResult send(const SendOptions& o, std::span<const std::byte> data) noexcept {
    if (o.to.is_group) return send_group(o, data);
    if (o.expiry.count() > 0 && s_->log != nullptr) return send_logged(o, data);
    Claim c;
    SendResult r = claim(o, data.size(), c);
    if (!r || r.duplicate) return r;  // a duplicate is ok() but has no claim: nothing to write
    if (!data.empty() && c.active()) std::memcpy(c.lc_.payload(), data.data(), data.size());
    return commit(c, data.size());
  }
  SendResult send(const SendOptions& o, std::string_view text) noexcept {
    return send(o, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  }

  // Reserve room for a payload of up to `len` bytes; write it through
  // c.payload(), then commit (or abort). Commit within the bus's claim_timeout.
  SendResult claim(const SendOptions& o, std::size_t len, Claim& c) noexcept;
  // Publish a claim with its final payload length (<= the claimed length).
  SendResult commit(Claim& c, std::size_t len) noexcept;
  void abort(Claim& c) noexcept {
    if (c.active()) c.writer_->abort(c.lc_);
    if (c.track_ != Tracker::no_slot) s_->tracker.release(c.track_);
    c.track_ = Tracker::no_slot;
    c.lc_ = {};
  }

  // Resolve a name once; the Destination it returns skips the lookup on send.
  Result<Destination> resolve(std::string_view name) {
    auto id = s_->dir.find(name);
    if (!id) return std::move(id).error();
    return Destination{std::string(name), *id, false};
  }
  Result<Destination> resolve_group(std::string_view name) {
    auto id = s_->dir.find_group(name);
    if (!id) return std::move(id).error();
    return Destination{std::string(name), *id, true};
  }

  // The status of a message this endpoint sent (the tracker's view).
  Result<StatusReport> status(std::uint64_t id) const { return Bus::status_of(*s_, self_, id); }

  // Called for every status change of this endpoint's tracked messages: the
  // result of each tracked send (sent, or the error) at once, and the events
  // that come back (delivered, read, expired, ...) from poll_status.
  void on_status(std::function<void(const StatusEvent&)> f) { on_status_ = std::move(f); }
  // Drain the endpoint's status ring: f(event) (or the on_status callback when
  // f is empty) for each event. Takes the endpoint's status lease the first
  // time (one consuming process per endpoint; busy while another lives).
  Result<std::size_t> poll_status(const std::function<void(const StatusEvent&)>& f = {});

 private:
  friend class Bus;
  struct Target {
    EndpointId id = no_endpoint;
    LaneWriter lanes[priority_levels];
  };
  Endpoint(std::shared_ptr<detail::BusState> s, EndpointId self, std::string name)
      : s_(std::move(s)), self_(self), name_(std::move(name)), targets_(s_->seg.geometry().max_endpoints) {}

  // Compiled (src/bus.cpp), out of the one-to-one untracked path, which stays small enough to inline.
  SendResult send_group(const SendOptions& o, std::span<const std::byte> data) noexcept;
  // Insert the tracker entry of a tracked send; on failure r is the result to return.
  bool track(const TrackerKey& key, std::uint8_t role, std::uint32_t dest, std::uint32_t recipients,
             std::uint64_t now, std::uint64_t expires, std::uint64_t& slot, SendResult& r) noexcept;
  void settle(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st) noexcept {
    if (slot != Tracker::no_slot) settle_tracked(slot, id, recipient, group, st);
  }
  void settle_tracked(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group,
                                        Status st) noexcept;
  // Exact: one relaxed fetch_add on this endpoint's own counter line (which
  // only processes sending as it write, so it stays in the sender's cache).
  // Measured ~5 ns per send single-threaded; batching it would make `courier
  // stat` lag a live sender, which we judged worse (docs/design.md).
  void count_sent() noexcept { own().sent.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a statistic
  void fill(RecordHeader& h, const SendOptions& o, std::uint64_t id, std::uint64_t now, EndpointId to, GroupId group,
            std::size_t len, std::uint64_t lease) const noexcept {
    h.id = id;
    h.timestamp_ns = now;
    h.expires_ns = o.expiry.count() > 0 ? now + static_cast<std::uint64_t>(o.expiry.count()) : 0;
    h.from = self_;
    h.to = to;
    h.group = group;
    h.type = o.type;
    h.payload_len = static_cast<std::uint32_t>(len);
    h.priority = o.priority;
    h.flags = 0;
    h.reserved0 = 0;
    h.lease = lease;
  }
  InboxData& own() const noexcept { return s_->seg.inbox(endpoint_slot(self_)); }
  static void count(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a statistic

  Target* target(const Destination& d) noexcept;
  Target* target_by_id(EndpointId id) noexcept;
  // Ids come in blocks from the segment's counter, which never falls behind
  // the wall clock in ns: a bus removed and created again starts above every id
  // its predecessor handed out unless that one ran ahead of the clock (more
  // than one id per ns, sustained). The log (issue 4) also raises it past
  // every id it holds when it rebuilds a bus.
  std::uint64_t next_id() noexcept {
    if (id_next_ == id_end_) take_id_block();
    return id_next_++;
  }
  void take_id_block() noexcept {
    {
      constexpr std::uint64_t block = 4096;
      std::atomic<std::uint64_t>& c = s_->seg.header().next_id;
      const std::uint64_t now = realtime_ns();
      // Relaxed: uniqueness comes from the RMW itself; nothing else is published.
      std::uint64_t cur = c.load(std::memory_order_relaxed);
      std::uint64_t start;
      do {
        start = cur > now ? cur : now;
      } while (!c.compare_exchange_weak(cur, start + block, std::memory_order_relaxed, std::memory_order_relaxed));
      id_next_ = start == 0 ? 1 : start;
      id_end_ = start + block;
    }
  }
  // A claim of a message the log stores (src/bus.cpp).
  SendResult commit_logged(Claim& c, std::size_t len) noexcept;
  // A stored send on a bus with a log: to the lane, or spilled to the log
  // when the lane is full or earlier spilled messages wait (src/spill.cpp).
  SendResult send_logged(const SendOptions& o, std::span<const std::byte> data) noexcept;
  // Store one copy in the log alone (spilled); counts it for its receiver.
  Status spill(const RecordHeader& h, std::span<const std::byte> data, std::uint64_t slot, EndpointId key_recipient,
               InboxData& in) noexcept;
  SendResult mark_spill(Claim& c, std::uint64_t slot, std::uint64_t id, InboxData& in, unsigned p, EndpointId to,
                        std::uint64_t now) noexcept {
    c.spill_ = true;
    c.track_ = slot;
    c.id_ = id;
    c.inbox_ = &in;
    c.lane_ = p;
    c.spill_to_ = to;
    c.spill_now_ = now;
    return {Status::full, id};
  }
  // Rare paths, compiled in src/bus.cpp so that claim() stays small enough to inline.
  static ClaimResult wait_for_room(LaneWriter& w, std::uint64_t bytes, LaneClaim& lc,
                                   std::chrono::nanoseconds timeout) noexcept;

  std::shared_ptr<detail::BusState> s_;
  EndpointId self_ = no_endpoint;
  std::string name_;
  std::vector<std::unique_ptr<Target>> targets_;  // by slot, made on first send
  std::unordered_map<std::string, EndpointId> names_;
  std::unordered_map<std::string, GroupId> group_names_;
  std::vector<EndpointId> members_;  // scratch for group sends (kept: no allocation per send)
  std::uint64_t id_next_ = 0, id_end_ = 0;
  std::function<void(const StatusEvent&)> on_status_;
  struct StatusConsumer;
  std::shared_ptr<StatusConsumer> status_;  // the status lease, once taken
};

// A received message: a view into the lane, valid until the next receive (or
// release) on the same Receiver. The header is a validated copy.
class Message {
 public:
  std::uint64_t id() const noexcept { return h_.id; }
  EndpointId from() const noexcept { return h_.from; }
  EndpointId to() const noexcept { return h_.to; }
  std::uint32_t group() const noexcept { return h_.group; }
  std::uint8_t priority() const noexcept { return h_.priority; }
  std::uint32_t type() const noexcept { return h_.type; }
  std::uint64_t timestamp_ns() const noexcept { return h_.timestamp_ns; }
  std::uint64_t expires_ns() const noexcept { return h_.expires_ns; }
  // Maybe handed out before: to a receiver that died before acknowledging it,
  // or before a reboot (a recovered message).
  bool redelivered() const noexcept { return redelivered_ || (h_.flags & record_flag::redelivered) != 0; }
  bool tracked() const noexcept { return h_.id != 0; }
  Incoming status() const noexcept { return (h_.flags & record_flag::read) != 0 ? Incoming::read : Incoming::fresh; }
  std::span<const std::byte> payload() const noexcept { return {payload_, h_.payload_len}; }
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(payload_), h_.payload_len}; }

 private:
  friend class Receiver;
  RecordHeader h_{};
  const std::byte* payload_ = nullptr;
  bool redelivered_ = false;
  std::uint64_t pos_ = 0;  // where it sits in its lane (ack/mark_read check it is still the one in hand)
};

// The receiving side of one endpoint. Holds the endpoint's lease until
// destroyed. One thread at a time.
class Receiver {
 public:
  Receiver(Receiver&&) noexcept = default;
  Receiver& operator=(Receiver&&) noexcept = default;
  ~Receiver();

  EndpointId id() const noexcept { return st_->self; }
  const std::string& name() const noexcept { return st_->name; }

  // The highest-priority waiting message, or nothing. Never blocks. Releases
  // the previous message (its view becomes invalid).
  std::optional<Message> try_receive() noexcept {
    release();
    InboxTaken t;
    for (;;) {
      t = st_->reader.poll();
      if (!t) {
        // Lanes dry: bring in what waits in the log for us (a bus with a log only).
        if (st_->forwarder != nullptr && forward_spilled()) continue;
        if (st_->notifier_armed) rearm_notifier();
        return std::nullopt;
      }
      // A copy handed out before (to a receiver that died, or before a
      // reboot) whose delivery was acknowledged meanwhile is not handed out again.
      if ((t.record.redelivered ||
           (t.record.header->flags & (record_flag::redelivered | record_flag::forwarded)) != 0) &&
          t.record.header->id != 0 && acknowledged_before(*t.record.header)) {
        st_->reader.release(t);
        continue;
      }
      break;
    }
    st_->in_hand = t;
    Message m;
    std::memcpy(&m.h_, t.record.header, sizeof(RecordHeader));
    m.h_.payload_len = t.record.header->payload_len <= t.record.units * record_unit - sizeof(RecordHeader)
                           ? t.record.header->payload_len : 0;  // re-checked on the copy: the lane is shared
    m.payload_ = t.record.payload();
    m.redelivered_ = t.record.redelivered;
    m.pos_ = t.record.pos;
    if (m.h_.id != 0 && st_->options.auto_ack) acknowledge(m.h_);
    return m;
  }

  // Acknowledge a message taken with auto_ack off: its sender sees `delivered`.
  // `m` must be the message in hand. False when it is not (or is untracked).
  bool ack(const Message& m) noexcept {
    if (m.h_.id == 0 || !holds(m)) return false;
    acknowledge(m.h_);
    return true;
  }
  // Mark the message in hand read: its sender sees `read`; a redelivery of it
  // shows status read.
  bool mark_read(Message& m) noexcept {
    if (!holds(m)) return false;
    // The receiver owns the record while it is in hand; flags is ours to write.
    // Relaxed: read back only by a later receiver of this lane (after the lease CAS) or a statistics walk.
    std::atomic_ref<std::uint8_t>(const_cast<RecordHeader*>(st_->in_hand.record.header)->flags)
        .store(static_cast<std::uint8_t>(m.h_.flags | record_flag::read), std::memory_order_relaxed);
    m.h_.flags |= record_flag::read;
    if (m.h_.id != 0) st_->bus->report(m.h_, st_->self, Status::read);
    bump(st_->reader.data().read);
    return true;
  }

  // Wait up to `timeout` for a message: spin, then park (per IdleStrategy).
  std::optional<Message> receive(std::chrono::nanoseconds timeout) noexcept;

  // Call f(const Message&) for each message until `stop` becomes true
  // (checked at least every 100 ms). Returns the number of messages handled.
  template <class F>
  std::uint64_t run(F&& f, const std::atomic<bool>& stop) {
    std::uint64_t n = 0;
    // Acquire: pairs with whoever sets stop (it may publish state f relies on).
    while (!stop.load(std::memory_order_acquire)) {
      if (auto m = receive(100ms)) {
        f(*m);
        ++n;
      }
    }
    release();
    return n;
  }

  // Done with the message in hand: its space goes back to the producers.
  void release() noexcept {
    if (st_->in_hand) {
      st_->reader.release(st_->in_hand);
      st_->in_hand = {};
    }
  }

  // A file descriptor (eventfd) that is readable while messages may be
  // waiting, for epoll / Boost.Asio / libuv. After it fires, call try_receive
  // until it returns nothing; the fd is re-armed then. -1 on failure.
  int notification_fd();

  // The name of an endpoint id (cached), or "" when it no longer exists.
  const std::string& name_of(EndpointId id);

  const InboxData& inbox() const noexcept { return st_->reader.data(); }

 private:
  friend class Bus;
  struct Notifier;
  struct Forwarder;
  struct State {
    std::shared_ptr<detail::BusState> bus;
    EndpointId self = no_endpoint;
    std::uint32_t slot = 0;
    std::string name;
    std::uint64_t lease = 0;
    ReceiverOptions options;
    InboxReader reader;
    InboxTaken in_hand;
    bool notifier_armed = false;
    std::unique_ptr<Notifier> notifier;
    std::unique_ptr<Forwarder> forwarder;  // a bus with a log only
    std::unordered_map<EndpointId, std::string> names;
    ~State();
  };
  explicit Receiver(std::unique_ptr<State> st) : st_(std::move(st)) {}
  void rearm_notifier() noexcept;
  bool acknowledged_before(const RecordHeader& lane_header) const noexcept;
  // Forward spilled messages of this endpoint from the log into its lanes
  // (src/spill.cpp). True when it forwarded something.
  bool forward_spilled() noexcept;
  // Counted once per message: a second ack (or ack after auto-ack) changes nothing.
  void acknowledge(const RecordHeader& h) noexcept {
    if (st_->bus->report(h, st_->self, Status::delivered)) bump(st_->reader.data().delivered);
  }
  // Receiver counters have one writer (the lease holder): relaxed load + store.
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  bool holds(const Message& m) const noexcept {
    return st_->in_hand && st_->in_hand.record.pos == m.pos_ && st_->in_hand.record.header->id == m.h_.id;
  }
  std::unique_ptr<State> st_;
};

// ------------------------------------------------------------ inline bodies

inline Endpoint::Target* Endpoint::target_by_id(EndpointId id) noexcept {
  const std::uint32_t slot = endpoint_slot(id);
  if (id == no_endpoint || slot >= targets_.size()) return nullptr;
  // Acquire: partner of Directory's release store of id (the endpoint exists).
  if (s_->seg.slot(slot).id.load(std::memory_order_acquire) != id) return nullptr;
  std::unique_ptr<Target>& t = targets_[slot];
  if (!t || t->id != id) {
    if (!t) t = std::make_unique<Target>();  // once per destination slot, not per message
    t->id = id;
    for (unsigned p = 0; p < priority_levels; ++p) t->lanes[p] = LaneWriter(s_->seg.lane(slot, p));
  }
  return t.get();
}

inline Endpoint::Target* Endpoint::target(const Destination& d) noexcept {
  if (d.id != no_endpoint) return target_by_id(d.id);
  auto it = names_.find(d.name);
  if (it != names_.end()) {
    if (Target* t = target_by_id(it->second)) return t;
    names_.erase(it);  // removed, or re-registered under a new id
  }
  auto id = s_->dir.find(d.name);
  if (!id) return nullptr;
  names_.emplace(d.name, *id);
  return target_by_id(*id);
}

inline SendResult Endpoint::claim(const SendOptions& o, std::size_t len, Claim& c) noexcept {
  c.lc_ = {};
  c.track_ = Tracker::no_slot;
  c.logged_ = false;
  c.spill_ = false;
  if (o.priority >= priority_levels || o.expiry.count() < 0 || o.timeout.count() < 0) return {Status::invalid_argument, o.id};
  if (o.to.is_group) return {Status::invalid_argument, o.id};  // zero-copy goes to one endpoint; groups use send()
  if (len > s_->seg.geometry().max_payload) return {Status::too_large, o.id};
  Target* t = target(o.to);
  if (t == nullptr) return {Status::invalid_destination, o.id};
  InboxData& in = s_->seg.inbox(endpoint_slot(t->id));
  const bool tracked = o.expiry.count() > 0 || o.id != 0;
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t id = o.id != 0 ? o.id : (tracked ? next_id() : 0);
  std::uint64_t slot = Tracker::no_slot;
  if (tracked) {
    SendResult r;
    const std::uint64_t expires = o.expiry.count() > 0 ? now + static_cast<std::uint64_t>(o.expiry.count()) : 0;
    if (!track(TrackerKey{self_, id, no_endpoint}, tracker_role::endpoint, t->id, 1, now, expires, slot, r)) return r;
  }
  // Acquire: pairs with the receiver's lease CAS; real-time messages need one.
  // Real-time messages carry the lease word they were sent to: a receiver that
  // takes over from a dead one drops them (no clock involved).
  const std::uint64_t lease = o.expiry.count() == 0 ? in.lease.load(std::memory_order_acquire) : 0;
  if (o.expiry.count() == 0 && lease == 0) {
    in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    settle(slot, id, t->id, 0, Status::offline);
    return {Status::offline, id};
  }
  LaneWriter& w = t->lanes[o.priority];
  const std::uint64_t bytes = record_bytes(len);
  const bool spillable = c.want_spill_ && o.expiry.count() > 0;
  // Behind spilled messages of this lane: spill too, to keep the order.
  if (spillable && detail::spill_backlog(in, o.priority)) return mark_spill(c, slot, id, in, o.priority, t->id, now);
  ClaimResult cr = w.try_claim(bytes, c.lc_);
  if (cr == ClaimResult::full && o.timeout.count() > 0 && !spillable) cr = wait_for_room(w, bytes, c.lc_, o.timeout);
  if (cr == ClaimResult::full && spillable) return mark_spill(c, slot, id, in, o.priority, t->id, now);
  if (cr != ClaimResult::ok) {
    const Status st = cr == ClaimResult::revoked ? Status::revoked : Status::full;
    if (st == Status::full) in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    settle(slot, id, t->id, 0, st);
    return {st, id};
  }
  fill(*c.lc_.header, o, id, now, t->id, 0, len, lease);
  c.writer_ = &w;
  c.inbox_ = &in;
  c.capacity_ = len;
  c.id_ = id;
  c.lane_ = o.priority;
  c.track_ = slot;
  c.logged_ = tracked && o.expiry.count() > 0 && s_->log != nullptr;
  return {Status::sent, id};
}

inline SendResult Endpoint::commit(Claim& c, std::size_t len) noexcept {
  if (!c.active()) return {Status::invalid_argument, c.id_};
  if (len > c.capacity_) {
    abort(c);
    return {Status::too_large, c.id_};
  }
  c.lc_.header->payload_len = static_cast<std::uint32_t>(len);
  if (c.logged_) return commit_logged(c, len);
  const EndpointId to = c.lc_.header->to;
  const bool ok = c.writer_->commit(c.lc_);
  c.lc_ = {};
  const std::uint64_t slot = c.track_;
  c.track_ = Tracker::no_slot;
  if (!ok) {
    settle(slot, c.id_, to, 0, Status::revoked);
    return {Status::revoked, c.id_};
  }
  inbox_notify(*c.inbox_, c.lane_);
  count_sent();
  settle(slot, c.id_, to, 0, Status::sent);
  return {Status::sent, c.id_};
}

}  // namespace courier

namespace courier {

inline std::optional<Message> Receiver::receive(std::chrono::nanoseconds timeout) noexcept {
  if (auto m = try_receive()) return m;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t span = timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
  const std::uint64_t deadline = span > ~0ull - start ? ~0ull : start + span;
  const IdleStrategy& idle = st_->options.idle;
  const std::uint64_t spin_until = idle.park ? (idle.spin_ns < deadline - start ? start + idle.spin_ns : deadline) : deadline;
  if (!idle.park || idle.spin_ns != 0) {  // spin_ns == 0 with park: sleep at once
    for (unsigned i = 1;; ++i) {
      if (auto m = try_receive()) return m;
      cpu_relax();
      if ((i & 63) == 0 && monotonic_ns() >= spin_until) break;  // the clock costs ~25 ns: read it every 64 polls
    }
  }
  if (!idle.park) return std::nullopt;
  for (;;) {
    if (monotonic_ns() >= deadline) return try_receive();
    st_->reader.park(deadline);
    if (auto m = try_receive()) return m;
  }
}

}  // namespace courier
