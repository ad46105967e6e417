// Pins the binary layout of shared memory: a build that changes any of it must
// change this test and bump layout_version (docs/layout.md draws the same).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::small_options;

TEST(Layout, HashOfThisLayoutIsPinned) {
  // If this fails you changed a shared structure: bump layout_version, update
  // docs/layout.md, then this constant.
  EXPECT_EQ(layout_version, 1u);
  EXPECT_EQ(layout_hash(), 0x28265711886fd395ull) << std::hex << layout_hash();
}

TEST(Layout, FrameWordBits) {
  EXPECT_EQ(frame::make(frame::committed, 3, 64 * 5), (5ull << 27) | (3ull << 3) | 1ull);
  EXPECT_EQ(frame::make(frame::padding, 1, 0), 1ull << 3 | 2ull);
  EXPECT_EQ(frame::make(frame::revoked, 1, 64), 1ull << 27 | 1ull << 3 | 3ull);
  EXPECT_EQ(record_bytes(0), 64u);
  EXPECT_EQ(record_bytes(1), 128u);
  EXPECT_EQ(record_bytes(64), 128u);
  EXPECT_EQ(record_bytes(65), 192u);
}

TEST(Layout, GeometryOfADefaultBus) {
  Geometry g{64, 4ull << 20, 1u << 20};
  EXPECT_EQ(check_geometry(g), nullptr);
  EXPECT_EQ(g.dir_offset(), 512u);
  EXPECT_EQ(g.inbox_offset(), 12288u);  // 512 + 64 * 128, page aligned
  EXPECT_EQ(g.lane_stride(), (4ull << 20) + 128);
  EXPECT_EQ(g.inbox_stride(), 67112960u);  // 256 + 16 * lane_stride, page aligned
  EXPECT_EQ(g.total_size(), 12288u + 64ull * 67112960u);
}

// The bytes of a real segment and of a real record, read through the file.
TEST(Layout, BytesOfARealSegmentAndRecord) {
  BusName name;
  auto bus = Bus::open(name, small_options());
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(bus->add_endpoint("bob"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 3, .expiry = std::chrono::seconds(9), .type = 0x11223344,
                           .id = 0x0102030405060708ull},
                          "hi"));
  int fd = ::open(("/dev/shm/courier." + name.name).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  const Geometry& g = bus->geometry();
  std::vector<unsigned char> seg(g.total_size());
  ASSERT_EQ(::pread(fd, seg.data(), seg.size(), 0), static_cast<ssize_t>(seg.size()));
  ::close(fd);
  auto u32 = [&](std::size_t off) { std::uint32_t v; std::memcpy(&v, &seg[off], 4); return v; };
  auto u64 = [&](std::size_t off) { std::uint64_t v; std::memcpy(&v, &seg[off], 8); return v; };
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[0]), 8), "COURIER1");
  EXPECT_EQ(u32(16), layout_version);
  EXPECT_EQ(u32(20), 512u);
  EXPECT_EQ(u64(24), layout_hash());
  EXPECT_EQ(u64(32), g.total_size());
  EXPECT_EQ(u32(40), 16u);  // max_endpoints
  EXPECT_EQ(u32(44), 16u);  // lanes
  EXPECT_EQ(u64(48), 64u * 1024);
  EXPECT_EQ(u32(56), 16u * 1024);
  // Directory slot 1 is bob (alice registered first).
  const std::size_t slot1 = 512 + 128;
  EXPECT_EQ(u32(slot1) & 0xffff, 1u);  // id = generation << 16 | slot
  EXPECT_EQ(u32(slot1 + 8), 3u);       // name_len
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[slot1 + 16]), 3), "bob");
  // bob's lane 3: control block, then the record at position 0.
  const std::size_t lane = g.inbox_offset() + g.inbox_stride() + 256 + 3 * g.lane_stride();
  EXPECT_EQ(u64(lane + 0), 128u);  // tail: one 128-byte record
  EXPECT_EQ(u64(lane + 64), 0u);   // head
  const std::size_t rec = lane + 128;
  EXPECT_EQ(u64(rec), frame::make(frame::committed, 2, 0));
  EXPECT_EQ(u64(rec + 8), 0x0102030405060708ull);  // id
  EXPECT_EQ(u64(rec + 24) - u64(rec + 16), 9'000'000'000ull);  // expires - timestamp
  EXPECT_EQ(u32(rec + 32), alice->id());
  EXPECT_EQ(u32(rec + 36), *bus->find_endpoint("bob"));
  EXPECT_EQ(u32(rec + 40), 0u);          // group
  EXPECT_EQ(u32(rec + 44), 0x11223344u);  // type
  EXPECT_EQ(u32(rec + 48), 2u);          // payload_len
  EXPECT_EQ(seg[rec + 52], 3);           // priority
  EXPECT_EQ(seg[rec + 53], 0);           // flags
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[rec + 64]), 2), "hi");
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
