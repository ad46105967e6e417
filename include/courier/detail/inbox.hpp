// courier/detail/inbox.hpp — an endpoint's receiving side: 16 lanes, the non-empty
// bitmap, the futex word, and the rules that make producers and a sleeping
// receiver meet without a lost wake-up and without a syscall per message.
//
// The invariant: a lane holding a committed record has its bit set in
// `nonempty`. Producers set it after committing (only if it looks clear, so a
// busy lane costs one load of a shared line, not an RMW). The receiver clears
// bits of lanes it finds empty only when idle (tidy), and re-checks the lane
// after clearing. Both pairs (commit / bitmap, bitmap / parked) are store-then-
// load on each side, so both sides use seq_cst (Dekker).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "courier/detail/clock.hpp"
#include "courier/detail/futex.hpp"
#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/segment.hpp"
#include "courier/options.hpp"

namespace courier {

// Producer side, after a successful commit on lane p.
inline void inbox_notify(InboxData& in, unsigned p) noexcept {
  const std::uint32_t bit = 1u << p;
  // seq_cst: after the seq_cst commit, partner of tidy()'s fetch_and + fence.
  if ((in.nonempty.load(std::memory_order_seq_cst) & bit) == 0) in.nonempty.fetch_or(bit, std::memory_order_seq_cst);
  // seq_cst: partner of park()'s store of parked = 1 followed by its load of nonempty.
  if (in.parked.load(std::memory_order_seq_cst) != 0 && in.parked.exchange(0, std::memory_order_seq_cst) != 0)
    futex_wake_all(in.parked);
}

struct InboxTaken {
  LaneRecord record;
  unsigned lane = 0;
  explicit operator bool() const noexcept { return static_cast<bool>(record); }
};

// Told about each tracked record the reader drops unseen, with the status its
// sender should get (expired, invalid_destination, offline).
using DropHook = void (*)(void* ctx, const RecordHeader& h, Status why);

// The receiver's view of its inbox. Only the lease holder builds one.
class InboxReader {
 public:
  void on_drop(DropHook f, void* ctx) noexcept {
    drop_ = f;
    drop_ctx_ = ctx;
  }

  static constexpr std::uint32_t tidy_every = 4096;  // empty polls between idle tidies
  static constexpr std::uint32_t all_lanes = (1u << priority_levels) - 1;
  static_assert(priority_levels <= 32);

  InboxReader() = default;
  InboxReader(const Segment& seg, std::uint32_t slot, EndpointId self, std::uint64_t lease) noexcept
      : in_(&seg.inbox(slot)), self_(self), lease_(lease) {
    const std::uint64_t timeout = seg.header().claim_timeout_ns;
    for (unsigned p = 0; p < priority_levels; ++p) lanes_[p] = LaneReader(seg.lane(slot, p), timeout);
    recheck_ns_ = lanes_[0].claim_timeout_ns();  // the header's value as the lane readers keep it (clamped)
  }

  // The highest-priority deliverable record, or an empty InboxTaken. Drops
  // (and counts) records that expired, real-time records meant for an earlier
  // receiver, and records addressed to an earlier endpoint of this slot.
  // Out of line, as the compiler chose before poll had busy_again and
  // look_at_skipped: inlined into Receiver::try_receive it cost ~12 ns more
  // a message (courier-bench scale, receive rows).
  [[gnu::noinline]] InboxTaken poll() noexcept {
    // Relaxed: a hint of where to look; the frame's acquire load is the sync point.
    // Masked: bits above the 16 lanes can only come from a damaged inbox.
    std::uint32_t bm = in_->nonempty.load(std::memory_order_relaxed) & all_lanes;
    std::uint32_t skipped = 0;  // flagged lanes found empty on the way down
    while (bm != 0) {
      const unsigned p = static_cast<unsigned>(std::countr_zero(bm));
      bm &= bm - 1;
      LaneReader& r = lanes_[p];
      for (;;) {
        LaneRecord rec = r.peek();
        if (!rec) break;
        if (!deliverable(*rec.header)) {
          r.release(rec);
          continue;
        }
        r.mark_handed(rec);
        bump(in_->received);
        if (rec.redelivered) bump(in_->redelivered);
        after_take(true, skipped);
        return InboxTaken{rec, p};
      }
      skipped |= 1u << p;
    }
    after_take(false, skipped);
    return {};
  }

  void release(const InboxTaken& t) noexcept { lanes_[t.lane].release(t.record); }

  // What drain's hand(t) did with a record.
  enum class Take : std::uint8_t {
    handed,    // given to the application (counts against the limit)
    skipped,   // consumed without handing it out (acknowledged before)
    declined,  // not taken: the batch stops before it, it stays at the lane's head
  };

  // Hand up to `limit` deliverable records to hand(const InboxTaken&) -> Take,
  // lane by lane from the highest priority among the lanes flagged when the
  // batch starts; returns the number handed. Drops as poll does. Per lane
  // touched: one store of handed before its first record (covering the
  // stretch about to be handed: a receiver that dies mid-batch leaves them
  // flagged redelivered) and one store of head after hand returned for its
  // last one (docs/design.md, "Batched receive"). A lane that holds nothing
  // costs one frame read, as in poll. If hand throws, the record it threw on
  // counts as taken (as the message in hand of try_receive would be released
  // by the next one), head is stored past it and the exception propagates.
  template <class Hand>
  std::size_t drain(std::size_t limit, Hand&& hand) {
    // Relaxed: a hint of where to look; the frame's acquire load is the sync point.
    std::uint32_t bm = in_->nonempty.load(std::memory_order_relaxed) & all_lanes;
    std::uint32_t skipped = 0;  // flagged lanes found empty
    std::size_t handed = 0;
    std::uint64_t taken = 0, redelivered = 0;
    bool stop = false;  // declined
    while (bm != 0 && handed < limit && !stop) {
      const unsigned p = static_cast<unsigned>(std::countr_zero(bm));
      bm &= bm - 1;
      LaneReader& r = lanes_[p];
      std::uint64_t at = r.head();
      LaneRecord rec = r.peek_at(at);  // steps over padding and revoked claims: head moves past them too
      if (!rec) {
        if (at != r.head()) r.release_to(at);
        skipped |= 1u << p;
        continue;
      }
      for (;;) {  // stretches: one, unless records were dropped or skipped on the way
        const std::size_t wanted = limit - handed;
        std::uint64_t end = rec.pos + rec.units * record_unit;
        std::size_t more = 0;
        if (wanted > 1) end = r.stretch_end(end, wanted - 1, more);
        r.mark_handed_until(end);
        for (;;) {
          const std::uint64_t next = rec.pos + rec.units * record_unit;
          if (deliverable(*rec.header)) {
            Take t;
            try {
              t = hand(InboxTaken{rec, p});
            } catch (...) {
              r.mark_handed_until(next);
              r.release_to(next);
              count_taken(taken + 1, redelivered + (rec.redelivered ? 1 : 0));
              throw;
            }
            if (t == Take::declined) {
              r.mark_handed_until(next);  // only it was seen (a later receiver flags it redelivered)
              stop = true;
              break;
            }
            ++taken;
            if (rec.redelivered) ++redelivered;
            if (t == Take::handed) ++handed;
          }
          at = next;
          if (at >= end || handed == limit) break;
          rec = r.peek_at(at);
          if (!rec) break;  // only a damaged lane loses a record it showed a moment ago
        }
        // A stretch shorter than wanted: the lane held no more a moment ago.
        // Walking it again now would read the empty frame twice more; the
        // next batch looks (a batch of one stays cheap).
        if (stop || handed == limit || at < end || more + 1 < wanted) break;
        rec = r.peek_at(at);
        if (!rec) break;
      }
      r.release_to(at);
    }
    if (taken != 0) count_taken(taken, redelivered);
    if (taken != 0 || !stop) after_take(taken != 0, skipped);
    return handed;
  }

  // Called when idle: clear the bits of empty lanes (re-checking each), step
  // over claims held past the timeout. Returns the earliest time (monotonic
  // ns) at which an outstanding claim must be looked at again, or ~0.
  std::uint64_t tidy(std::uint64_t now_mono) noexcept {
    std::uint64_t earliest = ~0ull;
    // Bits beyond the lanes can only come from a damaged inbox: drop them.
    // Relaxed load / seq_cst RMW: as for the lane bits below.
    if ((in_->nonempty.load(std::memory_order_relaxed) & ~all_lanes) != 0)
      in_->nonempty.fetch_and(all_lanes, std::memory_order_seq_cst);
    for (unsigned p = 0; p < priority_levels; ++p) {
      LaneReader& r = lanes_[p];
      const std::uint32_t bit = 1u << p;
      if (!clear_if_empty(p)) continue;
      holes_ &= ~bit;
      if (r.check_stalled(now_mono)) {
        const std::uint64_t d = r.stall_deadline_ns();
        earliest = d < earliest ? d : earliest;
        if (r.peek()) {  // the stall check may have revoked the head: more may be waiting behind it
          in_->nonempty.fetch_or(bit, std::memory_order_seq_cst);  // seq_cst: restores the invariant
        } else {
          holes_ |= bit;  // its bit is clear now: busy_again looks at it if the receiver gets busy first
        }
      }
    }
    flush_counters();
    return earliest;
  }

  // A receiver that never idles never runs tidy: a claim at the head of a
  // lane it steps past (a dead producer's hole, records committed behind it)
  // would hide that lane for as long as other lanes keep it busy. These keep
  // it in view while busy (docs/design.md, "No wedged ids": a busy receiver).
  // Out of line: poll's path that returns a record stays as it was.
  //
  // Lanes that looked empty on the way to a record of a later lane: a lane
  // with a claim at its head keeps its bit (the next poll looks again) and
  // the claim is timed, stepped over once older than the claim timeout; any
  // other is cleared (re-checked), as before.
  [[gnu::noinline]] void look_at_skipped(std::uint32_t skipped) noexcept {
    for (; skipped != 0; skipped &= skipped - 1) {
      const auto p = static_cast<unsigned>(std::countr_zero(skipped));
      LaneReader& r = lanes_[p];
      if (!r.claim_at_head()) {
        clear_if_empty(p);
        continue;
      }
      const std::uint64_t revoked = r.counters().revoked;
      r.check_stalled(monotonic_ns());
      if (r.counters().revoked != revoked) flush_counters();  // courier stat shows it
    }
  }
  // The first record after empty polls: lanes whose bit the last tidy cleared
  // with a claim still at their head get it back, so that busy polls look at them.
  [[gnu::noinline]] void busy_again() noexcept {
    empty_polls_ = 0;
    for (std::uint32_t h = holes_; h != 0; h &= h - 1) {
      const auto p = static_cast<unsigned>(std::countr_zero(h));
      // seq_cst: as tidy's restore (a bit set too many costs one look).
      if (lanes_[p].claim_at_head()) in_->nonempty.fetch_or(1u << p, std::memory_order_seq_cst);
    }
    holes_ = 0;
  }

  // Sleep until a producer commits, an outstanding claim needs a look, or the
  // deadline (monotonic ns; ~0 = none) passes. Returns at once if anything is
  // waiting. Callers poll again afterwards.
  // The sleep is cut at claim_timeout: a producer killed between its commit
  // and its wake-up left a record no wake-up announces, which the next tidy
  // finds (a dead producer delays a receiver by at most claim_timeout, as
  // with a claim it left open).
  void park(std::uint64_t deadline_mono) noexcept {
    std::uint64_t now = monotonic_ns();
    std::uint64_t wake = tidy(now);
    if (deadline_mono < wake) wake = deadline_mono;
    if (now >= wake) return;
    if (wake - now > recheck_ns_) wake = now + recheck_ns_;
    // SYNC POINT WRITE: parked, then load nonempty (seq_cst both): a producer
    // that committed before we store sees parked = 1 and wakes us; one that
    // committed after we load has set a bit we would have seen.
    in_->parked.store(1, std::memory_order_seq_cst);
    if ((in_->nonempty.load(std::memory_order_seq_cst) & all_lanes) != 0) {
      in_->parked.store(0, std::memory_order_relaxed);  // relaxed: only ever cancels our own park
      return;
    }
    futex_wait(in_->parked, 1, wake == ~0ull ? ~0ull : wake - now);
    in_->parked.store(0, std::memory_order_relaxed);  // relaxed: as above
  }

  // Clear lane p's bit if the lane holds nothing; true when it is empty (and
  // its bit clear). The re-check after the clear closes the race with a
  // producer committing meanwhile (seq_cst RMW + fence, partner of inbox_notify).
  // A lane that holds a record gets its bit back if it lacks it: a producer
  // killed between its commit and inbox_notify left it clear, and no poll
  // looks at a lane without its bit (docs/design.md, "A commit whose producer
  // died before its notify").
  bool clear_if_empty(unsigned p) noexcept {
    LaneReader& r = lanes_[p];
    const std::uint32_t bit = 1u << p;
    if (r.peek()) {
      // Relaxed load: a hint (a bit set too many costs one look); seq_cst RMW: as tidy's restore.
      if ((in_->nonempty.load(std::memory_order_relaxed) & bit) == 0)
        in_->nonempty.fetch_or(bit, std::memory_order_seq_cst);
      return false;
    }
    // Relaxed: only decides whether a clear is needed; the RMW below is the sync point.
    if ((in_->nonempty.load(std::memory_order_relaxed) & bit) == 0) return true;
    in_->nonempty.fetch_and(~bit, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!r.peek()) return true;
    in_->nonempty.fetch_or(bit, std::memory_order_seq_cst);  // seq_cst: restores the invariant
    return false;
  }

  InboxData& data() const noexcept { return *in_; }

  void flush_counters() noexcept {
    std::uint64_t rv = 0, cr = 0;
    for (const LaneReader& r : lanes_) {
      rv += r.counters().revoked;
      cr += r.counters().corrupt;
    }
    add(in_->revoked, rv - flushed_revoked_);
    add(in_->corrupt, cr - flushed_corrupt_);
    flushed_revoked_ = rv;
    flushed_corrupt_ = cr;
  }

 private:
  // After a poll or a batch: taken, whether it took a record; skipped, the
  // flagged lanes it found empty on the way.
  void after_take(bool taken, std::uint32_t skipped) noexcept {
    if (taken) {
      if (empty_polls_ != 0) [[unlikely]]
        busy_again();
      // Stale bits above the lane we deliver from would be scanned again on
      // every receive: clear them now (cost grows with traffic, not with the
      // number of idle lanes). A lane drained to empty keeps its own bit
      // until idle, so a busy lane costs no RMW per message.
      if (skipped != 0) [[unlikely]]
        look_at_skipped(skipped);
    } else if (++empty_polls_ >= tidy_every) {
      tidy(monotonic_ns());
      empty_polls_ = 1;  // counted from the tidy (not 0: busy_again looks at the claims it found)
    }
  }
  bool deliverable(const RecordHeader& h) noexcept {
    if (h.to != self_) {
      bump(in_->stale);
      dropped(h, Status::invalid_destination);  // addressed to an endpoint removed since
      return false;
    }
    if (h.expires_ns != 0) {
      if (fast_realtime_ns() >= h.expires_ns) {
        bump(in_->expired);
        dropped(h, Status::expired);
        return false;
      }
    } else if (h.lease != lease_) {
      bump(in_->stale);  // real-time message sent to an earlier receiver (another process)
      dropped(h, Status::offline);
      return false;
    }
    return true;
  }
  void dropped(const RecordHeader& h, Status why) noexcept {
    if (h.id != 0 && drop_ != nullptr) {
      const RecordHeader copy = h;  // the hook may take its time; the lane is shared
      drop_(drop_ctx_, copy, why);
    }
  }
  void count_taken(std::uint64_t taken, std::uint64_t redelivered) noexcept {
    add(in_->received, taken);
    add(in_->redelivered, redelivered);
  }
  // Single writer (the lease holder): a relaxed load + store, no locked RMW.
  static void bump(std::atomic<std::uint64_t>& c) noexcept { add(c, 1); }
  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    if (n != 0) c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  InboxData* in_ = nullptr;
  DropHook drop_ = nullptr;
  void* drop_ctx_ = nullptr;
  EndpointId self_ = no_endpoint;
  std::uint64_t lease_ = 0;  // our lease word
  std::uint64_t recheck_ns_ = ~0ull;  // longest park: claim_timeout, as the lane readers clamp it (1 ms to 1 h)
  std::uint32_t empty_polls_ = 0;
  std::uint32_t holes_ = 0;  // lanes the last tidy left with a claim at head and their bit clear
  std::uint64_t flushed_revoked_ = 0;
  std::uint64_t flushed_corrupt_ = 0;
  LaneReader lanes_[priority_levels];
};

}  // namespace courier
