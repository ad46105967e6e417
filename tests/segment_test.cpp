// Attaching to segments that are not what they should be: another layout,
// garbage, truncated, half-created by a process that died. Each gets a clear
// error (or a clean takeover) and never a crash.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::small_options;

std::string shm_path(const std::string& bus) { return "/dev/shm/courier." + bus; }

void write_at(const std::string& bus, off_t offset, const void* data, std::size_t len) {
  int fd = ::open(shm_path(bus).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, data, len, offset), static_cast<ssize_t>(len));
  ::close(fd);
}

Options attach_only() {
  Options o = small_options();
  o.create = false;
  o.open_timeout = std::chrono::milliseconds(200);
  return o;
}

TEST(Segment, OtherLayoutVersionIsRefusedWithAClearError) {
  BusName name;
  ASSERT_TRUE(Bus::open(name, small_options()));
  const std::uint32_t other = layout_version + 1;
  write_at(name.name, offsetof(SegmentHeader, layout_version), &other, sizeof other);
  auto r = Bus::open(name, small_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::incompatible);
  EXPECT_NE(r.error().message.find("layout version " + std::to_string(other)), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(name.name), std::string::npos) << "names the bus: " << r.error().message;
}

TEST(Segment, OtherLayoutHashIsRefused) {
  BusName name;
  ASSERT_TRUE(Bus::open(name, small_options()));
  const std::uint64_t other = layout_hash() ^ 1;
  write_at(name.name, offsetof(SegmentHeader, layout_hash), &other, sizeof other);
  auto r = Bus::open(name, small_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::incompatible);
}

TEST(Segment, TruncatedSegmentIsRefused) {
  BusName name;
  ASSERT_TRUE(Bus::open(name, small_options()));
  ASSERT_EQ(::truncate(shm_path(name.name).c_str(), 100'000), 0);
  auto r = Bus::open(name, small_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
}

TEST(Segment, GarbageSegmentIsRefused) {
  BusName name;
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> junk(1 << 16);
  for (auto& j : junk) j = rng();
  int fd = ::open(shm_path(name.name).c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, junk.data(), junk.size() * 8), static_cast<ssize_t>(junk.size() * 8));
  ::close(fd);
  auto r = Bus::open(name, small_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt);
  EXPECT_NE(r.error().message.find("not a courier segment"), std::string::npos) << r.error().message;
}

TEST(Segment, HeaderWithValidIdentityButNonsenseGeometryIsRefused) {
  BusName name;
  ASSERT_TRUE(Bus::open(name, small_options()));
  std::mt19937_64 rng(2);
  // Every geometry field, one at a time, set to something no creator writes.
  const std::pair<std::size_t, std::size_t> fields[] = {
      {offsetof(SegmentHeader, header_size), 4},   {offsetof(SegmentHeader, total_size), 8},
      {offsetof(SegmentHeader, max_endpoints), 4}, {offsetof(SegmentHeader, lane_count), 4},
      {offsetof(SegmentHeader, lane_capacity), 8}, {offsetof(SegmentHeader, max_payload), 4},
      {offsetof(SegmentHeader, dir_offset), 8},    {offsetof(SegmentHeader, inbox_offset), 8},
      {offsetof(SegmentHeader, inbox_stride), 8},  {offsetof(SegmentHeader, claim_timeout_ns), 8},
  };
  std::vector<char> original(sizeof(SegmentHeader));
  int fd = ::open(shm_path(name.name).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, original.data(), original.size(), 0), static_cast<ssize_t>(original.size()));
  for (auto [off, len] : fields) {
    std::uint64_t v = rng() | 1;
    ASSERT_EQ(::pwrite(fd, &v, len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
    auto r = Bus::open(name, small_options());
    ASSERT_FALSE(r) << "field at offset " << off;
    EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
    ASSERT_EQ(::pwrite(fd, original.data(), original.size(), 0), static_cast<ssize_t>(original.size()));
  }
  ::close(fd);
  EXPECT_TRUE(Bus::open(name, small_options())) << "restored header attaches again";
}

// The log settings in the header are untrusted too: a length past the field,
// a NUL inside the path, a relative path, an unknown policy, group-commit
// values out of range: each refused as corrupt, none read out of bounds.
TEST(Segment, HeaderWithNonsenseLogSettingsIsRefused) {
  BusName name;
  test::TempDir dir;
  Options o = small_options();
  o.log_dir = dir.path;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  ASSERT_TRUE(Bus::open(name, o));
  struct Change {
    std::size_t off;
    std::uint64_t value;
    std::size_t len;
  };
  const std::uint64_t len = std::filesystem::canonical(dir.path).string().size();
  const Change changes[] = {
      {offsetof(SegmentHeader, log_dir_len), header_log_dir_bytes, 2},  // past the field
      {offsetof(SegmentHeader, log_dir_len), 0xffff, 2},
      {offsetof(SegmentHeader, log_dir_len), len + 1, 2},         // the NUL is not where it says
      {offsetof(SegmentHeader, log_dir) + 1, 0, 1},               // a NUL inside the path
      {offsetof(SegmentHeader, log_dir), 'x', 1},                 // not absolute
      {offsetof(SegmentHeader, sync), 3, 1},                      // no such policy
      {offsetof(SegmentHeader, group_commit_interval_ns), 0, 8},  // out of range
      {offsetof(SegmentHeader, group_commit_bytes), 1ull << 40, 8},
  };
  std::vector<char> original(sizeof(SegmentHeader));
  int fd = ::open(shm_path(name.name).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, original.data(), original.size(), 0), static_cast<ssize_t>(original.size()));
  for (const Change& c : changes) {
    ASSERT_EQ(::pwrite(fd, &c.value, c.len, static_cast<off_t>(c.off)), static_cast<ssize_t>(c.len));
    auto r = Bus::open(name, attach_only());
    ASSERT_FALSE(r) << "field at offset " << c.off;
    EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
    ASSERT_EQ(::pwrite(fd, original.data(), original.size(), 0), static_cast<ssize_t>(original.size()));
  }
  ::close(fd);
  EXPECT_TRUE(Bus::open(name, attach_only())) << "restored header attaches again";
}

TEST(Segment, HalfCreatedSegmentOfADeadCreatorIsTakenOver) {
  BusName name;
  // A creator that got as far as sizing the file and claiming initialisation, then died.
  int fd = ::open(shm_path(name.name).c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is certainly dead now
  ProcessIdentity dead{child, 12345};
  const std::uint64_t owner = lease_word(dead);
  ASSERT_EQ(::pwrite(fd, &owner, 8, offsetof(SegmentHeader, init_owner)), 8);
  ::close(fd);
  auto refused = Bus::open(name, attach_only());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::timeout);
  EXPECT_NE(refused.error().message.find("died"), std::string::npos) << refused.error().message;
  auto bus = Bus::open(name, small_options());
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_TRUE(bus->add_endpoint("works"));
}

TEST(Segment, EmptySegmentLeftBehindIsTakenOverAfterTheOpenTimeout) {
  BusName name;
  int fd = ::open(shm_path(name.name).c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  Options o = small_options();
  o.open_timeout = std::chrono::milliseconds(50);
  auto bus = Bus::open(name, o);
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_TRUE(bus->add_endpoint("works"));
  auto again = Bus::open(name, attach_only());
  EXPECT_TRUE(again);
}

TEST(Segment, GarbageInsideLanesNeverCrashesTheReceiver) {
  BusName name;
  auto bus = Bus::open(name, small_options());
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(bus->add_endpoint("bob"));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(alice->send(
        {.to = peer("bob"), .priority = static_cast<std::uint8_t>(i % 16), .expiry = std::chrono::seconds(30)}, "ok"));
  // Scribble over bob's whole inbox: control blocks and record space.
  const Segment& seg = bus->segment();
  const std::uint32_t slot = endpoint_slot(*bus->find_endpoint("bob"));
  std::byte* inbox = reinterpret_cast<std::byte*>(&seg.inbox(slot));
  std::mt19937_64 rng(3);
  for (std::uint64_t off = 0; off + 8 <= seg.geometry().inbox_stride(); off += 8) {
    std::uint64_t v = rng();
    if (off % 64 == 0 && rng() % 2 == 0) v = (v & ~frame::state_mask) | frame::committed;  // plausible frames
    std::memcpy(inbox + off, &v, 8);
  }
  reinterpret_cast<InboxData*>(inbox)->lease.store(0);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  for (int i = 0; i < 2000; ++i) {
    if (auto m = bob->try_receive()) {
      auto p = m->payload();
      unsigned sum = 0;
      for (std::byte b : p) sum += static_cast<unsigned>(b);  // touch every byte: all inside the mapping
      asm volatile("" : : "r"(sum));
      ASSERT_LE(p.size(), seg.geometry().lane_capacity);
    }
  }
  // Bob's lanes are garbage; others are untouched.
  auto carol = bus->attach("carol");
  ASSERT_TRUE(carol);
  ASSERT_TRUE(alice->send({.to = peer("carol"), .expiry = std::chrono::seconds(5)}, "fine"));
  EXPECT_TRUE(carol->try_receive());
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
