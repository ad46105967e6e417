// Bus::report_relayed: a relay (courier bridge) that took a message without
// acknowledging it and released it reports later what became of it elsewhere.
#include <gtest/gtest.h>

#include "courier/bus.hpp"
#include "support.hpp"

namespace courier::test {
namespace {

struct Relay {
  BusName name;
  Bus bus = *Bus::open(name.name, small_options());
  Endpoint alice = *bus.endpoint("alice");
  Receiver proxy = *bus.attach("bob@hb", ReceiverOptions{.idle = {}, .auto_ack = false});

  // alice sends; the relay takes the message and releases it unacknowledged.
  RelayedMessage carry(std::uint64_t& id, std::chrono::nanoseconds expiry = 30s) {
    const SendResult r = alice.send({.to = peer("bob@hb"), .expiry = expiry}, "x");
    EXPECT_TRUE(r.ok());
    id = r.id;
    auto m = proxy.try_receive();
    EXPECT_TRUE(m);
    const RelayedMessage rm = relayed(*m);
    proxy.release();
    return rm;
  }
};

TEST(BridgeRelay, DeliveredThenReadOfAReleasedMessageReachTheSender) {
  Relay r;
  std::vector<Status> seen;
  r.alice.on_status([&](const StatusEvent& e) { seen.push_back(e.status); });
  std::uint64_t id = 0;
  const RelayedMessage rm = r.carry(id);
  EXPECT_EQ(r.bus.status("alice", id)->status, Status::sent);  // released, not acknowledged
  EXPECT_TRUE(r.bus.report_relayed(rm, Status::delivered));
  EXPECT_TRUE(r.bus.report_relayed(rm, Status::read));
  EXPECT_FALSE(r.bus.report_relayed(rm, Status::delivered));  // does not move it back
  EXPECT_EQ(r.bus.status("alice", id)->status, Status::read);
  ASSERT_TRUE(r.alice.poll_status());
  EXPECT_EQ(seen, (std::vector<Status>{Status::sent, Status::delivered, Status::read}));
  EXPECT_FALSE(r.proxy.try_receive()) << "a released message came back";
}

TEST(BridgeRelay, AnErrorEndsIt) {
  Relay r;
  std::uint64_t id = 0;
  const RelayedMessage rm = r.carry(id);
  EXPECT_TRUE(r.bus.report_relayed(rm, Status::invalid_destination));
  EXPECT_EQ(r.bus.status("alice", id)->status, Status::invalid_destination);
  EXPECT_FALSE(r.bus.report_relayed(rm, Status::delivered));
}

TEST(BridgeRelay, AnotherSendOfTheSameIdIsNotTouched) {
  Relay r;
  std::uint64_t id = 0;
  RelayedMessage rm = r.carry(id);
  rm.expires_ns += 1;  // not the send the tracker holds (its deadline differs)
  EXPECT_FALSE(r.bus.report_relayed(rm, Status::delivered));
  EXPECT_EQ(r.bus.status("alice", id)->status, Status::sent);
}

// A relay that is the one member of a group: its report, from a relayed
// message without the record's flags, reaches the group send's one tracker
// entry (member and total); in a group of two it reaches the member's entry,
// and a report naming the relay for a send it is not the one member of is refused.
TEST(BridgeRelay, AReportOfAOneMemberGroupsMessageReachesTheMemberAndTheTotal) {
  Relay r;
  ASSERT_TRUE(r.bus.add_group("solo"));
  ASSERT_TRUE(r.bus.add_member("solo", "bob@hb"));
  ASSERT_TRUE(r.bus.add_group("pair"));
  ASSERT_TRUE(r.bus.add_member("pair", "bob@hb"));
  ASSERT_TRUE(r.bus.add_member("pair", "carol"));
  const GroupId solo = *r.bus.find_group("solo"), pair = *r.bus.find_group("pair");
  const EndpointId bob = r.proxy.id();
  std::vector<Event> seen;
  r.alice.on_status([&](const StatusEvent& e) { seen.push_back({e.id, e.recipient, e.group, e.status}); });
  const auto carry = [&](std::string_view to) {
    const SendResult s = r.alice.send({.to = group(to), .expiry = 30s}, "x");
    EXPECT_TRUE(s.ok());
    auto m = r.proxy.try_receive();
    EXPECT_TRUE(m);
    const RelayedMessage rm = relayed(*m);
    r.proxy.release();
    return std::pair{s.id, rm};
  };
  const auto [one, rm1] = carry("solo");
  EXPECT_TRUE(r.bus.report_relayed(rm1, Status::delivered));
  EXPECT_FALSE(r.bus.report_relayed(rm1, Status::delivered));
  const auto st1 = r.bus.status("alice", one);
  ASSERT_TRUE(st1);
  EXPECT_EQ(st1->status, Status::delivered);
  ASSERT_EQ(st1->members.size(), 1u);
  EXPECT_EQ(st1->members[0].recipient, bob);
  EXPECT_EQ(st1->members[0].status, Status::delivered);

  const auto [two, rm2] = carry("pair");
  RelayedMessage forged = rm2;
  forged.to = r.alice.id();  // not a member of that send
  EXPECT_FALSE(r.bus.report_relayed(forged, Status::delivered));
  EXPECT_TRUE(r.bus.report_relayed(rm2, Status::delivered));
  const auto st2 = r.bus.status("alice", two);
  ASSERT_TRUE(st2);
  EXPECT_EQ(st2->status, Status::sent) << "carol has not got hers";
  EXPECT_EQ(st2->delivered, 1u);
  ASSERT_TRUE(r.alice.poll_status());
  // The send-time outcomes as each send returned, then the ring's events.
  EXPECT_EQ(seen, (std::vector<Event>{{one, bob, solo, Status::sent},
                                      {one, no_endpoint, solo, Status::sent},
                                      {two, bob, pair, Status::sent},
                                      {two, r.bus.find_endpoint("carol").value(), pair, Status::sent},
                                      {two, no_endpoint, pair, Status::sent},
                                      {one, bob, solo, Status::delivered},
                                      {one, no_endpoint, solo, Status::delivered},
                                      {two, bob, pair, Status::delivered}}));
}

}  // namespace
}  // namespace courier::test
