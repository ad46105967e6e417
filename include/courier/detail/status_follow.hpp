// courier/detail/status_follow.hpp — the sender's side of "no status lost": a
// process-local record, per tracked message this Endpoint handle sent, of the
// last status it reported to the application. The status ring is only a
// notification; when it dropped events (its drop counter moved) the follower
// catches up from the tracker, synthesising the missing transitions in order
// (outbox -> sent -> delivered -> read, or the error) and skipping ring events
// it has already passed, so each transition is reported once (docs/design.md,
// "No status lost").
//
// Cost on the send path: one append to a vector (note_tracked) while
// following; the records are folded into a table indexed by tracker slot when
// the application polls. Memory: a record per tracker slot (24 bytes x
// tracker_capacity), allocated at the first fold, plus what was sent since the
// last poll (folded early when it reaches tracker_capacity).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "courier/detail/tracker.hpp"
#include "courier/status.hpp"

namespace courier::detail {

class StatusFollower {
 public:
  using Sink = std::function<void(const StatusEvent&)>;

  StatusFollower(const Tracker* t, EndpointId self) noexcept : tracker_(t), self_(self) {}

  // A tracked send made its entry in `slot` (Endpoint::track). role/dest as
  // in the entry: dest is the destination (endpoint), group id (group total)
  // or the slot of the group total (member).
  void note_tracked(std::uint64_t slot, const TrackerKey& key, std::uint8_t role, std::uint32_t dest) {
    if (pending_.size() >= tracker_->capacity()) fold(nullptr);
    pending_.push_back(Pending{slot, key.id, key.recipient, role, dest, Status::outbox, false});
  }
  // The send-time outcome of the message in `slot` (Endpoint::settle_tracked);
  // `told` when the on_status callback was given it then.
  void note_outcome(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept;
  // An aborted claim gave its tracker slot back: nothing will be reported.
  void forget(std::uint64_t slot, std::uint64_t id) noexcept;

  // One poll: fold what was sent since the last one (reporting send-time
  // outcomes the callback was not given), apply the ring's events
  // (next(ev, slot) gives each, slot + 1 of its entry or 0), catch up from the
  // tracker when `drops` (the ring's drop counter) moved. Returns the number
  // of events given to `sink`.
  template <class Next>
  std::size_t poll(Next&& next, std::uint64_t drops, const Sink& sink) {
    std::size_t n = 0;
    const Sink counting = [&](const StatusEvent& e) {
      ++n;
      if (sink) sink(e);
    };
    fold(&counting);
    StatusEvent e;
    std::uint64_t slot_plus_one = 0;
    while (next(e, slot_plus_one)) apply(e, slot_plus_one, counting);
    if (drops != seen_drops_ || must_walk_) {
      seen_drops_ = drops;
      must_walk_ = false;
      walk(counting);
    }
    return n;
  }

  // Messages whose tracker entry was gone (retired past expiry + retention, or
  // its slot reused) before their final status was reported: cannot be known.
  std::uint64_t unknown() const noexcept { return unknown_; }
  // Messages sent and not yet reported final.
  std::uint64_t outstanding() const noexcept { return live_ + pending_.size(); }
  // How many times the follower caught up from the tracker.
  std::uint64_t catch_ups() const noexcept { return catch_ups_; }

 private:
  struct Pending {
    std::uint64_t slot, id;
    EndpointId key_recipient;
    std::uint8_t role;
    std::uint32_t dest;
    Status outcome;  // the send-time outcome (outbox: none yet)
    bool told;       // the callback was given `outcome` at send time
  };
  struct Record {
    std::uint64_t id = 0;
    EndpointId key_recipient = no_endpoint;  // the tracker key's recipient (group members only)
    EndpointId recipient = no_endpoint;      // the events' recipient
    GroupId group = 0;
    Status reported = Status::outbox;
    bool live = false;  // not yet reported final
  };

  struct LiveSlot {
    std::uint64_t slot, id;  // a stale entry (record retired, or its slot reused by another send) is skipped
  };

  void fold(const Sink* sink);
  void apply(const StatusEvent& e, std::uint64_t slot_plus_one, const Sink& sink);
  void walk(const Sink& sink);
  // Compare a live record with its tracker entry; report what it missed.
  void check(std::uint64_t slot, Record& r, const Sink& sink);
  // Report r's transitions up to `to` (in order, each once).
  void advance(Record& r, Status to, std::uint64_t time_ns, const Sink& sink);
  bool is_live(const LiveSlot& l) const noexcept { return records_[l.slot].live && records_[l.slot].id == l.id; }
  void retire(Record& r) noexcept {
    r.live = false;
    --live_;
  }

  const Tracker* tracker_;
  EndpointId self_;
  std::vector<Pending> pending_;      // sent since the last fold, in order
  std::vector<Record> records_;       // by tracker slot
  std::vector<LiveSlot> live_slots_;  // the live records (and some stale entries, compacted by walk and fold)
  std::uint64_t live_ = 0;
  std::uint64_t seen_drops_ = 0;
  bool must_walk_ = false;
  std::uint64_t unknown_ = 0;
  std::uint64_t catch_ups_ = 0;
};

}  // namespace courier::detail
