// The sender's record of what it reported, and its catch-up from the tracker
// (include/courier/detail/status_follow.hpp).
#include "courier/detail/status_follow.hpp"

#include <algorithm>

#include "courier/detail/clock.hpp"

namespace courier::detail {

void StatusFollower::note_outcome(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->slot == slot && it->id == id) {
      it->outcome = st;
      it->told = told;
      return;
    }
  }
  // Folded already (the pending list reached its bound between the insert and the outcome).
  if (slot < records_.size() && records_[slot].live && records_[slot].id == id && told &&
      moves_forward(records_[slot].reported, st)) {
    records_[slot].reported = st;
    if (is_final(st)) retire(records_[slot]);
  }
}

void StatusFollower::forget(std::uint64_t slot, std::uint64_t id) noexcept {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->slot == slot && it->id == id) {
      it->slot = Tracker::no_slot;  // skipped by fold
      return;
    }
  }
  if (slot < records_.size() && records_[slot].live && records_[slot].id == id) retire(records_[slot]);
}

void StatusFollower::fold(const Sink* sink) {
  if (records_.empty()) records_.resize(tracker_->capacity());
  for (const Pending& p : pending_) {
    if (p.slot >= records_.size()) continue;
    Record& r = records_[p.slot];
    // Still live: its entry was freed before its end was reported (retired
    // past expiry + retention) and the slot given to this send.
    if (r.live) {
      if (is_owed(r.reported)) ++unknown_;  // delivered and never read: nothing was lost
      retire(r);
    }
    r = Record{p.id, p.key_recipient, p.dest, 0, Status::outbox, true};
    if (p.role == tracker_role::group) {
      r.recipient = no_endpoint;
      r.group = p.dest;
    } else if (p.role == tracker_role::member) {
      r.recipient = p.key_recipient;
      // A member entry's dest is the slot of its group total, whose dest is the group.
      if (tracker_->holds(p.dest, TrackerKey{self_, p.id, no_endpoint}))
        r.group = tracker_->entry(p.dest).dest.load(std::memory_order_relaxed);  // relaxed: holds() acquired the tag
    }
    ++live_;
    live_slots_.push_back(LiveSlot{p.slot, p.id});
    if (p.outcome != Status::outbox) {
      if (p.told) {
        r.reported = p.outcome;
        if (is_final(p.outcome)) retire(r);
      } else if (sink != nullptr) {
        advance(r, p.outcome, fast_realtime_ns(), *sink);
      }
    }
  }
  // No look at the tracker here: every later change of these messages is in
  // the ring, or was dropped and counted, and then the walk finds it.
  pending_.clear();
  // Folded from a send (no sink): the next poll compares these with the tracker.
  if (sink == nullptr) must_walk_ = true;
  // Keep the list of live slots near the number of live records.
  if (live_slots_.size() > 2 * live_ + 1024)
    std::erase_if(live_slots_, [this](const LiveSlot& l) { return !is_live(l); });
}

void StatusFollower::apply(const StatusEvent& e, std::uint64_t slot_plus_one, const Sink& sink) {
  const EndpointId key_recipient = e.group != 0 ? e.recipient : no_endpoint;
  if (slot_plus_one != 0 && slot_plus_one - 1 < records_.size()) {
    Record& r = records_[slot_plus_one - 1];
    if (r.id == e.id && r.key_recipient == key_recipient) {
      // Ours: report what it adds (nothing when a catch-up already passed it).
      if (r.live) advance(r, e.status, e.time_ns, sink);
      return;
    }
  }
  // Not a message this handle sent (another handle or process sends as this
  // endpoint): passed on as it came.
  sink(e);
}

void StatusFollower::walk(const Sink& sink) {
  ++catch_ups_;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < live_slots_.size(); ++i) {
    const LiveSlot l = live_slots_[i];
    if (!is_live(l)) continue;
    check(l.slot, records_[l.slot], sink);
    if (records_[l.slot].live) live_slots_[kept++] = l;
  }
  live_slots_.resize(kept);
}

void StatusFollower::check(std::uint64_t slot, Record& r, const Sink& sink) {
  if (!tracker_->holds(slot, TrackerKey{self_, r.id, r.key_recipient})) {
    if (is_owed(r.reported)) ++unknown_;  // retired (or replaced) before we saw its end; delivered: it was read or not
    retire(r);
    return;
  }
  const TrackerEntry& en = tracker_->entry(slot);
  // Acquire: partner of Tracker::advance's release (the status after the counts it publishes).
  const std::uint8_t st = en.status.load(std::memory_order_acquire);
  const std::uint64_t t = en.updated_ns.load(std::memory_order_relaxed);  // relaxed: informational
  if (st < status_count) advance(r, static_cast<Status>(st), t, sink);
}

void StatusFollower::advance(Record& r, Status to, std::uint64_t time_ns, const Sink& sink) {
  const Status from = r.reported;
  if (!moves_forward(from, to)) return;        // passed already (a catch-up or an earlier event)
  if (is_error(to) && !is_owed(from)) return;  // as Tracker::advance: no error after a delivery
  auto emit = [&](Status s) { sink(StatusEvent{r.id, r.recipient, r.group, s, time_ns}); };
  if (is_error(to)) {
    emit(to);
  } else {
    // A delivery implies the message was sent: outbox -> delivered is reported outbox -> sent -> delivered.
    for (Status s : {Status::sent, Status::delivered, Status::read})
      if (moves_forward(from, s) && !moves_forward(to, s)) emit(s);
  }
  r.reported = to;
  if (is_final(to)) retire(r);
}

}  // namespace courier::detail
