// Pins the binary layout of shared memory: a build that changes any of it must
// change this test and bump layout_version (docs/layout.md draws the same).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::small_options;

TEST(Layout, HashOfThisLayoutIsPinned) {
  // If this fails you changed a shared structure: bump layout_version, update
  // docs/layout.md, then this constant.
  EXPECT_EQ(layout_version, 8u);
  EXPECT_EQ(layout_hash(), 0x1d08f013b99bc65full) << std::hex << layout_hash();
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
  EXPECT_EQ(g.dir_offset(), 4096u);
  EXPECT_EQ(g.group_offset(), 12288u);    // 4096 + 64 * 128
  EXPECT_EQ(g.group_stride(), 384u);      // 128 + 64 members * 4
  EXPECT_EQ(g.tracker_offset(), 20480u);  // 12288 + 16 groups * 384, page aligned
  EXPECT_EQ(g.tracker_bytes(), 128u + 65536u * 8 + 65536u * 64);
  EXPECT_EQ(g.inbox_offset(), 4743168u);  // 20480 + tracker bytes, page aligned
  EXPECT_EQ(g.lane_stride(), (4ull << 20) + 128);
  EXPECT_EQ(g.status_offset_in_inbox(), 576u + 16 * ((4ull << 20) + 128));
  EXPECT_EQ(g.inbox_stride(), 67178496u);  // 576 + 16 * lane_stride + 128 + 64 KiB status ring, page aligned
  EXPECT_EQ(g.total_size(), 4743168u + 64ull * 67178496u);
}

// The bytes of a real segment and of a real record, read through the file.
TEST(Layout, BytesOfARealSegmentAndRecord) {
  BusName name;
  auto bus = Bus::open(name, small_options());
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(bus->add_endpoint("bob"));
  ASSERT_TRUE(alice->send({.to = peer("bob"),
                           .priority = 3,
                           .expiry = std::chrono::seconds(9),
                           .type = 0x11223344,
                           .id = 0x0102030405060708ull},
                          "hi"));
  ASSERT_TRUE(bus->add_group("team"));
  ASSERT_TRUE(bus->add_member("team", "bob"));
  int fd = ::open(("/dev/shm/courier." + name.name).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  const Geometry& g = bus->geometry();
  std::vector<unsigned char> seg(g.total_size());
  ASSERT_EQ(::pread(fd, seg.data(), seg.size(), 0), static_cast<ssize_t>(seg.size()));
  ::close(fd);
  auto u32 = [&](std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, &seg[off], 4);
    return v;
  };
  auto u64 = [&](std::size_t off) {
    std::uint64_t v;
    std::memcpy(&v, &seg[off], 8);
    return v;
  };
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[0]), 8), "COURIER1");
  EXPECT_EQ(u32(16), layout_version);
  EXPECT_EQ(u32(20), 4096u);
  EXPECT_EQ(u64(24), layout_hash());
  EXPECT_EQ(u64(32), g.total_size());
  EXPECT_EQ(u32(40), 16u);  // max_endpoints
  EXPECT_EQ(u32(44), 16u);  // lanes
  EXPECT_EQ(u64(48), 64u * 1024);
  EXPECT_EQ(u32(56), 16u * 1024);
  // Directory slot 1 is bob (alice registered first).
  const std::size_t slot1 = 4096 + 128;
  EXPECT_EQ(u32(slot1) & 0xffff, 1u);  // id = generation << 16 | slot
  EXPECT_EQ(u32(slot1 + 8), 3u);       // name_len
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[slot1 + 16]), 3), "bob");
  // bob's lane 3: control block, then the record at position 0.
  // Group slot 0 is team, with bob in member word 0.
  const std::size_t grp = g.group_offset();
  EXPECT_EQ(u64(104), grp);  // header: group_offset
  EXPECT_EQ(u64(112), g.tracker_offset());
  EXPECT_EQ(u32(120), 16u);  // max_groups
  EXPECT_EQ(u32(124), 64u);  // max_group_members
  EXPECT_EQ(u64(384), g.group_stride());
  EXPECT_EQ(u64(392), g.tracker_capacity);
  EXPECT_EQ(u32(grp) & 0xffff, 0u);
  EXPECT_EQ(u32(grp + 8), 4u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[grp + 16]), 4), "team");
  EXPECT_EQ(u32(grp + 128), *bus->find_endpoint("bob"));
  // The tracker holds one ready entry: alice's message.
  const std::size_t trk = g.tracker_offset();
  EXPECT_EQ(u64(trk), g.tracker_capacity);
  std::size_t ready = 0, at = 0;
  for (std::size_t i = 0; i < g.tracker_capacity; ++i) {
    const std::uint64_t t = u64(trk + 128 + i * 8);
    if (t != 0) {
      ++ready;
      at = i;
      EXPECT_EQ(t & 3u, 2u);  // ready
      EXPECT_EQ((t >> 2) & ((1u << 22) - 1), static_cast<std::uint64_t>(::getpid()));
    }
  }
  ASSERT_EQ(ready, 1u);
  // Slot `at` is slot at % 8 of bucket at / 8: its entry is in plane at % 8, at the bucket's place.
  const std::size_t ent = trk + 128 + g.tracker_capacity * 8 + ((at % 8) * (g.tracker_capacity / 8) + at / 8) * 64;
  EXPECT_EQ(u64(ent), 0x0102030405060708ull);  // id
  EXPECT_EQ(u32(ent + 8), alice->id());        // sender
  EXPECT_EQ(u32(ent + 12), 0u);                // recipient: the message itself
  EXPECT_EQ(u32(ent + 16), *bus->find_endpoint("bob"));
  EXPECT_EQ(seg[ent + 20], 1);  // role endpoint
  EXPECT_EQ(seg[ent + 21], static_cast<unsigned char>(Status::sent));
  EXPECT_EQ(u64(ent + 48) - u64(ent + 40), 0u - 10'000'000'000ull);  // deadline = expiry + 10 s retention
  const std::size_t lane = g.inbox_offset() + g.inbox_stride() + 576 + 3 * g.lane_stride();
  EXPECT_EQ(u64(lane + 0), 128u);  // tail: one 128-byte record
  EXPECT_EQ(u64(lane + 64), 0u);   // head
  const std::size_t rec = lane + 128;
  EXPECT_EQ(u64(rec), frame::make(frame::committed, 2, 0));
  EXPECT_EQ(u64(rec + 8), 0x0102030405060708ull);              // id
  EXPECT_EQ(u64(rec + 24) - u64(rec + 16), 9'000'000'000ull);  // expires - timestamp
  EXPECT_EQ(u32(rec + 32), alice->id());
  EXPECT_EQ(u32(rec + 36), *bus->find_endpoint("bob"));
  EXPECT_EQ(u32(rec + 40), 0u);           // group
  EXPECT_EQ(u32(rec + 44), 0x11223344u);  // type
  EXPECT_EQ(u32(rec + 48), 2u);           // payload_len
  EXPECT_EQ(seg[rec + 52], 3);            // priority
  EXPECT_EQ(seg[rec + 53], 0);            // flags
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&seg[rec + 64]), 2), "hi");
  // No log: the log settings are empty.
  EXPECT_EQ(u32(512) >> 16, 0u);  // log_dir_len
  EXPECT_EQ(seg[576], 0);         // log_dir
}

// The log settings the creator of a bus with a log records in its header.
TEST(Layout, BytesOfTheLogSettingsInTheHeader) {
  BusName name;
  test::TempDir dir;
  Options o = small_options();
  o.log_dir = dir.path;
  o.sync = Sync::os;
  o.group_commit_interval = std::chrono::microseconds(700);
  o.group_commit_bytes = 8192;
  auto bus = Bus::open(name, o);
  ASSERT_TRUE(bus) << bus.error().message;
  int fd = ::open(("/dev/shm/courier." + name.name).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<unsigned char> h(4096);
  ASSERT_EQ(::pread(fd, h.data(), h.size(), 0), 4096);
  ::close(fd);
  std::uint16_t len;
  std::uint64_t interval, bytes;
  std::memcpy(&len, &h[514], 2);
  std::memcpy(&interval, &h[520], 8);
  std::memcpy(&bytes, &h[528], 8);
  EXPECT_EQ(h[512], 2);  // Sync::os
  EXPECT_EQ(interval, 700'000u);
  EXPECT_EQ(bytes, 8192u);
  const std::string canonical = std::filesystem::canonical(dir.path).string();
  ASSERT_EQ(len, canonical.size());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&h[576]), len), canonical);
  EXPECT_EQ(h[576 + len], 0);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
