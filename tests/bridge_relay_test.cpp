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

}  // namespace
}  // namespace courier::test
