// courier/detail/tracker_unshared.hpp — the tracker's inserts into a table no
// other process can use yet (a bus rebuilt from its log by the open that
// created it): Tracker::insert_unshared, and Tracker::Rebuild, which reads a
// key's buckets once, ahead of its insert, and hands what it saw to it.
// courier/detail/tracker.hpp declares them and includes this file at its end;
// include that header.
#pragma once

#include <cstdint>
#include <vector>

#include "courier/detail/tracker.hpp"

namespace courier {

template <class Init>
Tracker::InsertResult Tracker::insert_unshared(const TrackerKey& key, std::uint64_t hv, std::uint64_t now_ns,
                                               Init&& init) noexcept {
  const std::uint64_t h40 = hv >> 24;
  const std::uint64_t b1 = bucket_a(hv), b2 = bucket_b(hv);
  for (int pass = 0; pass < 2; ++pass) {
    unsigned load[2] = {0, 0};
    std::uint64_t free_slot[2] = {no_slot, no_slot}, dup = no_slot;
    detail::scan_buckets(b1, b2, [&](unsigned k, std::uint64_t s) {
      // Acquire: the entry is read next when the hash matches (as find()).
      const std::uint64_t t = tags_[s].load(std::memory_order_acquire);
      if (t == 0) {
        if (free_slot[k] == no_slot) free_slot[k] = s;
        return false;
      }
      ++load[k];
      if (tag::state(t) != tag::ready || tag::hash_bits(t) != h40 || !same_key(s, key)) return false;
      if (!replaceable(s, t)) return (dup = s), true;
      release(s);  // a send that never reached a lane: this one replaces it
      if (free_slot[k] == no_slot || s < free_slot[k]) free_slot[k] = s;
      --load[k];
      return false;
    });
    if (dup != no_slot) {
      // As insert(), whose claim comes before its scan: with both buckets
      // full it retires their dead entries first, whatever it finds next.
      if (pass == 0 && load_of(b1) == tracker_bucket_slots && load_of(b2) == tracker_bucket_slots) {
        retire_bucket(b1, now_ns);
        if (b1 != b2) retire_bucket(b2, now_ns);
      }
      return {Insert::duplicate, dup};
    }
    if (b1 == b2) load[1] = load[0], free_slot[1] = free_slot[0];
    if (const std::uint64_t slot = unshared_choice(load, free_slot); slot != no_slot)
      return place_unshared(key, h40, slot, init);
    if (pass == 0 && retire_bucket(b1, now_ns) + (b1 != b2 ? retire_bucket(b2, now_ns) : 0) == 0) break;
  }
  h_->full_events.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return {Insert::full, 0};
}

// The first free slot of the less loaded bucket, else of the other (no_slot: both full).
inline std::uint64_t Tracker::unshared_choice(const unsigned (&load)[2], const std::uint64_t (&free_slot)[2]) noexcept {
  const unsigned first = detail::first_bucket_first(load[0], load[1]) ? 0 : 1;
  return free_slot[first] != no_slot ? free_slot[first] : free_slot[1 - first];
}

template <class Init>
Tracker::InsertResult Tracker::place_unshared(const TrackerKey& key, std::uint64_t h40, std::uint64_t slot,
                                              Init&& init) noexcept {
  TrackerEntry& e = entry(slot);
  // Relaxed: published by the release store of the tag below.
  e.id.store(key.id, std::memory_order_relaxed);
  e.sender.store(key.sender, std::memory_order_relaxed);
  e.recipient.store(key.recipient, std::memory_order_relaxed);
  init(e);
  // Release: publishes the entry (partner of find()'s acquire).
  tags_[slot].store(tag::make(tag::ready, static_cast<std::uint64_t>(self_identity().pid), h40),
                    std::memory_order_release);
  return {Insert::inserted, slot};
}

// A rebuild's inserts (insert_unshared's table: nobody else writes it), in
// the order they are made, where each key's two buckets may be read once,
// ahead of its insert (look, then warm: when its tag lines are cached), instead of
// once to warm its entry line and again to insert. What the look saw is used
// only if no insert made through this object since touched either bucket
// (the only writer of the table); then the buckets hold what they held, and
// insert_unshared's scan would find the same loads and free slots. A look
// that saw the key's hash bits in a tag (a possible duplicate or replaceable
// entry), or no free slot (retire, full), or whose buckets changed, is
// answered by insert_unshared's full scan: the answers and slots are the same
// as insert_unshared's (tests/tracker_test.cpp).
class Tracker::Rebuild {
 public:
  /// What look saw in a key's buckets.
  struct Ahead {
    bool known = false;                                 ///< looked at (else the insert scans)
    bool hash_seen = false;                             ///< a tag carries the key's hash bits
    unsigned load[2] = {0, 0};                          ///< used slots of bucket a, b
    std::uint64_t free_slot[2] = {no_slot, no_slot};    ///< first free slot of bucket a, b
    std::uint64_t epoch = 0;                            ///< inserts made before the look
  };

  /// Inserts into `t` (a table only this thread writes, as insert_unshared).
  explicit Rebuild(Tracker& t) : t_(t), touched_(touched_size, 0) {}

  /// Read the buckets of the key of hash `hv` (after warm_tags, once the tag
  /// lines are cached); warm then prefetches the entry line its insert will
  /// write. A caller looking at many keys at once looks at all of them, then
  /// warms all of them: prefetches issued together overlap their page walks
  /// (Recovery::advance_load says why that matters).
  Ahead look(std::uint64_t hv) const noexcept {
    Ahead a;
    a.known = true;
    a.epoch = epoch_;
    const std::uint64_t h40 = hv >> 24;
    const std::uint64_t b1 = t_.bucket_a(hv), b2 = t_.bucket_b(hv);
    detail::scan_buckets(b1, b2, [&](unsigned k, std::uint64_t s) {
      // Relaxed: this thread is the table's only writer (a tag with the key's hash bits sends the insert to
      // its full scan, which acquires).
      const std::uint64_t t = t_.tags_[s].load(std::memory_order_relaxed);
      if (t == 0) {
        if (a.free_slot[k] == no_slot) a.free_slot[k] = s;
      } else {
        ++a.load[k];
        a.hash_seen |= tag::hash_bits(t) == h40;
      }
      return false;
    });
    if (b1 == b2) a.load[1] = a.load[0], a.free_slot[1] = a.free_slot[0];
    return a;
  }
  void warm(const Ahead& a) const noexcept {
    const std::uint64_t slot = unshared_choice(a.load, a.free_slot);
    __builtin_prefetch(&t_.entry(slot < t_.capacity_ ? slot : 0), 1);  // branch-free: see warm_slot
  }

  /// t.insert_unshared(key, hv, now_ns, init), using `ahead` (look(hv),
  /// or nullptr) when its buckets are as it saw them.
  template <class Init>
  InsertResult insert(const TrackerKey& key, std::uint64_t hv, const Ahead* ahead, std::uint64_t now_ns,
                      Init&& init) noexcept {
    const std::uint64_t b1 = t_.bucket_a(hv), b2 = t_.bucket_b(hv);
    std::uint64_t& m1 = touched_[b1 & (touched_size - 1)];
    std::uint64_t& m2 = touched_[b2 & (touched_size - 1)];
    std::uint64_t slot = no_slot;
    if (ahead != nullptr && ahead->known && !ahead->hash_seen && m1 <= ahead->epoch && m2 <= ahead->epoch)
      slot = unshared_choice(ahead->load, ahead->free_slot);
    m1 = m2 = ++epoch_;  // whatever the outcome: it may have filled, freed or retired slots of both
    if (slot != no_slot) return t_.place_unshared(key, hv >> 24, slot, init);
    return t_.insert_unshared(key, hv, now_ns, init);
  }

 private:
  // Buckets are told apart by their low bits: two distinct buckets may share
  // a mark (an insert then scans again), never a bucket that changed miss one.
  static constexpr std::uint64_t touched_size = 2048;
  Tracker& t_;
  std::uint64_t epoch_ = 0;               // inserts made
  std::vector<std::uint64_t> touched_;    // per bucket (low bits): the epoch of the last insert into it
};

}  // namespace courier
