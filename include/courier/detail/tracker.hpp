// courier/detail/tracker.hpp — tracked messages in shared memory: duplicate detection
// keyed by (sender, id), and the status of every tracked message (per
// recipient for groups). Bounded; lock-free for distinct keys.
//
// Table: capacity slots in buckets of 8. Each slot has a 64-bit tag word (one
// cache line of tags per bucket) and a 64-byte entry (layout.hpp). A key may
// live in either of two buckets chosen by its hash; an insert goes to the less
// loaded one. A lookup reads two tag lines and touches an entry line only when
// the 40-bit key hash in a tag matches.
//
// Insert protocol (two senders may insert the same key at once: a resend from
// another process racing the original):
//   1. claim a free slot: CAS tag 0 -> claiming(pid, hash); write the entry.
//   2. scan both buckets for other slots with the same hash:
//        ready + same key -> we are a duplicate: free our slot, report the
//            original; unless it is no original (a failed send, or left in
//            outbox by a sender that died): free it, go on;
//        claiming at a lower slot index -> wait until it decides (if its
//            owner died, free it) and look again;
//        claiming at a higher slot index -> kill it (CAS claiming -> killed);
//            if that fails it became ready: look again.
//   3. CAS our tag claiming -> ready. If we were killed meanwhile, free the
//      slot and start over (the killer, or the entry it defers to, wins).
// No two entries of one key both become ready: of two concurrent inserters,
// the later claimer's scan sees the earlier one, and either waits for it
// (it is lower), kills it before it decides (it is higher), or finds it ready.
// Waiting happens only between inserts of the same key hash, never between
// unrelated senders. The tag word, the bucket walk and the placement rule the
// inserts share are in tracker_buckets.hpp; the key and entry fields in
// tracker_entry.hpp.
//
// Entries retire after their deadline (message expiry + status retention):
// an insert that finds both buckets full first retires what is past its
// deadline there; `sweep` retires everywhere. A full table refuses the insert
// (Status::tracker_full): dedup is never silently lost.
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/clock.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/record.hpp"
#include "courier/detail/tracker_buckets.hpp"
#include "courier/detail/tracker_entry.hpp"
#include "courier/status.hpp"

namespace courier {

class Tracker {
 public:
  enum class Insert : std::uint8_t { inserted, duplicate, full };
  struct InsertResult {
    Insert result = Insert::full;
    std::uint64_t slot = 0;  // ours (inserted) or the original's (duplicate)
  };

  Tracker() = default;
  Tracker(TrackerHeader* h, std::uint64_t capacity) noexcept
      : h_(h),
        tags_(reinterpret_cast<std::atomic<std::uint64_t>*>(reinterpret_cast<std::byte*>(h) + sizeof(TrackerHeader))),
        entries_(
            reinterpret_cast<TrackerEntry*>(reinterpret_cast<std::byte*>(h) + sizeof(TrackerHeader) + capacity * 8)),
        capacity_(capacity),
        buckets_(capacity / tracker_bucket_slots) {}

  bool valid() const noexcept { return h_ != nullptr; }
  std::uint64_t capacity() const noexcept { return capacity_; }
  // Slot k of every bucket in one plane of entries, bucket after bucket
  // (docs/layout.md, "Tracker"): the keys of a run (adjacent buckets) that
  // take the same slot of their buckets have their entries side by side.
  TrackerEntry& entry(std::uint64_t slot) const noexcept {
    return entries_[(slot & (tracker_bucket_slots - 1)) * buckets_ + slot / tracker_bucket_slots];
  }
  TrackerHeader& header() const noexcept { return *h_; }

  static std::uint64_t hash(const TrackerKey& k) noexcept { return key_hash(k); }

  // Where a key goes, as far as a sender can tell before its insert: its
  // hash, and which of its buckets looked less loaded (warm_entry). A hint:
  // the buckets may fill meanwhile; insert() still claims a free slot in
  // either and scans both, so a stale hint only places an entry in the
  // fuller bucket.
  struct Placement {
    std::uint64_t hv = 0;
    std::uint8_t first = 0;  // 0: not known (insert compares the loads), 1: bucket a, 2: bucket b
  };

  // Insert `key`; `init` fills the entry (key fields are set here). On
  // duplicate, slot is the original (its status may still be outbox).
  template <class Init>
  InsertResult insert(const TrackerKey& key, std::uint64_t now_ns, Init&& init) noexcept {
    return insert(key, Placement{hash(key), 0}, now_ns, init);
  }
  // insert() with `at` from warm_entry (at.hv must be hash(key)).
  template <class Init>
  InsertResult insert(const TrackerKey& key, Placement at, std::uint64_t now_ns, Init&& init) noexcept {
    const std::uint64_t hv = at.hv;
    const std::uint64_t h40 = hv >> 24;
    const std::uint64_t b1 = bucket_a(hv), b2 = bucket_b(hv);
    const std::uint64_t me = tag::make(tag::claiming, static_cast<std::uint64_t>(self_identity().pid), h40);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      // 1. claim a free slot in the less loaded bucket (retire dead entries if both are full)
      std::uint64_t slot = claim_slot(b1, b2, me, now_ns, attempt == 0 ? at.first : 0);
      if (slot == no_slot) {
        // Before reporting full, make sure the key is not already here.
        if (std::uint64_t orig = find(key); orig != no_slot) {
          // A failed send is no original (find returns one only when no other
          // entry of the key is ready): its slot is the room for this resend.
          if (replaceable(orig, tags_[orig].load(std::memory_order_acquire))) {  // acquire: as find()
            release(orig);
            continue;
          }
          return {Insert::duplicate, orig};
        }
        return refused();
      }
      write_claimed(slot, key, init);  // published by the CAS to ready below
      // 2. look for the same key elsewhere in our two buckets. Most tags
      // differ in their hash bits (free slots too, unless h40 is 0): those are
      // passed with one load and compare; a match goes to scan_slot.
      std::uint64_t dup = no_slot;
      detail::scan_buckets(b1, b2, [&](unsigned, std::uint64_t other) {
        // seq_cst: after our seq_cst claim, so that of two racing inserters
        // the later one sees the earlier (store -> load across slots).
        const std::uint64_t t = tags_[other].load(std::memory_order_seq_cst);
        if (tag::hash_bits(t) != h40 || other == slot) return false;
        return (dup = scan_slot(other, t, slot, key, h40)) != no_slot;
      });
      if (dup != no_slot) {
        tags_[slot].store(0, std::memory_order_release);  // release: nobody reads a freed entry
        return {Insert::duplicate, dup};
      }
      // 3. decide. seq_cst: partner of a killer's CAS and of other inserters' scans.
      std::uint64_t expected = me;
      if (tags_[slot].compare_exchange_strong(expected, (me & ~3ull) | tag::ready, std::memory_order_seq_cst))
        return {Insert::inserted, slot};
      // Killed by a lower-slot inserter of the same hash: give the slot back, try again.
      tags_[slot].store(0, std::memory_order_release);
    }
    return {Insert::full, 0};
  }

  // insert() of a key whose id the bus just handed to this handle: no scan, no
  // second CAS (tracker_new_key.hpp says why that is safe).
  template <class Init>
  InsertResult insert_new(const TrackerKey& key, Placement at, std::uint64_t now_ns, Init&& init) noexcept;

  // insert() for a table no other process can use yet: a bus being rebuilt
  // from its log by the open that created it (recovery; other openers wait
  // for recovery_owner, and a failed rebuild unlinks the memory). The same
  // placement (the less loaded of the key's two buckets, dead entries retired
  // when both are full) and the same answers (a ready entry of the key is the
  // original unless replaceable), without the claim/scan/CAS protocol that
  // orders racing inserters: about a third of insert()'s instructions.
  // Defined in tracker_unshared.hpp, with Rebuild.
  template <class Init>
  InsertResult insert_unshared(const TrackerKey& key, std::uint64_t now_ns, Init&& init) noexcept {
    return insert_unshared(key, hash(key), now_ns, init);
  }
  // insert_unshared() with the key's hash `hv` (hash(key)) computed before (to warm its lines).
  template <class Init>
  InsertResult insert_unshared(const TrackerKey& key, std::uint64_t hv, std::uint64_t now_ns, Init&& init) noexcept;
  class Rebuild;  // a rebuild's inserts in order, each key's buckets read once ahead (tracker_unshared.hpp)

  // Cache hints for a key this process expects to insert soon (a sender's
  // next bus-assigned id): warm_tags prefetches its two tag lines; warm_entry,
  // once they are cached, the entry line insert() would claim (the first free
  // slot of the less loaded bucket, as claim_slot picks it). A tracked send
  // otherwise waits for those lines in turn (the table is MiBs, the key's
  // buckets random): measured in bench/results/2026-12-04-tracked-ab.md. They
  // only read tags (relaxed: a placement guess; a wrong one costs a wasted
  // prefetch) and write nothing.
  // Both take the key's hash (hash(key)); warm_entry returns the placement it
  // saw, for the insert of that key (insert(key, at, ...) compares no loads).
  void warm_tags(std::uint64_t hv) const noexcept {
    __builtin_prefetch(&tags_[bucket_a(hv) * tracker_bucket_slots], 1);
    __builtin_prefetch(&tags_[bucket_b(hv) * tracker_bucket_slots], 1);
  }
  // Prefetch the tag and entry lines of `slot` (one a caller will look at
  // soon: recovery's put-back of a slot its load remembered); slot 0's when
  // out of range. Branch-free on purpose: g++ 12 -O2/-O3 deleted a prefetch
  // that was the only statement under an `if` (docs/design.md).
  void warm_slot(std::uint64_t slot) const noexcept {
    slot = slot < capacity_ ? slot : 0;
    __builtin_prefetch(&tags_[slot], 0);
    __builtin_prefetch(&entry(slot), 1);
  }
  Placement warm_entry(std::uint64_t hv) const noexcept {
    const std::uint64_t b1 = bucket_a(hv), b2 = bucket_b(hv);
    const bool first_a = detail::first_bucket_first(load_of(b1), load_of(b2));
    const std::uint64_t b = first_a ? b1 : b2;
    for (unsigned i = 0; i < tracker_bucket_slots; ++i) {
      const std::uint64_t s = b * tracker_bucket_slots + i;
      if (tags_[s].load(std::memory_order_relaxed) == 0) {  // relaxed: a placement guess, as load_of
        __builtin_prefetch(&entry(s), 1);
        break;
      }
    }
    return Placement{hv, static_cast<std::uint8_t>(first_a ? 1 : 2)};
  }

  // The ready slot of `key`, or no_slot.
  std::uint64_t find(const TrackerKey& key) const noexcept {
    const std::uint64_t hv = hash(key);
    const std::uint64_t h40 = hv >> 24;
    std::uint64_t failed = no_slot;
    for (std::uint64_t b : {bucket_a(hv), bucket_b(hv)}) {
      for (unsigned i = 0; i < tracker_bucket_slots; ++i) {
        const std::uint64_t s = b * tracker_bucket_slots + i;
        // SYNC POINT READ: the entry, partner of insert's seq_cst CAS to ready.
        const std::uint64_t t = tags_[s].load(std::memory_order_acquire);
        if (tag::state(t) != tag::ready || tag::hash_bits(t) != h40 || !same_key(s, key)) continue;
        // A failed send (full/offline/log_failed) may sit beside its successful resend: prefer the latter.
        if (!frees_id(static_cast<Status>(entry(s).status.load(std::memory_order_acquire)))) return s;
        failed = s;
      }
    }
    return failed;
  }

  // True when `slot` holds the ready entry of `key` (a slot remembered
  // elsewhere, checked before use: it may have retired and been reused).
  bool holds(std::uint64_t slot, const TrackerKey& key) const noexcept {
    if (slot >= capacity_) return false;
    // Acquire: as in find(): the entry is read after the tag.
    const std::uint64_t t = tags_[slot].load(std::memory_order_acquire);
    return tag::state(t) == tag::ready && tag::hash_bits(t) == hash(key) >> 24 && same_key(slot, key);
  }

  // Move the status of `slot` forward to `to` (never backwards, never out of
  // an error, never from delivered/read to an error: a redelivery found
  // expired, or a removal, comes after the delivery and changes nothing).
  // Returns true when this call made the change.
  bool advance(std::uint64_t slot, Status to, std::uint64_t now_ns) noexcept {
    std::atomic<std::uint8_t>& st = entry(slot).status;
    // Acquire: pairs with the previous advance's release.
    std::uint8_t cur = st.load(std::memory_order_acquire);
    for (;;) {
      const Status c = static_cast<Status>(cur);
      if (is_error(c) || !moves_forward(c, to)) return false;
      if (is_error(to) && !is_owed(c)) return false;
      // Release: publishes the counters updated before it; acquire on failure as above.
      if (st.compare_exchange_weak(cur, static_cast<std::uint8_t>(to), std::memory_order_acq_rel,
                                   std::memory_order_acquire))
        break;
    }
    entry(slot).updated_ns.store(now_ns, std::memory_order_relaxed);  // relaxed: informational
    return true;
  }

  // Free `slot` now (an aborted claim, a retired entry). Only for slots this
  // process inserted or found ready.
  void release(std::uint64_t slot) noexcept {
    std::uint64_t t = tags_[slot].load(std::memory_order_acquire);  // acquire: the state the CAS below expects
    // Release: a later claimer's entry writes come after ours.
    if (tag::state(t) == tag::ready) tags_[slot].compare_exchange_strong(t, 0, std::memory_order_release);
  }

  // Whether `slot` holds a ready entry inserted by the process whose pid bits
  // (22, as tags keep them) are `pid` (the status follower's test of its own entries).
  bool ready_from(std::uint64_t slot, std::uint64_t pid) const noexcept {
    if (slot >= capacity_) return false;
    const std::uint64_t t = tags_[slot].load(std::memory_order_acquire);  // acquire: the entry is read next, as find()
    return tag::state(t) == tag::ready && tag::pid_bits(t) == pid;
  }

  // Whether the process that inserted the ready entry in `slot` lives (a
  // system call: for rare paths only). False for a slot that is not ready.
  bool inserter_alive(std::uint64_t slot) const noexcept {
    if (slot >= capacity_) return false;
    const std::uint64_t t = tags_[slot].load(std::memory_order_relaxed);  // relaxed: only the pid bits are read
    return tag::state(t) == tag::ready && pid_alive(tag::pid_bits(t));
  }

  // The pid bits (22) of the process that inserted the ready entry in `slot`,
  // or 0 when it is not ready (the housekeeper finds a dead sender's journal
  // files by it: docs/design.md, "No wedged ids").
  std::uint64_t inserter_pid(std::uint64_t slot) const noexcept {
    if (slot >= capacity_) return 0;
    const std::uint64_t t = tags_[slot].load(std::memory_order_relaxed);  // relaxed: only the pid bits are read
    return tag::state(t) == tag::ready ? tag::pid_bits(t) : 0;
  }

  // Retire every entry past its deadline (and free slots left claiming or
  // killed by processes that died). Returns the number retired.
  std::uint64_t sweep(std::uint64_t now_ns) noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t b = 0; b < buckets_; ++b) n += retire_bucket(b, now_ns);
    return n;
  }

  // f(slot, entry, inserter_alive) for every ready entry (a snapshot walk:
  // entries may change meanwhile; check with holds() before acting on a
  // remembered slot). inserter_alive() says whether the process that inserted
  // it lives: a system call, so f asks only when it must (a walk that asked
  // for every entry made one kill() per tracked message in flight).
  template <class F>
  void for_each_ready(F&& f) const {
    for (std::uint64_t s = 0; s < capacity_; ++s) {
      // Acquire: the entry's fields are read after its tag, as in find().
      const std::uint64_t t = tags_[s].load(std::memory_order_acquire);
      if (tag::state(t) != tag::ready) continue;
      const std::uint64_t pid = tag::pid_bits(t);
      f(s, entry(s), [pid] { return pid_alive(pid); });
    }
  }

  using Usage = TrackerUsage;
  Usage usage() const noexcept {
    Usage u;
    u.capacity = capacity_;
    for (std::uint64_t s = 0; s < capacity_; ++s)
      if (tags_[s].load(std::memory_order_relaxed) != 0) ++u.used;  // relaxed: a statistic
    u.full_events = h_->full_events.load(std::memory_order_relaxed);
    u.retired = h_->retired.load(std::memory_order_relaxed);
    return u;
  }

  static constexpr std::uint64_t no_slot = ~0ull;

 private:
  // A key's two buckets: each its run's (two runs of tracker_run buckets
  // side by side, chosen by the run's hash), at the id's place in the run
  // (key_hash). buckets_ <= max_tracker_capacity / 8 = 2^23: bucket_a's run
  // comes from the hash's low 24 bits, bucket_b's from its bits 30-63 (the
  // run's part of the tag bits).
  static_assert(max_tracker_capacity / tracker_bucket_slots <= (1ull << tracker_run_shift));
  static std::uint64_t run_place(std::uint64_t hv) noexcept {
    return (hv >> tracker_run_shift) & (tracker_run - 1);
  }
  std::uint64_t bucket_a(std::uint64_t hv) const noexcept { return (hv + run_place(hv)) & (buckets_ - 1); }
  std::uint64_t bucket_b(std::uint64_t hv) const noexcept {
    return (((hv >> 30) * 0x9e3779b97f4a7c15ull >> 20) + run_place(hv)) & (buckets_ - 1);
  }

  // Whether the ready entry in slot s (tag t) of our key is no original, so
  // that a resend replaces it: a send that never reached a lane (failed at
  // send time, or log_failed), or one whose sender died before it got there
  // (still outbox, not committed, and the process that inserted it is gone;
  // the tag keeps its pid). docs/design.md, "No wedged ids".
  bool replaceable(std::uint64_t s, std::uint64_t t) const noexcept {
    // Acquire: the status written before the entry's last advance.
    const auto st = static_cast<Status>(entry(s).status.load(std::memory_order_acquire));
    if (frees_id(st)) return true;
    // Acquire: partner of the sender's release of `committed` (set before its
    // lane commit, or once its spilled record is in the journal file).
    if ((entry(s).flags.load(std::memory_order_acquire) & tracker_flag::committed) != 0) return false;
    return st == Status::outbox && tag::state(t) == tag::ready && !pid_alive(tag::pid_bits(t));
  }

  bool same_key(std::uint64_t s, const TrackerKey& k) const noexcept {
    const TrackerEntry& e = entry(s);
    // Relaxed: the caller saw the tag ready (acquire) before.
    return e.id.load(std::memory_order_relaxed) == k.id && e.sender.load(std::memory_order_relaxed) == k.sender &&
           e.recipient.load(std::memory_order_relaxed) == k.recipient;
  }

  unsigned load_of(std::uint64_t b) const noexcept {
    unsigned n = 0;
#pragma GCC unroll 8
    for (unsigned i = 0; i < tracker_bucket_slots; ++i)
      n += tags_[b * tracker_bucket_slots + i].load(std::memory_order_relaxed) != 0;  // relaxed: a placement hint
    return n;
  }

  // The entry of a slot this process has claimed: its key and `init`'s
  // fields. Relaxed stores: the caller's write of the tag to ready publishes them.
  template <class Init>
  void write_claimed(std::uint64_t slot, const TrackerKey& key, Init& init) noexcept {
    TrackerEntry& e = entry(slot);
    e.id.store(key.id, std::memory_order_relaxed);
    e.sender.store(key.sender, std::memory_order_relaxed);
    e.recipient.store(key.recipient, std::memory_order_relaxed);
    init(e);
  }
  InsertResult refused() noexcept {
    h_->full_events.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return {Insert::full, 0};
  }

  std::uint64_t try_claim_in(std::uint64_t b, std::uint64_t me) noexcept {
    for (unsigned i = 0; i < tracker_bucket_slots; ++i) {
      const std::uint64_t s = b * tracker_bucket_slots + i;
      std::uint64_t zero = 0;
      // seq_cst: the claim is the store half of the store->load pair with the scan.
      if (tags_[s].load(std::memory_order_relaxed) == 0 &&
          tags_[s].compare_exchange_strong(zero, me, std::memory_order_seq_cst))
        return s;
    }
    return no_slot;
  }

  // `first`: as Placement::first (0: compare the loads now).
  std::uint64_t claim_slot(std::uint64_t b1, std::uint64_t b2, std::uint64_t me, std::uint64_t now_ns,
                           std::uint8_t first) noexcept {
    const bool first_a = first != 0 ? first == 1 : detail::first_bucket_first(load_of(b1), load_of(b2));
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t s = try_claim_in(first_a ? b1 : b2, me);
      if (s == no_slot) s = try_claim_in(first_a ? b2 : b1, me);
      if (s != no_slot) return s;
      if (pass == 0 && retire_bucket(b1, now_ns) + (b1 != b2 ? retire_bucket(b2, now_ns) : 0) == 0) break;
    }
    return no_slot;
  }

  std::uint64_t retire_bucket(std::uint64_t b, std::uint64_t now_ns) noexcept {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < tracker_bucket_slots; ++i) {
      const std::uint64_t s = b * tracker_bucket_slots + i;
      std::uint64_t t = tags_[s].load(std::memory_order_acquire);  // acquire: we read the entry next
      if (t == 0) continue;
      if (tag::state(t) == tag::ready) {
        if (now_ns < entry(s).deadline_ns.load(std::memory_order_relaxed)) continue;  // relaxed: tag acquired
        // Release: the slot's next owner writes after this.
        if (tags_[s].compare_exchange_strong(t, 0, std::memory_order_release)) {
          ++n;
          h_->retired.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        }
      } else if (!pid_alive(tag::pid_bits(t))) {
        // claiming or killed, and its owner died: nobody will finish it.
        if (tags_[s].compare_exchange_strong(t, 0, std::memory_order_release)) ++n;
      }
    }
    return n;
  }

  static bool pid_alive(std::uint64_t pid) noexcept;

  // insert_unshared's choice among the free slots its scan found, and the
  // write of the entry and its tag there (tracker_unshared.hpp).
  static std::uint64_t unshared_choice(const unsigned (&load)[2], const std::uint64_t (&free_slot)[2]) noexcept;
  template <class Init>
  InsertResult place_unshared(const TrackerKey& key, std::uint64_t h40, std::uint64_t slot, Init&& init) noexcept;

  // Step 2 of insert for one slot `other` (not ours) whose tag `t` carries
  // our key's hash bits: returns `other` when it holds our key ready (we are
  // a duplicate), else no_slot after settling what it found (see the file
  // comment: a replaceable original freed, a lower claimer waited for, a
  // higher one killed).
  std::uint64_t scan_slot(std::uint64_t other, std::uint64_t t, std::uint64_t slot, const TrackerKey& key,
                          std::uint64_t h40) noexcept {
    for (;;) {
      if (t == 0 || tag::hash_bits(t) != h40 || tag::state(t) == tag::killed) return no_slot;
      if (tag::state(t) == tag::ready) {
        if (!same_key(other, key)) return no_slot;
        if (!replaceable(other, t)) return other;
        release(other);  // a send that never reached a lane: this resend replaces it
        return no_slot;
      }
      // claiming
      if (other < slot) {
        wait_decided(other, t);
      } else if (tags_[other].compare_exchange_strong(t, (t & ~3ull) | tag::killed, std::memory_order_seq_cst)) {
        // Higher slot, undecided: killed. seq_cst: partner of its own CAS to ready.
        return no_slot;
      }
      // It changed (decided, became ready, or was freed): look at it again.
      // seq_cst: as the scan's load in insert().
      t = tags_[other].load(std::memory_order_seq_cst);
    }
  }

  // Wait for the claiming slot s (tag t) to be decided. An owner that takes
  // longer than a second (dead, stopped, or its pid reused) is killed: if it is
  // alive it fails its CAS to ready and starts over, so nothing is lost.
  void wait_decided(std::uint64_t s, std::uint64_t t) noexcept {
    const std::uint64_t give_up = monotonic_ns() + 1'000'000'000ull;
    for (unsigned spins = 0;; ++spins) {
      // Acquire: partner of the owner's CAS to ready (we read its entry next).
      if (tags_[s].load(std::memory_order_acquire) != t) return;
      if (spins < 256) {
        cpu_relax();
        continue;
      }
      if ((spins & 63) == 0 && (!pid_alive(tag::pid_bits(t)) || monotonic_ns() >= give_up)) {
        std::uint64_t e = t;
        // seq_cst: as the kill in insert().
        tags_[s].compare_exchange_strong(e, (t & ~3ull) | tag::killed, std::memory_order_seq_cst);
        return;
      }
      sched_yield_now();
    }
  }
  static void sched_yield_now() noexcept;

  TrackerHeader* h_ = nullptr;
  std::atomic<std::uint64_t>* tags_ = nullptr;
  TrackerEntry* entries_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t buckets_ = 0;
};

}  // namespace courier

// insert_unshared and Tracker::Rebuild.
#include "courier/detail/tracker_new_key.hpp"
#include "courier/detail/tracker_unshared.hpp"
