// The sender's record of what it reported, and its catch-up from the tracker
// (include/courier/detail/status_follow.hpp).
#include "courier/detail/status_follow.hpp"

#include <algorithm>
#include <bit>
#include <bitset>
#include <mutex>
#include <span>

#include "courier/detail/clock.hpp"

namespace courier::detail {

namespace {

// The tokens of this process's live followers (0 is "not followed"). Taken in
// turn, so that a token freed is not taken again at once.
struct Tokens {
  std::mutex mu;
  std::bitset<65536> used;
  std::uint32_t next = 1;
};
Tokens& tokens() {
  static Tokens* t = new Tokens;  // never destroyed: followers may outlive static destruction
  return *t;
}

std::uint16_t take_token() noexcept {
  Tokens& t = tokens();
  std::lock_guard lock(t.mu);
  for (std::uint32_t i = 0; i < 65535; ++i) {
    const std::uint32_t k = t.next;
    t.next = k == 65535 ? 1 : k + 1;
    if (!t.used[k]) {
      t.used[k] = true;
      return static_cast<std::uint16_t>(k);
    }
  }
  return 0;
}

void give_token(std::uint16_t k) noexcept {
  if (k == 0) return;
  Tokens& t = tokens();
  std::lock_guard lock(t.mu);
  t.used[k] = false;
}

}  // namespace

StatusFollower::StatusFollower(const Tracker* t, EndpointId self) noexcept
    : tracker_(t), self_(self), capacity_(t->capacity()), token_(take_token()) {}

StatusFollower::~StatusFollower() { give_token(token_); }

void StatusFollower::note_outcome_earlier(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept {
  for (std::size_t k = n_; k-- > 0;) {
    if (Pending& p = pending_[k]; p.slot == slot && p.id == id) {
      p.outcome = st;
      p.told = told;
      return;
    }
  }
  // Folded already (the pending list reached its bound between the insert and
  // the outcome): the slot's state is this message's (its entry holds the slot
  // until the send returns, so no later send of ours took it).
  if (states_.empty() || slot >= capacity_) return;
  const unsigned v = state(slot);
  if (v != none && told && rank_of(st) > v - 1) reported(slot, rank_of(st));
}

void StatusFollower::forget(std::uint64_t slot, std::uint64_t id) noexcept {
  for (std::size_t k = n_; k-- > 0;) {
    if (Pending& p = pending_[k]; p.slot == slot && p.id == id) {
      p.slot = forgotten;  // skipped by fold
      return;
    }
  }
  // Folded: as in note_outcome_earlier, the slot's state is this claim's.
  if (!states_.empty() && slot < capacity_ && state(slot) != none) drop(slot);
}

void StatusFollower::make_room() {
  if (n_ >= capacity_) {
    fold(false);  // capacity_ sends without a poll: their slots' states now (the next poll walks)
    if (n_ < room_) return;
  }
  // Doubled (from 64), up to capacity_: at most capacity_ are ever pending.
  const std::size_t room = std::max<std::size_t>(
      n_ + 1, static_cast<std::size_t>(std::min<std::uint64_t>(capacity_, std::max<std::size_t>(64, room_ * 2))));
  store_.resize(room);
  pending_ = store_.data();
  room_ = room;
}

StatusFollower::About StatusFollower::member_about(std::uint32_t total, std::uint64_t id,
                                                   EndpointId key_recipient) const noexcept {
  // A member entry's dest is the slot of its group total, whose dest is the group.
  if (tracker_->holds(total, TrackerKey{self_, id, no_endpoint}))
    return About{key_recipient,
                 tracker_->entry(total).dest.load(std::memory_order_relaxed)};  // relaxed: holds() acquired the tag
  return About{key_recipient, 0};
}

void StatusFollower::fold(bool emit) {
  if (n_ == 0) return;
  if (states_.empty()) states_.assign((capacity_ + 31) / 32, 0);
  if (emit && sink_ == nullptr) return fold_counting();
  std::uint64_t now = 0;  // read once, when a send-time outcome is reported here
  for (const Pending& p : std::span(pending_, n_)) {
    if (p.slot >= capacity_) continue;  // forgotten
    // Still live: that message's entry was freed before its end was reported
    // (retired past expiry + retention) and the slot given to this send.
    if (const unsigned v = state(p.slot); v == none) {
      ++live_;
    } else if (v - 1 < rank_delivered) {
      ++unknown_;  // delivered and never read: nothing was lost
    }
    if (p.outcome == Status::outbox || (!p.told && !emit)) {
      set_state(p.slot, 1);  // outbox (an outcome not told is reported by the next poll's walk)
    } else if (p.told) {
      reported(p.slot, rank_of(p.outcome));
    } else {
      if (now == 0) now = fast_realtime_ns();
      advance(p.slot, 0, p.outcome, p.id, now, about(p.role, p.dest, p.id, p.key_recipient));  // from outbox
    }
  }
  // No look at the tracker here: every later change of these messages is in
  // the ring, or was dropped and counted, and then the walk finds it.
  n_ = 0;
  // Folded from a send (nothing reported): the next poll compares these with the tracker.
  if (!emit) must_walk_ = true;
}

void StatusFollower::fold_counting() noexcept {
  // As fold(true), for a poll whose events go to no function (poll_status()
  // without one and no on_status): the same states and the same count, without
  // making the events. A send-time outcome not told is reported here: `sent`
  // is one event (outbox -> sent), an error one (outbox -> error).
  std::uint64_t* const states = states_.data();  // locals: the compiler cannot tell the table from the counters
  std::uint64_t live = live_, unknown = unknown_;
  std::size_t n = 0;
  for (const Pending& p : std::span(pending_, n_)) {
    if (p.slot >= capacity_) continue;  // forgotten
    std::uint64_t& w = states[p.slot >> 5];
    const unsigned shift = (p.slot & 31) * 2;
    if (const unsigned v = (w >> shift) & 3u; v == none) {
      ++live;
    } else if (v - 1 < rank_delivered) {
      ++unknown;  // as in fold()
    }
    const Outcome& o = outcomes[static_cast<std::uint8_t>(p.outcome)];
    if (!p.told) {
      n += o.events;
      if (p.role == tracker_role::group_one) n += o.events;  // the member's and then the total's
    }
    live -= o.state == none;
    w = (w & ~(3ull << shift)) | (static_cast<std::uint64_t>(o.state) << shift);
  }
  live_ = live;
  unknown_ = unknown;
  emitted_ += n;
  n_ = 0;
}

void StatusFollower::apply_other(const StatusEvent& e, std::uint64_t slot) {
  // Ours and final already (read, or an error): reported, nothing to add.
  if (slot < capacity_ && !states_.empty() && state(slot) == none && same_message(slot, e)) return;
  // Not a message this handle follows (sent before following began, or by
  // another handle or process as this endpoint): passed on as it came.
  emit(e);
}

void StatusFollower::walk() {
  ++catch_ups_;
  for (std::size_t w = 0; w < states_.size(); ++w) {
    // The low bit of each 2-bit state that is not `none`.
    for (std::uint64_t bits = (states_[w] | states_[w] >> 1) & 0x5555555555555555ull; bits != 0; bits &= bits - 1)
      check(w * 32 + static_cast<unsigned>(std::countr_zero(bits)) / 2);
  }
}

void StatusFollower::check(std::uint64_t slot) {
  const unsigned from = state(slot) - 1;  // the rank last reported
  if (!ours(slot)) {
    if (from < rank_delivered) ++unknown_;  // retired (or replaced) before we saw its end; delivered: read or not
    drop(slot);
    return;
  }
  const TrackerEntry& en = tracker_->entry(slot);
  // Acquire: partner of Tracker::advance's release (the status after the counts it publishes).
  const std::uint8_t st = en.status.load(std::memory_order_acquire);
  const std::uint64_t t = en.updated_ns.load(std::memory_order_relaxed);  // relaxed: informational
  if (st >= status_count) return;
  // Relaxed: ours() saw the tag ready; the entry's key, role and dest were written before it was published.
  const std::uint64_t id = en.id.load(std::memory_order_relaxed);
  const std::uint8_t role = en.role.load(std::memory_order_relaxed);
  // A group_one entry's member is kept in `delivered` (layout.hpp).
  const EndpointId key_recipient = role == tracker_role::group_one ? en.delivered.load(std::memory_order_relaxed)
                                                                   : en.recipient.load(std::memory_order_relaxed);
  const About a = about(role, en.dest.load(std::memory_order_relaxed), id, key_recipient);
  advance(slot, from, static_cast<Status>(st), id, t, a);
}

}  // namespace courier::detail
