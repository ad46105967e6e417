// courier/detail/status_follow.hpp — the sender's side of "no status lost": a
// process-local record, per tracked message this Endpoint handle sent, of the
// last status it reported to the application. The status ring is only a
// notification; when it dropped events (its drop counter moved) the follower
// catches up from the tracker, synthesising the missing transitions in order
// (outbox -> sent -> delivered -> read, or the error) and skipping ring events
// it has already passed, so each transition is reported once (docs/design.md,
// "No status lost").
//
// Where the follower's state lives: the last status reported of each live
// message is 2 bits per tracker slot in this process (16 KiB for 65,536
// slots: it stays in the cache, where a 16-byte record per slot did not);
// which message a slot holds is told by its tracker entry, which the send
// marked with this handle's token (TrackerEntry::follower, with the tag's
// inserter pid): the entry's line is hot when the send writes it and when its
// event is read. docs/design.md, "No status lost", "Where the follower keeps
// its state".
//
// Cost on the send path: the token written with the entry and one 24-byte
// append while following (note_sent, with its outcome, for send(); else
// note_tracked at the claim and note_outcome later); the appends are folded
// into the 2-bit states when the application polls (or when there are
// tracker_capacity).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "courier/detail/process.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/status.hpp"

namespace courier::detail {

// status_rank over every byte value (a status read from shared memory may be any): errors and garbage are 4.
inline constexpr std::array<std::uint8_t, 256> follow_ranks = [] {
  std::array<std::uint8_t, 256> r{};
  for (unsigned i = 0; i < r.size(); ++i)
    r[i] = static_cast<std::uint8_t>(i < status_count ? status_rank(static_cast<Status>(i)) : 4);
  return r;
}();

class StatusFollower {
 public:
  using Sink = std::function<void(const StatusEvent&)>;

  // Takes a token (unique among the live followers of this process; 0 when
  // 65,535 are alive: then nothing is followed, events come as they are).
  StatusFollower(const Tracker* t, EndpointId self) noexcept;
  ~StatusFollower();
  StatusFollower(const StatusFollower&) = delete;
  StatusFollower& operator=(const StatusFollower&) = delete;

  // What this handle's tracked sends write into TrackerEntry::follower.
  std::uint16_t token() const noexcept { return token_; }

  // A tracked send made its entry in `slot` (Endpoint::track). role/dest as
  // in the entry: dest is the destination (endpoint), group id (group total,
  // group_one) or the slot of the group total (member); `member` a group_one
  // entry's member (its events are the member's and the total's, in turn).
  void note_tracked(std::uint64_t slot, const TrackerKey& key, std::uint8_t role, std::uint32_t dest,
                    EndpointId member = no_endpoint) {
    if (token_ == 0) return;       // its entry is not marked: it could not be told from another handle's
    if (n_ == room_) make_room();  // one bound: the list's allocation, or capacity_ sends (then folded)
    const EndpointId r = role == tracker_role::group_one ? member : key.recipient;
    pending_[n_++] = Pending{key.id, static_cast<std::uint32_t>(slot), dest, r, role, Status::outbox, false};
  }
  // note_tracked and note_outcome at once, for a send to one endpoint (role
  // endpoint, dest `to`) whose outcome was known before it was noted (send()).
  void note_sent(std::uint64_t slot, std::uint64_t id, EndpointId to, Status st, bool told) {
    if (token_ == 0) return;
    if (n_ == room_) make_room();
    pending_[n_++] = Pending{id, static_cast<std::uint32_t>(slot), to, no_endpoint, tracker_role::endpoint, st, told};
  }
  // The send-time outcome of the message in `slot` (Endpoint::settle_tracked);
  // `told` when the on_status callback was given it then.
  void note_outcome(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept {
    if (n_ != 0 && pending_[n_ - 1].slot == slot && pending_[n_ - 1].id == id) {
      pending_[n_ - 1].outcome = st;  // the common case: the send just tracked
      pending_[n_ - 1].told = told;
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
    pid_ =
        static_cast<std::uint64_t>(self_identity().pid) & lease_pid_mask;  // as the tracker's tags (after a fork too)
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
  std::uint64_t outstanding() const noexcept { return live_ + n_; }
  // How many times the follower caught up from the tracker.
  std::uint64_t catch_ups() const noexcept { return catch_ups_; }

 private:
  static constexpr std::uint32_t forgotten = ~0u;  // a Pending's slot after forget() (slots are < 2^26)
  struct Pending {
    std::uint64_t id;
    std::uint32_t slot;  // tracker slot, or `forgotten`
    std::uint32_t dest;
    EndpointId key_recipient;  // the key's recipient (a member entry's member), or a group_one entry's member
    std::uint8_t role;
    Status outcome;  // the send-time outcome (outbox: none yet)
    bool told;       // the callback was given `outcome` at send time
  };
  static_assert(sizeof(Pending) == 24);
  // Who the events of a message are about (derived from its role and dest).
  // `total_too`: a group_one entry, whose every transition is reported for
  // its member (recipient) and then for the group's total (recipient 0).
  struct About {
    EndpointId recipient = no_endpoint;
    GroupId group = 0;
    bool total_too = false;
  };
  // A slot's state: 0 (`none`) nothing of ours is live there, else 1 + the
  // rank of the last status reported: outbox 0, sent 1, delivered 2 (read
  // and the errors are final: the slot goes back to none).
  static constexpr unsigned none = 0, rank_delivered = 2, rank_read = 3, rank_error = 4;
  static unsigned rank_of(Status s) noexcept { return follow_ranks[static_cast<std::uint8_t>(s)]; }
  // What a send-time outcome makes of a slot reported from outbox (fold_counting):
  // the state after it and the events it reports when the callback was not told.
  struct Outcome {
    std::uint8_t state, events;
  };
  static constexpr std::array<Outcome, 256> outcomes = [] {
    std::array<Outcome, 256> r{};
    for (unsigned i = 0; i < r.size(); ++i) {
      const unsigned rank = follow_ranks[i];
      r[i] = Outcome{static_cast<std::uint8_t>(rank >= rank_read ? none : rank + 1),
                     static_cast<std::uint8_t>(rank == rank_error ? 1 : rank)};
    }
    return r;
  }();
  unsigned state(std::uint64_t slot) const noexcept { return (states_[slot >> 5] >> ((slot & 31) * 2)) & 3u; }
  void set_state(std::uint64_t slot, unsigned v) noexcept {
    std::uint64_t& w = states_[slot >> 5];
    const unsigned shift = (slot & 31) * 2;
    w = (w & ~(3ull << shift)) | (static_cast<std::uint64_t>(v) << shift);
  }
  void drop(std::uint64_t slot) noexcept {
    set_state(slot, none);
    --live_;
  }
  // The last status reported of the live message in `slot` now has `rank`.
  void reported(std::uint64_t slot, unsigned rank) noexcept {
    if (rank >= rank_read)
      drop(slot);
    else
      set_state(slot, rank + 1);
  }
  // Whether the ready entry in `slot` was inserted by this handle (its
  // process's pid in the tag, our token, our endpoint). Untrusted: a wrong
  // answer makes events come unfollowed or a message counted unknown, never
  // an access out of bounds (`slot` < capacity).
  bool ours(std::uint64_t slot) const noexcept {
    if (!tracker_->ready_from(slot, pid_)) return false;
    const TrackerEntry& e = tracker_->entry(slot);
    // Relaxed (both loads): ready_from acquired the tag; the token and sender were written before it was published.
    return e.follower.load(std::memory_order_relaxed) == token_ && e.sender.load(std::memory_order_relaxed) == self_;
  }
  // ours(), holding the message `e` is about (its id, and its member for a
  // group event; a group_one entry holds its member's events and its total's).
  bool same_message(std::uint64_t slot, const StatusEvent& e) const noexcept {
    const EndpointId key_recipient = e.group != 0 ? e.recipient : no_endpoint;
    if (!ours(slot)) return false;
    const TrackerEntry& en = tracker_->entry(slot);
    // Relaxed (all loads): ours() acquired the tag; the key, role and member were written before it was published.
    if (en.id.load(std::memory_order_relaxed) != e.id) return false;
    const EndpointId r = en.recipient.load(std::memory_order_relaxed);
    return r == key_recipient || (r == no_endpoint && e.group != 0 && is_one_member_of(en, e.recipient));
  }
  // Who a ring event of ours (same_message) is about.
  About about_event(std::uint64_t slot, const StatusEvent& e) const noexcept {
    // Relaxed: as in same_message.
    const TrackerEntry& en = tracker_->entry(slot);
    if (e.group != 0 && en.role.load(std::memory_order_relaxed) == tracker_role::group_one)
      return About{en.delivered.load(std::memory_order_relaxed), e.group, true};  // its member (see layout.hpp)
    return About{e.recipient, e.group};
  }

  void note_outcome_earlier(std::uint64_t slot, std::uint64_t id, Status st, bool told) noexcept;
  // The list is full (n_ == room_): fold it at capacity_, else grow it.
  void make_room();
  void fold(bool emit);
  void fold_counting() noexcept;
  // A ring event. Inline: it runs for every event; the common case is an
  // event of a live message of ours, anything else goes to apply_other.
  void apply(const StatusEvent& e, std::uint64_t slot_plus_one) {
    const std::uint64_t slot = slot_plus_one - 1;  // ~0 when the event names none
    if (slot < capacity_ && !states_.empty()) {
      if (const unsigned v = state(slot); v != none && same_message(slot, e)) {
        // Ours: report what it adds (nothing when a catch-up already passed it).
        advance(slot, v - 1, e.status, e.id, e.time_ns, about_event(slot, e));
        return;
      }
    }
    apply_other(e, slot);
  }
  void apply_other(const StatusEvent& e, std::uint64_t slot);
  void walk();
  // Compare the live message in `slot` with its tracker entry; report what it missed.
  void check(std::uint64_t slot);
  // Report the transitions of the live message in `slot` (the rank last
  // reported: `from`) up to `to`, in order, each once. Inline: it runs for
  // every message at least once per poll.
  void advance(std::uint64_t slot, unsigned from, Status to, std::uint64_t id, std::uint64_t time_ns, About about) {
    const unsigned rank = rank_of(to);
    if (rank <= from) return;  // passed already (a catch-up or an earlier event)
    if (rank == rank_error) {
      if (from >= rank_delivered) return;  // as Tracker::advance: no error after a delivery
      emit_about(about, StatusEvent{id, about.recipient, about.group, to, time_ns});
    } else if (sink_ == nullptr) {
      emitted_ += (rank - from) << about.total_too;  // no function takes them: counted, as the loop below would
    } else {
      // A delivery implies the message was sent: outbox -> delivered is reported outbox -> sent -> delivered.
      for (unsigned k = from + 1; k <= rank; ++k)
        emit_about(about, StatusEvent{id, about.recipient, about.group, steps[k], time_ns});
    }
    reported(slot, rank);
  }
  // One transition: `e`, and for a group_one entry (total_too) the total's after it.
  void emit_about(const About& about, StatusEvent e) {
    emit(e);
    if (about.total_too) [[unlikely]] {
      e.recipient = no_endpoint;
      emit(e);
    }
  }
  static constexpr Status steps[] = {Status::outbox, Status::sent, Status::delivered, Status::read};  // by rank
  About about(std::uint8_t role, std::uint32_t dest, std::uint64_t id, EndpointId key_recipient) const noexcept {
    if (role == tracker_role::group) return About{no_endpoint, dest};
    if (role == tracker_role::group_one) return About{key_recipient, dest, true};  // key_recipient: its member
    if (role != tracker_role::member) return About{dest, 0};
    return member_about(dest, id, key_recipient);
  }
  About member_about(std::uint32_t total, std::uint64_t id, EndpointId key_recipient) const noexcept;
  void emit(const StatusEvent& e) {
    ++emitted_;
    if (sink_ != nullptr) (*sink_)(e);
  }

  const Tracker* tracker_;
  EndpointId self_;
  std::uint64_t capacity_;
  std::uint16_t token_;
  std::uint64_t pid_ = 0;  // this process's pid as a tag holds it (set by poll)
  // Sent since the last fold, in order: pending_[0, n_) of store_'s room_
  // (<= capacity_; made room for by make_room).
  Pending* pending_ = nullptr;
  std::size_t n_ = 0, room_ = 0;
  std::vector<Pending> store_;
  std::vector<std::uint64_t> states_;  // 2 bits per tracker slot (made at the first fold)
  const Sink* sink_ = nullptr;         // during poll(), when the sink is set
  std::size_t emitted_ = 0;            // events reported by this poll()
  std::uint64_t live_ = 0;
  std::uint64_t seen_drops_ = 0;
  bool must_walk_ = false;
  std::uint64_t unknown_ = 0;
  std::uint64_t catch_ups_ = 0;
};

}  // namespace courier::detail
