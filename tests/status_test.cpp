// Tracked messages within one process, on a shared-memory bus and on an
// in-process bus (same behaviour): statuses from send to read, each error
// status, duplicate resends, dedup lifetime, a full tracker, the on_status
// callback and the status ring. Groups are in group_test.cpp, other
// processes in multiprocess_test.cpp.
#include <cstring>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

namespace courier {
namespace {

using test::BusMode;
using test::BusName;
using test::eventually;

using namespace std::chrono_literals;

using test::ev;
using test::Event;

class StatusTest : public ::testing::TestWithParam<BusMode> {
 protected:
  BusName name;
  std::optional<Bus> bus;
  std::optional<Endpoint> alice;
  std::vector<Event> heard;  // on_status callback

  void start(Options o = test::small_options()) {
    auto b = Bus::open(name, test::options_for(GetParam(), o));
    ASSERT_TRUE(b) << b.error().message;
    bus.emplace(std::move(*b));
    auto a = bus->endpoint("alice");
    ASSERT_TRUE(a);
    alice.emplace(std::move(*a));
  }
  void listen() {
    alice->on_status([this](const StatusEvent& e) { heard.push_back(ev(e)); });
  }
  // The events waiting in alice's status ring.
  std::vector<Event> events() {
    std::vector<Event> out;
    auto n = alice->poll_status([&](const StatusEvent& e) { out.push_back(ev(e)); });
    EXPECT_TRUE(n) << n.error().message;
    return out;
  }
  EndpointId id_of(std::string_view endpoint) { return *bus->find_endpoint(endpoint); }
  Status status_of(std::uint64_t id) {
    auto r = alice->status(id);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->status : Status::invalid_argument;
  }
  SendResult send(std::string_view to, std::chrono::nanoseconds expiry, std::uint64_t id = 0,
                  std::string_view text = "x") {
    return alice->send({.to = peer(to), .priority = 3, .expiry = expiry, .id = id}, text);
  }
  const EndpointStats& stats_of(const BusStats& s, std::string_view endpoint) {
    for (const EndpointStats& e : s.endpoints)
      if (e.name == endpoint) return e;
    static EndpointStats none;
    ADD_FAILURE() << "no endpoint " << endpoint;
    return none;
  }
};

// Wait (time is the subject) until a message's expiry has passed.
void wait_past(std::uint64_t expires_ns) {
  ASSERT_TRUE(eventually([&] { return realtime_ns() > expires_ns + 1'000'000; }));
}

TEST_P(StatusTest, TrackedMessageGoesFromSentToDeliveredToRead) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto r = send("bob", 60s);
  ASSERT_EQ(r.status, Status::sent);
  ASSERT_NE(r.id, 0u);
  EXPECT_FALSE(r.duplicate);
  auto st = alice->status(r.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::sent);
  EXPECT_EQ(st->dest, bob->id());
  EXPECT_EQ(st->recipients, 1u);
  EXPECT_EQ(st->delivered, 0u);
  EXPECT_TRUE(events().empty()) << "the send's own outcome is not posted to the ring";

  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->tracked());
  EXPECT_EQ(m->status(), Incoming::fresh);
  EXPECT_EQ(status_of(r.id), Status::delivered);
  EXPECT_EQ(alice->status(r.id)->delivered, 1u);
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, bob->id(), 0, Status::delivered}}));

  ASSERT_TRUE(bob->mark_read(*m));
  EXPECT_EQ(m->status(), Incoming::read);
  EXPECT_EQ(status_of(r.id), Status::read);
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, bob->id(), 0, Status::read}}));
  auto by_name = bus->status("alice", r.id);
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->status, Status::read);
  EXPECT_EQ(by_name->read, 1u);
  EXPECT_EQ(bus->status("alice", r.id + 1000).error().code, Errc::not_found);
  EXPECT_FALSE(bus->status("nobody", r.id));
  const BusStats s = bus->stat();
  EXPECT_EQ(stats_of(s, "bob").delivered, 1u);
  EXPECT_EQ(stats_of(s, "bob").read, 1u);
}

TEST_P(StatusTest, UntrackedMessageCanBeMarkedReadButReportsNothing) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  listen();
  ASSERT_TRUE(alice->send({.to = peer("bob")}, "fire and forget"));
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->tracked());
  EXPECT_TRUE(bob->mark_read(*m));
  EXPECT_EQ(m->status(), Incoming::read);
  EXPECT_FALSE(bob->ack(*m)) << "nothing to acknowledge";
  EXPECT_TRUE(events().empty());
  EXPECT_TRUE(heard.empty());
}

TEST_P(StatusTest, OnStatusHearsEachSendAtOnceAndPolledEventsLater) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  listen();
  auto r = send("bob", 60s);
  ASSERT_TRUE(r);
  EXPECT_EQ(heard, (std::vector<Event>{{r.id, bob->id(), 0, Status::sent}}));
  ASSERT_TRUE(bob->try_receive());
  EXPECT_EQ(heard.size(), 1u) << "receiver events wait in the ring until polled";
  auto n = alice->poll_status();  // no function: the on_status callback gets them
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(heard, (std::vector<Event>{{r.id, bob->id(), 0, Status::sent}, {r.id, bob->id(), 0, Status::delivered}}));
  EXPECT_EQ(*alice->poll_status(), 0u);
}

// send() tells the status follower of a tracked send once, with its outcome
// (docs/design.md, "The send path compiled per kind"); claim() and commit()
// tell it at the claim, then the outcome. Followed, both report the same
// events in the same order: each send-time outcome (sent, offline, full) once,
// then the deliveries from the ring; with on_status, the outcomes at once and
// the deliveries when polled.
TEST_P(StatusTest, FollowedSendReportsWhatClaimAndCommitReport) {
  start();
  ASSERT_TRUE(bus->add_endpoint("dave"));  // never attached: real-time sends to it are offline
  const std::string big(8000, 'x');
  // The statuses `h` reports for: id 1 sent, id 2 real-time to dave (offline),
  // ids 3.. of 8000 B until `to`'s lane is full, then `to`'s receiver takes them all.
  const auto run = [&](Endpoint& h, std::string_view to, bool zero_copy, bool told) {
    std::vector<std::pair<std::uint64_t, Status>> seen;
    const std::function<void(const StatusEvent&)> f = [&](const StatusEvent& e) { seen.emplace_back(e.id, e.status); };
    if (told) h.on_status(f);
    const auto poll = [&] { EXPECT_TRUE(told ? h.poll_status() : h.poll_status(f)); };
    poll();  // following begins
    auto rx = bus->attach(to);
    EXPECT_TRUE(rx);
    const auto one = [&](std::string_view dest, std::chrono::nanoseconds expiry, std::uint64_t id,
                         std::string_view text) {
      const SendOptions o{.to = peer(dest), .priority = 3, .expiry = expiry, .id = id};
      if (!zero_copy) return h.send(o, text);
      Claim c;
      SendResult r = h.claim(o, text.size(), c);
      if (!r) return r;
      std::memcpy(c.payload().data(), text.data(), text.size());
      return h.commit(c, text.size());
    };
    EXPECT_EQ(one(to, 60s, 1, "x").status, Status::sent);
    EXPECT_EQ(one("dave", 0s, 2, "x").status, Status::offline);
    std::uint64_t id = 2;
    SendResult r;
    while ((r = one(to, 60s, ++id, big))) EXPECT_LT(id, 100u);
    EXPECT_EQ(r.status, Status::full);
    while (rx->try_receive()) {
    }
    rx->release();
    poll();
    return seen;
  };
  auto carol = bus->endpoint("carol");
  auto erin = bus->endpoint("erin");
  auto fred = bus->endpoint("fred");
  ASSERT_TRUE(carol && erin && fred);
  const auto by_send = run(*alice, "bob", false, false);
  EXPECT_EQ(by_send, run(*carol, "carl", true, false));
  const auto told_send = run(*erin, "emma", false, true);
  EXPECT_EQ(told_send, run(*fred, "finn", true, true));
  // The expected order: 1 sent, 2 offline, 3.. sent, the full one, then 1 and 3.. delivered.
  std::vector<std::pair<std::uint64_t, Status>> want{{1, Status::sent}, {2, Status::offline}};
  const std::uint64_t full = (by_send.size() + 2) / 2;  // 2 + (full - 3) + 1 + 1 + (full - 3) events
  for (std::uint64_t i = 3; i < full; ++i) want.emplace_back(i, Status::sent);
  want.emplace_back(full, Status::full);
  want.emplace_back(1, Status::delivered);
  for (std::uint64_t i = 3; i < full; ++i) want.emplace_back(i, Status::delivered);
  EXPECT_EQ(by_send, want);
  EXPECT_EQ(told_send, want);
}

TEST_P(StatusTest, StatusRingHasOneConsumerAtATime) {
  start();
  ASSERT_TRUE(alice->poll_status([](const StatusEvent&) {}));
  auto other = bus->endpoint("alice");
  ASSERT_TRUE(other);
  auto n = other->poll_status([](const StatusEvent&) {});
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, Errc::busy);
}

TEST_P(StatusTest, WithoutAutoAckOnlyAckReportsDelivery) {
  start();
  auto bob = bus->attach("bob", {.auto_ack = false});
  ASSERT_TRUE(bob);
  auto r = send("bob", 60s);
  ASSERT_TRUE(r);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(status_of(r.id), Status::sent) << "taken but not acknowledged";
  EXPECT_TRUE(events().empty());
  EXPECT_TRUE(bob->ack(*m));
  EXPECT_EQ(status_of(r.id), Status::delivered);
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, bob->id(), 0, Status::delivered}}));
  bob->ack(*m);
  EXPECT_TRUE(events().empty()) << "one delivered event per message";
  bob->release();
  EXPECT_FALSE(bob->ack(*m)) << "a message no longer in hand cannot be acknowledged";
  auto r2 = send("bob", 60s);
  auto m2 = bob->try_receive();
  ASSERT_TRUE(m2);
  EXPECT_FALSE(bob->ack(*m)) << "only the message in hand";
  EXPECT_EQ(status_of(r2.id), Status::sent);
}

// A tracked send's entry is placed from hints its handle made ahead of it
// (src/send.cpp, Endpoint::warm_ahead: a batch of ids at a time, for ids in
// sequence). Every message must still be found by its id whatever the order
// of the ids: bus-assigned ones across id blocks (4,096 each), explicit ones
// between them, runs of explicit ids each the last + 1 (the sequence the
// handle warms for), two handles of one sender, group sends.
TEST_P(StatusTest, EveryTrackedSendIsFoundByItsIdWhateverTheOrderOfItsIds) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  ASSERT_TRUE(bus->add_group("pair"));
  ASSERT_TRUE(bus->add_member("pair", "bob"));
  auto other = bus->endpoint("alice");  // same sender, another handle: ids of its own blocks
  ASSERT_TRUE(other);
  std::vector<std::uint64_t> ids;
  for (std::uint64_t i = 0; i < 9000; ++i) {
    SendOptions so{.to = peer("bob"), .expiry = 60s};
    if (i % 7 == 3) so.id = 1'000'000 + i;
    if (i >= 3000 && i < 6000 && i % 500 != 0) so.id = 50'000'000 + i;  // explicit, in runs of 499
    if (i % 11 == 5) so.to = group("pair");
    Endpoint& from = i % 13 == 6 ? *other : *alice;
    const SendResult r = from.send(so, "m");
    ASSERT_EQ(r.status, Status::sent) << "send " << i;
    ASSERT_FALSE(r.duplicate) << "send " << i;
    ids.push_back(r.id);
    ASSERT_TRUE(bob->try_receive()) << "send " << i;
  }
  bob->release();
  for (const std::uint64_t id : ids) {
    EXPECT_EQ(status_of(id), Status::delivered) << "id " << id;
    EXPECT_TRUE(alice->send({.to = peer("bob"), .expiry = 60s, .id = id}, "again").duplicate) << "id " << id;
  }
  EXPECT_FALSE(bob->try_receive()) << "no resend was taken for a new message";
}

TEST_P(StatusTest, ResendOfATrackedIdIsEnqueuedOnceAndReportsTheOriginal) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto first = send("bob", 60s, 42, "first");
  ASSERT_EQ(first.status, Status::sent);
  EXPECT_FALSE(first.duplicate);
  auto again = send("bob", 60s, 42, "second");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.status, Status::sent);
  EXPECT_EQ(again.id, 42u);
  EXPECT_TRUE(again.ok()) << "the original is on its way";
  auto other_handle = bus->endpoint("alice");  // same sender, another handle
  ASSERT_TRUE(other_handle);
  EXPECT_TRUE(other_handle->send({.to = peer("bob"), .expiry = 60s, .id = 42}, "third").duplicate);

  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "first");
  auto after_delivery = send("bob", 60s, 42, "fourth");
  EXPECT_TRUE(after_delivery.duplicate);
  EXPECT_EQ(after_delivery.status, Status::delivered);
  EXPECT_TRUE(after_delivery.ok());
  ASSERT_TRUE(bob->mark_read(*m));
  auto after_read = send("bob", 60s, 42, "fifth");
  EXPECT_TRUE(after_read.duplicate);
  EXPECT_EQ(after_read.status, Status::read);
  EXPECT_FALSE(bob->try_receive()) << "one copy, whatever the number of resends";
  const BusStats s = bus->stat();
  EXPECT_EQ(stats_of(s, "alice").sent, 1u);
  EXPECT_EQ(stats_of(s, "alice").duplicates, 4u);
  EXPECT_EQ(status_of(42), Status::read);
}

TEST_P(StatusTest, ZeroCopyClaimOfATrackedIdAlreadySentIsADuplicateWithNothingToWrite) {
  start();
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  ASSERT_TRUE(send("bob", 60s, 43, "original"));
  Claim c;
  auto r = alice->claim({.to = peer("bob"), .expiry = 60s, .id = 43}, 100, c);
  EXPECT_TRUE(r.duplicate);
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(c.active());
  EXPECT_TRUE(c.payload().empty()) << "no room was claimed";
  EXPECT_EQ(alice->commit(c, 0).status, Status::invalid_argument);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "original");
  EXPECT_FALSE(bob->try_receive());
}

TEST_P(StatusTest, DedupLastsAsLongAsALongExpiryEvenPastTheRetention) {
  Options o = test::small_options();
  o.status_retention = 10ms;
  start(o);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  auto first = send("bob", 1h, 7, "first");
  ASSERT_TRUE(first);
  // Time is the subject: well past the retention, far from the expiry.
  std::this_thread::sleep_for(50ms);
  const SweepResult sw = bus->sweep();
  EXPECT_EQ(sw.retired, 0u);
  EXPECT_EQ(sw.expired, 0u);
  auto later = send("bob", 1h, 7, "later");
  EXPECT_TRUE(later.duplicate);
  EXPECT_EQ(later.status, Status::sent);
  auto st = alice->status(7);
  ASSERT_TRUE(st);
  EXPECT_GT(st->expires_ns, realtime_ns() + 3500'000'000'000ull);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "first");
  EXPECT_FALSE(bob->try_receive());
}

TEST_P(StatusTest, DedupEndsOnceExpiryAndRetentionHavePassed) {
  Options o = test::small_options();
  o.status_retention = 50ms;
  start(o);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  auto first = send("bob", 50ms, 9, "first");
  ASSERT_TRUE(first);
  EXPECT_TRUE(send("bob", 50ms, 9, "again").duplicate);
  std::uint64_t expired = 0, retired = 0;
  ASSERT_TRUE(eventually([&] {
    const SweepResult r = bus->sweep();
    expired += r.expired;
    retired += r.retired;
    return !alice->status(9);
  })) << "the entry retires after expiry + retention";
  EXPECT_EQ(expired, 1u) << "the sweep found the message expired in bob's lane";
  EXPECT_EQ(retired, 1u);
  EXPECT_EQ(events(), (std::vector<Event>{{9, id_of("bob"), 0, Status::expired}}));
  auto resend = send("bob", 60s, 9, "resent");
  EXPECT_EQ(resend.status, Status::sent);
  EXPECT_FALSE(resend.duplicate) << "after retirement the id is accepted again";
}

TEST_P(StatusTest, IdReusedAfterRetirementIsNotTakenForItsExpiredPredecessor) {
  Options o = test::small_options();
  o.status_retention = 20ms;
  start(o);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  ASSERT_TRUE(send("bob", 20ms, 9, "old"));
  ASSERT_TRUE(eventually([&] {
    bus->sweep();
    return !alice->status(9);
  }));
  EXPECT_EQ(events(), (std::vector<Event>{{9, id_of("bob"), 0, Status::expired}})) << "the old send expired";
  // The old copy still sits (expired) in bob's lane; the id is sent anew.
  auto fresh = send("bob", 60s, 9, "new");
  ASSERT_EQ(fresh.status, Status::sent);
  ASSERT_FALSE(fresh.duplicate);
  EXPECT_EQ(bus->sweep().expired, 0u) << "the old expired copy says nothing about the new message";
  EXPECT_EQ(status_of(9), Status::sent);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto m = bob->try_receive();  // skips the old copy on the way
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "new");
  EXPECT_EQ(status_of(9), Status::delivered);
  auto ev = events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), (Event{9, bob->id(), 0, Status::delivered}));
  for (const Event& e : ev) EXPECT_NE(e.status, Status::expired) << "nothing expired since the id was reused" << e;
}

TEST_P(StatusTest, MessageThatExpiredInTheLaneIsReportedWhenTheReceiverSkipsIt) {
  start();
  ASSERT_TRUE(bus->add_endpoint("bob"));
  auto r = send("bob", 20ms);
  ASSERT_TRUE(r);
  wait_past(alice->status(r.id)->expires_ns);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive());
  EXPECT_EQ(status_of(r.id), Status::expired);
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, bob->id(), 0, Status::expired}}));
  EXPECT_EQ(bob->inbox().expired.load(), 1u);
}

TEST_P(StatusTest, SweepReportsAMessageThatExpiredWaitingForItsReceiver) {
  start();
  ASSERT_TRUE(bus->add_endpoint("bob"));
  auto soon = send("bob", 20ms);
  auto later = send("bob", 1h);
  ASSERT_TRUE(soon);
  ASSERT_TRUE(later);
  wait_past(alice->status(soon.id)->expires_ns);
  EXPECT_EQ(bus->sweep().expired, 1u);
  EXPECT_EQ(status_of(soon.id), Status::expired);
  EXPECT_EQ(status_of(later.id), Status::sent);
  EXPECT_EQ(events(), (std::vector<Event>{{soon.id, id_of("bob"), 0, Status::expired}}));
  EXPECT_EQ(bus->sweep().expired, 0u) << "reported once";
}

TEST_P(StatusTest, RemovingTheDestinationReportsItsWaitingMessagesInvalid) {
  start();
  ASSERT_TRUE(bus->add_endpoint("bob"));
  const EndpointId bob = id_of("bob");
  auto a = send("bob", 60s);
  auto b = send("bob", 60s);
  ASSERT_TRUE(alice->send({.to = peer("bob"), .expiry = 60s}, "x"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .expiry = 0s}, "fire and forget").status == Status::offline);
  ASSERT_TRUE(bus->remove_endpoint("bob"));
  EXPECT_EQ(status_of(a.id), Status::invalid_destination);
  EXPECT_EQ(status_of(b.id), Status::invalid_destination);
  auto ev = events();
  EXPECT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev.at(0), (Event{a.id, bob, 0, Status::invalid_destination}));
  EXPECT_EQ(ev.at(1), (Event{b.id, bob, 0, Status::invalid_destination}));
  EXPECT_EQ(send("bob", 60s).status, Status::invalid_destination);
}

TEST_P(StatusTest, RealTimeMessageWithNoReceiverIsOfflineAndMayBeSentAgain) {
  start();
  ASSERT_TRUE(bus->add_endpoint("bob"));
  listen();
  auto r = send("bob", 0s, 5);
  EXPECT_EQ(r.status, Status::offline);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(heard, (std::vector<Event>{{5, id_of("bob"), 0, Status::offline}}));
  EXPECT_EQ(status_of(5), Status::offline);
  auto again = send("bob", 0s, 5);
  EXPECT_EQ(again.status, Status::offline);
  EXPECT_FALSE(again.duplicate) << "an offline send is no original";
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto now = send("bob", 0s, 5, "now");
  EXPECT_EQ(now.status, Status::sent);
  EXPECT_FALSE(now.duplicate);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "now");
  EXPECT_EQ(status_of(5), Status::delivered);
}

TEST_P(StatusTest, RealTimeMessageLeftForAReceiverThatWentAwayIsReportedOffline) {
  start();
  std::uint64_t id = 0;
  {
    auto bob = bus->attach("bob");
    ASSERT_TRUE(bob);
    auto r = send("bob", 0s, 6);
    ASSERT_EQ(r.status, Status::sent);
    id = r.id;
  }
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive());
  EXPECT_EQ(status_of(id), Status::offline);
  EXPECT_EQ(events(), (std::vector<Event>{{id, bob->id(), 0, Status::offline}}));
}

TEST_P(StatusTest, FullLaneIsReportedFullAndTheResendGoesThroughOnceThereIsRoom) {
  start();
  ASSERT_TRUE(bus->add_endpoint("bob"));
  listen();
  const std::string big(8000, 'x');
  std::uint64_t id = 100;
  SendResult r;
  while ((r = send("bob", 60s, ++id, big))) ASSERT_LT(id, 200u);
  ASSERT_EQ(r.status, Status::full);
  EXPECT_EQ(heard.back(), (Event{id, id_of("bob"), 0, Status::full}));
  EXPECT_EQ(status_of(id), Status::full);
  EXPECT_EQ(send("bob", 60s, id, big).status, Status::full) << "still no room: full again, not a duplicate";
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  ASSERT_TRUE(bob->try_receive());
  bob->release();
  auto resend = send("bob", 60s, id, big);
  EXPECT_EQ(resend.status, Status::sent);
  EXPECT_FALSE(resend.duplicate);
  EXPECT_EQ(status_of(id), Status::sent);
  std::uint64_t last = 0;
  int n = 1;
  while (auto m = bob->try_receive()) {
    last = m->id();
    ++n;
  }
  EXPECT_EQ(last, id) << "the resend arrived, once";
  EXPECT_EQ(n, static_cast<int>(id - 100));
}

TEST_P(StatusTest, ClaimHeldPastTheTimeoutIsRevokedAndItsResendGoesThrough) {
  start();  // claim_timeout 100 ms
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  listen();
  Claim c;
  ASSERT_TRUE(alice->claim({.to = peer("bob"), .expiry = 60s, .id = 77}, 10, c));
  // The receiver steps over the claim once it has been held past claim_timeout.
  ASSERT_TRUE(eventually([&] {
    EXPECT_FALSE(bob->receive(20ms));
    return bob->inbox().revoked.load() > 0;
  }));
  std::memcpy(c.payload().data(), "late", 4);
  EXPECT_EQ(alice->commit(c, 4).status, Status::revoked);
  EXPECT_EQ(heard.back(), (Event{77, bob->id(), 0, Status::revoked}));
  EXPECT_EQ(status_of(77), Status::revoked);
  auto resend = send("bob", 60s, 77, "again");
  EXPECT_EQ(resend.status, Status::sent);
  EXPECT_FALSE(resend.duplicate) << "a revoked claim never reached the lane";
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "again");
  EXPECT_EQ(status_of(77), Status::delivered);
}

TEST_P(StatusTest, TinyTrackerFillsUpAndThenRefusesTrackedSendsWithTrackerFull) {
  Options o = test::small_options();
  o.tracker_capacity = 64;
  start(o);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  listen();
  std::uint64_t id = 0;
  SendResult r;
  while ((r = send("bob", 1h, ++id))) ASSERT_LE(id, 64u) << "more tracked messages than the tracker holds";
  const std::uint64_t accepted = id - 1;
  EXPECT_EQ(r.status, Status::tracker_full);
  EXPECT_FALSE(r.duplicate);
  EXPECT_GE(accepted, 16u) << "two buckets of 8 at the very least";
  EXPECT_EQ(heard.back(), (Event{id, no_endpoint, 0, Status::tracker_full}));
  EXPECT_EQ(alice->status(id).error().code, Errc::not_found) << "a refused send is not tracked";
  EXPECT_EQ(send("bob", 1h, id).status, Status::tracker_full) << "and stays refused";
  EXPECT_TRUE(send("bob", 1h, 1).duplicate) << "messages it holds are still deduplicated";
  EXPECT_TRUE(alice->send({.to = peer("bob"), .expiry = 0s}, "untracked").status == Status::offline)
      << "fire-and-forget needs no entry";
  const BusStats s = bus->stat();
  EXPECT_EQ(stats_of(s, "alice").tracker_full, 2u);
  EXPECT_EQ(s.tracker.full_events, 2u);
  EXPECT_EQ(s.tracker.capacity, 64u);
  EXPECT_EQ(s.tracker.used, accepted);
  EXPECT_EQ(stats_of(s, "alice").sent, accepted);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::uint64_t got = 0;
  while (bob->try_receive()) ++got;
  EXPECT_EQ(got, accepted) << "refused sends were not enqueued";
}

INSTANTIATE_TEST_SUITE_P(Modes, StatusTest, ::testing::ValuesIn(test::all_bus_modes), test::bus_mode_name);

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
