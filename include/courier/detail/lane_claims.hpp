// courier/detail/lane_claims.hpp — whether a dead sender's lane claim was ever
// committed, read from the lane alone, without the receiver's lease (the
// housekeeper, docs/design.md "No wedged ids"). Read only; every frame and
// position is checked as the reader checks it.
//
// The claimer must be dead before the look begins: then its claim can no
// longer change except by the receiver (which revokes it, or consumes it if it
// was committed) and by the producers of the next lap (once head has passed
// it). A verdict needs evidence:
//   committed:       a committed record whose header is the send's;
//   never_committed: the send's header in a hole that can be no earlier lap's
//                    bytes: a unit the receiver revoked (its revoked frame
//                    carries the unit's own position), or a unit of the ring's
//                    first lap whose frame word no one ever wrote;
//   unknown:         neither (the claim may have been consumed, or sits in a
//                    hole of a later lap the receiver has not revoked yet).
// A header read is kept only if no producer of the next lap can have written
// over it meanwhile (seqlock-style: the frame and tail are checked after it).
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/lane_data.hpp"
#include "courier/detail/record.hpp"

namespace courier::detail {

enum class ClaimVerdict : std::uint8_t { committed, never_committed, unknown };

// A copy of the header at position q whose frame word was f0. False when it
// may be torn: the frame changed, or tail passed q + capacity (a producer of
// the next lap may have written there while we read).
inline bool copy_claim_header(const LaneView& v, std::uint64_t q, std::uint64_t f0, RecordHeader& out) noexcept {
  auto* raw = reinterpret_cast<std::uint64_t*>(v.header_at(q));
  auto* dst = reinterpret_cast<std::uint64_t*>(&out);
  dst[0] = f0;
  for (unsigned i = 1; i < sizeof(RecordHeader) / 8; ++i)
    dst[i] = std::atomic_ref<std::uint64_t>(raw[i]).load(std::memory_order_relaxed);  // relaxed: re-checked below
  // Acquire fence: the loads above are done before the re-checks below (a seqlock read).
  std::atomic_thread_fence(std::memory_order_acquire);
  // Relaxed after the fence: only compared; a producer moves tail before it writes a byte at q + capacity.
  return v.frame_at(q).load(std::memory_order_relaxed) == f0 &&
         v.ctl->tail.load(std::memory_order_relaxed) <= q + v.capacity;
}

// Look for the claim whose header `is_it(const RecordHeader&)` recognises in
// lane v: from tail - capacity (what the ring still holds) to tail. Behind
// head only revoked and committed frames count (the bytes between them may be
// anything); from head on, the walk follows the records as the receiver does.
template <class IsIt>
ClaimVerdict find_claim(const LaneView& v, IsIt&& is_it) noexcept {
  // Acquire: partner of the receiver's release of head (what it consumed it reported first).
  const std::uint64_t h = v.ctl->head.load(std::memory_order_acquire);
  // Acquire: tail after head, so h <= t; the claims below t are made.
  const std::uint64_t t = v.ctl->tail.load(std::memory_order_acquire);
  if (t < h || t - h > v.capacity || h % record_unit != 0 || t % record_unit != 0) return ClaimVerdict::unknown;
  bool never = false;
  RecordHeader c{};
  const auto unit_ok = [&](std::uint64_t q, std::uint64_t f) { return copy_claim_header(v, q, f, c) && is_it(c); };
  // Behind head: records consumed or revoked, still in the ring.
  for (std::uint64_t q = t > v.capacity ? t - v.capacity : 0; q < h; q += record_unit) {
    // Acquire: the frame before the header it frames.
    const std::uint64_t f = v.frame_at(q).load(std::memory_order_acquire);
    if (!frame::belongs_to(f, q)) continue;
    if (frame::state(f) == frame::committed && unit_ok(q, f)) return ClaimVerdict::committed;  // consumed
    if (f == frame::make(frame::revoked, 1, q) && unit_ok(q, f)) never = true;
  }
  // From head: the walk of LaneReader::peek, stepping over holes unit by unit.
  for (std::uint64_t q = h; q < t;) {
    const std::uint64_t f = v.frame_at(q).load(std::memory_order_acquire);  // acquire: as above
    const std::uint64_t units = frame::units(f);
    if (!frame::belongs_to(f, q) || units == 0 || (q & v.mask()) + units * record_unit > v.capacity) {
      // A hole (a claim not committed) or a bad frame. The first lap's frames
      // are zero until written: the send's header here was written for this lap.
      if (q < v.capacity && f == 0 && unit_ok(q, f)) never = true;
      q += record_unit;
      continue;
    }
    if (frame::state(f) == frame::committed && unit_ok(q, f)) return ClaimVerdict::committed;
    if (f == frame::make(frame::revoked, 1, q) && unit_ok(q, f)) never = true;
    q += units * record_unit;
  }
  return never ? ClaimVerdict::never_committed : ClaimVerdict::unknown;
}

}  // namespace courier::detail
