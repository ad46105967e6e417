// courier/detail/tracker_new_key.hpp — the tracker's insert of a key whose id
// the bus has just assigned (Tracker::insert_new). courier/detail/tracker.hpp
// declares it and includes this file at its end; include that header.
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/tracker.hpp"

namespace courier {

// The key's id was just handed to this handle by the bus (Endpoint::next_id;
// ids are unique bus-wide, taken in blocks). Steps 2 and 3 of the insert
// protocol (tracker.hpp) order racing inserters of one key and find its
// original; a new key has neither, so the entry is published with a release
// store, without the scan and the second CAS (docs/design.md, "A bus-assigned
// id skips the duplicate scan"). An inserter of another key with the same hash
// bits may kill the claim meanwhile (keys cannot be compared while a slot is
// claiming); the store overwrites the kill, which only orders inserters of one
// key: both entries stand, under different keys.
template <class Init>
Tracker::InsertResult Tracker::insert_new(const TrackerKey& key, Placement at, std::uint64_t now_ns,
                                          Init&& init) noexcept {
  const std::uint64_t hv = at.hv;
  const std::uint64_t me = tag::make(tag::claiming, static_cast<std::uint64_t>(self_identity().pid), hv >> 24);
  const std::uint64_t slot = claim_slot(bucket_a(hv), bucket_b(hv), me, now_ns, at.first);
  if (slot == no_slot) return refused();
  write_claimed(slot, key, init);  // published by the release store of the tag below
  // SYNC POINT WRITE: the entry, partner of find()'s and holds()' acquire load of the tag.
  tags_[slot].store((me & ~3ull) | tag::ready, std::memory_order_release);
  return {Insert::inserted, slot};
}

}  // namespace courier
