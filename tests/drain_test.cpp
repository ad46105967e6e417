// Batched receive (Receiver::try_drain / drain, issue 14): a batch of messages
// handed to a callback and released with one store of head per lane. Real
// processes produce; a consumer killed in the middle of a batch leaves every
// message it did not release to the next receiver, flagged redelivered.
#include <algorithm>
#include <csignal>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::read_stdin_line;
using test::small_options;
using test::resend_if_revoked;
using test::tell_parent;

using namespace std::chrono_literals;

Bus must_open(const std::string& name) {
  auto b = Bus::open(name, small_options());
  if (!b) {
    std::fprintf(stderr, "open: %s\n", b.error().message.c_str());
    std::exit(3);
  }
  return std::move(*b);
}

// "seq:" then filler derived from seq: a torn or overwritten payload shows.
std::string payload_of(std::uint64_t seq, std::size_t filler) {
  std::string s = std::to_string(seq) + ":";
  for (std::size_t i = 0; i < filler; ++i) s.push_back(static_cast<char>('a' + (seq + i) % 26));
  return s;
}
std::optional<std::uint64_t> seq_of(std::string_view p) {
  const auto colon = p.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::uint64_t seq = std::stoull(std::string(p.substr(0, colon)));
  for (std::size_t i = colon + 1; i < p.size(); ++i)
    if (p[i] != static_cast<char>('a' + (seq + (i - colon - 1)) % 26)) return std::nullopt;
  return seq;
}
// The priority a producer gives message seq (the consumer checks it).
std::uint8_t priority_of(std::uint64_t seq, bool mixed) {
  return mixed ? static_cast<std::uint8_t>((seq * 7 + seq / 16) % priority_levels) : 3;
}


// args: bus, count, "mixed"|"one"[, held]. Sends `count` stored messages
// alice -> bob (priority_of), then says "done"; sends revoked go again
// (resend_if_revoked). With `held`: message `held` is claimed (zero-copy),
// "holding" said, and committed when the parent says "go"; the commit's status
// is told to the parent.
COURIER_CHILD(drain_producer) {
  Bus bus = must_open(args[0]);
  auto alice = bus.endpoint("alice");
  if (!alice) return 4;
  const std::uint64_t n = std::stoull(args[1]);
  const std::uint64_t held = args.size() > 3 ? std::stoull(args[3]) : n;
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  tell_parent("ready");
  unsigned revoked = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const SendOptions o{
        .to = peer("bob"), .priority = priority_of(i, args[2] == "mixed"), .expiry = 60s, .timeout = 30s};
    const std::string payload = payload_of(i, rng() % 200);
    SendResult r;
    if (i == held) {
      Claim c;
      if (!alice->claim(o, payload.size(), c) || !c.active()) return 5;
      std::memcpy(c.payload().data(), payload.data(), payload.size());
      tell_parent("holding");
      if (read_stdin_line() != "go") return 5;
      r = alice->commit(c, payload.size());
      tell_parent("committed " + std::string(status_name(r.status)));
    } else {
      r = alice->send(o, payload);
    }
    r = resend_if_revoked(*alice, o, payload, r, revoked);
    if (!r) {
      std::fprintf(stderr, "drain_producer: send %llu: %s (%u revoked)\n", static_cast<unsigned long long>(i),
                   std::string(status_name(r.status)).c_str(), revoked);
      return 6;
    }
  }
  if (revoked != 0) std::fprintf(stderr, "drain_producer: %u sends revoked, sent again\n", revoked);
  tell_parent("done");
  return 0;
}

// args: bus, first_limit, j. Drains one batch of first_limit cleanly, then a
// batch of up to 1000 in which it acknowledges the second message and, in f
// of the j-th, says what it took and SIGKILLs itself.
COURIER_CHILD(drain_and_die) {
  Bus bus = must_open(args[0]);
  auto bob = bus.attach("bob", ReceiverOptions{.auto_ack = false});
  if (!bob) return 4;
  const std::size_t first = bob->try_drain([](const Message&) {}, std::stoull(args[1]));
  tell_parent("released " + std::to_string(first));
  const std::uint64_t j = std::stoull(args[2]);
  std::uint64_t i = 0;
  (void)bob->try_drain(
      [&](Message& m) {
        if (++i == 2 && !bob->ack(m)) tell_parent("ack failed");
        if (i == j) {
          tell_parent("took " + std::string(m.text()));
          ::raise(SIGKILL);
        }
      },
      1000);
  tell_parent("not killed");
  return 5;
}

// args: bus, count. Drains `count` messages in batches of 4; in f, message i
// is acknowledged (i % 3 == 0), marked read (1) or left (2); says "settled"
// with how the acks and marks answered, and exits when told.
COURIER_CHILD(drain_and_settle) {
  Bus bus = must_open(args[0]);
  auto bob = bus.attach("bob", ReceiverOptions{.auto_ack = false});
  if (!bob) return 4;
  tell_parent("attached");
  const std::uint64_t n = std::stoull(args[1]);
  std::uint64_t i = 0, ok = 0, refused = 0;
  std::optional<Message> previous;
  while (i < n) {
    const std::size_t got = bob->drain(
        [&](Message& m) {
          if (previous && (bob->ack(*previous) || bob->mark_read(*previous))) ++refused;  // not in hand: must fail
          if (i % 3 == 0 && bob->ack(m)) ++ok;
          if (i % 3 == 1 && bob->mark_read(m)) ++ok;
          if (i % 3 == 2) ++ok;
          previous = m;
          ++i;
        },
        4, 20s);
    if (got == 0) return 5;
  }
  tell_parent("settled " + std::to_string(ok) + " " + std::to_string(refused));
  (void)read_stdin_line();
  return 0;
}

TEST(DrainMultiProcess, EverythingAvailableComesInPriorityOrderInBatches) {
  BusName name;
  Bus bus = must_open(name.name);
  ASSERT_TRUE(bus.add_endpoint("bob"));
  constexpr std::uint64_t n = 160;  // 16 priorities x 10: fits the 64 KiB lanes
  Child producer = Child::spawn("drain_producer", {name.name, std::to_string(n), "mixed"});
  producer.expect_line("ready");
  producer.expect_line("done");
  EXPECT_EQ(producer.wait(), 0);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  std::vector<std::uint64_t> order;
  std::vector<std::size_t> batches;
  for (;;) {
    const std::size_t got = bob->try_drain(
        [&](const Message& m) {
          const auto seq = seq_of(m.text());
          ASSERT_TRUE(seq) << "payload damaged: " << m.text();
          EXPECT_EQ(m.priority(), priority_of(*seq, true));
          EXPECT_FALSE(m.redelivered());
          order.push_back(*seq);
        },
        7);
    if (got == 0) break;
    batches.push_back(got);
  }
  ASSERT_EQ(order.size(), n);
  // Everything was waiting: the batches together are the whole priority order, FIFO within a priority.
  std::vector<std::uint64_t> expected(n);
  for (std::uint64_t i = 0; i < n; ++i) expected[i] = i;
  std::stable_sort(expected.begin(), expected.end(),
                   [](std::uint64_t a, std::uint64_t b) { return priority_of(a, true) < priority_of(b, true); });
  EXPECT_EQ(order, expected);
  for (std::size_t i = 0; i + 1 < batches.size(); ++i) EXPECT_EQ(batches[i], 7u) << "batch " << i;
  EXPECT_EQ(bob->inbox().received.load(), n);  // counted once per batch, all of them
}

// The consumer's side of drain_producer's stream: batches of drain, each
// message checked (once, its priority, highest priority first within a
// batch, FIFO within a priority).
struct StreamChecker {
  explicit StreamChecker(std::uint64_t n) : n(n), seen(n), last(priority_levels, -1) {}
  std::size_t batch(Receiver& r, std::size_t k, std::chrono::nanoseconds timeout) {
    int prio = -1;
    const std::size_t handed = r.drain(
        [&](const Message& m) {
          const auto seq = seq_of(m.text());
          ASSERT_TRUE(seq) << "payload damaged: " << m.text();
          ASSERT_LT(*seq, n);
          EXPECT_FALSE(seen[*seq]) << "handed twice: " << *seq;
          seen[*seq] = true;
          EXPECT_EQ(m.priority(), priority_of(*seq, true));
          EXPECT_GE(static_cast<int>(m.priority()), prio) << "a batch goes from the highest priority down";
          prio = m.priority();
          EXPECT_GT(static_cast<std::int64_t>(*seq), last[m.priority()]) << "FIFO within a priority";
          last[m.priority()] = static_cast<std::int64_t>(*seq);
        },
        k, timeout);
    EXPECT_LE(handed, k);
    got += handed;
    return handed;
  }
  // Batches of limits 1..13 in turn until all n came.
  void rest(Receiver& r) {
    for (std::size_t k = 1; got < n; k = k % 13 + 1)
      ASSERT_GT(batch(r, k, 20s), 0u) << "nothing within 20 s after " << got;
  }
  // The rest, then the producer's end: it succeeded and nothing is left over.
  void to_the_end(Receiver& r, Child& producer) {
    ASSERT_NO_FATAL_FAILURE(rest(r));
    EXPECT_EQ(got, n);
    producer.expect_line("done");
    EXPECT_EQ(producer.wait(), 0);
    EXPECT_FALSE(r.try_receive());
  }
  std::uint64_t n;
  std::vector<bool> seen;
  std::vector<std::int64_t> last;
  std::uint64_t got = 0;
};

TEST(DrainMultiProcess, ConcurrentProducerEveryMessageOnceAndPriorityOrderWithinEachBatch) {
  BusName name;
  Bus bus = must_open(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  constexpr std::uint64_t n = 20000;
  Child producer = Child::spawn("drain_producer", {name.name, std::to_string(n), "mixed"});
  producer.expect_line("ready");
  StreamChecker c(n);
  c.to_the_end(*bob, producer);
}

// A producer whose claim the receiver revokes in the middle of the stream (it
// held it past the bus's claim timeout, 100 ms here: a producer descheduled
// that long on a loaded machine: the test above failed so under ASan, 4 times
// in ~1,500 runs two at a time, load 5-7 on 2 CPUs) is told revoked, sends
// the message again, and every message still comes once, in order within its
// priority.
TEST(DrainMultiProcess, ClaimRevokedInTheMiddleOfTheStreamIsSentAgainAndComesOnce) {
  BusName name;
  Bus bus = must_open(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  constexpr std::uint64_t n = 400, held = 200;
  Child producer = Child::spawn("drain_producer", {name.name, std::to_string(n), "mixed", std::to_string(held)});
  producer.expect_line("ready");
  producer.expect_line("holding");
  StreamChecker c(n);
  // Everything before the claim, then idle until the receiver's tidy revokes it.
  for (std::size_t i = 0; c.got < held || bob->inbox().revoked.load() == 0; ++i) {
    ASSERT_LT(i, 1000u) << "got " << c.got << ", revoked " << bob->inbox().revoked.load();
    (void)c.batch(*bob, i % 13 + 1, 100ms);
  }
  EXPECT_EQ(c.got, held);
  EXPECT_EQ(bob->inbox().revoked.load(), 1u);
  ASSERT_TRUE(producer.send_line("go"));
  producer.expect_line("committed revoked");
  c.to_the_end(*bob, producer);
}

TEST(DrainMultiProcess, ReceiverKilledInTheMiddleOfABatchLeavesItsUnreleasedMessagesRedelivered) {
  BusName name;
  Bus bus = must_open(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  std::vector<std::uint64_t> ids;
  auto send = [&](std::uint8_t prio, const std::string& text) {
    auto r = alice->send({.to = peer("bob"), .priority = prio, .expiry = 60s}, text);
    ASSERT_TRUE(r);
    ids.push_back(r.id);
  };
  for (int i = 0; i < 3; ++i) send(2, "a" + std::to_string(i));
  for (int i = 0; i < 6; ++i) send(5, "b" + std::to_string(i));
  for (int i = 0; i < 4; ++i) send(9, "c" + std::to_string(i));
  // Batch 1: a0..a2, released. Batch 2: b0, b1 (acknowledged), ... killed in f of b4.
  Child rx = Child::spawn("drain_and_die", {name.name, "3", "5"});
  rx.expect_line("released 3");
  rx.expect_line("took b4");
  EXPECT_EQ(rx.wait(), 128 + SIGKILL);
  EXPECT_EQ(alice->status(ids[4])->status, Status::delivered);  // b1, acknowledged inside the batch
  send(5, "b6");  // after the death: never handed out before
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  std::vector<std::pair<std::string, bool>> got;
  EXPECT_EQ(bob->try_drain([&](const Message& m) { got.emplace_back(std::string(m.text()), m.redelivered()); }, 100),
            10u);
  // Lane 5's batch was under way: all of it maybe handed out before (b1 was
  // acknowledged: not again). Lane 9 was not reached: not flagged.
  const std::vector<std::pair<std::string, bool>> expected = {
      {"b0", true},  {"b2", true},  {"b3", true},  {"b4", true},  {"b5", true},
      {"b6", false}, {"c0", false}, {"c1", false}, {"c2", false}, {"c3", false}};
  EXPECT_EQ(got, expected);
  // b0..b5 taken with the flag (b1 then dropped as acknowledged, as try_receive counts it).
  EXPECT_EQ(bob->inbox().redelivered.load(), 6u);
}

TEST(DrainMultiProcess, AckAndMarkReadInsideTheBatchReachTheSender) {
  BusName name;
  Bus bus = must_open(name.name);
  auto alice = bus.endpoint("alice");
  Child bob = Child::spawn("drain_and_settle", {name.name, "9"});
  bob.expect_line("attached");
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 9; ++i) {
    auto r = alice->send({.to = peer("bob"), .priority = 4, .expiry = 60s}, "m" + std::to_string(i));
    ASSERT_EQ(r.status, Status::sent);
    ids.push_back(r.id);
  }
  bob.expect_line("settled 9 0");  // every ack / mark_read in f answered true; none on a message not in hand
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(alice->status(ids[i])->status, i % 3 == 0 ? Status::delivered : i % 3 == 1 ? Status::read : Status::sent)
        << i;
  std::map<std::uint64_t, Status> events;
  ASSERT_TRUE(alice->poll_status([&](const StatusEvent& e) { events[e.id] = e.status; }));
  EXPECT_EQ(events.size(), 6u);
  for (int i = 0; i < 9; i += 3) EXPECT_EQ(events[ids[i]], Status::delivered);
  for (int i = 1; i < 9; i += 3) EXPECT_EQ(events[ids[i]], Status::read);
  ASSERT_TRUE(bob.send_line("exit"));
  EXPECT_EQ(bob.wait(), 0);
}

// Two threads on an in-process bus (so that TSan sees both sides of the lane):
// every message once, in priority order within each batch, FIFO per priority.
TEST(DrainThreads, ProducerThreadAndABatchingConsumerOnAnInProcessBus) {
  Options o = small_options();
  o.in_process = true;
  BusName name;
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus) << bus.error().message;
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  constexpr std::uint64_t n = 20000;
  std::thread producer([&] {
    auto alice = bus->endpoint("alice");
    if (!alice) return;
    unsigned revoked = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      const SendOptions o{.to = peer("bob"), .priority = priority_of(i, true), .expiry = 60s, .timeout = 30s};
      const std::string payload = payload_of(i, i % 100);
      if (!resend_if_revoked(*alice, o, payload, alice->send(o, payload), revoked)) return;
    }
  });
  StreamChecker c(n);
  for (std::size_t k = 1; c.got < n; k = k % 13 + 1)
    if (c.batch(*bob, k, 20s) == 0) break;  // the producer failed: the count below says so
  producer.join();
  EXPECT_EQ(c.got, n);
}

// In one process: the edges of the API.
class Drain : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(bus_.add_endpoint("bob"));
    alice_.emplace(std::move(*bus_.endpoint("alice")));
  }
  void send(std::uint8_t prio, const std::string& text) {
    ASSERT_TRUE(alice_->send({.to = peer("bob"), .priority = prio, .expiry = 60s}, text));
  }
  std::vector<std::string> take_all(Receiver& r) {
    std::vector<std::string> out;
    while (r.try_drain([&](const Message& m) { out.emplace_back(m.text()); }, 3) != 0) {
    }
    return out;
  }
  BusName name_;
  Bus bus_ = must_open(name_.name);
  std::optional<Endpoint> alice_;
};

TEST_F(Drain, LimitZeroHandsNothingAndLimitOneTheHighestPriority) {
  send(7, "low");
  send(1, "high");
  auto bob = bus_.attach("bob");
  ASSERT_TRUE(bob);
  int calls = 0;
  EXPECT_EQ(bob->try_drain([&](const Message&) { ++calls; }, 0), 0u);
  EXPECT_EQ(bob->drain([&](const Message&) { ++calls; }, 0, 1h), 0u) << "limit 0 does not wait";
  EXPECT_EQ(calls, 0);
  std::string got;
  EXPECT_EQ(bob->try_drain([&](const Message& m) { got = m.text(); }, 1), 1u);
  EXPECT_EQ(got, "high");
  EXPECT_EQ(bob->try_drain([&](const Message& m) { got = m.text(); }, 1), 1u);
  EXPECT_EQ(got, "low");
  EXPECT_EQ(bob->try_drain([&](const Message&) { ++calls; }, 1), 0u);
  EXPECT_EQ(calls, 0);
}

TEST_F(Drain, DeclinedMessageStaysFirstAndIsRedeliveredAfterADetach) {
  for (int i = 0; i < 5; ++i) send(3, "m" + std::to_string(i));
  const ReceiverOptions no_auto_ack{.auto_ack = false};  // with auto_ack a declined message is acknowledged already
  {
    auto bob = bus_.attach("bob", no_auto_ack);
    ASSERT_TRUE(bob);
    std::vector<std::string> got;
    auto upto_m2 = [&](const Message& m) {
      if (m.text() == "m2") return false;
      got.emplace_back(m.text());
      return true;
    };
    EXPECT_EQ(bob->try_drain(upto_m2, 10), 2u);
    EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1"}));
    auto m = bob->try_receive();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "m2");
    EXPECT_FALSE(m->redelivered()) << "declined, not yet given to another receiver";
    EXPECT_EQ(bob->try_drain([](const Message&) { return false; }, 10), 0u);  // releases m2, declines m3
  }
  auto bob = bus_.attach("bob", no_auto_ack);
  ASSERT_TRUE(bob);
  std::vector<std::pair<std::string, bool>> got;
  EXPECT_EQ(bob->try_drain([&](const Message& m) { got.emplace_back(std::string(m.text()), m.redelivered()); }, 10),
            2u);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{{"m3", true}, {"m4", false}}));
}

TEST_F(Drain, ThrowingCallbackTakesItsMessageReleasesTheBatchAndPropagates) {
  for (int i = 0; i < 4; ++i) send(3, "m" + std::to_string(i));
  auto bob = bus_.attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::string> got;
  EXPECT_THROW((void)bob->try_drain(
                   [&](const Message& m) {
                     got.emplace_back(m.text());
                     if (m.text() == "m1") throw std::runtime_error("no");
                   },
                   10),
               std::runtime_error);
  EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1"}));
  bob->release();  // nothing in hand: changes nothing
  EXPECT_EQ(take_all(*bob), (std::vector<std::string>{"m2", "m3"}));
  EXPECT_EQ(bob->inbox().received.load(), 4u);
}

TEST_F(Drain, ReleaseInsideTheCallbackEndsOnlyAckOfThatMessage) {
  for (int i = 0; i < 3; ++i) send(3, "m" + std::to_string(i));
  auto bob = bus_.attach("bob", ReceiverOptions{.auto_ack = false});
  ASSERT_TRUE(bob);
  std::vector<std::string> got;
  EXPECT_EQ(bob->try_drain(
                [&](Message& m) {
                  got.emplace_back(m.text());
                  bob->release();
                  EXPECT_FALSE(bob->ack(m));
                },
                2),
            2u);
  EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1"}));
  EXPECT_EQ(take_all(*bob), (std::vector<std::string>{"m2"}));
}

TEST_F(Drain, RunHandsEveryMessageAndIgnoresWhatFReturns) {
  for (int i = 0; i < 150; ++i) send(static_cast<std::uint8_t>(i % 3), std::to_string(i));
  auto bob = bus_.attach("bob");
  ASSERT_TRUE(bob);
  std::atomic<bool> stop{false};
  std::uint64_t seen = 0;
  const std::uint64_t n = bob->run(
      [&](const Message&) {
        // relaxed: the same thread reads it in run()
        if (++seen == 150) stop.store(true, std::memory_order_relaxed);
        return false;  // ignored by run (try_drain would decline)
      },
      stop);
  EXPECT_EQ(n, 150u);
  EXPECT_FALSE(bob->try_receive());
}

TEST_F(Drain, OnARemovedBusHandsNothingAtOnce) {
  send(3, "m0");
  auto bob = bus_.attach("bob");
  ASSERT_TRUE(bob);
  ASSERT_TRUE(Bus::remove(name_.name, RemoveOptions{.force = true}));
  ASSERT_TRUE(bob->removed());
  int calls = 0;
  EXPECT_EQ(bob->try_drain([&](const Message&) { ++calls; }, 10), 0u);
  EXPECT_EQ(bob->drain([&](const Message&) { ++calls; }, 10, 1h), 0u);  // returns at once, not after an hour
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(bob->error());
  EXPECT_EQ(bob->error()->code, Errc::removed);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
