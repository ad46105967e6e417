// Recovery's put-back (src/recovery.hpp): the messages owed that are in no
// lane back into their lanes, flagged redelivered, at the slots the load
// found; the lanes it writes populated first.
#include "recovery.hpp"

#include <algorithm>

#include "courier/detail/lane_writer.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/detail/spill.hpp"

namespace courier::detail {

namespace {

// Bytes [from, to) of the lane `v` counted from its tail (where the
// put-back writes first), wrapped to the lane's start, to `populate`.
template <class Populate>
void lane_pages(const LaneView& v, std::uint64_t from, std::uint64_t to, Populate&& populate) {
  to = std::min(to, v.capacity);
  if (from >= to) return;
  const std::uint64_t tail = v.ctl->tail.load(std::memory_order_relaxed) & v.mask();  // relaxed: a hint
  for (std::uint64_t at = from; at < to;) {
    const std::uint64_t pos = (tail + at) & v.mask();
    const std::uint64_t n = std::min(to - at, v.capacity - pos);
    populate(v.data + pos, n);
    at += n;
  }
}

}  // namespace

// The lanes pass 4 will write into, as far as it may write (same reason as
// prefault_tracker, src/recovery.cpp).
void Recovery::prefault_lanes() const {
  const Geometry& g = st_.seg.geometry();
  for (const auto& [key, load] : lane_bytes_) {
    const auto slot = static_cast<std::uint32_t>(key / priority_levels);
    if (slot >= g.max_endpoints || load.bytes < (1u << 20)) continue;  // small: faults are cheaper than the call
    const LaneView v = st_.seg.lane(slot, static_cast<unsigned>(key % priority_levels));
    lane_pages(v, 0, load.bytes, [](const void* at, std::uint64_t n) { detail::populate_and_map(at, n); });
  }
}

Recovery::LaneWarmer::LaneWarmer(const Segment& seg) : seg_(seg), helper_([this] { run(); }) {}

Recovery::LaneWarmer::~LaneWarmer() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_one();
  helper_.join();
}

void Recovery::LaneWarmer::want(std::uint64_t lane, std::uint64_t bytes) {
  {
    std::lock_guard lk(m_);
    asked_.emplace_back(lane, bytes);
  }
  cv_.notify_one();
}

void Recovery::LaneWarmer::run() {
  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !asked_.empty(); });
    if (stop_) return;
    const auto [lane, bytes] = asked_.front();
    asked_.pop_front();
    lk.unlock();
    try {
      warm(lane, bytes);
    } catch (...) {  // no memory for its bookkeeping: a hint not taken (prefault_lanes does it)
    }
    lk.lock();
  }
}

void Recovery::LaneWarmer::warm(std::uint64_t lane, std::uint64_t bytes) {
  const auto slot = static_cast<std::uint32_t>(lane / priority_levels);
  if (slot >= seg_.geometry().max_endpoints) return;
  const LaneView v = seg_.lane(slot, static_cast<unsigned>(lane % priority_levels));
  std::uint64_t& done = done_[lane];
  lane_pages(v, done, bytes, [](const void* at, std::uint64_t n) { detail::populate_and_touch(at, n); });
  done = std::max(done, std::min(bytes, v.capacity));
}

// The slot of the put-back's message record number ordinal_ (its key
// `key`): the one the load remembered when it still holds the key (a hint:
// untrusted journals may differ between the reads), else found by hash.
std::uint64_t Recovery::slot_of(const TrackerKey& key) {
  if (ordinal_ < slots_.size()) {
    // The records ahead were loaded in this order: the lines of the next
    // batch's slots are asked for together, one batch ahead, and come in
    // while this batch is put back (together: as Recovery::advance_load).
    // (no_hint warms slot 0: warm_slot is branch-free.)
    if (ordinal_ + hint_batch >= warmed_to_) {
      const std::uint64_t end = std::min<std::uint64_t>(ordinal_ + 2 * hint_batch, slots_.size());
      for (std::uint64_t i = std::max(warmed_to_, ordinal_ + 1); i < end; ++i) st_.tracker.warm_slot(slots_[i]);
      warmed_to_ = end;
    }
    const std::uint32_t hint = slots_[ordinal_];
    if (hint != no_hint && st_.tracker.holds(hint, key)) return hint;
  }
  return st_.tracker.find(key);
}

// Put back what is owed and in no lane.
void Recovery::put_back(const JournalMessage& m) {
  const RecordHeader& h = m.header;
  const std::uint64_t slot = slot_of(key_of(h, h.to));
  // The load tracked every message: no entry now means a live bus settled and
  // retired it meanwhile (Bus::recover), so it is owed no more.
  if (slot == Tracker::no_slot) {
    ++rep_.settled;
    return;
  }
  {
    TrackerEntry& e = st_.tracker.entry(slot);
    // Acquire: the status and flags published by whoever advanced them.
    if (!is_owed(static_cast<Status>(e.status.load(std::memory_order_acquire)))) {
      ++rep_.settled;
      return;
    }
    ++rep_.owed;
    const std::uint16_t flags = e.flags.load(std::memory_order_acquire);
    if ((flags & tracker_flag::in_lane) != 0) {
      ++rep_.in_lane;
      return;
    }
    if ((flags & tracker_flag::spilled) != 0) {  // waiting in the log: its receiver forwards it
      ++rep_.left;
      // Counted if it is not yet (count_spilled: once, whoever comes first). A
      // rebuild killed between marking it spilled (below) and counting it left
      // it uncounted, and no forwarder looks for a message its lane's counts
      // do not show (tests/lane_adoption_test.cpp).
      detail::count_spilled(st_, slot, h.to, h.priority);
      return;
    }
    if (h.expires_ns <= now_) {
      if (st_.report(h, h.to, Status::expired)) ++rep_.expired;
      return;
    }
  }
  if (inject(m, slot)) {
    ++rep_.injected;
    return;
  }
  // No room: it stays in the log, spilled, for its receiver to forward.
  ++rep_.left;
  // Release: as detail::spills_written (the forwarder acquires the flags).
  st_.tracker.entry(slot).flags.fetch_or(
      static_cast<std::uint16_t>(tracker_flag::spilled | (h.priority << tracker_flag::priority_shift)),
      std::memory_order_release);
  detail::pause_point("recovery-spilled");  // killed here: the next rebuild counts it (above)
  detail::count_spilled(st_, slot, h.to, h.priority);
}

bool Recovery::inject(const JournalMessage& m, std::uint64_t slot) {
  // It may have been handed out before the crash: it comes back flagged redelivered.
  if (!detail::put_back(st_, m.header, m.payload, record_flag::redelivered)) return false;
  // After the commit: a recovery killed in between puts it back again
  // (a second copy, which the receiver drops once the first is
  // acknowledged: Receiver::try_receive), never loses it.
  // Release: as Endpoint::commit_logged.
  st_.tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_release);
  return true;
}

}  // namespace courier::detail
