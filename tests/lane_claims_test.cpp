// detail::find_claim (lane_claims.hpp), the housekeeper's look into a lane
// for a dead sender's claim (docs/design.md, "No wedged ids"), on a lane in
// this process's memory: the rules of evidence, lap by lap.
#include <gtest/gtest.h>

#include <cstring>
#include <new>

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
  LaneReader r(v, 0);  // claim timeout 0: a hole at head is revoked at its second look
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
  EXPECT_TRUE(r.check_stalled(2));  // revokes it
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

}  // namespace
}  // namespace courier
