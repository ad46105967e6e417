// The public API within one process: priority, order, store and forward,
// expiry, bad input. Cross-process behaviour is in multiprocess_test.cpp.
#include <sys/epoll.h>
#include <sys/stat.h>

#include <set>
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::small_options;

struct BusFixture : ::testing::Test {
  BusName name;
  Bus bus = *Bus::open(name, small_options());
  Endpoint alice = *bus.endpoint("alice");

  SendResult send(std::string_view to, std::uint8_t prio, std::string_view text,
                  std::chrono::nanoseconds expiry = std::chrono::seconds(60)) {
    return alice.send({.to = peer(to), .priority = prio, .expiry = expiry}, text);
  }
};

TEST_F(BusFixture, HighestPriorityWaitingMessageComesFirst) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  const std::uint8_t prios[] = {9, 3, 15, 0, 3, 7, 0, 12};
  for (std::size_t i = 0; i < std::size(prios); ++i) ASSERT_TRUE(send("bob", prios[i], "m" + std::to_string(i)));
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::pair<int, std::string>> got;
  while (auto m = bob->try_receive()) got.emplace_back(m->priority(), std::string(m->text()));
  const std::vector<std::pair<int, std::string>> want = {{0, "m3"}, {0, "m6"}, {3, "m1"},  {3, "m4"},
                                                         {7, "m5"}, {9, "m0"}, {12, "m7"}, {15, "m2"}};
  EXPECT_EQ(got, want);
}

TEST_F(BusFixture, UrgentMessageOvertakesAQueueOfLowPriorityOnes) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(send("bob", 15, "flood"));
  ASSERT_TRUE(send("bob", 0, "urgent"));
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "urgent");
  EXPECT_EQ(m->priority(), 0);
}

TEST_F(BusFixture, MessageCarriesEveryPropertyOfTheModel) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  const std::uint64_t before = realtime_ns();
  auto r = alice.send({.to = peer("bob"), .priority = 4, .expiry = std::chrono::seconds(30), .type = 77, .id = 12345},
                      "payload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.id, 12345u);
  auto m = bob->receive(std::chrono::seconds(1));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id(), 12345u);
  EXPECT_EQ(m->from(), alice.id());
  EXPECT_EQ(m->to(), bob->id());
  EXPECT_EQ(m->group(), 0u);
  EXPECT_EQ(m->priority(), 4);
  EXPECT_EQ(m->type(), 77u);
  EXPECT_GE(m->timestamp_ns(), before);
  EXPECT_LE(m->timestamp_ns(), realtime_ns());
  EXPECT_EQ(m->expires_ns(), m->timestamp_ns() + 30'000'000'000ull);
  EXPECT_FALSE(m->redelivered());
  EXPECT_EQ(m->text(), "payload");
  EXPECT_EQ(bob->name_of(m->from()), "alice");
}

TEST_F(BusFixture, GeneratedIdsAreUniqueAndFireAndForgetHasNone) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::set<std::uint64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    auto r = send("bob", 1, "x");
    ASSERT_TRUE(r);
    ASSERT_NE(r.id, 0u);
    ids.insert(r.id);
    ASSERT_TRUE(bob->try_receive());
  }
  EXPECT_EQ(ids.size(), 1000u);
  auto r = alice.send({.to = peer("bob")}, "fire and forget");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.id, 0u);
}

TEST_F(BusFixture, StoredMessageWaitsForAReceiverThatAttachesLater) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  ASSERT_TRUE(send("bob", 5, "stored"));
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "stored");
}

TEST_F(BusFixture, RealTimeMessageToAnEndpointWithoutReceiverIsOffline) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  auto r = alice.send({.to = peer("bob")}, "now or never");
  EXPECT_EQ(r.status, Status::offline);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive()) << "an offline real-time message is not stored";
  EXPECT_TRUE(alice.send({.to = peer("bob")}, "now"));
  EXPECT_TRUE(bob->try_receive());
}

TEST_F(BusFixture, RealTimeMessageForAReceiverThatLeftIsNotGivenToTheNextOne) {
  {
    auto bob = bus.attach("bob");
    ASSERT_TRUE(bob);
    ASSERT_TRUE(alice.send({.to = peer("bob")}, "for the first receiver"));
  }
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive());
}

TEST_F(BusFixture, ExpiredMessageIsNeverHandedOut) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  ASSERT_TRUE(send("bob", 2, "short-lived", std::chrono::milliseconds(20)));
  ASSERT_TRUE(send("bob", 3, "long-lived", std::chrono::seconds(60)));
  // Time is the subject here: wait past the first message's deadline.
  const std::uint64_t deadline = realtime_ns() + 25'000'000ull;
  while (realtime_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "long-lived");
  EXPECT_FALSE(bob->try_receive());
  EXPECT_EQ(bob->inbox().expired.load(), 1u);
}

TEST_F(BusFixture, FullLaneReportsFullAndWaitsWhenAskedTo) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  std::string big(8000, 'x');
  int n = 0;
  SendResult r;
  while ((r = send("bob", 1, big))) ++n;
  EXPECT_EQ(r.status, Status::full);
  EXPECT_GT(n, 0);
  EXPECT_TRUE(send("bob", 2, big)) << "another lane is not affected";
  // With a timeout, the send waits for the receiver to make room.
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::atomic<bool> started{false};
  std::thread drain([&] {
    started.store(true);
    ASSERT_TRUE(bob->receive(std::chrono::seconds(5)));  // one message out: room for exactly one more
    bob->release();
  });
  auto waited = alice.send(
      {.to = peer("bob"), .priority = 1, .expiry = std::chrono::seconds(60), .timeout = std::chrono::seconds(10)}, big);
  drain.join();
  EXPECT_TRUE(waited) << status_name(waited.status);
  EXPECT_EQ(alice
                .send({.to = peer("bob"),
                       .priority = 1,
                       .expiry = std::chrono::seconds(60),
                       .timeout = std::chrono::milliseconds(5)},
                      big)
                .status,
            Status::full)
      << "a timeout that passes with no room still says full";
}

TEST_F(BusFixture, BadSendsAreRefusedWithTheirOwnStatus) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  EXPECT_EQ(alice.send({.to = peer("bob"), .priority = 16, .expiry = std::chrono::seconds(1)}, "x").status,
            Status::invalid_argument);
  EXPECT_EQ(alice.send({.to = peer("nobody"), .expiry = std::chrono::seconds(1)}, "x").status,
            Status::invalid_destination);
  EXPECT_EQ(alice.send({.to = peer("bad/name"), .expiry = std::chrono::seconds(1)}, "x").status,
            Status::invalid_destination);
  std::string too_big(bus.geometry().max_payload + 1, 'x');
  EXPECT_EQ(alice.send({.to = peer("bob"), .expiry = std::chrono::seconds(1)}, too_big).status, Status::too_large);
  std::string just_fits(bus.geometry().max_payload, 'x');
  EXPECT_TRUE(alice.send({.to = peer("bob"), .expiry = std::chrono::seconds(1)}, just_fits));
  EXPECT_EQ(alice.send({.to = peer("bob"), .expiry = std::chrono::seconds(-1)}, "x").status, Status::invalid_argument);
}

TEST_F(BusFixture, ZeroCopyClaimCommitAndAbort) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  Claim c;
  ASSERT_TRUE(alice.claim({.to = peer("bob"), .priority = 1, .expiry = std::chrono::seconds(5)}, 100, c));
  auto buf = c.payload();
  ASSERT_EQ(buf.size(), 100u);
  std::memcpy(buf.data(), "zero-copy", 9);
  ASSERT_TRUE(alice.commit(c, 9));  // shorter than claimed
  Claim d;
  ASSERT_TRUE(alice.claim({.to = peer("bob"), .priority = 0, .expiry = std::chrono::seconds(5)}, 10, d));
  alice.abort(d);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "zero-copy");
  EXPECT_FALSE(bob->try_receive());
  Claim e;
  ASSERT_TRUE(alice.claim({.to = peer("bob"), .expiry = std::chrono::seconds(5)}, 10, e));
  EXPECT_EQ(alice.commit(e, 11).status, Status::too_large) << "cannot commit more than claimed";
}

TEST_F(BusFixture, ResolvedDestinationSurvivesUntilTheEndpointIsRemoved) {
  ASSERT_TRUE(bus.add_endpoint("bob"));
  auto d = alice.resolve("bob");
  ASSERT_TRUE(d);
  EXPECT_TRUE(alice.send({.to = *d, .expiry = std::chrono::seconds(5)}, "x"));
  ASSERT_TRUE(bus.remove_endpoint("bob"));
  EXPECT_EQ(alice.send({.to = *d, .expiry = std::chrono::seconds(5)}, "x").status, Status::invalid_destination);
  EXPECT_EQ(send("bob", 1, "x").status, Status::invalid_destination);
  // A new "bob" in the same slot does not get the old bob's messages.
  ASSERT_TRUE(bus.add_endpoint("bob"));
  EXPECT_EQ(alice.send({.to = *d, .expiry = std::chrono::seconds(5)}, "x").status, Status::invalid_destination);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive());
  ASSERT_TRUE(send("bob", 1, "for the new bob"));
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "for the new bob");
}

TEST_F(BusFixture, SecondReceiverOnAnEndpointIsRefused) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  auto again = bus.attach("bob");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::busy);
  EXPECT_NE(again.error().message.find("bob"), std::string::npos) << again.error().message;
}

TEST_F(BusFixture, EndpointsAreRegisteredListedAndRemoved) {
  auto bob = bus.add_endpoint("bob");
  ASSERT_TRUE(bob);
  auto again = bus.add_endpoint("bob");  // idempotent, like add_member: the same endpoint
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *bob);
  EXPECT_TRUE(bus.add_endpoint("carol@host:1.x_y-z"));
  std::set<std::string> names;
  for (auto& e : bus.endpoints()) names.insert(e.name);
  EXPECT_EQ(names, (std::set<std::string>{"alice", "bob", "carol@host:1.x_y-z"}));
  EXPECT_TRUE(bus.remove_endpoint("bob"));
  EXPECT_EQ(bus.remove_endpoint("bob").error().code, Errc::not_found);
  EXPECT_EQ(bus.find_endpoint("bob").error().code, Errc::not_found);
}

TEST_F(BusFixture, InvalidEndpointNamesAreRefused) {
  for (std::string bad : {std::string(), std::string(64, 'a'), std::string("a/b"), std::string("a b"), std::string("é"),
                          std::string("a\0b", 3)}) {
    auto r = bus.add_endpoint(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
  EXPECT_TRUE(bus.add_endpoint(std::string(63, 'a')));
}

TEST_F(BusFixture, DirectoryFullIsAClearError) {
  for (std::uint32_t i = 1; i < bus.geometry().max_endpoints; ++i)
    ASSERT_TRUE(bus.add_endpoint("e" + std::to_string(i)));
  auto r = bus.add_endpoint("one-too-many");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::capacity);
}

TEST_F(BusFixture, CallbackLoopDeliversUntilStopped) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(send("bob", 1, std::to_string(i)));
  std::atomic<bool> stop{false};
  std::vector<std::string> got;
  auto n = bob->run(
      [&](const Message& m) {
        got.emplace_back(m.text());
        if (got.size() == 10) stop.store(true);
      },
      stop);
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(got.front(), "0");
  EXPECT_EQ(got.back(), "9");
}

TEST_F(BusFixture, ReceiveTimesOutWhenNothingComes) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(bob->receive(std::chrono::milliseconds(30)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
}

TEST_F(BusFixture, NotificationFdBecomesReadableWhenAMessageArrives) {
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  int fd = bob->notification_fd();
  ASSERT_GE(fd, 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  epoll_event out{};
  EXPECT_EQ(epoll_wait(ep, &out, 1, 50), 0) << "nothing waiting: not readable";
  ASSERT_TRUE(send("bob", 3, "wake"));
  ASSERT_EQ(epoll_wait(ep, &out, 1, 5000), 1);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "wake");
  EXPECT_FALSE(bob->try_receive());  // drained: re-arms
  EXPECT_EQ(epoll_wait(ep, &out, 1, 50), 0) << "drained: not readable any more";
  ASSERT_TRUE(send("bob", 3, "again"));
  ASSERT_EQ(epoll_wait(ep, &out, 1, 5000), 1);
  EXPECT_TRUE(bob->try_receive());
  ::close(ep);
}

TEST(BusOpen, InvalidBusNamesAreRefused) {
  for (std::string bad :
       std::vector<std::string>{"", "a/b", "..", ".", "../etc", std::string(65, 'a'), "a b", "bus\n"}) {
    auto r = Bus::open(bad, small_options());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
  }
}

TEST(BusOpen, BadGeometryIsRefused) {
  BusName name;
  Options o = small_options();
  o.lane_capacity = 5000;
  EXPECT_EQ(Bus::open(name, o).error().code, Errc::invalid_argument);
  o = small_options();
  o.max_payload = static_cast<std::uint32_t>(o.lane_capacity);
  EXPECT_EQ(Bus::open(name, o).error().code, Errc::invalid_argument);
  o = small_options();
  o.max_endpoints = 0;
  EXPECT_EQ(Bus::open(name, o).error().code, Errc::invalid_argument);
}

TEST(BusOpen, MissingBusIsNotCreatedWhenAskedNotTo) {
  BusName name;
  Options o = small_options();
  o.create = false;
  auto r = Bus::open(name, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find(name.name), std::string::npos);
}

TEST(BusOpen, SegmentIsCreatedWithMode0600UnlessGroupAccessIsAsked) {
  BusName a, b;
  ASSERT_TRUE(Bus::open(a, small_options()));
  Options o = small_options();
  o.group_access = true;
  ASSERT_TRUE(Bus::open(b, o));
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/courier." + a.name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(("/dev/shm/courier." + b.name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

// Options::prefault_tracker: the tracker's pages are in memory once open()
// returns (no page fault inside a send later); without it they come on first
// use. Seen from outside: the blocks the bus's /dev/shm file holds.
TEST(BusOpen, PrefaultedTrackerIsInMemoryAtOpen) {
  auto shm_blocks = [](const std::string& bus) {
    struct stat sb {};
    EXPECT_EQ(::stat(("/dev/shm" + Segment::shm_name(bus)).c_str(), &sb), 0);
    return static_cast<std::uint64_t>(sb.st_blocks) * 512;
  };
  const std::uint64_t capacity = 1u << 16;
  const std::uint64_t table_bytes = capacity * (8 + sizeof(TrackerEntry));
  std::uint64_t held[2] = {};
  for (bool prefault : {false, true}) {
    BusName name;
    Options o = small_options();
    o.tracker_capacity = capacity;
    o.prefault_tracker = prefault;
    auto bus = Bus::open(name.name, o);
    ASSERT_TRUE(bus) << bus.error().message;
    held[prefault] = shm_blocks(name.name);
  }
  EXPECT_GE(held[1], table_bytes) << "prefaulted: the whole table is allocated";
  EXPECT_LT(held[0], table_bytes / 4) << "not prefaulted: pages come on first use";
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
