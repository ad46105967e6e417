// The lane alone, in private memory: claim/commit/peek/release, padding at the
#include "support.hpp"
// wrap, full, abort, and the recovery paths (a claim never committed, a hole
// left by a producer that died between moving tail and staking its frame).
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"

namespace courier {
namespace {

constexpr std::uint64_t ms = 1'000'000;

struct PrivateLane {
  explicit PrivateLane(std::uint64_t capacity) : capacity(capacity) {
    mem = static_cast<std::byte*>(std::aligned_alloc(4096, (sizeof(LaneData) + capacity + 4095) / 4096 * 4096));
    std::memset(mem, 0, sizeof(LaneData) + capacity);
  }
  ~PrivateLane() { std::free(mem); }
  LaneView view() const { return LaneView::over(mem, capacity); }
  std::uint64_t capacity;
  std::byte* mem;
};

// Claim, fill and commit one record carrying `value` repeated over `len` bytes.
ClaimResult put(LaneWriter& w, std::uint32_t len, std::uint8_t value, std::uint32_t from = 1) {
  LaneClaim c;
  ClaimResult r = w.try_claim(record_bytes(len), c);
  if (r != ClaimResult::ok) return r;
  std::memset(reinterpret_cast<std::byte*>(c.header) + 8, 0, sizeof(RecordHeader) - 8);
  c.header->payload_len = len;
  c.header->from = from;
  c.header->priority = 0;
  std::memset(c.payload(), value, len);
  return w.commit(c) ? ClaimResult::ok : ClaimResult::revoked;
}

// Take one record; check its payload is `len` bytes of `value`.
::testing::AssertionResult take(LaneReader& r, std::uint32_t len, std::uint8_t value) {
  LaneRecord rec = r.peek();
  if (!rec) return ::testing::AssertionFailure() << "no record";
  if (rec.header->payload_len != len) return ::testing::AssertionFailure() << "len " << rec.header->payload_len;
  for (std::uint32_t i = 0; i < len; ++i)
    if (rec.payload()[i] != std::byte{value}) return ::testing::AssertionFailure() << "byte " << i << " differs";
  r.release(rec);
  return ::testing::AssertionSuccess();
}

TEST(Lane, CommittedRecordIsReadBackWithItsPayload) {
  PrivateLane l(4096);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  EXPECT_FALSE(r.peek());
  ASSERT_EQ(put(w, 100, 0xab), ClaimResult::ok);
  EXPECT_TRUE(take(r, 100, 0xab));
  EXPECT_FALSE(r.peek());
}

TEST(Lane, ShouldNotReadRecordPartWayThroughWriting) {
  PrivateLane l(4096);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  LaneClaim c;
  ASSERT_EQ(w.try_claim(record_bytes(10), c), ClaimResult::ok);
  EXPECT_FALSE(r.peek()) << "a reserved, uncommitted record is not visible";
  c.header->payload_len = 10;
  c.header->priority = 0;
  ASSERT_TRUE(w.commit(c));
  EXPECT_TRUE(r.peek());
}

TEST(Lane, RecordsComeOutInTheOrderTheyWereCommitted) {
  PrivateLane l(8192);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(put(w, 50 + i, static_cast<std::uint8_t>(i)), ClaimResult::ok);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(take(r, 50 + i, static_cast<std::uint8_t>(i))) << i;
}

TEST(Lane, FullLaneRefusesAndRecoversAfterRelease) {
  PrivateLane l(4096);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  int n = 0;
  while (put(w, 192, 7) == ClaimResult::ok) ++n;  // 64-byte header + 192 = 256-byte records
  EXPECT_EQ(n, 4096 / 256);
  EXPECT_EQ(put(w, 192, 7), ClaimResult::full);
  ASSERT_TRUE(take(r, 192, 7));
  EXPECT_EQ(put(w, 192, 8), ClaimResult::ok);
}

TEST(Lane, WrapAroundWithMixedSizesKeepsEveryRecordIntact) {
  PrivateLane l(4096);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  std::mt19937 rng(42);
  std::vector<std::pair<std::uint32_t, std::uint8_t>> pending;
  std::size_t head = 0;
  std::uint64_t written = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::uint32_t len = rng() % 1900;  // up to ~half the lane
    const auto v = static_cast<std::uint8_t>(i);
    ClaimResult cr = put(w, len, v);
    if (cr == ClaimResult::full) {
      ASSERT_LT(head, pending.size()) << "full while empty";
      ASSERT_TRUE(take(r, pending[head].first, pending[head].second)) << "record " << head;
      ++head;
      --i;
      continue;
    }
    ASSERT_EQ(cr, ClaimResult::ok);
    pending.emplace_back(len, v);
    written += record_bytes(len);
  }
  while (head < pending.size()) {
    ASSERT_TRUE(take(r, pending[head].first, pending[head].second)) << "record " << head;
    ++head;
  }
  EXPECT_FALSE(r.peek());
  EXPECT_GT(written, 20 * 4096u) << "the test must wrap many times";
}

TEST(Lane, AbortedClaimIsSkipped) {
  PrivateLane l(4096);
  LaneWriter w(l.view());
  LaneReader r(l.view(), 100 * ms);
  LaneClaim c;
  ASSERT_EQ(w.try_claim(record_bytes(30), c), ClaimResult::ok);
  ASSERT_EQ(put(w, 20, 2), ClaimResult::ok);
  w.abort(c);
  EXPECT_TRUE(take(r, 20, 2));
}

TEST(Lane, ClaimNeverCommittedIsSteppedOverAfterTheTimeout) {
  PrivateLane l(4096);
  LaneWriter dead(l.view());
  LaneWriter live(l.view());
  LaneReader r(l.view(), 100 * ms);
  LaneClaim c;
  ASSERT_EQ(dead.try_claim(record_bytes(30), c), ClaimResult::ok);  // and then the producer "dies"
  ASSERT_EQ(put(live, 20, 5), ClaimResult::ok);
  EXPECT_FALSE(r.peek());
  const std::uint64_t t0 = 1'000 * ms;
  EXPECT_TRUE(r.check_stalled(t0));
  EXPECT_TRUE(r.check_stalled(t0 + 99 * ms));
  EXPECT_FALSE(r.peek()) << "not before the timeout";
  EXPECT_TRUE(r.check_stalled(t0 + 101 * ms));
  EXPECT_TRUE(take(r, 20, 5)) << "the record behind the dead claim comes out";
  EXPECT_EQ(r.counters().revoked, 1u);
  EXPECT_FALSE(dead.commit(c)) << "a revoked claim cannot be committed late";
  EXPECT_FALSE(r.peek());
}

TEST(Lane, HoleLeftBeforeTheFrameWasStakedIsSteppedOver) {
  PrivateLane l(4096);
  LaneView v = l.view();
  LaneWriter live(v);
  LaneReader r(v, 100 * ms);
  // A producer moved tail by 3 units and died before writing its frame.
  v.ctl->tail.store(3 * record_unit);
  ASSERT_EQ(put(live, 10, 9), ClaimResult::ok);
  EXPECT_FALSE(r.peek());
  EXPECT_TRUE(r.check_stalled(0));
  EXPECT_TRUE(r.check_stalled(200 * ms));
  EXPECT_TRUE(take(r, 10, 9));
  EXPECT_FALSE(r.peek());
}

TEST(Lane, ProducerStakingInsideARevokedHoleIsToldRevoked) {
  PrivateLane l(4096);
  LaneView v = l.view();
  LaneReader r(v, 100 * ms);
  // Producer A reserved [0, 128) and stalled before staking: tail moved only.
  v.ctl->tail.store(2 * record_unit);
  EXPECT_TRUE(r.check_stalled(0));
  EXPECT_TRUE(r.check_stalled(200 * ms));  // revokes both units of the hole
  EXPECT_FALSE(r.peek());
  // A wakes up and stakes its frame at position 0: it must see its own revoked tag.
  std::uint64_t cur = v.frame_at(0).load();
  EXPECT_TRUE(frame::belongs_to(cur, 0));
  EXPECT_EQ(frame::state(cur), frame::revoked);
  EXPECT_EQ(r.head(), 2 * record_unit);
}

TEST(Lane, GarbageFramesNeverMakeTheReaderLeaveTheRing) {
  PrivateLane l(4096);
  LaneView v = l.view();
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::memset(l.mem, 0, sizeof(LaneData) + l.capacity);
    // Frames with our own tag but random state/length, and random header fields.
    for (std::uint64_t pos = 0; pos < l.capacity; pos += record_unit) {
      std::uint64_t w = rng();
      w = (frame::tag_of_position(pos) << frame::tag_shift) | (w & ((1ull << frame::tag_shift) - 1));
      std::memcpy(v.data + pos, &w, 8);
      std::uint64_t junk[7];
      for (auto& j : junk) j = rng();
      std::memcpy(v.data + pos + 8, junk, sizeof junk);
    }
    v.ctl->tail.store(l.capacity);
    LaneReader r(v, 1 * ms);
    for (int i = 0; i < 200; ++i) {
      LaneRecord rec = r.peek();
      if (rec) {
        ASSERT_LE(rec.header->payload_len + sizeof(RecordHeader), rec.units * record_unit);
        ASSERT_LE((rec.pos & v.mask()) + rec.units * record_unit, l.capacity);
        r.release(rec);
      } else {
        r.check_stalled(static_cast<std::uint64_t>(i) * 10 * ms);
      }
    }
  }
}

TEST(Lane, CorruptHeadAndTailAreReportedNotFollowed) {
  PrivateLane l(4096);
  LaneView v = l.view();
  v.ctl->head.store(10'000);
  v.ctl->tail.store(5'000);
  LaneWriter w(v);
  LaneClaim c;
  EXPECT_EQ(w.try_claim(128, c), ClaimResult::corrupt);
  v.ctl->head.store(0);
  v.ctl->tail.store(1'000'000);
  LaneWriter w2(v);
  EXPECT_EQ(w2.try_claim(128, c), ClaimResult::corrupt);
}

// Many producers into one lane (run under ThreadSanitizer in CI): every record
// arrives once, intact, and in order per producer.
TEST(LaneConcurrency, ManyProducersOneConsumerKeepPerProducerOrder) {
  PrivateLane l(1 << 14);
  constexpr int producers = 4;
  constexpr std::uint32_t per_producer = 20000;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      LaneWriter w(l.view());
      for (std::uint32_t i = 0; i < per_producer;) {
        LaneClaim c;
        const std::uint32_t len = 8 + (i % 200);
        ClaimResult r = w.try_claim(record_bytes(len), c);
        if (r == ClaimResult::full) {
          std::this_thread::yield();
          continue;
        }
        ASSERT_EQ(r, ClaimResult::ok);
        c.header->from = static_cast<std::uint32_t>(p);
        c.header->id = i;
        c.header->payload_len = len;
        c.header->priority = 0;
        std::memset(c.payload(), static_cast<int>(i & 0xff), len);
        ASSERT_TRUE(w.commit(c));
        ++i;
      }
      done.fetch_add(1);
    });
  }
  LaneReader r(l.view(), 10'000 * ms);
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t total = 0;
  while (total < producers * per_producer) {
    LaneRecord rec = r.peek();
    if (!rec) {
      std::this_thread::yield();
      continue;
    }
    const auto p = rec.header->from;
    ASSERT_LT(p, static_cast<std::uint32_t>(producers));
    ASSERT_EQ(rec.header->id, next[p]) << "producer " << p << " out of order";
    ASSERT_EQ(rec.header->payload_len, 8 + (next[p] % 200));
    for (std::uint32_t i = 0; i < rec.header->payload_len; ++i) ASSERT_EQ(rec.payload()[i], std::byte(next[p] & 0xff));
    ++next[p];
    ++total;
    r.release(rec);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), producers);
  EXPECT_FALSE(r.peek());
}

}  // namespace
}  // namespace courier
COURIER_TEST_MAIN
