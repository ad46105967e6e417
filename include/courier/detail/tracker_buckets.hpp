// courier/detail/tracker_buckets.hpp — the parts of the tracker's table
// (tracker.hpp) shared by its inserts: the tag word of a slot, the walk over a
// key's two buckets, and the placement rule. Tracker::insert (shared, with
// the claim/scan/CAS protocol) and Tracker::insert_unshared (a rebuild's
// table nobody else sees) both place a key by them, so the two cannot drift
// apart (tests/tracker_test.cpp checks they place slot for slot alike).
#pragma once

#include <cstdint>

#include "courier/detail/layout.hpp"

namespace courier {

// A slot's 64-bit tag: state (2 bits), the inserter's pid (22 bits), the key's
// hash (40 bits). 0 is a free slot.
namespace tag {
inline constexpr std::uint64_t claiming = 1, ready = 2, killed = 3;
inline constexpr std::uint64_t state(std::uint64_t t) noexcept { return t & 3u; }
inline constexpr std::uint64_t pid_bits(std::uint64_t t) noexcept { return (t >> 2) & ((1ull << 22) - 1); }
inline constexpr std::uint64_t hash_bits(std::uint64_t t) noexcept { return t >> 24; }
inline constexpr std::uint64_t make(std::uint64_t state, std::uint64_t pid, std::uint64_t hash40) noexcept {
  return (hash40 << 24) | ((pid & ((1ull << 22) - 1)) << 2) | state;
}
}  // namespace tag

namespace detail {

// The placement rule: a key goes to the less loaded of its two buckets (its
// first bucket on a tie), the other one when that is full.
constexpr bool first_bucket_first(unsigned load_first, unsigned load_second) noexcept {
  return load_first <= load_second;
}

// f(k, slot) for every slot of a key's buckets b1 (k = 0) and b2 (k = 1),
// each in slot order, b2 skipped when it is b1; stops when f returns true
// (and returns true then). Unrolled: the scan is the inserts' hot loop.
template <class F>
inline bool scan_buckets(std::uint64_t b1, std::uint64_t b2, F&& f) {
  const std::uint64_t bs[2] = {b1, b2};
  for (unsigned k = 0; k < (b1 == b2 ? 1u : 2u); ++k) {
#pragma GCC unroll 8
    for (unsigned i = 0; i < tracker_bucket_slots; ++i)
      if (f(k, bs[k] * tracker_bucket_slots + i)) return true;
  }
  return false;
}

}  // namespace detail
}  // namespace courier
