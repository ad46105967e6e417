// courier/detail/lane_data.hpp — what a lane is in shared memory: members only, no
// pointers (iceoryx's *_data split). lane_writer.hpp claims and commits;
// lane_reader.hpp takes and releases. Neither can do the other's job.
//
// A lane is a bounded many-producer / one-consumer ring of variable-length
// records. Its control block is two cache lines, followed by `capacity` bytes of
// record space (capacity a power of two, >= 4 KiB):
//
//   offset 0   tail  u64   next free position; producers reserve with a CAS
//   offset 64  head  u64   first unconsumed position; only the receiver writes it
//   offset 72  handed u64  position up to which records were handed to a
//                          receiver (records in [head, handed) seen by a new
//                          receiver are flagged redelivered)
//   offset 128 data[capacity]
//
// Positions are byte offsets that only grow (64-bit: no wrap in practice); the
// index in data is position & (capacity - 1). Every record starts on a 64-byte
// boundary and is a whole number of 64-byte units; a record never wraps: a
// producer that would cross the end first lays a padding record to the end.
//
// The first 8 bytes of a record are its frame word:
//
//    63                        27 26                    3 2     0
//   +----------------------------+-----------------------+-------+
//   | tag = (position >> 6) mod 2^37 | units (24 bits)   | state |
//   +----------------------------+-----------------------+-------+
//
//   state: 0 none, 1 committed, 2 padding (skip; also an aborted claim),
//          3 revoked (the receiver stepped over space reserved but not
//          committed within the claim timeout).
//
// A frame word counts only when its tag equals the tag of the position it sits
// at; anything else is stale bytes from an earlier lap. So the receiver never
// has to zero space it consumed; a reserved record is invisible until its one
// commit CAS (stale -> committed); and a producer whose reservation was
// revoked (it stalled or died past the timeout) fails that CAS and reports
// `revoked` instead of publishing into space the receiver has passed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/detail/record.hpp"
#include "courier/limits.hpp"
#include "courier/status.hpp"

namespace courier {

inline constexpr std::size_t record_unit = 64;  // alignment and size granule of records

namespace frame {
enum State : std::uint64_t { none = 0, committed = 1, padding = 2, revoked = 3 };
inline constexpr unsigned state_bits = 3;
inline constexpr unsigned units_bits = 24;
inline constexpr unsigned tag_shift = state_bits + units_bits;  // 27
inline constexpr std::uint64_t state_mask = (1ull << state_bits) - 1;
inline constexpr std::uint64_t units_mask = (1ull << units_bits) - 1;
inline constexpr std::uint64_t tag_mask = (1ull << (64 - tag_shift)) - 1;
inline constexpr std::uint64_t max_units = units_mask;

constexpr std::uint64_t tag_of_position(std::uint64_t pos) noexcept { return (pos >> 6) & tag_mask; }
constexpr std::uint64_t make(State s, std::uint64_t units, std::uint64_t pos) noexcept {
  return (tag_of_position(pos) << tag_shift) | ((units & units_mask) << state_bits) | static_cast<std::uint64_t>(s);
}
constexpr State state(std::uint64_t w) noexcept { return static_cast<State>(w & state_mask); }
constexpr std::uint64_t units(std::uint64_t w) noexcept { return (w >> state_bits) & units_mask; }
constexpr std::uint64_t tag(std::uint64_t w) noexcept { return w >> tag_shift; }
// True when w was written for position pos (not stale bytes of an earlier lap).
constexpr bool belongs_to(std::uint64_t w, std::uint64_t pos) noexcept {
  return tag(w) == tag_of_position(pos) && state(w) != none && state(w) <= revoked;
}
}  // namespace frame

struct LaneData {
  std::atomic<std::uint64_t> tail;  // producers: reservation (CAS)
  std::uint8_t pad0[cache_line - 8];
  std::atomic<std::uint64_t> head;    // receiver: consumption, published with release
  std::atomic<std::uint64_t> handed;  // receiver: handed-out mark, for redelivery after its death
  std::uint8_t pad1[cache_line - 16];
  // followed by capacity bytes of records
};
static_assert(sizeof(LaneData) == 128);
static_assert(offsetof(LaneData, tail) == 0);
static_assert(offsetof(LaneData, head) == 64);
static_assert(offsetof(LaneData, handed) == 72);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint64_t>::required_alignment == 8);

// Process-local view of one lane in a mapping: where the control block and the
// record space are, and the ring's size. Built only from a validated geometry.
struct LaneSpace;  // detail/shm_space.hpp
struct LaneView {
  LaneData* ctl = nullptr;
  std::byte* data = nullptr;
  std::uint64_t capacity = 0;  // power of two
  // Where a writer reserves the record space before touching it (a lane of a
  // /dev/shm segment); nullptr: nothing to reserve (private memory, tests).
  LaneSpace* space = nullptr;

  // The lane laid out at `block`: its control block, then `capacity` bytes of records.
  static LaneView over(std::byte* block, std::uint64_t capacity, LaneSpace* space = nullptr) noexcept {
    return LaneView{reinterpret_cast<LaneData*>(block), block + sizeof(LaneData), capacity, space};
  }

  std::uint64_t mask() const noexcept { return capacity - 1; }
  std::uint64_t* frame_ptr(std::uint64_t pos) const noexcept {
    return reinterpret_cast<std::uint64_t*>(data + (pos & mask()));
  }
  std::atomic_ref<std::uint64_t> frame_at(std::uint64_t pos) const noexcept {
    return std::atomic_ref<std::uint64_t>(*frame_ptr(pos));
  }
  RecordHeader* header_at(std::uint64_t pos) const noexcept {
    return reinterpret_cast<RecordHeader*>(data + (pos & mask()));
  }
};

// Bytes a record of payload_len occupies in a lane (header + payload, rounded up).
constexpr std::uint64_t record_bytes(std::uint64_t payload_len) noexcept {
  return (sizeof(RecordHeader) + payload_len + record_unit - 1) & ~std::uint64_t(record_unit - 1);
}

}  // namespace courier
