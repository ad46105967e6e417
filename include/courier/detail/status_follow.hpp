// courier/detail/status_follow.hpp — the sender's side of "no status lost": a
// process-local record, per tracked message this Endpoint handle sent, of the
// last status it reported to the application. The status ring is only a
// notification; when it dropped events (its drop counter moved) the follower
// catches up from the tracker, synthesising the missing transitions in order
// (outbox -> sent -> delivered -> read, or the error) and skipping ring events
// it has already passed, so each transition is reported once (docs/design.md,
// "No status lost").
//
// Cost on the send path: one 24-byte append to a vector (note_tracked) and
// the outcome written into it (note_outcome) while following; the records
// are folded into a table indexed by tracker slot when the application polls.
// Memory: a 16-byte record per tracker slot plus a bit per slot for the live
// ones (allocated zeroed at the first fold: pages never touched cost
// nothing), plus what was sent since the last poll (folded early when it
// reaches tracker_capacity).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "courier/detail/tracker.hpp"
#include "courier/status.hpp"

namespace courier::detail {

class StatusFollower {
 public:
  using Sink = std::function<void(const StatusEvent&)>;

  StatusFollower(const Tracker* t, EndpointId self) noexcept : tracker_(t), self_(self), capacity_(t->capacity()) {}

  // A tracked send made its entry in `slot` (Endpoint::track). role/dest as
  // in the entry: dest is the destination (endpoint), group id (group total)
  // or the slot of the group total (member).
  void note_tracked(std::uint64_t slot, const TrackerKey& key, std::uint8_t role, std::uint32_t dest) {
    if (pending_.size() >= capacity_) fold(false);
    pending_.push_back(
        Pending{key.id, static_cast<std::uint32_t>(slot), dest, key.recipient, role, Status::outbox, false});
  }
  // The send-time outcome of the message in `slot` (Endpoint::settle_tracked);
  // `told` when the on_status callback was given it then.
  void note_outcome(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept {
    if (!pending_.empty() && pending_.back().slot == slot && pending_.back().id == id) {
      pending_.back().outcome = st;  // the common case: the send just tracked
      pending_.back().told = told;
      return;
    }
    note_outcome_earlier(slot, id, st, told);
  }
  // An aborted claim gave its tracker slot back: nothing will be reported.
  void forget(std::uint64_t slot, std::uint64_t id) noexcept;

  // One poll: fold what was sent since the last one (reporting send-time
  // outcomes the callback was not given), apply the ring's events
  // (next(ev, slot) gives each, slot + 1 of its entry or 0), catch up from the
  // tracker when `drops` (the ring's drop counter) moved. Returns the number
  // of events reported (given to `sink` when it is set).
  template <class Next>
  std::size_t poll(Next&& next, std::uint64_t drops, const Sink& sink) {
    sink_ = sink ? &sink : nullptr;
    emitted_ = 0;
    fold(true);
    StatusEvent e;
    std::uint64_t slot_plus_one = 0;
    while (next(e, slot_plus_one)) apply(e, slot_plus_one);
    if (drops != seen_drops_ || must_walk_) {
      seen_drops_ = drops;
      must_walk_ = false;
      walk();
    }
    sink_ = nullptr;
    return emitted_;
  }

  // Messages whose tracker entry was gone (retired past expiry + retention, or
  // its slot reused) before their final status was reported: cannot be known.
  std::uint64_t unknown() const noexcept { return unknown_; }
  // Messages sent and not yet reported final.
  std::uint64_t outstanding() const noexcept { return live_ + pending_.size(); }
  // How many times the follower caught up from the tracker.
  std::uint64_t catch_ups() const noexcept { return catch_ups_; }

 private:
  static constexpr std::uint32_t forgotten = ~0u;  // a Pending's slot after forget() (slots are < 2^26)
  struct Pending {
    std::uint64_t id;
    std::uint32_t slot;  // tracker slot, or `forgotten`
    std::uint32_t dest;
    EndpointId key_recipient;
    std::uint8_t role;
    Status outcome;  // the send-time outcome (outbox: none yet)
    bool told;       // the callback was given `outcome` at send time
  };
  static_assert(sizeof(Pending) == 24);
  // Who the events of a record are about (derived from its role and dest).
  struct About {
    EndpointId recipient = no_endpoint;
    GroupId group = 0;
  };
  struct Record {
    std::uint64_t id;
    EndpointId key_recipient;  // the tracker key's recipient (group members only)
    Status reported;
    bool live;  // not yet reported final (also a bit of live_bits_)
    std::uint8_t reserved[2];
  };
  static_assert(sizeof(Record) == 16);
  struct Free {
    void operator()(Record* p) const noexcept { std::free(p); }
  };

  void note_outcome_earlier(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept;
  void allocate();  // the table and the bits, at the first fold (std::bad_alloc as a vector's resize)
  void fold(bool emit);
  void apply(const StatusEvent& e, std::uint64_t slot_plus_one);
  void walk();
  // Compare a live record with its tracker entry; report what it missed.
  void check(std::uint64_t slot, Record& r);
  // Report r's transitions up to `to` (in order, each once). Inline: it runs
  // for every message at least once per poll.
  void advance(std::uint64_t slot, Record& r, Status to, std::uint64_t time_ns, About about) {
    const int from = status_rank(r.reported), rank = status_rank(to);
    if (rank <= from) return;  // passed already (a catch-up or an earlier event)
    if (is_error(to)) {
      if (!is_owed(r.reported)) return;  // as Tracker::advance: no error after a delivery
      emit(StatusEvent{r.id, about.recipient, about.group, to, time_ns});
    } else {
      // A delivery implies the message was sent: outbox -> delivered is reported outbox -> sent -> delivered.
      constexpr Status steps[] = {Status::outbox, Status::sent, Status::delivered, Status::read};  // by rank
      for (int k = from + 1; k <= rank; ++k) emit(StatusEvent{r.id, about.recipient, about.group, steps[k], time_ns});
    }
    r.reported = to;
    if (is_final(to)) retire(slot, r);
  }
  About about(std::uint8_t role, std::uint32_t dest, std::uint64_t id, EndpointId key_recipient) const noexcept;
  void emit(const StatusEvent& e) {
    ++emitted_;
    if (sink_ != nullptr) (*sink_)(e);
  }
  void retire(std::uint64_t slot, Record& r) noexcept {
    r.live = false;
    live_bits_[slot >> 6] &= ~(1ull << (slot & 63));
    --live_;
  }

  const Tracker* tracker_;
  EndpointId self_;
  std::uint64_t capacity_;
  std::vector<Pending> pending_;             // sent since the last fold, in order
  std::unique_ptr<Record[], Free> records_;  // by tracker slot (calloc: zero pages until touched)
  std::vector<std::uint64_t> live_bits_;     // a bit per slot: its record is live
  const Sink* sink_ = nullptr;               // during poll(), when the sink is set
  std::size_t emitted_ = 0;                  // events reported by this poll()
  std::uint64_t live_ = 0;
  std::uint64_t seen_drops_ = 0;
  bool must_walk_ = false;
  std::uint64_t unknown_ = 0;
  std::uint64_t catch_ups_ = 0;
};

}  // namespace courier::detail
