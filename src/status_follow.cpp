// The sender's record of what it reported, and its catch-up from the tracker
// (include/courier/detail/status_follow.hpp).
#include "courier/detail/status_follow.hpp"

#include <bit>
#include <new>

#include "courier/detail/clock.hpp"

namespace courier::detail {

void StatusFollower::allocate() {
  records_.reset(static_cast<Record*>(std::calloc(capacity_, sizeof(Record))));
  if (!records_) throw std::bad_alloc();
  live_bits_.assign((capacity_ + 63) / 64, 0);
}

void StatusFollower::note_outcome_earlier(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->slot == slot && it->id == id) {
      it->outcome = st;
      it->told = told;
      return;
    }
  }
  // Folded already (the pending list reached its bound between the insert and the outcome).
  if (!records_ || slot >= capacity_) return;
  Record& r = records_[slot];
  if (r.live && r.id == id && told && moves_forward(r.reported, st)) {
    r.reported = st;
    if (is_final(st)) retire(slot, r);
  }
}

void StatusFollower::forget(std::uint64_t slot, std::uint64_t id) noexcept {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->slot == slot && it->id == id) {
      it->slot = forgotten;  // skipped by fold
      return;
    }
  }
  if (records_ && slot < capacity_ && records_[slot].live && records_[slot].id == id) retire(slot, records_[slot]);
}

StatusFollower::About StatusFollower::about(std::uint8_t role, std::uint32_t dest, std::uint64_t id,
                                            EndpointId key_recipient) const noexcept {
  if (role == tracker_role::group) return About{no_endpoint, dest};
  if (role != tracker_role::member) return About{dest, 0};
  // A member entry's dest is the slot of its group total, whose dest is the group.
  if (tracker_->holds(dest, TrackerKey{self_, id, no_endpoint}))
    return About{key_recipient,
                 tracker_->entry(dest).dest.load(std::memory_order_relaxed)};  // relaxed: holds() acquired the tag
  return About{key_recipient, 0};
}

void StatusFollower::fold(bool emit) {
  if (pending_.empty()) return;
  if (!records_) allocate();
  // The records are scattered over the table (a slot per message): ask for
  // their lines first, so that the misses overlap instead of coming one by one.
  Record* const records = records_.get();
  for (const Pending& p : pending_)
    if (p.slot < capacity_) __builtin_prefetch(&records[p.slot], 1);
  std::uint64_t now = 0;  // read once, when a send-time outcome is reported here
  for (const Pending& p : pending_) {
    if (p.slot >= capacity_) continue;  // forgotten
    Record& r = records[p.slot];
    // Still live: its entry was freed before its end was reported (retired
    // past expiry + retention) and the slot given to this send.
    if (r.live) {
      if (is_owed(r.reported)) ++unknown_;  // delivered and never read: nothing was lost
    } else {
      live_bits_[p.slot >> 6] |= 1ull << (p.slot & 63);
      ++live_;
    }
    r = Record{p.id, p.key_recipient, Status::outbox, true, {}};
    if (p.outcome == Status::outbox) continue;
    if (p.told) {
      r.reported = p.outcome;
      if (is_final(p.outcome)) retire(p.slot, r);
    } else if (emit) {
      if (now == 0) now = fast_realtime_ns();
      advance(p.slot, r, p.outcome, now, about(p.role, p.dest, p.id, p.key_recipient));
    }
  }
  // No look at the tracker here: every later change of these messages is in
  // the ring, or was dropped and counted, and then the walk finds it.
  pending_.clear();
  // Folded from a send (nothing reported): the next poll compares these with the tracker.
  if (!emit) must_walk_ = true;
}

void StatusFollower::apply(const StatusEvent& e, std::uint64_t slot_plus_one) {
  const EndpointId key_recipient = e.group != 0 ? e.recipient : no_endpoint;
  if (records_ && slot_plus_one != 0 && slot_plus_one - 1 < capacity_) {
    Record& r = records_[slot_plus_one - 1];
    if (r.id == e.id && r.key_recipient == key_recipient) {
      // Ours: report what it adds (nothing when a catch-up already passed it).
      if (r.live) advance(slot_plus_one - 1, r, e.status, e.time_ns, About{e.recipient, e.group});
      return;
    }
  }
  // Not a message this handle sent (another handle or process sends as this
  // endpoint): passed on as it came.
  emit(e);
}

void StatusFollower::walk() {
  ++catch_ups_;
  if (!records_) return;
  for (std::size_t w = 0; w < live_bits_.size(); ++w) {
    for (std::uint64_t bits = live_bits_[w]; bits != 0; bits &= bits - 1) {
      const std::uint64_t slot = w * 64 + static_cast<unsigned>(std::countr_zero(bits));
      check(slot, records_[slot]);
    }
  }
}

void StatusFollower::check(std::uint64_t slot, Record& r) {
  if (!tracker_->holds(slot, TrackerKey{self_, r.id, r.key_recipient})) {
    if (is_owed(r.reported)) ++unknown_;  // retired (or replaced) before we saw its end; delivered: it was read or not
    retire(slot, r);
    return;
  }
  const TrackerEntry& en = tracker_->entry(slot);
  // Acquire: partner of Tracker::advance's release (the status after the counts it publishes).
  const std::uint8_t st = en.status.load(std::memory_order_acquire);
  const std::uint64_t t = en.updated_ns.load(std::memory_order_relaxed);  // relaxed: informational
  if (st >= status_count) return;
  // Relaxed: holds() acquired the tag; the entry's role and dest were written before it was published.
  const About a =
      about(en.role.load(std::memory_order_relaxed), en.dest.load(std::memory_order_relaxed), r.id, r.key_recipient);
  advance(slot, r, static_cast<Status>(st), t, a);
}

}  // namespace courier::detail
