/// @file
/// Sending: an Endpoint sends as one endpoint of a bus, by copy (send) or
/// zero-copy (claim, write in place, commit).
///
///     auto alice = bus->endpoint("alice");
///     auto r = alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s}, "hello");
///     if (!r) report(courier::status_name(r.status));
///
/// send, claim and commit are inline and take no lock, make no syscall and
/// allocate nothing once a destination has been resolved; the only syscall is
/// the futex wake when the receiver is parked (exceptions: Endpoint).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "courier/detail/bus_state.hpp"
#include "courier/detail/clock.hpp"
#include "courier/detail/inbox.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/status_follow.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/ids.hpp"
#include "courier/result.hpp"
#include "courier/status.hpp"

namespace courier {

using namespace std::chrono_literals;

class Bus;

/// Where a message goes: one endpoint or one group, by name or by id (peer(), group()).
struct Destination {
  std::string name{};           ///< endpoint or group name, or empty when id is given
  EndpointId id = no_endpoint;  ///< a resolved id (Endpoint::resolve) skips the name lookup
  bool is_group = false;        ///< id/name name a group: fan out to every member once
};
/// The endpoint `name` (allocates the name's copy).
inline Destination peer(std::string_view name) { return Destination{std::string(name), no_endpoint, false}; }
/// The endpoint `id` (Bus::find_endpoint).
inline Destination peer(EndpointId id) { return Destination{{}, id, false}; }
/// The group `name` (allocates the name's copy).
inline Destination group(std::string_view name) { return Destination{std::string(name), 0, true}; }
/// The group `id` (Bus::find_group).
inline Destination group(GroupId id) { return Destination{{}, id, true}; }

/// What to send where (Endpoint::send, Endpoint::claim).
struct SendOptions {
  Destination to{};                          ///< the endpoint or group
  std::uint8_t priority = default_priority;  ///< 0 (highest) .. 15
  std::chrono::nanoseconds expiry{0};   ///< 0: real-time (attached receiver now, or offline); > 0: stored until then
  std::uint32_t type = 0;               ///< the application's type, handed to the receiver
  /// 0: generated when expiry > 0; 0 with expiry 0: fire-and-forget. Generated ids are unique on the bus
  /// and start above 10^18 (the clock in ns); they are not compared with ids given here, so give ids below
  /// that (or resend a generated one, which is found as a duplicate).
  std::uint64_t id = 0;
  std::chrono::nanoseconds timeout{0};  ///< when the lane is full: wait up to this long for room (0: report full)
};

/// The send-time result of a send, claim or commit: a Status and the message's id.
// 16 bytes, so that it comes back in two registers (a 32-byte result went
// through memory and cost the send path ~2 ns, measured).
struct [[nodiscard]] SendResult {
  Status status = Status::sent;  ///< sent, outbox (stored; `sent` follows), or why not
  bool duplicate = false;        ///< a resend of a tracked (sender, id): not enqueued again; status is the original's
  std::uint16_t recipients = 1;  ///< group sends: members addressed (max_group_members <= 4096)
  std::uint16_t accepted = 0;    ///< group sends: members whose lane took it
  std::uint64_t id = 0;          ///< the message's id (generated or given; 0: fire-and-forget)

  constexpr SendResult() noexcept = default;  ///< sent, id 0
  /// Status `s` of message `i` (`rec` and `acc`: group sends).
  constexpr SendResult(Status s, std::uint64_t i, bool dup = false, std::uint32_t rec = 1,
                       std::uint32_t acc = 0) noexcept
      : status(s),
        duplicate(dup),
        recipients(static_cast<std::uint16_t>(rec)),
        accepted(static_cast<std::uint16_t>(acc)),
        id(i) {}
  /// Accepted now or before (a duplicate whose original is on its way or done).
  /// Status::outbox without duplicate: stored in the log, `sent` follows when the sync policy holds.
  bool ok() const noexcept {
    return status == Status::sent || status == Status::outbox ||
           (duplicate && (status == Status::delivered || status == Status::read));
  }
  explicit operator bool() const noexcept { return ok(); }  ///< ok()
};
static_assert(sizeof(SendResult) == 16);

/// A zero-copy send in progress: write the payload in place, then commit
/// (Endpoint::claim, commit, abort). Belongs to the Endpoint that made it.
class Claim {
 public:
  /// Where to write the payload, in the destination's lane. Empty when there
  /// is no claim (refused, or a duplicate of a tracked id: ok() but nothing to write).
  std::span<std::byte> payload() const noexcept {
    return active() ? std::span<std::byte>{lc_.payload(), capacity_} : std::span<std::byte>{};
  }
  std::uint64_t id() const noexcept { return id_; }               ///< the message's id
  bool active() const noexcept { return lc_.header != nullptr; }  ///< a claim to write and commit (or abort)

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
};

/// Sends as one endpoint (Bus::endpoint). Cheap to make; many handles of one
/// endpoint, in threads or processes, may send at once.
///
/// @threads One thread at a time per handle (no lock inside): make one per thread.
/// @blocking send, claim and commit take no lock, make no syscall (but one
/// futex wake when the receiver, or its notification thread, sleeps) and
/// allocate nothing once this handle has sent to the destination; the first
/// send to one allocates its lane writers and looks its name up under the
/// directory lock. They wait only: with SendOptions::timeout > 0 on a full
/// lane (spinning, then sleeping 20 us at a time, up to the timeout); on a bus
/// with a log, for a stored message (expiry > 0), for the process's log mutex,
/// for the flusher when 4 batches wait, and with Sync::always for the
/// journal's write and fdatasync. Group sends read the group's members (the
/// directory) and may grow a scratch vector. Following statuses (on_status,
/// poll_status, status_fd) keeps a record per tracked send (amortised).
/// @errors Never throws (noexcept); every outcome is a SendResult::status:
/// invalid_argument (priority > 15, negative expiry or timeout, a group given
/// to claim), too_large, invalid_destination, offline, full, revoked,
/// tracker_full, log_failed, removed; `duplicate` set on a resend.
class Endpoint {
 public:
  EndpointId id() const noexcept { return self_; }            ///< the endpoint sent as
  const std::string& name() const noexcept { return name_; }  ///< its name

  /// Copy `data` into the destination's lane for `o.priority` (for a group:
  /// into each member's, once per member). Tracked (expiry > 0 or an id):
  /// the tracker gets an entry and statuses follow; on a bus with a log a
  /// message with an expiry is written to the log too (and waits there when
  /// its lane is full) and the result is outbox, or sent with Sync::always.
  [[gnu::always_inline]] SendResult send(const SendOptions& o, std::span<const std::byte> data) noexcept {
    if (o.to.is_group) return send_group(o, data);
    if (o.expiry.count() > 0 && s_->log != nullptr) return send_logged(o, data);
    // Fire-and-forget and tracked each get a claim and commit compiled for
    // them: the other's branches and live values left out (docs/design.md,
    // "The send path compiled per kind").
    if (o.expiry.count() == 0 && o.id == 0) return send_as<Track::no>(o, data);
    return send_as<Track::yes>(o, data);
  }
  /// send() of the bytes of `text`.
  SendResult send(const SendOptions& o, std::string_view text) noexcept {
    return send(o, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  }

  /// Reserve room for a payload of up to `len` bytes; write it through
  /// c.payload(), then commit (or abort). Commit within the bus's claim_timeout
  /// (else the receiver steps over it: commit says revoked). One endpoint only.
  SendResult claim(const SendOptions& o, std::size_t len, Claim& c) noexcept {
    return claim<Track::unknown>(o, len, c, nullptr);
  }
  /// Publish a claim with its final payload length (<= the claimed length;
  /// longer: too_large and the claim is aborted).
  SendResult commit(Claim& c, std::size_t len) noexcept { return commit<Track::unknown>(c, len, false); }
  /// Give a claim up: nothing is delivered, a tracked id is freed.
  void abort(Claim& c) noexcept {
    if (c.active()) c.writer_->abort(c.lc_);
    if (c.track_ != Tracker::no_slot) {
      s_->tracker.release(c.track_);
      if (follow_) follow_->forget(c.track_, c.id_);
    }
    c.track_ = Tracker::no_slot;
    c.lc_ = {};
  }

  /// Resolve a name once; the Destination it returns skips the lookup on send.
  /// Takes the directory lock. @errors invalid_argument (bad name), not_found,
  /// timeout / corrupt (the directory lock).
  Result<Destination> resolve(std::string_view name) {
    auto id = s_->dir.find(name);
    if (!id) return std::move(id).error();
    return Destination{std::string(name), *id, false};
  }
  /// resolve() of a group.
  Result<Destination> resolve_group(std::string_view name) {
    auto id = s_->dir.find_group(name);
    if (!id) return std::move(id).error();
    return Destination{std::string(name), *id, true};
  }

  /// The status of a message this endpoint sent (the tracker's view): lock-free
  /// reads; allocates for a group's members. @errors not_found (never tracked,
  /// or retired after expiry + status_retention), removed.
  Result<StatusReport> status(std::uint64_t id) const { return detail::status_of(*s_, self_, id); }

  /// Called for every status change of this endpoint's tracked messages: the
  /// result of each tracked send (sent, or the error) at once, and the events
  /// that come back (delivered, read, expired, ...) from poll_status. `f` runs
  /// on the thread that sends or polls; never from another thread.
  ///
  /// Following: from the first on_status() or poll_status() on, this handle
  /// keeps a record of every tracked message it sends, and poll_status reports
  /// each one's transitions exactly once and in order (outbox -> sent ->
  /// delivered -> read, or the error), however slowly it is called: when the
  /// status ring dropped events, it catches up from the tracker (docs/design.md,
  /// "No status lost"). Messages sent before following began, or by another
  /// handle, get the ring's events as they come.
  void on_status(std::function<void(const StatusEvent&)> f) {
    on_status_ = std::move(f);
    follow();
  }
  /// Drain the endpoint's status ring: f(event) (or the on_status callback when
  /// f is empty) for each event; returns how many. Never waits; allocates the
  /// first time (the lease, the record of tracked sends). Takes the endpoint's
  /// status lease the first time (one consuming handle per endpoint; busy
  /// while another lives). @errors busy (another handle or a live process
  /// holds the status lease), removed.
  Result<std::size_t> poll_status(const std::function<void(const StatusEvent&)>& f = {});
  /// A file descriptor that becomes readable while status events may be
  /// waiting (for poll/epoll/Asio); call poll_status when it is, which drains
  /// and re-arms it (do not read or close it yourself). An eventfd
  /// (non-blocking, close-on-exec) owned by this handle and closed with it;
  /// the first call starts a helper thread (sleeping on the status ring's
  /// futex, stopped and joined by the handle's destructor) and begins
  /// following (see on_status); later calls return the same fd. -1 if the
  /// eventfd cannot be made (errno from eventfd(2)); std::system_error if
  /// the thread cannot start.
  int status_fd();
  /// Tracked messages followed by this handle whose tracker entry retired
  /// (expiry + status_retention passed) before their final status was polled:
  /// their end cannot be known and is not invented.
  std::uint64_t status_unknown() const noexcept { return follow_ ? follow_->unknown() : 0; }
  /// Times poll_status caught up from the tracker after the ring dropped events.
  std::uint64_t status_catch_ups() const noexcept { return follow_ ? follow_->catch_ups() : 0; }

 private:
  friend class Bus;
  struct Target {
    EndpointId id = no_endpoint;
    LaneWriter lanes[priority_levels];
  };
  Endpoint(std::shared_ptr<detail::BusState> s, EndpointId self, std::string name)
      : s_(std::move(s)), self_(self), name_(std::move(name)), targets_(s_->seg.geometry().max_endpoints) {}

  // Compiled (src/send.cpp), out of the one-to-one untracked path, which stays small enough to inline.
  SendResult send_group(const SendOptions& o, std::span<const std::byte> data) noexcept;
  // Insert the tracker entry of a tracked send; on failure r is the result to return.
  // `note`: tell the status follower now; false: the caller's settle(..., true) tells it with the outcome.
  // `member`: a group_one entry's member (tracker_role::group_one), else 0.
  // `new_key`: key.id was just taken from next_id() (no original can exist:
  // Tracker::insert_new).
  bool track(const TrackerKey& key, std::uint8_t role, std::uint32_t dest, std::uint16_t recipients, std::uint64_t now,
             std::uint64_t expires, std::uint64_t& slot, SendResult& r, bool note = true,
             EndpointId member = no_endpoint, bool new_key = false) noexcept;
  // A tracked send to the group `gid` of the one member `m` that is not
  // stored: one tracker entry (tracker_role::group_one) for member and total.
  SendResult send_group_one(const SendOptions& o, std::span<const std::byte> data, GroupId gid, EndpointId m,
                            std::uint64_t id, std::uint64_t now, std::uint64_t expires) noexcept;
  // `now`: the time of the change, 0 to read the clock. A send passes the
  // message's own stamp (docs/design.md, "The time of a send-time status").
  // `first`: a send to one endpoint tracked with track(..., note = false): the follower learns of it here.
  void settle(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st,
              std::uint64_t now = 0, bool first = false) noexcept {
    if (slot != Tracker::no_slot) settle_tracked(slot, id, recipient, group, st, now, first);
  }
  void settle_tracked(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st,
                      std::uint64_t now, bool first) noexcept;
  // settle_tracked's telling (the status callback, the follower) of a status
  // the entry already has (`now` its time, not 0).
  void tell_settled(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st,
                    std::uint64_t now, bool first) noexcept;
  // What a claim or commit knows at compile time: whether the message is
  // tracked (send() tells; claim() and commit() of the public API do not).
  // no: expiry 0 and id 0 (fire-and-forget); yes: expiry > 0 or an id.
  enum class Track : std::uint8_t { unknown, no, yes };
  template <Track T>
  SendResult send_as(const SendOptions& o, std::span<const std::byte> data) noexcept {
    Claim c;
    SendResult r = claim<T>(o, data.size(), c, nullptr);
    if (!r || r.duplicate) return r;  // a duplicate is ok() but has no claim: nothing to write
    if (!data.empty() && c.active()) std::memcpy(c.lc_.payload(), data.data(), data.size());
    // `sent` at the message's stamp: one clock read per send. o.id == 0: claim() took the id from next_id().
    return commit<T>(c, data.size(), true, o.id == 0);
  }
  // commit(); `stamped`: its `sent` has the time of the record's stamp (send()), else the clock's.
  // `new_id`: T == yes only, the id was bus-assigned by this send's claim (no one else knows it).
  template <Track T>
  SendResult commit(Claim& c, std::size_t len, bool stamped, bool new_id = false) noexcept;
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
  static void count(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
  }  // relaxed: a statistic

  Target* target(const Destination& d) noexcept;
  Target* target_by_id(EndpointId id) noexcept;
  // Ids come in blocks from the segment's counter, which never falls behind
  // the wall clock in ns: a bus removed and created again starts above every id
  // its predecessor handed out unless that one ran ahead of the clock (more
  // than one id per ns, sustained). The log also raises it past
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
  // A claim of a message the log stores (src/send.cpp).
  SendResult commit_logged(Claim& c, std::size_t len) noexcept;
  // A stored send on a bus with a log: to the lane, or spilled to the log
  // when the lane is full or earlier spilled messages wait (src/spill.cpp).
  SendResult send_logged(const SendOptions& o, std::span<const std::byte> data) noexcept;
  // Store one copy in the log alone (spilled): buffered here; the log's next
  // batch writes it, then marks and counts it for its receiver (Log::Spill).
  Status spill(const RecordHeader& h, std::span<const std::byte> data, std::uint64_t slot,
               EndpointId key_recipient) noexcept;
  // Where a stored send on a bus with a log goes when its lane cannot take it
  // (send_logged): claim() fills it instead of a lane claim, and the message
  // goes to the log alone.
  struct SpillRoute {
    bool taken = false;  // claim() found it must spill (no lane claim was made)
    EndpointId to = no_endpoint;
    std::uint64_t now = 0;
  };
  // claim() with spill routing: spill != nullptr lets a full lane (or one
  // behind spilled messages) spill a message with an expiry to the log.
  template <Track T>
  SendResult claim(const SendOptions& o, std::size_t len, Claim& c, SpillRoute* spill) noexcept;
  SendResult claim(const SendOptions& o, std::size_t len, Claim& c, SpillRoute* spill) noexcept {
    return claim<Track::unknown>(o, len, c, spill);
  }
  static SendResult route_to_log(SpillRoute& r, Claim& c, std::uint64_t slot, std::uint64_t id, InboxData& in,
                                 unsigned p, EndpointId to, std::uint64_t now) noexcept {
    r = {true, to, now};
    c.track_ = slot;
    c.id_ = id;
    c.inbox_ = &in;
    c.lane_ = p;
    return {Status::full, id};
  }
  // Rare paths, compiled in src/send.cpp so that claim() stays small enough to inline.
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
  // What track() warmed for this handle's next ids in sequence (bus-assigned, or explicit ones each
  // the last + 1), keys {self_, id, no_endpoint}, a batch at a time (warm_ahead): the placements
  // warm_entry saw for ids [at_id, at_id + warm_batch) (at_id 0: none), and the hashes of the batch
  // after it, whose tag lines were asked for (tags_id 0: none).
  static constexpr unsigned warm_batch = 8;
  struct Warmed {
    std::uint64_t at_id = 0, tags_id = 0;
    std::array<Tracker::Placement, warm_batch> at{};
    std::array<std::uint64_t, warm_batch> hv{};
  } warm_;
  [[gnu::noinline]] void warm_ahead(std::uint64_t first) noexcept;
  // The id of this handle's last tracked message (group members aside), and whether it followed the one
  // before or the handle's id counter (then the next ids are warmed).
  std::uint64_t last_tracked_ = 0;
  bool in_sequence_ = false;
  // track()'s warming of group member m's keys for id `next` and next + 1 (out of line: the one-endpoint send
  // keeps its registers).
  [[gnu::noinline]] void warm_member(EndpointId m, std::uint64_t next) noexcept;
  std::function<void(const StatusEvent&)> on_status_;
  struct StatusConsumer;
  std::shared_ptr<StatusConsumer> status_;           // the status lease, once taken
  std::unique_ptr<detail::StatusFollower> follow_;   // what this handle reported, per tracked message it sent
  struct StatusNotifier;                             // src/notifier.hpp
  std::shared_ptr<StatusNotifier> status_notifier_;  // the status fd's thread, once asked for
  void rearm_status_notifier(std::uint64_t drops) noexcept;
  void follow() {
    if (!follow_) follow_ = std::make_unique<detail::StatusFollower>(&s_->tracker, self_);
  }
};

}  // namespace courier

// The inline bodies of claim() and commit(), and the destination lookup they share.
#include "courier/detail/endpoint_inline.hpp"
