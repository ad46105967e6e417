// courier/detail/lane_inspect.hpp — looking into a lane from outside, read
// only, without the receiver's lease: how many records wait, and a copy of
// each waiting header (courier stat, the sweep, endpoint removal). The lane
// is shared memory: every frame, length and position is checked as the
// reader checks it, and a bad one is stepped over one unit at a time.
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/lane_data.hpp"
#include "courier/detail/record.hpp"

namespace courier::detail {

// f(position, frame word) for each committed record between head and tail.
template <class F>
void for_each_committed(const LaneView& v, F&& f) noexcept {
  // Acquire: partner of the receiver's release of head and producers' commits.
  std::uint64_t h = v.ctl->head.load(std::memory_order_acquire);
  const std::uint64_t t = v.ctl->tail.load(std::memory_order_acquire);
  if (t < h || t - h > v.capacity || h % record_unit != 0) return;
  while (h < t) {
    const std::uint64_t f0 = v.frame_at(h).load(std::memory_order_acquire);  // acquire: the commit of that record
    const std::uint64_t units = frame::units(f0);
    if (!frame::belongs_to(f0, h) || units == 0 || (h & v.mask()) + units * record_unit > v.capacity) {
      h += record_unit;
      continue;
    }
    if (frame::state(f0) == frame::committed) f(h, f0);
    h += units * record_unit;
  }
}

// Committed records waiting in a lane (a snapshot for statistics).
inline std::uint64_t lane_waiting(const LaneView& v) noexcept {
  std::uint64_t n = 0;
  for_each_committed(v, [&](std::uint64_t, std::uint64_t) { ++n; });
  return n;
}

// f(header copy) for each committed record waiting in a lane. Every field is
// read with relaxed atomic loads and the frame is re-checked afterwards, so a
// record consumed and overwritten meanwhile is not reported.
template <class F>
void walk_lane(const LaneView& v, F&& f) noexcept {
  for_each_committed(v, [&](std::uint64_t h, std::uint64_t f0) {
    RecordHeader c{};
    auto* raw = reinterpret_cast<std::uint64_t*>(v.header_at(h));
    auto* out = reinterpret_cast<std::uint64_t*>(&c);
    for (unsigned i = 1; i < sizeof(RecordHeader) / 8; ++i)
      out[i] = std::atomic_ref<std::uint64_t>(raw[i]).load(std::memory_order_relaxed);  // relaxed: checked below
    // Acquire: the record is still the one we read (not consumed and reused).
    if (v.frame_at(h).load(std::memory_order_acquire) == f0 && v.ctl->head.load(std::memory_order_acquire) <= h) f(c);
  });
}

}  // namespace courier::detail
