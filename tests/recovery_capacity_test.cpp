// A recovery that finds more to track than the tracker holds fails with the
// capacity it needs and loses nothing: reopened with that capacity, the bus
// gets every owed message back once (issue 12 item 5).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "courier/bus.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;
namespace fs = std::filesystem;

namespace {

Options logged(const std::string& dir, std::uint64_t tracker_capacity) {
  Options o = small_options();
  o.log_dir = dir;
  o.sync = Sync::always;
  o.tracker_capacity = tracker_capacity;
  return o;
}

SendOptions stored(Destination to, std::uint8_t priority = 8) {
  SendOptions s;
  s.to = to;
  s.priority = priority;
  s.expiry = std::chrono::seconds(60);
  return s;
}

std::vector<std::string> drain_texts(Receiver& r) {
  std::vector<std::string> out;
  while (auto m = r.try_receive()) out.emplace_back(m->text());
  return out;
}

// On a bus with a big tracker, alice sends `n` stored messages to bob, who is
// not attached: "P-i" at priorities 9 and 2 in turn (two_priorities), else "i"
// at the default priority. They stay owed in the log.
void send_owed(const std::string& name, const std::string& dir, int n, bool two_priorities) {
  auto bus = Bus::open(name, logged(dir, 4096));
  ASSERT_TRUE(bus) << bus.error().message;
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  for (int i = 0; i < n; ++i) {
    const std::uint8_t prio = !two_priorities ? default_priority : i % 2 == 0 ? 9 : 2;
    const std::string text = two_priorities ? std::to_string(prio) + "-" + std::to_string(i) : std::to_string(i);
    ASSERT_EQ(alice->send(stored(peer("bob"), prio), text).status, Status::sent);
  }
}

// A reboot: every process gone, the shared memory gone, the log kept.
void reboot(const std::string& name) { ASSERT_TRUE(Bus::remove(name)); }

TEST(RecoveryCapacity, ATrackerTooSmallFailsNamingTheCapacityAndLosesNothing) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(send_owed(name.name, dir.path, 100, true));
  reboot(name.name);
  // 100 entries: 64 and 128 entries are too few at the safe fill (half), 256 fit.
  for (std::uint64_t small : {64u, 128u}) {
    auto failed = Bus::open(name.name, logged(dir.path, small));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, Errc::capacity);
    const std::string& msg = failed.error().message;
    EXPECT_NE(msg.find("holds 100 messages to track"), std::string::npos) << msg;
    EXPECT_NE(msg.find("its tracker holds " + std::to_string(small) + " entries"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tracker_capacity >= 256 (--tracker-capacity 256)"), std::string::npos) << msg;
    EXPECT_FALSE(Bus::exists(name.name)) << "a bus not rebuilt is not left for others to use";
  }
  auto bus = Bus::open(name.name, logged(dir.path, 256));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().injected, 100u);
  EXPECT_EQ(bus->recovery().tracker_full, 0u);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::string> want;
  for (int i = 1; i < 100; i += 2) want.push_back("2-" + std::to_string(i));
  for (int i = 0; i < 100; i += 2) want.push_back("9-" + std::to_string(i));
  EXPECT_EQ(drain_texts(*bob), want) << "every owed message once, in priority order";
}

TEST(RecoveryCapacity, GroupMessagesNeedTheirTotalAndOneEntryPerMember) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name.name, logged(dir.path, 4096));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->add_member("team", "ben"));
    auto alice = bus->endpoint("alice");
    for (int i = 0; i < 30; ++i) {
      const SendResult r = alice->send(stored(group("team")), std::to_string(i));
      ASSERT_EQ(r.status, Status::sent);
      ASSERT_EQ(r.accepted, 2u);
    }
  }
  reboot(name.name);
  // 30 totals + 60 members = 90 entries: more than half of 128, half of 256 fits.
  auto failed = Bus::open(name.name, logged(dir.path, 128));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::capacity);
  EXPECT_NE(failed.error().message.find("holds 90 messages to track"), std::string::npos) << failed.error().message;
  EXPECT_NE(failed.error().message.find("tracker_capacity >= 256"), std::string::npos) << failed.error().message;
  auto bus = Bus::open(name.name, logged(dir.path, 256));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().injected, 60u);
  std::vector<std::string> want;
  for (int i = 0; i < 30; ++i) want.push_back(std::to_string(i));
  for (const char* member : {"ann", "ben"}) {
    auto r = bus->attach(member);
    ASSERT_TRUE(r);
    EXPECT_EQ(drain_texts(*r), want) << member;
  }
}

TEST(RecoveryCapacity, AFailedRebuildLeavesNoBusAndTheNextOpenerRebuildsIt) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(send_owed(name.name, dir.path, 40, false));
  reboot(name.name);
  ASSERT_FALSE(Bus::open(name.name, logged(dir.path, 64)));
  // No half-rebuilt bus: an opener that does not create finds none; one that
  // does not recover would make an empty bus, so it is not tried here.
  Options attach_only = small_options();
  attach_only.create = false;
  auto none = Bus::open(name.name, attach_only);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::not_found) << none.error().message;
  // The journals are untouched: a second failure says the same, a fitting tracker recovers all.
  auto again = Bus::open(name.name, logged(dir.path, 64));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("holds 40 messages to track"), std::string::npos) << again.error().message;
  auto bus = Bus::open(name.name, logged(dir.path, 128));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().injected, 40u);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_EQ(drain_texts(*bob).size(), 40u);
}

}  // namespace
