// courier/detail/lane_reader.hpp — the receiver's side of a lane: find the committed
// record at head, hand it out, release it. Only the holder of the endpoint's
// receiver lease uses a LaneReader, so head has one writer.
//
// A record never blocks the lane for good: space reserved but not committed
// (its producer died or stalled) for longer than the claim timeout is revoked
// and stepped over.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/detail/clock.hpp"
#include "courier/detail/lane_data.hpp"
#include "courier/limits.hpp"

namespace courier {

struct LaneRecord {
  const RecordHeader* header = nullptr;
  std::uint64_t pos = 0;
  std::uint64_t units = 0;
  bool redelivered = false;
  explicit operator bool() const noexcept { return header != nullptr; }
  const std::byte* payload() const noexcept { return reinterpret_cast<const std::byte*>(header + 1); }
};

struct LaneReaderCounters {
  std::uint64_t revoked = 0;  // claims stepped over after the timeout
  std::uint64_t corrupt = 0;  // frames or headers that failed validation and were skipped
};

class LaneReader {
 public:
  LaneReader() = default;
  // claim_timeout_ns is read from the segment's header: kept inside the bounds
  // a creator may record, whatever was written there since.
  LaneReader(LaneView v, std::uint64_t claim_timeout_ns) noexcept
      : v_(v), claim_timeout_ns_(std::clamp(claim_timeout_ns, min_claim_timeout_ns, max_claim_timeout_ns)) {
    // Acquire: pairs with the previous receiver's release of head (it may have
    // been another process that held the lease before us).
    head_ = v_.ctl->head.load(std::memory_order_acquire);
    if (head_ % record_unit != 0) {
      // No receiver writes an unaligned head: the control block was damaged.
      // Realign so that every frame we read is an aligned word inside the ring.
      ++counters_.corrupt;
      advance(record_unit - head_ % record_unit);
    }
    // Relaxed: handed is a hint written by the previous lease holder; the lease
    // CAS (acq_rel) already ordered everything it wrote before us.
    const std::uint64_t handed = v_.ctl->handed.load(std::memory_order_relaxed);
    redeliver_until_ = (handed > head_ && handed - head_ <= v_.capacity) ? handed : head_;
  }

  // The committed record at head, or an empty LaneRecord when there is none
  // (yet). Steps over padding, revoked claims and records that fail checks.
  LaneRecord peek() noexcept { return peek_from<true>(head_); }

  // Batched reading (InboxReader::drain): the caller's cursor `at` runs ahead
  // of head through records handed out one after another, and head is stored
  // once (release_to) when the application is done with all of them.
  //
  // As peek, from `at` (>= head): steps over padding, revoked claims and
  // damaged frames by moving only `at` (producers still see head).
  LaneRecord peek_at(std::uint64_t& at) noexcept { return peek_from<false>(at); }
  // From `at`, the end of a committed record just found (peek_at): where the
  // run of up to n further committed records ends, stepping over padding and
  // revoked claims; `at` when none follows. `found` is how many it found
  // (fewer than n: the lane held no more a moment ago). Reads frames only and
  // changes nothing: it stops at a damaged frame, which the delivery pass
  // counts and steps over. At most one lap from `at`.
  std::uint64_t stretch_end(std::uint64_t at, std::size_t n, std::size_t& found) const noexcept {
    found = 0;
    const std::uint64_t from = at;
    std::uint64_t end = at;
    while (n != 0 && at - from < v_.capacity) {
      // Acquire: as peek's frame load (the delivery pass reads the header after it).
      const std::uint64_t f = v_.frame_at(at).load(std::memory_order_acquire);
      if (!frame::belongs_to(f, at)) break;
      const std::uint64_t units = frame::units(f);
      if (units == 0 || (at & v_.mask()) + units * record_unit > v_.capacity) break;
      const std::uint64_t st = frame::state(f);
      at += units * record_unit;
      if (st == frame::committed) {
        end = at;
        ++found;
        --n;
      } else if (st != frame::padding && st != frame::revoked) {
        break;
      }
    }
    return end;
  }
  // Everything before `end` may have been given to the application: if we die
  // before releasing it, the next receiver sees it flagged redelivered.
  void mark_handed_until(std::uint64_t end) noexcept {
    // Relaxed: read only by a later lease holder, after the lease CAS.
    v_.ctl->handed.store(end, std::memory_order_relaxed);
  }
  // Done with everything before `at` (a cursor from peek_at): one store of head.
  void release_to(std::uint64_t at) noexcept {
    if (at != head_) advance(at - head_);
  }

  // Note that r was given to the application: if we die before release, the
  // next receiver sees it flagged redelivered.
  void mark_handed(const LaneRecord& r) noexcept { mark_handed_until(r.pos + r.units * record_unit); }

  // Done with r (it must be the record peek returned): its space goes back to producers.
  void release(const LaneRecord& r) noexcept { advance(r.units * record_unit); }

  // Called when peek found nothing. Returns true when a claim is outstanding at
  // head (the caller should not sleep past `stall_deadline_ns()`), false when
  // the lane is simply empty. Revokes a claim held longer than the timeout.
  bool check_stalled(std::uint64_t now_mono_ns) noexcept {
    // Relaxed: compared only, to know whether someone reserved space.
    const std::uint64_t t = v_.ctl->tail.load(std::memory_order_relaxed);
    if (t == head_) {
      stalled_pos_ = ~0ull;
      return false;
    }
    if (t < head_ || t - head_ > v_.capacity) {
      // tail is not a value any producer could have written: nothing to wait for.
      ++counters_.corrupt;
      stalled_pos_ = ~0ull;
      return false;
    }
    if (stalled_pos_ != head_) {
      stalled_pos_ = head_;
      stalled_since_ = now_mono_ns;
      return true;
    }
    if (now_mono_ns - stalled_since_ < claim_timeout_ns_) return true;
    revoke_at_head(t);
    stalled_pos_ = ~0ull;
    return true;
  }
  // Space is reserved at head (a claim being written, or a hole).
  // Relaxed: compared only, as in check_stalled.
  bool claim_at_head() const noexcept { return v_.ctl->tail.load(std::memory_order_relaxed) != head_; }
  std::uint64_t stall_deadline_ns() const noexcept {
    return stalled_pos_ == ~0ull ? ~0ull : stalled_since_ + claim_timeout_ns_;
  }

  std::uint64_t head() const noexcept { return head_; }
  const LaneReaderCounters& counters() const noexcept { return counters_; }
  std::uint64_t claim_timeout_ns() const noexcept { return claim_timeout_ns_; }  // as clamped at construction
  const LaneView& view() const noexcept { return v_; }

 private:
  // peek's walk from `pos`. Store: pos is head_ and each step over padding or
  // a damaged frame gives the space back at once (advance); otherwise only
  // the caller's cursor moves.
  static constexpr std::uint64_t prefetch_units = 16;  // a 1 KiB payload

  template <bool Store>
  LaneRecord peek_from(std::uint64_t& pos) noexcept {
    for (;;) {
      // SYNC POINT READ: the frame, partner of LaneWriter::commit (seq_cst CAS):
      // once committed is seen, header and payload are visible.
      const std::uint64_t f = v_.frame_at(pos).load(std::memory_order_acquire);
      if (!frame::belongs_to(f, pos)) return {};
      const std::uint64_t units = frame::units(f);
      const std::uint64_t idx = pos & v_.mask();
      if (units == 0 || idx + units * record_unit > v_.capacity) {
        // Written by no correct producer: count it, step one unit; the hole
        // check (check_stalled) resynchronises on the next real frame.
        ++counters_.corrupt;
        step<Store>(pos, record_unit);
        continue;
      }
      const std::uint64_t st = frame::state(f);
      if (st == frame::padding || st == frame::revoked) {
        step<Store>(pos, units * record_unit);
        continue;
      }
      if (st != frame::committed) {
        ++counters_.corrupt;
        step<Store>(pos, units * record_unit);
        continue;
      }
      const RecordHeader* h = v_.header_at(pos);
      // The payload's lines: they cross from the producer's core while the
      // header is checked and the message handed out, not one by one when
      // the application reads them. At most prefetch_units (a longer payload
      // streams on; the hardware prefetcher follows a sequential read).
      const std::uint64_t ahead = units - 1 < prefetch_units ? units - 1 : prefetch_units;
      for (std::uint64_t u = 1; u <= ahead; ++u)
        __builtin_prefetch(reinterpret_cast<const std::byte*>(h) + u * record_unit, 0);
      if (h->payload_len > units * record_unit - sizeof(RecordHeader) || h->priority >= priority_levels) {
        ++counters_.corrupt;
        step<Store>(pos, units * record_unit);
        continue;
      }
      stalled_pos_ = ~0ull;
      return LaneRecord{h, pos, units, pos < redeliver_until_};
    }
  }
  template <bool Store>
  void step(std::uint64_t& pos, std::uint64_t bytes) noexcept {
    if constexpr (Store)
      advance(bytes);  // pos is head_
    else
      pos += bytes;
  }

  void advance(std::uint64_t bytes) noexcept {
    head_ += bytes;
    // SYNC POINT WRITE: head, partner of LaneWriter::try_claim's acquire load:
    // we no longer read anything before head_.
    v_.ctl->head.store(head_, std::memory_order_release);
  }

  void revoke_at_head(std::uint64_t tail) noexcept {
    if (frame::belongs_to(v_.frame_at(head_).load(std::memory_order_acquire), head_)) return;  // peek handles it
    // A hole: a producer moved tail but never committed (it died, or stalled
    // past the timeout). It ends at the first position that holds a frame of
    // its own, or at tail.
    std::uint64_t end = head_ + record_unit;
    while (end < tail && !frame::belongs_to(v_.frame_at(end).load(std::memory_order_acquire), end)) end += record_unit;
    // Revoke every unit of the hole with its own tag, so that a producer still
    // about to commit at one of these positions fails instead of publishing unseen.
    for (std::uint64_t q = head_; q < end; q += record_unit) {
      auto fq = v_.frame_at(q);
      std::uint64_t cur = fq.load(std::memory_order_relaxed);
      bool staked = false;
      while (!(staked = frame::belongs_to(cur, q))) {
        // Relaxed: revoked carries no data; a concurrent commit makes this
        // fail and we stop there (peek hands that record out).
        if (fq.compare_exchange_weak(cur, frame::make(frame::revoked, 1, q), std::memory_order_relaxed,
                                     std::memory_order_relaxed))
          break;
      }
      if (staked) break;
    }
    ++counters_.revoked;
  }

  LaneView v_{};
  std::uint64_t claim_timeout_ns_ = 0;
  std::uint64_t head_ = 0;
  std::uint64_t redeliver_until_ = 0;
  std::uint64_t stalled_pos_ = ~0ull;
  std::uint64_t stalled_since_ = 0;
  LaneReaderCounters counters_{};
};

}  // namespace courier
