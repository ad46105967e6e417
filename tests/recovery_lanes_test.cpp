// A rebuild of a big log (docs/design.md, "Recovery populates the lanes
// while it loads"): a helper thread populates the lanes the put-back will
// write while the load reads on. What a user relies on: every owed message
// comes back once, whole, in order in each lane, the overflow left in the
// log and forwarded later; a rebuild that fails while the helper works fails
// cleanly (no hang, nothing lost) and the next one recovers everything.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "courier/bus.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

using namespace std::chrono_literals;

// 4,800 messages of 16,000 bytes: a log of ~74 MiB, past the size from which
// a rebuild starts its helper (src/recovery.hpp, lane_warm_from: 64 MiB).
constexpr int messages = 4800;
constexpr std::size_t payload_bytes = 16000;
constexpr std::uint8_t crowded = 9, light = 2;  // 3,200 and 1,600 messages

Options logged(const std::string& dir, std::uint64_t tracker_capacity) {
  Options o = small_options();
  o.lane_capacity = 32ull << 20;  // priority 9 gets 3,200 messages (~49 MiB): ~2,000 fit, the rest stay in the log
  o.log_dir = dir;
  o.sync = Sync::os;
  o.tracker_capacity = tracker_capacity;
  return o;
}

std::uint8_t priority_of(int i) { return i % 3 == 2 ? light : crowded; }

// Message i: its number in the first bytes, then a pattern of it.
std::string payload_of(int i) {
  std::string p(payload_bytes, '\0');
  const std::string n = std::to_string(i) + ":";
  p.replace(0, n.size(), n);
  for (std::size_t k = n.size(); k < p.size(); ++k) p[k] = static_cast<char>('a' + (i + k) % 26);
  return p;
}

void send_owed(const std::string& name, const std::string& dir) {
  auto bus = Bus::open(name, logged(dir, 16384));
  ASSERT_TRUE(bus) << bus.error().message;
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  for (int i = 0; i < messages; ++i) {
    SendOptions s;
    s.to = peer("bob");
    s.priority = priority_of(i);
    s.expiry = 1h;
    const SendResult r = alice->send(s, payload_of(i));
    ASSERT_TRUE(r.status == Status::sent || r.status == Status::outbox) << i << ": " << status_name(r.status);
  }
  ASSERT_TRUE(bus->flush_log());
}

// Bob gets back exactly the messages numbered in `want` (every one not
// acknowledged before the reboot), each once, whole, in send order within
// each priority (the overflow forwarded from the log after what its lane held).
void expect_back(Bus& bus, const std::vector<int>& want) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  std::vector<int> got_crowded, got_light;
  for (std::size_t n = 0; n < want.size(); ++n) {
    auto m = bob->receive(30s);  // a guard against a hang only: each message is there or forwarded at once
    ASSERT_TRUE(m) << "message " << n << " of " << want.size() << " did not come";
    const std::string text(m->text());
    const int i = std::stoi(text.substr(0, text.find(':')));
    ASSERT_EQ(text, payload_of(i)) << "message " << i << " came back changed";
    (m->priority() == crowded ? got_crowded : got_light).push_back(i);
    ASSERT_TRUE(bob->ack(*m));
  }
  std::vector<int> want_crowded, want_light;
  for (int i : want) (priority_of(i) == crowded ? want_crowded : want_light).push_back(i);
  EXPECT_EQ(got_crowded, want_crowded);
  EXPECT_EQ(got_light, want_light);
  EXPECT_FALSE(bob->try_receive()) << "nothing more than what was sent";
}

void expect_all_back(Bus& bus) {
  std::vector<int> all(messages);
  for (int i = 0; i < messages; ++i) all[i] = i;
  expect_back(bus, all);
}

TEST(RecoveryLanes, ABigLogComesBackWholeAndInOrderThroughFullAndPartlyFilledLanes) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(send_owed(name.name, dir.path));
  ASSERT_TRUE(Bus::remove(name.name));  // a reboot: the shared memory gone, the log kept
  auto bus = Bus::open(name.name, logged(dir.path, 16384));
  ASSERT_TRUE(bus) << bus.error().message;
  const RecoveryReport& r = bus->recovery();
  EXPECT_EQ(r.messages, std::uint64_t{messages});
  EXPECT_EQ(r.owed, std::uint64_t{messages});
  EXPECT_EQ(r.injected + r.left, std::uint64_t{messages});
  EXPECT_GT(r.left, 0u) << "priority 9's share is more than its lane holds";
  EXPECT_GE(r.injected, std::uint64_t{messages / 3}) << "priority 2's share fits its lane whole";
  // Where the time went: the load's and the put-back's reads, within the whole.
  EXPECT_GT(r.load_ns, 0u);
  EXPECT_GT(r.put_back_ns, 0u);
  EXPECT_LE(r.load_ns + r.put_back_ns, r.elapsed_ns);
  ASSERT_NO_FATAL_FAILURE(expect_all_back(*bus));
}

TEST(RecoveryLanes, ARebuildThatFailsWhileItsLanesArePopulatedLosesNothing) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(send_owed(name.name, dir.path));
  ASSERT_TRUE(Bus::remove(name.name));
  // 4,096 entries: the load passes the safe fill (half) after 2,048 messages,
  // with ~30 MiB of lanes asked of the helper by then; the open fails.
  auto failed = Bus::open(name.name, logged(dir.path, 4096));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::capacity) << failed.error().message;
  EXPECT_NE(failed.error().message.find("holds 4,800 messages to track"), std::string::npos)
      << failed.error().message;
  EXPECT_FALSE(Bus::exists(name.name)) << "a bus not rebuilt is not left for others to use";
  auto bus = Bus::open(name.name, logged(dir.path, 16384));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().owed, std::uint64_t{messages});
  ASSERT_NO_FATAL_FAILURE(expect_all_back(*bus));
}

// A big log with more than messages: acknowledgements (settle records) and
// a group (membership records, a record per member, a total) come back as
// they were left.
TEST(RecoveryLanes, ABigLogWithAcknowledgementsAndAGroupComesBackAsItWasLeft) {
  BusName name;
  TempDir dir;
  std::vector<int> acked;
  constexpr int group_messages = 60, taken = 300;
  {
    ASSERT_NO_FATAL_FAILURE(send_owed(name.name, dir.path));
    auto bus = Bus::open(name.name, logged(dir.path, 16384));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->add_member("team", "ben"));
    auto carl = bus->endpoint("carl");
    ASSERT_TRUE(carl);
    for (int i = 0; i < group_messages; ++i) {
      SendOptions s;
      s.to = group("team");
      s.expiry = 1h;
      const SendResult r = carl->send(s, "g-" + std::to_string(i));
      ASSERT_EQ(r.accepted, 2u) << i;
    }
    auto bob = bus->attach("bob");
    ASSERT_TRUE(bob) << bob.error().message;
    for (int n = 0; n < taken; ++n) {
      auto m = bob->receive(30s);
      ASSERT_TRUE(m) << n;
      const std::string text(m->text());
      acked.push_back(std::stoi(text.substr(0, text.find(':'))));
      ASSERT_TRUE(bob->ack(*m));
    }
    ASSERT_TRUE(bus->flush_log());
  }
  ASSERT_TRUE(Bus::remove(name.name));
  auto bus = Bus::open(name.name, logged(dir.path, 16384));
  ASSERT_TRUE(bus) << bus.error().message;
  const RecoveryReport& r = bus->recovery();
  EXPECT_EQ(r.messages, std::uint64_t{messages + 2 * group_messages}) << "a group message: a record per member";
  EXPECT_GE(r.settles, std::uint64_t{taken});
  EXPECT_EQ(r.owed, std::uint64_t{messages - taken + 2 * group_messages})
      << "the acknowledged are settled; each group message is owed to each member";
  std::vector<int> want;
  for (int i = 0; i < messages; ++i)
    if (std::find(acked.begin(), acked.end(), i) == acked.end()) want.push_back(i);
  ASSERT_NO_FATAL_FAILURE(expect_back(*bus, want));
  for (const char* member : {"ann", "ben"}) {
    auto m = bus->attach(member);
    ASSERT_TRUE(m) << m.error().message;
    for (int i = 0; i < group_messages; ++i) {
      auto got = m->receive(30s);
      ASSERT_TRUE(got) << member << " " << i;
      EXPECT_EQ(got->text(), "g-" + std::to_string(i)) << member;
      ASSERT_TRUE(m->ack(*got));
    }
    EXPECT_FALSE(m->try_receive()) << member;
  }
}

}  // namespace
