// The tracker's inserts for a table nobody else uses yet (recovery's
// rebuild): insert_unshared and Tracker::Rebuild answer and place as the
// shared insert does. The shared insert's own tests are in tracker_test.cpp.
#include <algorithm>
#include <vector>

#include "support.hpp"
#include "tracker_table.hpp"

namespace courier {
namespace {

// Recovery's insert for a table nobody else uses yet (a bus being rebuilt):
// the same answers and the same slots as insert(), key after key, until full,
// with duplicates, and with entries retiring at their deadline on the way.
TEST(Tracker, UnsharedInsertAnswersAndPlacesAsInsertDoes) {
  TrackerTable shared(64), unshared(64);
  const auto put_unshared = [&](const TrackerKey& k, std::uint64_t deadline, std::uint64_t now) {
    return unshared->insert_unshared(k, now, [&](TrackerEntry& e) {
      e.dest = 99;
      e.role = tracker_role::endpoint;
      e.status.store(static_cast<std::uint8_t>(Status::outbox), std::memory_order_relaxed);
      e.deadline_ns = deadline;
      e.expires_ns = deadline;
    });
  };
  std::uint64_t inserted = 0, duplicates = 0, full = 0;
  for (std::uint64_t i = 0; i < 400; ++i) {
    const TrackerKey k = key(i % 150 + 1, 0x10001 + static_cast<EndpointId>(i % 3));  // keys come back: duplicates
    const std::uint64_t now = 1000 + i, deadline = i % 5 == 0 ? now + 50 : far_future;  // some retire on the way
    const auto a = put(*shared, k, deadline, now);
    const auto b = put_unshared(k, deadline, now);
    ASSERT_EQ(a.result, b.result) << "key " << i;
    if (a.result != Tracker::Insert::full) {
      ASSERT_EQ(a.slot, b.slot) << "key " << i;
    }
    inserted += a.result == Tracker::Insert::inserted;
    duplicates += a.result == Tracker::Insert::duplicate;
    full += a.result == Tracker::Insert::full;
    if (b.result == Tracker::Insert::inserted) {
      EXPECT_EQ(unshared->find(k), b.slot);
      EXPECT_EQ(unshared->entry(b.slot).dest, 99u);
    }
  }
  EXPECT_GT(inserted, 0u);
  EXPECT_GT(duplicates, 0u);
  EXPECT_GT(full, 0u) << "the table filled: both refuse alike";
  EXPECT_EQ(shared->usage().used, unshared->usage().used);
  EXPECT_EQ(shared->usage().full_events, unshared->usage().full_events);
}

// A rebuild's inserts (Tracker::Rebuild) read each key's buckets ahead of
// its insert, as recovery's ring does (`window` inserts ahead), and use what
// they saw only while those buckets are unchanged: the same answers and the
// same slots as insert(), key after key, in a table of `capacity` entries.
// Keys come back within the window (the look saw no duplicate yet: the
// original's insert changed the buckets) and later (the look sees the
// original's hash bits); some retire at their deadline on the way.
// `batched`: the looks are made a window at a time (look, then warm, for
// every key of the next window), as recovery's load makes them
// (src/recovery_load.cpp, advance_load); else one key at a time.
void expect_rebuild_inserts_as_insert(std::uint64_t capacity, bool fills, bool batched) {
  constexpr std::uint64_t n = 600, window = 8;
  std::vector<TrackerKey> keys;
  for (std::uint64_t i = 0; i < n; ++i)
    keys.push_back(i % 7 == 3 ? keys[i - 2] : key(i % 150 + 1, 0x10001 + static_cast<EndpointId>(i % 3)));
  TrackerTable shared(capacity), rebuilt(capacity);
  Tracker::Rebuild rb(*rebuilt);
  std::vector<Tracker::Rebuild::Ahead> ahead(n);
  std::uint64_t inserted = 0, duplicates = 0, full = 0;
  const auto look_and_warm = [&](std::uint64_t j) {
    ahead[j] = rb.look(Tracker::hash(keys[j]));
    rb.warm(ahead[j]);
  };
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i == 0)
      for (std::uint64_t j = 0; j < window; ++j) look_and_warm(j);
    if (!batched && i + window < n) look_and_warm(i + window);
    if (batched && i % window == 0) {
      const std::uint64_t end = std::min(n, i + 2 * window);
      for (std::uint64_t j = i + window; j < end; ++j) ahead[j] = rb.look(Tracker::hash(keys[j]));
      for (std::uint64_t j = i + window; j < end; ++j) rb.warm(ahead[j]);
    }
    const std::uint64_t now = 1000 + i, deadline = i % 5 == 0 ? now + 50 : far_future;
    const auto a = put(*shared, keys[i], deadline, now);
    const auto b = rb.insert(keys[i], Tracker::hash(keys[i]), i % 11 == 5 ? nullptr : &ahead[i], now,
                             [&](TrackerEntry& e) {
                               e.dest = 99;
                               e.role = tracker_role::endpoint;
                               e.status.store(static_cast<std::uint8_t>(Status::outbox), std::memory_order_relaxed);
                               e.deadline_ns = deadline;
                               e.expires_ns = deadline;
                             });
    ASSERT_EQ(a.result, b.result) << "key " << i << ", capacity " << capacity;
    if (a.result != Tracker::Insert::full) {
      ASSERT_EQ(a.slot, b.slot) << "key " << i << ", capacity " << capacity;
    }
    inserted += a.result == Tracker::Insert::inserted;
    duplicates += a.result == Tracker::Insert::duplicate;
    full += a.result == Tracker::Insert::full;
    if (b.result == Tracker::Insert::inserted) {
      EXPECT_EQ(rebuilt->find(keys[i]), b.slot);
      EXPECT_EQ(rebuilt->entry(b.slot).dest, 99u);
    }
  }
  EXPECT_GT(inserted, 0u);
  EXPECT_GT(duplicates, 0u);
  EXPECT_EQ(full > 0, fills) << "capacity " << capacity;
  EXPECT_EQ(shared->usage().used, rebuilt->usage().used);
  EXPECT_EQ(shared->usage().full_events, rebuilt->usage().full_events);
}

// 64 entries: most looks are stale by their insert (8 buckets), and the table
// fills (both refuse alike); 4,096: most looks are still valid. Looks made
// one key at a time and a window at a time.
TEST(Tracker, RebuildInsertsAnswerAndPlaceAsInsertDoesWhenTheyReadTheBucketsAhead) {
  for (const bool batched : {false, true}) {
    expect_rebuild_inserts_as_insert(64, true, batched);
    expect_rebuild_inserts_as_insert(4096, false, batched);
  }
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
