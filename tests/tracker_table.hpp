// tests/tracker_table.hpp — a tracker over a private buffer for the tracker's
// tests (tracker_test.cpp, tracker_rebuild_test.cpp), and the helpers they share.
#pragma once

#include <sys/mman.h>

#include <cstdlib>

#include "courier/detail/tracker.hpp"

namespace courier {

// A tracker of `capacity` entries in a zeroed, cache-line aligned buffer laid
// out as in the segment (header, tags, entries).
// Shared (MAP_SHARED) so that a forked child works on the same table.
class TrackerTable {
 public:
  explicit TrackerTable(std::uint64_t capacity)
      : bytes_(sizeof(TrackerHeader) + capacity * 8 + capacity * sizeof(TrackerEntry)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    mem_ = static_cast<std::byte*>(p);  // zeroed, page aligned
    auto* h = reinterpret_cast<TrackerHeader*>(mem_);
    h->capacity = capacity;
    t_ = Tracker(h, capacity);
  }
  ~TrackerTable() { ::munmap(mem_, bytes_); }
  TrackerTable(const TrackerTable&) = delete;
  TrackerTable& operator=(const TrackerTable&) = delete;

  Tracker& operator*() { return t_; }
  Tracker* operator->() { return &t_; }

 private:
  std::uint64_t bytes_;
  std::byte* mem_ = nullptr;
  Tracker t_;
};

inline constexpr std::uint64_t far_future = ~0ull >> 1;

// The entry of a message to one endpoint (dest `dest`), in outbox, retiring at `deadline`.
inline void message_entry(TrackerEntry& e, std::uint64_t deadline, std::uint32_t dest = 99) {
  e.dest = dest;
  e.role = tracker_role::endpoint;
  e.status.store(static_cast<std::uint8_t>(Status::outbox), std::memory_order_relaxed);
  e.recipients.store(1, std::memory_order_relaxed);
  e.deadline_ns = deadline;
  e.expires_ns = deadline;
}

// Insert `k` as a message to one endpoint, retiring at `deadline`.
inline Tracker::InsertResult put(Tracker& t, const TrackerKey& k, std::uint64_t deadline = far_future,
                                 std::uint64_t now = 1000) {
  return t.insert(k, now, [&](TrackerEntry& e) { message_entry(e, deadline); });
}

inline TrackerKey key(std::uint64_t id, EndpointId sender = 0x10001, EndpointId recipient = no_endpoint) {
  return TrackerKey{sender, id, recipient};
}

}  // namespace courier
