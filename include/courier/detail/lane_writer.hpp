// courier/detail/lane_writer.hpp — the producer's side of a lane: claim space, write
// the record in place, commit (or abort). Lock-free; no syscall, no allocation.
//
//   claim:  CAS tail forward by the record (plus padding to the ring's end when
//           the record would not fit before it; the padding frame is CASed in
//           at once), and note the stale frame word now at the record's place.
//   commit: one CAS of the frame, stale -> committed (seq_cst, so release):
//           publishes header and payload. Fails only when the reader revoked
//           the reservation (not committed within the claim timeout): the
//           caller is told `revoked`, never a silent loss.
// One locked instruction on the record's line per message: the spinning
// receiver reads that line, and every extra write to it before the commit
// would hand the line back and forth once more (measured: a separate "claimed"
// stake cost ~1.5x in round-trip latency, docs/design.md).
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/lane_data.hpp"
#include "courier/detail/shm_space.hpp"

namespace courier {

enum class ClaimResult : std::uint8_t {
  ok,
  full,     // no room between tail and head
  revoked,  // the reader stepped over this reservation before we could stake it
  corrupt,  // head/tail in shared memory are inconsistent (head > tail or gap > capacity)
};

struct LaneClaim {
  std::uint64_t pos = 0;    // position of the record (after any padding)
  std::uint64_t units = 0;  // record length in 64-byte units
  std::uint64_t prior = 0;  // the stale frame word the commit CAS replaces
  RecordHeader* header = nullptr;
  std::byte* payload() const noexcept { return reinterpret_cast<std::byte*>(header + 1); }
};

class LaneWriter {
 public:
  LaneWriter() = default;
  explicit LaneWriter(LaneView v) noexcept : v_(v) {}

  // Reserve a record of `bytes` (a multiple of 64, <= capacity / 2).
  [[nodiscard]] ClaimResult try_claim(std::uint64_t bytes, LaneClaim& out) noexcept {
    const std::uint64_t cap = v_.capacity;
    // Relaxed: the reservation itself publishes nothing; a stale value only
    // makes the CAS below fail and retry with the fresh one.
    std::uint64_t t = v_.ctl->tail.load(std::memory_order_relaxed);
    std::uint64_t pad = 0;
    for (;;) {
      // Every position a correct producer writes is 64-byte aligned; anything
      // else in tail means the control block was damaged.
      if (t % record_unit != 0) return ClaimResult::corrupt;
      const std::uint64_t to_end = cap - (t & v_.mask());
      pad = bytes > to_end ? to_end : 0;
      const std::uint64_t need = pad + bytes;
      // limit_ is cached_head_ + cap, lowered to the end of the pages this
      // process reserved in the lane (shm_space.hpp): one comparison, as before.
      if (t < cached_head_ || t + need > limit_) {
        // SYNC POINT READ: head, partner of LaneReader::release's store: the
        // reader is done with every byte before head, so we may overwrite it.
        cached_head_ = v_.ctl->head.load(std::memory_order_acquire);
        if (cached_head_ > t) {
          // Our tail is stale (head can never pass the real tail): reload.
          std::uint64_t fresh = v_.ctl->tail.load(std::memory_order_relaxed);
          if (fresh == t || fresh < cached_head_) return ClaimResult::corrupt;
          t = fresh;
          continue;
        }
        if (t + need - cached_head_ > cap) {
          if (t - cached_head_ > cap) return ClaimResult::corrupt;
          return ClaimResult::full;
        }
        // Room in the ring; the memory under it must exist before tail
        // passes it (every position below tail may be read). None: full.
        limit_ = room_limit(t, need);
        if (t + need > limit_) return ClaimResult::full;
      }
      // Relaxed on success: ordering for the record comes from the frame word
      // (stake, then commit with release); on failure t is refreshed.
      if (v_.ctl->tail.compare_exchange_weak(t, t + need, std::memory_order_relaxed, std::memory_order_relaxed)) break;
    }
    if (pad != 0 && !stake(t, frame::make(frame::padding, pad / record_unit, t))) return ClaimResult::revoked;
    const std::uint64_t pos = t + pad;
    // Relaxed: we own [pos, pos + bytes) now; only a revoking reader may write
    // this word, and the commit CAS catches that.
    const std::uint64_t prior = v_.frame_at(pos).load(std::memory_order_relaxed);
    if (frame::belongs_to(prior, pos)) return ClaimResult::revoked;  // revoked before we got here
    out.pos = pos;
    out.units = bytes / record_unit;
    out.prior = prior;
    out.header = v_.header_at(pos);
    return ClaimResult::ok;
  }

  // Publish a claimed record. false: the reader revoked it (held too long).
  [[nodiscard]] bool commit(const LaneClaim& c) noexcept {
    std::uint64_t expected = c.prior;
    // SYNC POINT WRITE: header fields and payload, partner of LaneReader's
    // acquire load of the frame. seq_cst (not just release) because the
    // producer next loads the inbox's bitmap and parked words: the store->load
    // pair must not be reordered (Dekker with the receiver going to sleep).
    return c.header != nullptr &&
           v_.frame_at(c.pos).compare_exchange_strong(expected, frame::make(frame::committed, c.units, c.pos),
                                                      std::memory_order_seq_cst, std::memory_order_relaxed);
  }

  // Give a claim back: the reader skips it as padding.
  void abort(const LaneClaim& c) noexcept {
    std::uint64_t expected = c.prior;
    // Release: nothing to publish but keep it symmetric with commit; failure
    // means it was revoked already, which is the same outcome.
    (void)v_.frame_at(c.pos).compare_exchange_strong(expected, frame::make(frame::padding, c.units, c.pos),
                                                     std::memory_order_release, std::memory_order_relaxed);
  }

  const LaneView& view() const noexcept { return v_; }

 private:
  // CAS the frame at pos from stale bytes to `word` (used for padding). false
  // when the reader has already revoked this position (our own tag is there).
  bool stake(std::uint64_t pos, std::uint64_t word) noexcept {
    auto f = v_.frame_at(pos);
    // Relaxed: padding publishes no data; its length is in the word itself.
    std::uint64_t cur = f.load(std::memory_order_relaxed);
    for (;;) {
      if (frame::belongs_to(cur, pos)) return false;  // revoked while we were between CAS and stake
      if (f.compare_exchange_weak(cur, word, std::memory_order_relaxed, std::memory_order_relaxed)) return true;
    }
  }

  // The end of what may be claimed without looking again: cached_head_ + cap,
  // or less, the end of the reserved record space in t's lap minus the next
  // record's frame (a receiver reads the frame after the last record).
  std::uint64_t room_limit(std::uint64_t t, std::uint64_t need) noexcept {
    const std::uint64_t cap = v_.capacity;
    const std::uint64_t by_head = cached_head_ + cap < cached_head_ ? ~0ull : cached_head_ + cap;
    if (v_.space == nullptr) return by_head;
    const std::uint64_t phys = t & v_.mask();
    const std::uint64_t end = phys + need + record_unit;
    const std::uint64_t r = detail::reserve_lane(*v_.space, cap, end < cap ? end : cap);
    if (r >= cap) return by_head;
    if (r < end) return 0;
    const std::uint64_t by_space = t - phys + r - record_unit;
    return by_space < by_head ? by_space : by_head;
  }

  LaneView v_{};
  std::uint64_t cached_head_ = 0;  // process-local copy of head; refreshed only when the ring looks full
  std::uint64_t limit_ = 0;        // see room_limit; 0 until the first claim looks
};

}  // namespace courier
