// courier bridge: two buses standing for two hosts (ha, hb), a real
// nats-server with JetStream, and two real `courier bridge` processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "bridge_support.hpp"
#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "support.hpp"

namespace courier::test::bridge {
namespace {

using BridgeProcess = std::unique_ptr<cli::Child>;

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(nats_server_path().empty())
        << "nats-server is not installed (Debian: apt-get install nats-server; scripts/install-deps.sh does it)";
    nats_ = std::make_unique<NatsServer>(nats_config());
    a_ = open(bus_a_, dir_a_);
    b_ = open(bus_b_, dir_b_);
    ASSERT_TRUE(a_ && b_);
  }
  // Every bridge still running stops as an operator stops it (SIGTERM), so
  // that a sanitizer build's report at its exit (LeakSanitizer) is seen.
  void TearDown() override {
    for (BridgeProcess* b : {&bridge_a_, &bridge_b_})
      if (*b) (void)stopped(*b);
  }
  virtual std::string nats_config() const { return {}; }

  // The end of a bridge process (stopped or killed; `b` is emptied): its
  // stderr must hold no sanitizer report (AddressSanitizer, LeakSanitizer at
  // exit, UBSan).
  static cli::Output ended(BridgeProcess& b) {
    cli::Output out = b->finish();
    b.reset();
    for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"})
      EXPECT_EQ(out.err.find(report), std::string::npos) << "a bridge's sanitizer report:\n" << out.err;
    return out;
  }

  // Stops a bridge as an operator does (SIGTERM): it must exit 0, whatever
  // it had in flight with the server (cnats' threads included).
  static cli::Output stopped(BridgeProcess& b) {
    b->signal(SIGTERM);
    cli::Output out = ended(b);
    EXPECT_EQ(out.status, 0) << "a bridge stopped by SIGTERM:\n" << out.err;
    return out;
  }

  static std::optional<Bus> open(const BusName& name, const TempDir& dir) {
    Options o = small_options();
    o.log_dir = dir.path;
    auto bus = Bus::open(name.name, o);
    if (!bus) {
      ADD_FAILURE() << bus.error().message;
      return std::nullopt;
    }
    return std::move(*bus);
  }

  BridgeProcess start_bridge(const std::string& bus, const std::string& host) {
    auto c = std::make_unique<cli::Child>(
        std::vector<std::string>{"bridge", bus, "--nats", nats_->url(), "--host", host, "--ack-wait", "2s"});
    auto line = c->read_line();
    EXPECT_TRUE(line && line->starts_with("bridge ready")) << "bridge " << host << ": " << line.value_or("(nothing)");
    return c;
  }
  void start_both() {
    bridge_a_ = start_bridge(bus_a_.name, "ha");
    bridge_b_ = start_bridge(bus_b_.name, "hb");
  }

  // The usual pair: proxy bob@hb on ha, bob on hb, both bridges running;
  // alice on ha, following her statuses. Empty (a failure added) when a step failed.
  std::optional<Endpoint> alice_to_bob() {
    EXPECT_TRUE(a_->add_endpoint("bob@hb"));
    EXPECT_TRUE(b_->add_endpoint("bob"));
    start_both();
    auto alice = a_->endpoint("alice");
    EXPECT_TRUE(alice);
    if (!alice) return std::nullopt;
    (void)alice->poll_status();  // follow from the first send on
    return std::move(*alice);
  }
  // Messages waiting in `endpoint`'s lanes on `bus`.
  static std::uint64_t waiting(const Bus& bus, const std::string& endpoint) {
    for (const EndpointStats& e : bus.stat().endpoints)
      if (e.name == endpoint) return e.waiting_total;
    return 0;
  }

  SendResult send(Endpoint& from, const std::string& to, std::string_view text, std::chrono::nanoseconds expiry = 60s,
                  std::uint8_t priority = 4) {
    return from.send(SendOptions{.to = peer(to), .priority = priority, .expiry = expiry, .type = 7}, text);
  }

  BusName bus_a_, bus_b_;
  TempDir dir_a_, dir_b_;
  std::unique_ptr<NatsServer> nats_;
  std::optional<Bus> a_, b_;
  BridgeProcess bridge_a_, bridge_b_;
};

TEST_F(BridgeTest, MessageArrivesOnceFromSenderAtHostWithItsIdAndStatusesComeBack) {
  ASSERT_TRUE(a_->add_endpoint("bob@hb"));
  ASSERT_TRUE(b_->add_endpoint("bob"));
  start_both();
  auto alice = a_->endpoint("alice");
  ASSERT_TRUE(alice);
  (void)alice->poll_status();  // follow from the first send on
  auto bob = b_->attach("bob", ReceiverOptions{.idle = {}, .auto_ack = false});
  ASSERT_TRUE(bob);

  const SendResult r = send(*alice, "bob@hb", "hello from ha");
  ASSERT_TRUE(r.ok()) << status_name(r.status);
  auto m = bob->receive(30s);
  ASSERT_TRUE(m) << "nothing reached bob on hb";
  EXPECT_EQ(m->text(), "hello from ha");
  EXPECT_EQ(m->id(), r.id);
  EXPECT_EQ(m->type(), 7u);
  EXPECT_EQ(m->priority(), 4u);
  EXPECT_EQ(bob->name_of(m->from()), "alice@ha");
  EXPECT_FALSE(m->redelivered());
  EXPECT_NE(m->expires_ns(), 0u);

  ASSERT_TRUE(bob->ack(*m));
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r.id, Status::delivered, &got)) << status_name(got);
  ASSERT_TRUE(bob->mark_read(*m));
  EXPECT_TRUE(wait_status(*alice, r.id, Status::read, &got)) << status_name(got);
  auto st = a_->status("alice", r.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::read);

  // Once: a second message comes next, and the first never again.
  const SendResult r2 = send(*alice, "bob@hb", "second");
  ASSERT_TRUE(r2.ok());
  auto m2 = bob->receive(30s);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->id(), r2.id);
  EXPECT_EQ(m2->text(), "second");
}

// hb's bridge dies (kill -9) after it sent two messages on hb's bus: one is
// read while it is down, the other after its restart. Both `read`s reach
// alice on ha: the restarted bridge knows where its local sends came from
// (its origins bucket in JetStream), not only the bridge that made them.
TEST_F(BridgeTest, StatusesComeBackAfterAKillNineOfTheReceivingBridge) {
  auto alice = alice_to_bob();
  ASSERT_TRUE(alice);
  auto bob = b_->attach("bob", ReceiverOptions{.idle = {}, .auto_ack = false});
  ASSERT_TRUE(bob);
  const SendResult r1 = send(*alice, "bob@hb", "read while hb's bridge is down");
  const SendResult r2 = send(*alice, "bob@hb", "read after its restart");
  ASSERT_TRUE(r1.ok() && r2.ok());
  auto m1 = bob->receive(30s);
  ASSERT_TRUE(m1) << "the first message did not reach bob on hb";
  ASSERT_EQ(m1->id(), r1.id);
  // The second was sent on hb (its tracker knows alice@ha's send) before the kill.
  ASSERT_TRUE(eventually([&] { return b_->status("alice@ha", r2.id).has_value(); }, 30s))
      << "the second one was not sent on hb";
  bridge_b_->signal(SIGKILL);
  (void)ended(bridge_b_);

  ASSERT_TRUE(bob->ack(*m1));
  ASSERT_TRUE(bob->mark_read(*m1));
  bridge_b_ = start_bridge(bus_b_.name, "hb");
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r1.id, Status::read, &got)) << status_name(got);
  auto m2 = bob->receive(30s);
  ASSERT_TRUE(m2);
  ASSERT_EQ(m2->id(), r2.id);
  ASSERT_TRUE(bob->ack(*m2));
  ASSERT_TRUE(bob->mark_read(*m2));
  EXPECT_TRUE(wait_status(*alice, r2.id, Status::read, &got)) << status_name(got);
  auto st1 = a_->status("alice", r1.id);
  auto st2 = a_->status("alice", r2.id);
  ASSERT_TRUE(st1 && st2);
  EXPECT_EQ(st1->status, Status::read);
  EXPECT_EQ(st2->status, Status::read);
  // Once each: no copy reached bob after the restart.
  const SendResult last = send(*alice, "bob@hb", "last");
  auto m3 = bob->receive(30s);
  ASSERT_TRUE(m3);
  EXPECT_EQ(m3->id(), last.id);
}

// A group on ha with a member on hb (the proxy bob@hb) and one on ha: each
// member gets the message once, bob's delivered and read come back for his
// member entry, and the group's total reaches read when both read it.
TEST_F(BridgeTest, GroupOnTheSendersHostWithARemoteMember) {
  auto alice = alice_to_bob();
  ASSERT_TRUE(alice);
  ASSERT_TRUE(a_->add_endpoint("carol"));
  ASSERT_TRUE(a_->add_group("team"));
  ASSERT_TRUE(a_->add_member("team", "carol"));
  ASSERT_TRUE(a_->add_member("team", "bob@hb"));
  auto carol = a_->attach("carol", ReceiverOptions{.idle = {}, .auto_ack = false});
  auto bob = b_->attach("bob", ReceiverOptions{.idle = {}, .auto_ack = false});
  ASSERT_TRUE(carol && bob);
  const SendResult r =
      alice->send(SendOptions{.to = group("team"), .priority = 4, .expiry = 60s, .type = 7}, "to the team");
  ASSERT_TRUE(r.ok()) << status_name(r.status);
  auto mb = bob->receive(30s);
  ASSERT_TRUE(mb) << "bob on hb did not get the group's message";
  EXPECT_EQ(mb->id(), r.id);
  EXPECT_EQ(mb->text(), "to the team");
  EXPECT_EQ(bob->name_of(mb->from()), "alice@ha");
  auto mc = carol->try_receive();
  ASSERT_TRUE(mc);
  EXPECT_EQ(mc->id(), r.id);
  ASSERT_TRUE(bob->ack(*mb) && bob->mark_read(*mb));
  ASSERT_TRUE(carol->ack(*mc) && carol->mark_read(*mc));
  std::map<std::uint64_t, Status> seen;  // the group's total (its members' events are not enough)
  EXPECT_TRUE(wait_statuses(*alice, {r.id}, Status::read, &seen, 30s, true).empty()) << status_name(seen[r.id]);
  auto st = a_->status("alice", r.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::read);
  EXPECT_EQ(st->recipients, 2u);
  EXPECT_EQ(st->read, 2u);
  auto proxy = a_->endpoint("bob@hb");
  ASSERT_TRUE(proxy);
  bool bob_read = false;
  for (const RecipientStatus& m : st->members)
    if (m.recipient == proxy->id()) bob_read = m.status == Status::read;
  EXPECT_TRUE(bob_read) << "bob@hb's member entry is not read";
  // Once: nothing more for bob.
  const SendResult last = send(*alice, "bob@hb", "last");
  auto m = bob->receive(30s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id(), last.id);
}

// A group of hb addressed from ha (the proxy team@hb): each member on hb gets
// the message once, from alice@ha, and the group's total (read when both
// read it) comes back to alice as the status of her send to team@hb.
TEST_F(BridgeTest, GroupOfTheOtherHostAddressedThroughAProxy) {
  ASSERT_TRUE(a_->add_endpoint("team@hb"));
  ASSERT_TRUE(b_->add_endpoint("bob"));
  ASSERT_TRUE(b_->add_endpoint("carol"));
  ASSERT_TRUE(b_->add_group("team"));
  ASSERT_TRUE(b_->add_member("team", "bob"));
  ASSERT_TRUE(b_->add_member("team", "carol"));
  start_both();
  auto alice = a_->endpoint("alice");
  ASSERT_TRUE(alice);
  (void)alice->poll_status();
  auto bob = b_->attach("bob", ReceiverOptions{.idle = {}, .auto_ack = false});
  auto carol = b_->attach("carol", ReceiverOptions{.idle = {}, .auto_ack = false});
  ASSERT_TRUE(bob && carol);
  const SendResult r = send(*alice, "team@hb", "to hb's team");
  ASSERT_TRUE(r.ok()) << status_name(r.status);
  auto mb = bob->receive(30s);
  auto mc = carol->receive(30s);
  ASSERT_TRUE(mb && mc) << "a member of hb's team did not get it";
  for (auto* m : {&*mb, &*mc}) {
    EXPECT_EQ(m->id(), r.id);
    EXPECT_EQ(m->text(), "to hb's team");
  }
  EXPECT_EQ(bob->name_of(mb->from()), "alice@ha");
  ASSERT_TRUE(bob->ack(*mb) && bob->mark_read(*mb));
  auto st = a_->status("alice", r.id);
  ASSERT_TRUE(st);
  EXPECT_TRUE(is_owed(st->status)) << "one member's read is not the group's: " << status_name(st->status);
  ASSERT_TRUE(carol->ack(*mc) && carol->mark_read(*mc));
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r.id, Status::read, &got)) << status_name(got);
  // Once each.
  EXPECT_FALSE(bob->try_receive());
  EXPECT_FALSE(carol->try_receive());
}

TEST_F(BridgeTest, ReplyFromTheOtherHostReachesTheSender) {
  ASSERT_TRUE(a_->add_endpoint("bob@hb"));
  ASSERT_TRUE(b_->add_endpoint("bob"));
  start_both();
  auto alice = a_->endpoint("alice");
  auto alice_rx = a_->attach("alice");
  auto bob = b_->attach("bob");
  ASSERT_TRUE(alice && alice_rx && bob);
  ASSERT_TRUE(send(*alice, "bob@hb", "ping").ok());
  auto m = bob->receive(30s);
  ASSERT_TRUE(m);
  const std::string reply_to = bob->name_of(m->from());
  ASSERT_EQ(reply_to, "alice@ha");
  auto bob_tx = b_->endpoint("bob");
  ASSERT_TRUE(bob_tx);
  ASSERT_TRUE(send(*bob_tx, reply_to, "pong").ok());  // alice@ha on hb: registered by hb's bridge
  auto back = alice_rx->receive(30s);
  ASSERT_TRUE(back) << "the reply did not come back to ha";
  EXPECT_EQ(back->text(), "pong");
  EXPECT_EQ(alice_rx->name_of(back->from()), "bob@hb");
}

TEST_F(BridgeTest, UnknownRemoteEndpointIsInvalidDestinationForTheSender) {
  ASSERT_TRUE(a_->add_endpoint("carol@hb"));  // a proxy on ha; hb has no carol
  start_both();
  auto alice = a_->endpoint("alice");
  ASSERT_TRUE(alice);
  (void)alice->poll_status();
  const SendResult r = send(*alice, "carol@hb", "to nobody");
  ASSERT_TRUE(r.ok());
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r.id, Status::invalid_destination, &got)) << status_name(got);
  // Not even a proxy here: refused at once, by the local bus.
  EXPECT_EQ(send(*alice, "dave@hb", "x").status, Status::invalid_destination);
}

class BridgeSmallPayloadTest : public BridgeTest {
 protected:
  std::string nats_config() const override { return "max_payload: 4096"; }
};

TEST_F(BridgeSmallPayloadTest, MessageLargerThanTheServerTakesIsTooLarge) {
  auto alice = alice_to_bob();
  ASSERT_TRUE(alice);
  const std::string big(8000, 'x');  // the bus takes 16 KiB, the server 4 KiB
  const SendResult r = send(*alice, "bob@hb", big);
  ASSERT_TRUE(r.ok()) << status_name(r.status);
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r.id, Status::too_large, &got)) << status_name(got);
  // The bridge goes on: a small one after it arrives.
  auto bob = b_->attach("bob");
  ASSERT_TRUE(bob);
  const SendResult r2 = send(*alice, "bob@hb", "small");
  ASSERT_TRUE(r2.ok());
  auto m = bob->receive(30s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id(), r2.id);
}

TEST_F(BridgeTest, MessageThatExpiresInFlightIsNeverEnqueuedAndTheSenderIsTold) {
  ASSERT_TRUE(a_->add_endpoint("bob@hb"));
  ASSERT_TRUE(b_->add_endpoint("bob"));
  bridge_a_ = start_bridge(bus_a_.name, "ha");  // hb's bridge is not running: the message waits in JetStream
  auto alice = a_->endpoint("alice");
  ASSERT_TRUE(alice);
  (void)alice->poll_status();
  const SendResult r = send(*alice, "bob@hb", "too late", 1500ms);
  ASSERT_TRUE(r.ok());
  // Wait until it left ha's lane (ha's bridge took it), then past its deadline.
  auto waiting = [&] {
    for (const EndpointStats& e : a_->stat().endpoints)
      if (e.name == "bob@hb") return e.waiting_total;
    return std::uint64_t{1};
  };
  ASSERT_TRUE(eventually([&] { return waiting() == 0; }, 30s));
  auto st = a_->status("alice", r.id);
  ASSERT_TRUE(st);
  const std::uint64_t deadline = st->expires_ns;
  ASSERT_TRUE(eventually([&] { return realtime_ns() > deadline; }, 10s));  // only time brings this
  bridge_b_ = start_bridge(bus_b_.name, "hb");
  Status got{};
  EXPECT_TRUE(wait_status(*alice, r.id, Status::expired, &got)) << status_name(got);
  auto bob = b_->attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive()) << "an expired message was enqueued on hb";
  // hb's bridge is the one that found it expired (not ha's sweeper).
  const cli::Output out = stopped(bridge_b_);
  EXPECT_NE(out.err.find("expired 1,"), std::string::npos) << out.err;
}

TEST_F(BridgeTest, UrgentMessageIsNotDelayedByALowPriorityBacklogInJetStream) {
  ASSERT_TRUE(a_->add_endpoint("bob@hb"));
  ASSERT_TRUE(b_->add_endpoint("bob"));
  bridge_a_ = start_bridge(bus_a_.name, "ha");  // hb's bridge not yet: the backlog waits in JetStream
  auto alice = a_->endpoint("alice");
  ASSERT_TRUE(alice);
  auto left_on_ha = [&] {
    for (const EndpointStats& e : a_->stat().endpoints)
      if (e.name == "bob@hb") return e.waiting_total;
    return std::uint64_t{1};
  };
  constexpr int backlog = 300;
  for (int i = 0; i < backlog; ++i) ASSERT_TRUE(send(*alice, "bob@hb", "low", 120s, 15).ok());
  ASSERT_TRUE(eventually([&] { return left_on_ha() == 0; }, 30s));  // published behind each other
  const SendResult urgent = send(*alice, "bob@hb", "urgent", 120s, 0);
  ASSERT_TRUE(urgent.ok());
  ASSERT_TRUE(eventually([&] { return left_on_ha() == 0; }, 30s));  // published after the backlog
  auto bob = b_->attach("bob");
  ASSERT_TRUE(bob);
  bridge_b_ = start_bridge(bus_b_.name, "hb");
  // hb's bus stamps each message when its bridge sends it there: count the
  // low-priority ones enqueued before the urgent one.
  std::vector<std::uint64_t> low_stamps;
  std::uint64_t urgent_stamp = 0;
  for (int got = 0; got < backlog + 1; ++got) {
    auto m = bob->receive(60s);
    ASSERT_TRUE(m) << "only " << got << " of " << backlog + 1 << " arrived";
    if (m->id() == urgent.id)
      urgent_stamp = m->timestamp_ns();
    else
      low_stamps.push_back(m->timestamp_ns());
  }
  const auto before = std::count_if(low_stamps.begin(), low_stamps.end(), [&](auto t) { return t < urgent_stamp; });
  // Band 0 is fetched before band 3's backlog: at most one batch of it (64) went first.
  std::cout << "  low-priority messages enqueued before the urgent one: " << before << "\n";
  EXPECT_LE(before, 64) << "the urgent message was enqueued after " << before << " low-priority ones";
}

// Sends `n` tracked messages from alice on ha to bob on hb, calling `at(i)`
// after the i-th send (where a test kills a bridge or the server: the bridges
// are busy with the messages sent before), then receives them as bob. Every
// message must arrive; a second copy only flagged redelivered.
struct Ledger {
  std::map<std::uint64_t, int> copies;
  int unflagged_duplicates = 0, redelivered = 0;
  int statuses_missing = 0, statuses_failed = 0;  // of alice's messages: no delivered came back / an error did
};

class BridgeCrashTest : public BridgeTest {
 protected:
  Ledger run_stream(int n, const std::function<void(int)>& at) {
    Ledger l;
    EXPECT_TRUE(a_->add_endpoint("bob@hb"));
    EXPECT_TRUE(b_->add_endpoint("bob"));
    start_both();
    auto alice = a_->endpoint("alice");
    auto bob = b_->attach("bob");
    EXPECT_TRUE(alice && bob);
    if (!alice || !bob) return l;
    (void)alice->poll_status();  // follow from the first send on
    std::map<std::uint64_t, int> sent;
    for (int i = 0; i < n; ++i) {
      const SendResult r = send(*alice, "bob@hb", "m" + std::to_string(i), 120s, static_cast<std::uint8_t>(i % 3));
      EXPECT_TRUE(r.ok()) << status_name(r.status);
      sent[r.id] = i;
      at(i);
    }
    EXPECT_TRUE(a_->flush_log());
    int distinct = 0;
    while (distinct < n) {
      auto m = bob->receive(60s);
      if (!m) {
        ADD_FAILURE() << "only " << distinct << " of " << n << " arrived";
        break;
      }
      EXPECT_EQ(sent.count(m->id()), 1u) << "an id never sent: " << m->id();
      if (++l.copies[m->id()] == 1) {
        ++distinct;
      } else if (m->redelivered()) {
        ++l.redelivered;
      } else {
        ++l.unflagged_duplicates;
      }
    }
    // Nothing more: a last message comes next, with no copy of an earlier one before it.
    const SendResult last = send(*alice, "bob@hb", "last");
    for (;;) {
      auto m = bob->receive(60s);
      if (!m) {
        ADD_FAILURE() << "the last message did not arrive";
        break;
      }
      if (m->id() == last.id) break;
      if (!m->redelivered()) ++l.unflagged_duplicates;
      ++l.copies[m->id()];
    }
    // And every `delivered` came back to alice (bob's receiver acknowledges as it takes).
    std::set<std::uint64_t> ids;
    for (const auto& [id, i] : sent) ids.insert(id);
    std::map<std::uint64_t, Status> seen;
    const std::set<std::uint64_t> short_of_it = wait_statuses(*alice, ids, Status::delivered, &seen, 60s);
    l.statuses_missing = static_cast<int>(short_of_it.size());
    for (const auto& [id, st] : seen)
      if (is_error(st)) ++l.statuses_failed;
    for (BridgeProcess* b : {&bridge_a_, &bridge_b_})  // their counters, for the log of the run
      std::cout << "  " << stopped(*b).err;
    return l;
  }
  void expect_once(const Ledger& l, int n) {
    std::cout << "  copies flagged redelivered: " << l.redelivered << "\n";
    EXPECT_EQ(static_cast<int>(l.copies.size()), n);
    EXPECT_EQ(l.unflagged_duplicates, 0);
    EXPECT_EQ(l.statuses_missing, 0) << "messages whose delivered never came back to alice";
    EXPECT_EQ(l.statuses_failed, 0);
  }
  void kill_bridge(BridgeProcess& b, const std::string& bus, const std::string& host) {
    b->signal(SIGKILL);
    (void)ended(b);
    b = start_bridge(bus, host);
  }
};

TEST_F(BridgeCrashTest, KillNineOfEitherBridgeMidStreamLosesNothingAndDuplicatesNothing) {
  constexpr int n = 300;
  const Ledger l = run_stream(n, [&](int k) {
    // ha's bridge: what it held is taken again from its lane, and JetStream drops the copy
    if (k == 100) kill_bridge(bridge_a_, bus_a_.name, "ha");
    // hb's bridge: what it took and did not acknowledge comes again after --ack-wait
    if (k == 200) kill_bridge(bridge_b_, bus_b_.name, "hb");
  });
  expect_once(l, n);
}

TEST_F(BridgeCrashTest, KillNineOfTheServerMidStreamLosesNothingAndDuplicatesNothing) {
  constexpr int n = 300;
  const Ledger l = run_stream(n, [&](int k) {
    if (k == 100) nats_->restart();  // SIGKILL, then the same port and store; the bridges reconnect
  });
  expect_once(l, n);
}

// kill -9 at points drawn at random (the seed is printed; COURIER_KILL_SEED
// repeats a run) of either bridge or of nats-server, `kills` times in a
// stream of messages with expiry > 0: each message arrives once (a copy only
// flagged redelivered), and its delivered comes back to the sender.
TEST_F(BridgeCrashTest, RandomKillNineLoopLosesNothingAndDuplicatesNothing) {
  constexpr int n = 600, kills = 12;
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("COURIER_KILL_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "  seed " << seed << " (COURIER_KILL_SEED repeats it)\n";
  std::mt19937_64 rng(seed);
  std::map<int, int> plan;  // after send i: 0 ha's bridge, 1 hb's bridge, 2 nats-server
  while (static_cast<int>(plan.size()) < kills)
    plan.emplace(static_cast<int>(rng() % (n - 1)), static_cast<int>(rng() % 3));
  int done[3] = {0, 0, 0};
  const Ledger l = run_stream(n, [&](int k) {
    auto it = plan.find(k);
    if (it == plan.end()) return;
    ++done[it->second];
    if (it->second == 0) kill_bridge(bridge_a_, bus_a_.name, "ha");
    if (it->second == 1) kill_bridge(bridge_b_, bus_b_.name, "hb");
    if (it->second == 2) nats_->restart();
  });
  std::cout << "  kills: ha's bridge " << done[0] << ", hb's bridge " << done[1] << ", nats-server " << done[2]
            << "\n";
  EXPECT_EQ(done[0] + done[1] + done[2], kills);
  expect_once(l, n);
}

// nats-server is down while alice sends, and both bridges are killed (-9)
// and started again during the outage: the messages wait in ha's bus (in
// the proxy's lane and log), the new bridges wait for the server, and all
// flow once it is back.
TEST_F(BridgeTest, MessagesWaitInTheSendersBusWhileTheServerIsDown) {
  auto alice = alice_to_bob();
  ASSERT_TRUE(alice);
  auto bob = b_->attach("bob");
  ASSERT_TRUE(bob);
  nats_->kill(SIGKILL);
  constexpr int n = 200;
  std::set<std::uint64_t> ids;
  for (int i = 0; i < n; ++i) {
    const SendResult r = send(*alice, "bob@hb", "during the outage " + std::to_string(i), 120s);
    ASSERT_TRUE(r.ok()) << status_name(r.status);
    ids.insert(r.id);
  }
  ASSERT_TRUE(a_->flush_log());
  // All wait in ha's bus (the one ha's bridge holds, publishing in vain, counts until it is released).
  EXPECT_EQ(waiting(*a_, "bob@hb"), static_cast<std::uint64_t>(n));
  for (std::uint64_t id : ids) {
    auto st = a_->status("alice", id);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, Status::sent) << "message " << id << " moved on while the server was down";
  }
  // Both bridges die and start again while the server is down: they wait for it (no "ready" line yet).
  std::vector<std::pair<BridgeProcess*, std::string>> restarted{{&bridge_a_, "ha"}, {&bridge_b_, "hb"}};
  for (auto& [b, host] : restarted) {
    (*b)->signal(SIGKILL);
    (void)ended(*b);
    *b = std::make_unique<cli::Child>(std::vector<std::string>{
        "bridge", host == "ha" ? bus_a_.name : bus_b_.name, "--nats", nats_->url(), "--host", host, "--ack-wait", "2s"});
  }
  nats_->start_again();
  for (auto& [b, host] : restarted) {
    auto line = (*b)->read_line();
    ASSERT_TRUE(line && line->starts_with("bridge ready")) << host << ": " << line.value_or("(nothing)");
  }
  std::set<std::uint64_t> got;
  while (got.size() < ids.size()) {
    auto m = bob->receive(60s);
    ASSERT_TRUE(m) << "only " << got.size() << " of " << n << " arrived after the server came back";
    EXPECT_EQ(ids.count(m->id()), 1u);
    EXPECT_TRUE(got.insert(m->id()).second || m->redelivered()) << "an unflagged copy of " << m->id();
  }
  const SendResult last = send(*alice, "bob@hb", "last");
  auto m = bob->receive(60s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id(), last.id) << "a copy came after all had arrived";
  const std::set<std::uint64_t> missing = wait_statuses(*alice, ids, Status::delivered);
  EXPECT_TRUE(missing.empty()) << missing.size() << " delivered statuses did not come back";
}

}  // namespace
}  // namespace courier::test::bridge
