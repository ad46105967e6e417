// Hostile shared memory (issue 13): whatever another process of the same uid
// writes into a live bus's segment, every reader (directory, inbox, lanes,
// status rings, the walkers behind stat and sweep) answers with a clean error
// or carries on: no signal, no sanitizer report, no wait on a lock nobody can
// release. One test per class of field, each writing hostile values with
// pwrite into /dev/shm as such a process would, then running every command of
// the real courier CLI and the library's receive, send, sweep and housekeep in
// a child process. And who owns the object: attach refuses one of another
// user or with a mode wider than the bus's; `courier rm` removes only a
// courier segment of its caller.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/segment.hpp"
#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::small_options;
using test::tell_parent;
using test::TempDir;

std::string shm_path(const std::string& bus) { return "/dev/shm" + Segment::shm_name(bus); }

// Write `value` at `offset` of the bus's shared-memory object, as any process
// of the same uid can while the bus is in use.
template <class T>
void poke(const std::string& bus, std::uint64_t offset, T value) {
  const int fd = ::open(shm_path(bus).c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)), static_cast<ssize_t>(sizeof value));
  ::close(fd);
}

// Where things are in a segment of the bus's geometry (docs/layout.md).
struct Where {
  Geometry g;
  explicit Where(const Bus& bus) {
    const BusSettings s = bus.settings();
    g = Geometry{s.max_endpoints,     s.lane_capacity,    s.max_payload,    s.max_groups,
                 s.max_group_members, s.tracker_capacity, s.status_capacity};
  }
  std::uint64_t slot(std::uint32_t i) const { return g.dir_offset() + std::uint64_t(i) * sizeof(EndpointSlot); }
  std::uint64_t group(std::uint32_t i) const { return g.group_offset() + std::uint64_t(i) * g.group_stride(); }
  std::uint64_t member(std::uint32_t i, std::uint32_t w) const { return group(i) + sizeof(GroupSlot) + 4ull * w; }
  std::uint64_t inbox(std::uint32_t i) const { return g.inbox_offset() + std::uint64_t(i) * g.inbox_stride(); }
  std::uint64_t lane(std::uint32_t i, unsigned p) const {
    return inbox(i) + sizeof(InboxData) + std::uint64_t(p) * g.lane_stride();
  }
  std::uint64_t status_ring(std::uint32_t i) const { return inbox(i) + g.status_offset_in_inbox(); }
};

constexpr std::uint64_t mutex_at = offsetof(SegmentHeader, dir_mutex);
constexpr std::uint64_t lock_word_at = mutex_at;         // glibc: __data.__lock
constexpr std::uint64_t kind_word_at = mutex_at + 16;    // glibc: __data.__kind
constexpr const char* lock_wait_said = "held for over";  // what a directory call says after waiting out the lock

// The library's side, in a child process (a crash there is a signal we see):
// open, look, sweep, housekeep, send as alice to bob and to the group, receive
// as bob. Prints each error, then "done".
COURIER_CHILD(library) {
  Options o = small_options();
  o.create = false;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  auto say = [](const char* what, const Error& e) { tell_parent(std::string("error ") + what + ": " + e.message); };
  auto bus = Bus::open(args[0], o);
  if (!bus) {
    say("open", bus.error());
    tell_parent("done");
    return 0;
  }
  (void)bus->endpoints();
  (void)bus->groups();
  (void)bus->stat();
  (void)bus->sweep();
  if (auto h = bus->housekeep(); !h) say("housekeep", h.error());
  if (auto a = bus->endpoint("alice")) {
    (void)a->send({.to = peer("bob"), .expiry = std::chrono::seconds(60)}, "to bob");
    (void)a->send({.to = group("team"), .expiry = std::chrono::seconds(60)}, "to the team");
    (void)a->send({.to = peer("bob")}, "real time");
    (void)a->poll_status();
  } else {
    say("endpoint", a.error());
  }
  if (auto r = bus->attach("bob")) {
    for (int i = 0; i < 256 && r->try_receive(); ++i) {
    }
    (void)r->receive(std::chrono::milliseconds(1));
  } else {
    say("attach", r.error());
  }
  if (auto e = bus->add_endpoint("dave"); !e) say("add_endpoint", e.error());
  if (auto e = bus->remove_endpoint("dave"); !e) say("remove_endpoint", e.error());
  (void)bus->stat();
  tell_parent("done");
  return 0;
}

class HostileShm : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o = small_options();
    o.log_dir = log_.path;
    o.sync = Sync::os;
    o.housekeeping_interval = std::chrono::milliseconds(0);  // this process sweeps only when told
    auto b = Bus::open(name_, o);
    ASSERT_TRUE(b) << b.error().message;
    bus_.emplace(std::move(*b));
    ASSERT_TRUE(bus_->add_group("team"));
    ASSERT_TRUE(bus_->add_member("team", "bob"));
    auto alice = bus_->endpoint("alice");
    ASSERT_TRUE(alice);
    for (int i = 0; i < 3; ++i)  // sent, or outbox until the log's write
      ASSERT_FALSE(is_error(alice->send({.to = peer("bob"), .expiry = std::chrono::seconds(60)}, "waiting").status));
    ASSERT_FALSE(
        is_error(alice->send({.to = peer("bob"), .priority = 0, .expiry = std::chrono::milliseconds(1)}, "soon expired")
                     .status));
    where_.emplace(*bus_);
    bob_ = endpoint_slot(*bus_->find_endpoint("bob"));
    alice_ = endpoint_slot(*bus_->find_endpoint("alice"));
  }

  // Every command of the courier CLI and the library's calls, on the damaged
  // bus: exit 0 or 1 (with one line on stderr), no signal, no sanitizer
  // report, no wait on the directory lock.
  void expect_everything_survives() {
    const std::string b = name_.name;
    const std::vector<std::vector<std::string>> commands = {
        {"stat", b},
        {"stat", b, "--json"},
        {"endpoint", "ls", b, "--long"},
        {"endpoint", "ls", b},
        {"group", "ls", b},
        {"sweep", b},
        {"recv", b, "bob", "--count", "8", "--timeout", "20ms"},
        {"send", b, "--from", "alice", "--to", "bob", "--expiry", "10s", "tracked"},
        {"send", b, "--from", "alice", "--to", "bob", "real time"},
        {"send", b, "--from", "alice", "--group", "team", "--expiry", "10s", "to the team"},
        {"status", b, "--from", "alice", "1"},
        {"endpoint", "add", b, "carol"},
        {"endpoint", "rm", b, "carol"},
        {"group", "add", b, "crew", "bob"},
        {"group", "rm", b, "crew"},
        {"recv", b, "bob", "--count", "8", "--timeout", "20ms"},
    };
    for (const auto& c : commands) {
      std::string line;
      for (const std::string& a : c) line += " " + a;
      const test::cli::Output o = test::cli::run(c);
      EXPECT_TRUE(o.status == 0 || o.status == 1) << "courier" << line << ": status " << o.status << "\n" << o.err;
      if (o.status == 1) {
        EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "courier" << line << "\n" << o.err;
      }
      EXPECT_EQ(o.err.find("runtime error"), std::string::npos) << "courier" << line << "\n" << o.err;
      EXPECT_EQ(o.err.find("Sanitizer"), std::string::npos) << "courier" << line << "\n" << o.err;
      EXPECT_EQ(o.err.find(lock_wait_said), std::string::npos) << "courier" << line << "\n" << o.err;
    }
    Child lib = Child::spawn("library", {b});
    for (std::string l = lib.read_line(); l != "done"; l = lib.read_line()) {
      ASSERT_FALSE(l.empty()) << "the library's child ended without finishing (a crash?)";
      EXPECT_EQ(l.find(lock_wait_said), std::string::npos) << l;
    }
    EXPECT_EQ(lib.wait(), 0);
    // And this process, attached all along, still works.
    (void)bus_->stat();
    (void)bus_->sweep();
    (void)bus_->housekeep();
  }

  BusName name_;
  TempDir log_;
  std::optional<Bus> bus_;
  std::optional<Where> where_;
  std::uint32_t bob_ = 0, alice_ = 0;  // their slots
};

// Slots 0 and 1 are bob's and alice's (SetUp). A free slot's id naming another slot (the
// 4-byte write of the issue), an id with generation 0, an id naming a slot
// past the directory: none is an endpoint.
TEST_F(HostileShm, endpointIdsNamingAnotherSlotAreNotEndpoints) {
  poke<std::uint32_t>(name_.name, where_->slot(5), 0x1FFFF);
  poke<std::uint32_t>(name_.name, where_->slot(6), 6);  // generation 0
  poke<std::uint32_t>(name_.name, where_->slot(7), make_endpoint_id(9, 3));
  poke<std::uint32_t>(name_.name, where_->slot(8), 0xFFFFFFFF);
  // bob's name with a line break in it, alice's length past the field.
  poke<char>(name_.name, where_->slot(bob_) + offsetof(EndpointSlot, name) + 1, '\n');
  poke<std::uint32_t>(name_.name, where_->slot(alice_) + offsetof(EndpointSlot, name_len), 0xFFFFFFFF);
  auto check_list = [&] {
    for (const EndpointEntry& e : bus_->endpoints()) {
      EXPECT_LT(endpoint_slot(e.id), where_->g.max_endpoints) << e.id;
      EXPECT_TRUE(std::none_of(e.name.begin(), e.name.end(), [](char c) { return c < 0x20 || c == 0x7f; }))
          << "a control character echoed raw: " << e.name;
    }
  };
  check_list();
  expect_everything_survives();
  check_list();
}

TEST_F(HostileShm, groupIdsAndMemberWordsAreChecked) {
  poke<std::uint32_t>(name_.name, where_->group(1), 0x1FFFF);
  poke<std::uint32_t>(name_.name, where_->group(2), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, where_->group(0) + offsetof(GroupSlot, used_words), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, where_->member(0, 1), 0x1FFFF);
  poke<std::uint32_t>(name_.name, where_->member(0, 2), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, where_->member(0, 3), make_endpoint_id(1, 999));
  auto only_team = [&] {
    const std::vector<GroupEntry> groups = bus_->groups();
    ASSERT_EQ(groups.size(), 1u) << "a group id naming another slot was listed as a group";
    EXPECT_EQ(groups[0].name, "team");
    EXPECT_EQ(groups[0].members, (std::vector<EndpointId>{*bus_->find_endpoint("bob")}));
  };
  only_team();
  expect_everything_survives();
  only_team();
}

// bob's lanes: an unaligned head (the UBSan report of the issue), a tail far
// past head, head past tail, a handed mark anywhere; alice's status ring too.
TEST_F(HostileShm, laneHeadsTailsAndMarksAreChecked) {
  const auto head = offsetof(LaneData, head), tail = offsetof(LaneData, tail), handed = offsetof(LaneData, handed);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 8) + head, 1);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 0) + tail, 1ull << 63);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 3) + head, 4096);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 3) + tail, 64);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 5) + tail, 7);
  poke<std::uint64_t>(name_.name, where_->lane(bob_, 8) + handed, ~0ull);
  poke<std::uint64_t>(name_.name, where_->status_ring(alice_) + head, 1);
  poke<std::uint64_t>(name_.name, where_->status_ring(alice_) + tail, ~0ull);
  expect_everything_survives();
}

// The records waiting in bob's lanes (128 bytes each here): a frame word of
// garbage, a header whose payload length and priority no producer writes,
// sender and destination ids of no endpoint; the events in alice's status
// ring (64 bytes each): a type, a tracker slot and a length of nonsense.
TEST_F(HostileShm, recordFramesAndHeadersAreChecked) {
  const std::uint64_t data = where_->lane(bob_, 8) + sizeof(LaneData);
  poke<std::uint64_t>(name_.name, data, 0xFFFFFFFFFFFFFFFFull);
  poke<std::uint32_t>(name_.name, data + 128 + offsetof(RecordHeader, payload_len), 0xFFFFFFFF);
  poke<std::uint8_t>(name_.name, data + 256 + offsetof(RecordHeader, priority), 200);
  const std::uint64_t urgent = where_->lane(bob_, 0) + sizeof(LaneData);
  poke<std::uint32_t>(name_.name, urgent + offsetof(RecordHeader, from), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, urgent + offsetof(RecordHeader, to), 0x1FFFF);
  const std::uint64_t ring = where_->status_ring(alice_) + sizeof(LaneData);
  poke<std::uint32_t>(name_.name, ring + offsetof(RecordHeader, type), 0xFFFFFFFF);
  poke<std::uint64_t>(name_.name, ring + 64 + offsetof(RecordHeader, lease), ~0ull);
  poke<std::uint32_t>(name_.name, ring + 128 + offsetof(RecordHeader, payload_len), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, ring + 128 + offsetof(RecordHeader, from), 0xFFFFFFFF);
  expect_everything_survives();
}

// bob's inbox words: a lease naming no process, every nonempty bit, a parked
// word that is neither 0 nor 1; counters of nonsense.
TEST_F(HostileShm, inboxWordsAreChecked) {
  poke<std::uint64_t>(name_.name, where_->inbox(bob_) + offsetof(InboxData, lease), 0xFFFFFFFFFFFFFFFFull);
  poke<std::uint32_t>(name_.name, where_->inbox(bob_) + offsetof(InboxData, nonempty), 0xFFFFFFFF);
  poke<std::uint32_t>(name_.name, where_->inbox(bob_) + offsetof(InboxData, parked), 7);
  poke<std::uint64_t>(name_.name, where_->inbox(alice_) + offsetof(InboxData, status_lease), 0xFFFFFFFFFFFFFFFFull);
  poke<std::uint64_t>(name_.name, where_->inbox(bob_) + offsetof(InboxData, spilled), ~0ull);
  expect_everything_survives();
}

// The directory lock held by a thread that does not exist (a thread id above
// the kernel's limit): no process can unlock it, and no robust-list repair
// will come. Directory calls must not wait for it.
TEST_F(HostileShm, aDirectoryLockHeldByNoThreadIsRepaired) {
  poke<std::int32_t>(name_.name, lock_word_at, 0x3FFFFFF0);
  expect_everything_survives();
  EXPECT_TRUE(bus_->add_endpoint("erin")) << "the lock was repaired";
}

// The directory lock rewritten as a mutex of another kind (a plain one, held):
// refused at once as damage, not waited for.
TEST_F(HostileShm, aDirectoryLockOfAnotherKindIsDamageNotAWait) {
  poke<std::int32_t>(name_.name, kind_word_at, 0);
  poke<std::int32_t>(name_.name, lock_word_at, 2);
  expect_everything_survives();
  auto r = bus_->add_endpoint("erin");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
  EXPECT_NE(r.error().message.find("damaged"), std::string::npos) << r.error().message;
  // Listing needs no lock: stat still shows the endpoints and groups.
  std::vector<std::string> names;
  for (const EndpointEntry& e : bus_->endpoints()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bob", "alice"}));
  EXPECT_EQ(bus_->groups().size(), 1u);
}

// ------------------------------------------------------------ ownership

// Item 2: the mode of an object reachable by others is refused, not used.
TEST(ShmOwnership, anObjectOthersCanReachIsRefused) {
  BusName name;
  ASSERT_TRUE(Bus::open(name, small_options()));
  for (mode_t m : {0666, 0604, 0660}) {
    ASSERT_EQ(::chmod(shm_path(name.name).c_str(), m), 0);
    auto r = Bus::open(name, small_options());
    ASSERT_FALSE(r) << std::oct << m;
    EXPECT_NE(r.error().message.find("has mode 0" +
                                     [&] {
                                       char b[8];
                                       std::snprintf(b, sizeof b, "%o", static_cast<unsigned>(m));
                                       return std::string(b);
                                     }()),
              std::string::npos)
        << r.error().message;
    const test::cli::Output o = test::cli::run({"stat", name.name});
    EXPECT_EQ(o.status, 1) << o.err;
    EXPECT_NE(o.err.find("refused"), std::string::npos) << o.err;
  }
  // A bus created with group access keeps 0660 and is used as it is.
  BusName shared;
  Options o = small_options();
  o.group_access = true;
  ASSERT_TRUE(Bus::open(shared, o));
  EXPECT_TRUE(Bus::open(shared, small_options()));
}

// Created objects get the bus's mode whatever the umask.
TEST(ShmOwnership, theModeOfACreatedObjectIgnoresTheUmask) {
  for (mode_t mask : {mode_t(0), mode_t(077)}) {
    const mode_t old = ::umask(mask);
    BusName a, b;
    ASSERT_TRUE(Bus::open(a, small_options()));
    Options o = small_options();
    o.group_access = true;
    ASSERT_TRUE(Bus::open(b, o));
    ::umask(old);
    struct stat st {};
    ASSERT_EQ(::stat(shm_path(a.name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "umask " << std::oct << mask;
    ASSERT_EQ(::stat(shm_path(b.name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u) << "umask " << std::oct << mask;
  }
}

// `courier rm` and Bus::remove unlink a courier segment only: an object of
// another kind stays (its owner may remove it with --force).
TEST(ShmOwnership, rmRemovesOnlyACourierSegment) {
  BusName name;
  const int fd = ::open(shm_path(name.name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string junk(8192, 'x');
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ::close(fd);
  const test::cli::Output o = test::cli::run({"rm", name.name});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("not a courier segment"), std::string::npos) << o.err;
  EXPECT_EQ(::access(shm_path(name.name).c_str(), F_OK), 0) << "removed all the same";
  EXPECT_FALSE(Bus::remove(name));
  EXPECT_EQ(test::cli::run({"rm", name.name, "--force"}).status, 0);
  EXPECT_NE(::access(shm_path(name.name).c_str(), F_OK), 0);
}

// Another user's object of the bus's name (a squatter's, made readable and
// writable by all): attach and creation refuse it, rm leaves it. Needs root
// to give the object away (CI runs as root).
TEST(ShmOwnership, anotherUsersObjectIsRefusedAndNotRemoved) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create an object owned by another uid";
  BusName name;
  for (bool published : {true, false}) {
    SCOPED_TRACE(published ? "a courier segment" : "an empty object");
    if (published) {
      ASSERT_TRUE(Bus::open(name, small_options()));
    } else {
      const int fd = ::open(shm_path(name.name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ::close(fd);
    }
    ASSERT_EQ(::chown(shm_path(name.name).c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chmod(shm_path(name.name).c_str(), 0600), 0);
    Options o = small_options();
    o.open_timeout = std::chrono::milliseconds(100);
    auto r = Bus::open(name, o);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("owned by uid 65534"), std::string::npos) << r.error().message;
    const test::cli::Output stat = test::cli::run({"stat", name.name});
    EXPECT_EQ(stat.status, 1);
    EXPECT_NE(stat.err.find("owned by uid 65534"), std::string::npos) << stat.err;
    for (auto rm : {std::vector<std::string>{"rm", name.name}, std::vector<std::string>{"rm", name.name, "--force"}}) {
      const test::cli::Output o2 = test::cli::run(rm);
      EXPECT_EQ(o2.status, 1);
      EXPECT_NE(o2.err.find("owned by uid 65534"), std::string::npos) << o2.err;
    }
    EXPECT_FALSE(Bus::remove(name, RemoveOptions{.force = true}));
    struct stat st {};
    ASSERT_EQ(::stat(shm_path(name.name).c_str(), &st), 0) << "another user's object was removed";
    EXPECT_EQ(st.st_uid, 65534u);
    ASSERT_EQ(::shm_unlink(Segment::shm_name(name.name).c_str()), 0);
  }
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
