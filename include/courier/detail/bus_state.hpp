// courier/detail/bus_state.hpp — one process's handle on an open bus: the
// segment and the views on it (directory, tracker), shared by every Bus,
// Endpoint and Receiver of that bus in the process. Declared here, in detail,
// because the inline send and receive paths read it; the log and the
// housekeeper's memory are process-local and only pointed to.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "courier/detail/directory.hpp"
#include "courier/detail/inbox.hpp"
#include "courier/detail/record.hpp"
#include "courier/detail/segment.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"
#include "courier/status.hpp"

namespace courier::detail {

class Log;                // detail/log.hpp
struct CompactionMemory;  // detail/compaction_memory.hpp

struct BusState {
  Segment seg;
  Directory dir;
  Tracker tracker;
  std::string name;
  std::uint64_t retention_ns = 0;
  bool in_process = false;
  std::unique_ptr<CompactionMemory> compaction;  // the housekeeper's (detail::housekeep), process-local
  BusState(Segment s, std::string n);            // src/bus_state.cpp, where Log and CompactionMemory are complete
  ~BusState();
  BusState(const BusState&) = delete;
  BusState& operator=(const BusState&) = delete;

  // A tracked message reached `status` for `recipient` (the receiver, a
  // sweeper or a remover saw it). Moves the tracker entry forward, updates the
  // group total, and posts the event to the sender's status ring. True when
  // this call changed the status.
  bool report(const RecordHeader& h, EndpointId recipient, Status status) noexcept;
  // report() of a group message (h.group != 0): the member's entry and its
  // total, or a 1-member group's one entry (tracker_role::group_one). Out of
  // line: a message to one endpoint does not carry the group's code.
  [[gnu::noinline]] bool report_member(const RecordHeader& h, EndpointId recipient, Status status) noexcept;
  // A group member's outcome was counted in the total entry `total`: move the
  // total once every member is settled (delivered / read when every member
  // that did not fail is; `last` when every member failed). Out of line: the
  // receive path (report) keeps its registers.
  [[gnu::noinline]] void settle_total(EndpointId sender, std::uint64_t id, GroupId group, std::uint64_t total,
                                      Status last, std::uint64_t now) noexcept;
  // A member's outcome counted in its group's total entry `total` (delivered,
  // read, or else failed), then the total settled (settle_total).
  void count_in_total(EndpointId sender, std::uint64_t id, GroupId group, std::uint64_t total, Status outcome,
                      std::uint64_t now) noexcept {
    TrackerEntry& t = tracker.entry(total);
    // seq_cst: two members settling at once bump different counters, then read
    // them all (settle_total): store->load on both sides, so at least one of
    // them sees both counts.
    if (outcome == Status::read) {
      t.read.fetch_add(1, std::memory_order_seq_cst);
    } else if (outcome == Status::delivered) {
      t.delivered.fetch_add(1, std::memory_order_seq_cst);
    } else {
      t.failed.fetch_add(1, std::memory_order_seq_cst);
    }
    settle_total(sender, id, group, total, outcome, now);
  }
  // The group total of the member entry at `member`, of message (sender, id):
  // the member's dest is its total's slot, a hint checked against the total's
  // key (that slot may have retired and been reused since), else looked up.
  // Tracker::no_slot when the total is gone.
  std::uint64_t total_of(std::uint64_t member, EndpointId sender, std::uint64_t id) const noexcept {
    const TrackerKey total_key{sender, id, no_endpoint};
    // Relaxed: the member entry was published (and acquired by whoever found it) before.
    const std::uint64_t hint = tracker.entry(member).dest.load(std::memory_order_relaxed);
    return tracker.holds(hint, total_key) ? hint : tracker.find(total_key);
  }
  // Whether tracker entry e was made by the send of record h, not by another
  // send of the same id (an id may be sent again once its entry has retired,
  // while a copy of the old send still waits in a lane).
  bool same_send(const TrackerEntry& e, const RecordHeader& h) const noexcept {
    return e.deadline_ns ==
           deadline(h.expires_ns, h.timestamp_ns);  // as the send computed it, from the same clock reading
  }
  // The deadline of a tracker entry: its status is kept until `retention`
  // past the message's expiry (or past `now` for a message without one).
  std::uint64_t deadline(std::uint64_t expires_ns, std::uint64_t now_ns) const noexcept {
    return (expires_ns > now_ns ? expires_ns : now_ns) + retention_ns;
  }
  void post(EndpointId sender, const StatusEvent& e, std::uint64_t slot = ~0ull) noexcept;  // slot: its tracker entry
  // Bus::remove (force) removed this bus while this process had it open
  // (docs/design.md, "Safe removal"). Relaxed: a flag read off the hot paths;
  // nothing else is read through it (the durable path uses removed_now()).
  bool removed() const noexcept { return seg.header().removed.load(std::memory_order_relaxed) != 0; }
  // seq_cst: after a journal write, partner of Bus::remove's store: either this
  // load sees the removal or the write came before it, and so before the next
  // opener's recovery read the journal.
  bool removed_now() const noexcept { return seg.header().removed.load(std::memory_order_seq_cst) != 0; }
  // The status of a Sync::always send, in its lane or counted as spilled,
  // once its journal flush returned `flushed`: a failed flush leaves it outbox
  // (delivered, not durable; docs/design.md, "No wedged ids"), a removal
  // meanwhile makes it removed (not promised; "Safe removal").
  Status after_sync(bool flushed) const noexcept {
    return !flushed ? Status::outbox : removed_now() ? Status::removed : Status::sent;
  }

  // Spilled by this process and not yet in a journal file (the log writes
  // spilled records in its batches, then marks and counts them: Log::Spill),
  // per lane: max_endpoints x priority_levels, made with the log. A later
  // stored send of this process to that lane spills behind them (spill_waits).
  std::unique_ptr<std::atomic<std::uint32_t>[]> unwritten_spills;
  std::atomic<std::uint32_t>& unwritten_spill(EndpointId to, unsigned p) const noexcept {
    // The slot of one of our own ids (the directory's), below max_endpoints.
    return unwritten_spills[std::size_t{endpoint_slot(to)} * priority_levels + p];
  }

  // The durable log (null without one) and what open() recovered. Declared
  // last: the log's flusher thread reports into the members above, so it
  // must stop first.
  RecoveryReport recovery;
  std::unique_ptr<Log> log;
  // Whether a message is one the log stores (expiry > 0, tracked).
  bool logged(const RecordHeader& h) const noexcept { return log != nullptr && h.id != 0 && h.expires_ns != 0; }
  // A logged message reported delivered / read, or settled without delivery
  // (expired, destination removed, ...): no longer owed. A failure is kept in
  // the log's last error (a lost settle record costs a redelivery at worst).
  void settle_in_log(const RecordHeader& h, EndpointId recipient, Status status, std::uint64_t now) noexcept;
};

// Spilled messages of lane p wait in the log (stored sends to it spill too, to keep their order).
inline bool spill_backlog(const InboxData& in, unsigned p) noexcept {
  // Acquire: partner of the release increments (spills_written, account_spilled).
  return in.spilled[p].load(std::memory_order_acquire) > in.forwarded[p].load(std::memory_order_acquire);
}

// Whether a stored send of this process to lane p of `to` (inbox `in`) must
// spill to keep its order: spilled messages wait for that lane, counted in
// the inbox or not yet written by this process's log.
inline bool spill_waits(const BusState& st, const InboxData& in, EndpointId to, unsigned p) noexcept {
  // Acquire, first: partner of spills_written's release decrement, made after
  // its count: a zero read here comes with the count, seen by spill_backlog.
  return st.unwritten_spill(to, p).load(std::memory_order_acquire) != 0 || spill_backlog(in, p);
}

// The tracker's view of a message `sender` sent (Bus::status, Endpoint::status).
Result<StatusReport> status_of(const BusState& s, EndpointId sender, std::uint64_t id);
// Bus::sweep: expired messages in lanes and in the log reported, entries past
// their deadline retired.
SweepResult sweep(BusState& st);

}  // namespace courier::detail
