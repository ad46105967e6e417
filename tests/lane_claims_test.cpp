// detail::find_claim (lane_claims.hpp), the housekeeper's look into a lane
// for a dead sender's claim (docs/design.md, "No wedged ids"), on a lane in
// this process's memory: the rules of evidence, lap by lap.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <new>
#include <thread>

#include "courier/detail/lane_claims.hpp"
#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"

namespace courier {
namespace {

// The lane's evidence (detail/lane_claims.hpp), on a lane in this process's
// memory: a claim never committed is proven so from the first lap's zero frame
// and from its revoked units; a committed record (waiting or consumed) says
// committed; the stale bytes of an earlier lap prove nothing.
TEST(LaneClaims, proofNeedsEvidenceOfThisLap) {
  constexpr std::uint64_t cap = 4096;
  alignas(64) static std::byte mem[sizeof(LaneData) + cap];
  std::memset(mem, 0, sizeof mem);
  auto* ctl = new (mem) LaneData{};
  const LaneView v{ctl, mem + sizeof(LaneData), cap};
  LaneWriter w(v);
  // The shortest claim timeout a reader keeps: a hole at head is revoked at a
  // second look that much later (the times below are made up, not read).
  LaneReader r(v, min_claim_timeout_ns);
  const auto claim = [&](std::uint64_t id) {
    LaneClaim lc;
    EXPECT_EQ(w.try_claim(record_bytes(16), lc), ClaimResult::ok);
    if (id != 0) {  // as Endpoint::fill: every field but the frame word, which only the commit writes
      lc.header->id = id;
      lc.header->timestamp_ns = 100;
      lc.header->payload_len = 16;
    }
    return lc;
  };
  const auto verdict = [&](std::uint64_t id) {
    return detail::find_claim(v, [&](const RecordHeader& h) { return h.id == id && h.timestamp_ns == 100; });
  };
  const auto consume = [&] {
    auto rec = r.peek();
    ASSERT_TRUE(rec);
    r.release(rec);
  };
  // First lap: claimed and written, never committed.
  const LaneClaim first = claim(7);
  EXPECT_EQ(verdict(7), detail::ClaimVerdict::never_committed);
  EXPECT_EQ(verdict(8), detail::ClaimVerdict::unknown);
  ASSERT_TRUE(w.commit(first));
  EXPECT_EQ(verdict(7), detail::ClaimVerdict::committed);
  consume();
  EXPECT_EQ(verdict(7), detail::ClaimVerdict::committed) << "consumed: still known to have been committed";
  // Round the ring to position cap, where record 7's bytes still lie.
  while (ctl->tail.load() < cap) {
    ASSERT_TRUE(w.commit(claim(1)));
    consume();
  }
  const LaneClaim stale = claim(0);  // reserved at position cap, nothing written yet
  ASSERT_EQ(stale.pos, cap);
  EXPECT_EQ(verdict(7), detail::ClaimVerdict::unknown) << "an earlier lap's bytes are no evidence";
  // A claim of this lap, written, then revoked by the receiver: proven never committed, behind head too.
  stale.header->id = 9;
  stale.header->timestamp_ns = 100;
  EXPECT_EQ(verdict(9), detail::ClaimVerdict::unknown) << "a hole of a later lap, not yet revoked";
  EXPECT_FALSE(r.peek());
  EXPECT_TRUE(r.check_stalled(1));
  EXPECT_TRUE(r.check_stalled(1 + min_claim_timeout_ns));  // revokes it
  EXPECT_FALSE(r.peek());
  EXPECT_EQ(r.head(), ctl->tail.load());
  EXPECT_EQ(verdict(9), detail::ClaimVerdict::never_committed);
  EXPECT_FALSE(w.commit(stale)) << "the revoked claim cannot be committed any more";
  EXPECT_EQ(verdict(9), detail::ClaimVerdict::never_committed);
  // A record of a later lap, committed: committed, waiting and consumed.
  ASSERT_TRUE(w.commit(claim(10)));
  EXPECT_EQ(verdict(10), detail::ClaimVerdict::committed);
  consume();
  EXPECT_EQ(verdict(10), detail::ClaimVerdict::committed);
}

// Beside a live producer and receiver lapping a small ring many times: a
// record known to be committed is never judged "never committed" (a torn or
// stale header read must not become evidence), whatever the walk meets.
TEST(LaneClaims, aCommittedRecordIsNeverJudgedNeverCommittedWhileTheRingLaps) {
  constexpr std::uint64_t cap = 4096;
  alignas(64) static std::byte mem[sizeof(LaneData) + cap];
  std::memset(mem, 0, sizeof mem);
  auto* ctl = new (mem) LaneData{};
  const LaneView v{ctl, mem + sizeof(LaneData), cap};
  constexpr std::uint64_t records = 200000;  // ~6,000 laps of 32 records
  std::atomic<std::uint64_t> committed{0};   // the highest id committed so far
  std::thread producer([&] {
    LaneWriter w(v);
    for (std::uint64_t id = 1; id <= records;) {
      LaneClaim lc;
      if (w.try_claim(record_bytes(16), lc) != ClaimResult::ok) continue;  // full: the receiver drains
      lc.header->id = id;
      lc.header->timestamp_ns = 100;
      lc.header->payload_len = 16;
      if (!w.commit(lc)) break;
      committed.store(id++, std::memory_order_release);  // release: the commit came before
    }
  });
  std::thread receiver([&] {
    LaneReader r(v, ~0ull >> 1);  // never revokes: every claim is the live producer's
    // Acquire: partner of the producer's release.
    while (committed.load(std::memory_order_acquire) < records || r.peek()) {
      if (auto rec = r.peek()) r.release(rec);
    }
  });
  std::uint64_t looks = 0, never = 0, found = 0;
  for (std::uint64_t x = 0; x < records; looks++) {
    x = committed.load(std::memory_order_acquire);  // acquire: its commit happened before
    if (x == 0) continue;
    const auto vd = detail::find_claim(v, [&](const RecordHeader& h) { return h.id == x && h.timestamp_ns == 100; });
    never += vd == detail::ClaimVerdict::never_committed;
    found += vd == detail::ClaimVerdict::committed;
  }
  producer.join();
  receiver.join();
  EXPECT_EQ(never, 0u) << "of " << looks << " looks";
  EXPECT_GT(found, 0u) << "of " << looks << " looks: the look never saw a committed record";
}

}  // namespace
}  // namespace courier
