// Behaviour across real processes (children re-execute this binary), including
// kill -9 of producers, receivers and a process inside a directory change.
#include <sys/epoll.h>

#include <map>
#include <random>
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::small_options;
using test::tell_parent;

Bus open_bus(const std::string& name) {
  auto b = Bus::open(name, small_options());
  if (!b) {
    std::fprintf(stderr, "open: %s\n", b.error().message.c_str());
    std::exit(3);
  }
  return std::move(*b);
}

// Payload "sender:seq:" followed by filler derived from seq, so a torn or
// overwritten record is detected.
std::string make_payload(const std::string& sender, std::uint64_t seq, std::size_t filler) {
  std::string s = sender + ":" + std::to_string(seq) + ":";
  for (std::size_t i = 0; i < filler; ++i) s.push_back(static_cast<char>('a' + (seq + i) % 26));
  return s;
}
bool parse_payload(std::string_view p, std::string& sender, std::uint64_t& seq) {
  auto a = p.find(':');
  if (a == std::string_view::npos) return false;
  auto b = p.find(':', a + 1);
  if (b == std::string_view::npos) return false;
  sender = std::string(p.substr(0, a));
  seq = std::stoull(std::string(p.substr(a + 1, b - a - 1)));
  for (std::size_t i = b + 1; i < p.size(); ++i)
    if (p[i] != static_cast<char>('a' + (seq + (i - b - 1)) % 26)) return false;
  return true;
}

// args: bus, count. Receives `count` messages as bob, prints each text.
COURIER_CHILD(receiver) {
  Bus bus = open_bus(args[0]);
  auto bob = bus.attach("bob");
  if (!bob) return 4;
  tell_parent("attached");
  for (int i = 0, n = std::stoi(args[1]); i < n; ++i) {
    auto m = bob->receive(std::chrono::seconds(20));
    if (!m) return 5;
    tell_parent(std::string(m->text()));
  }
  return 0;
}

// args: bus, name, count, priority|"random". Sends count sequenced messages to bob.
COURIER_CHILD(producer) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  const std::uint64_t n = std::stoull(args[2]);
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  tell_parent("ready");
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint8_t prio = args[3] == "random" ? static_cast<std::uint8_t>(rng() % 16) : static_cast<std::uint8_t>(std::stoi(args[3]));
    auto r = ep->send({.to = peer("bob"), .priority = prio, .expiry = std::chrono::seconds(60),
                       .timeout = std::chrono::seconds(30)},
                      make_payload(args[1], i, rng() % 300));
    if (!r) {
      std::fprintf(stderr, "send %llu: %s\n", static_cast<unsigned long long>(i), std::string(status_name(r.status)).c_str());
      return 6;
    }
  }
  tell_parent("done");
  return 0;
}

// args: bus. Claims a record on lane 5 for bob and never commits it.
COURIER_CHILD(claim_and_hang) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint("stuck");
  Claim c;
  if (!ep->claim({.to = peer("bob"), .priority = 5, .expiry = std::chrono::seconds(60)}, 100, c)) return 4;
  tell_parent("claimed");
  for (;;) ::pause();
}

// args: bus. Takes one message as bob and holds it (never releases), then hangs.
COURIER_CHILD(take_and_hang) {
  Bus bus = open_bus(args[0]);
  auto bob = bus.attach("bob");
  if (!bob) return 4;
  auto m = bob->receive(std::chrono::seconds(20));
  if (!m) return 5;
  tell_parent("took " + std::string(m->text()));
  for (;;) ::pause();
}

// args: bus, name. Registers an endpoint (the test env makes it stop half-way).
COURIER_CHILD(register_endpoint) {
  Bus bus = open_bus(args[0]);
  auto r = bus.add_endpoint(args[1]);
  tell_parent(r ? "registered" : "failed: " + r.error().message);
  return r ? 0 : 1;
}

// args: bus, name, text. One message to bob with expiry.
COURIER_CHILD(send_one) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  auto r = ep->send({.to = peer("bob"), .priority = 2, .expiry = std::chrono::seconds(30)}, args[2]);
  tell_parent(std::string(status_name(r.status)));
  return r ? 0 : 1;
}

TEST(MultiProcess, TwoProcessesExchangeMessagesInPriorityOrder) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  // Queued before the receiver exists, so priority decides the order.
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 9, .expiry = std::chrono::seconds(30)}, "low"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 1, .expiry = std::chrono::seconds(30)}, "high"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 4, .expiry = std::chrono::seconds(30)}, "mid"));
  Child rx = Child::spawn("receiver", {name.name, "4"});
  rx.expect_line("attached");
  EXPECT_EQ(rx.read_line(), "high");
  EXPECT_EQ(rx.read_line(), "mid");
  EXPECT_EQ(rx.read_line(), "low");
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 0}, "real-time"));  // receiver attached: not offline
  EXPECT_EQ(rx.read_line(), "real-time");
  EXPECT_EQ(rx.wait(), 0);
}

TEST(MultiProcessConcurrency, ManyProducerProcessesKeepOrderPerSenderWithinAPriority) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  constexpr int producers = 4;
  constexpr std::uint64_t each = 5000;
  std::vector<Child> kids;
  for (int i = 0; i < producers; ++i) kids.push_back(Child::spawn("producer", {name.name, "p" + std::to_string(i), std::to_string(each), "7"}));
  for (auto& k : kids) k.expect_line("ready");
  std::map<std::string, std::uint64_t> next;
  std::uint64_t total = 0;
  while (total < producers * each) {
    auto m = bob->receive(std::chrono::seconds(20));
    ASSERT_TRUE(m) << "stalled after " << total;
    std::string sender;
    std::uint64_t seq = 0;
    ASSERT_TRUE(parse_payload(m->text(), sender, seq)) << "damaged payload";
    ASSERT_EQ(seq, next[sender]) << sender << " out of order";
    ++next[sender];
    ++total;
  }
  for (auto& k : kids) EXPECT_EQ(k.wait(), 0);
  EXPECT_FALSE(bob->try_receive());
}

TEST(MultiProcess, ProducerKilledMidClaimDoesNotBlockTheLane) {
  BusName name;
  Bus bus = open_bus(name.name);  // claim_timeout 100 ms
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  Child stuck = Child::spawn("claim_and_hang", {name.name});
  stuck.expect_line("claimed");
  stuck.kill9();
  EXPECT_EQ(stuck.wait(), 128 + SIGKILL);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 5, .expiry = std::chrono::seconds(30)}, "behind the dead claim"));
  const auto t0 = std::chrono::steady_clock::now();
  auto m = bob->receive(std::chrono::seconds(5));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "behind the dead claim");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "well under the 5 s bound";
  bob->release();
  bob->receive(std::chrono::milliseconds(1));  // lets the reader publish its counters
  EXPECT_EQ(bus.stat().endpoints.at(1).revoked + bus.stat().endpoints.at(0).revoked, 1u);
}

TEST(MultiProcess, ProducersKilledAtRandomMomentsNeverWedgeOrCorruptTheLanes) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::mt19937 rng(std::random_device{}());
  std::uint64_t received = 0;
  std::map<std::string, std::map<int, std::uint64_t>> last;  // sender -> priority -> last seq seen
  auto drain_some = [&](std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
      auto m = bob->receive(std::chrono::milliseconds(1));
      if (!m) continue;
      std::string sender;
      std::uint64_t seq = 0;
      ASSERT_TRUE(parse_payload(m->text(), sender, seq)) << "damaged payload: " << m->text().substr(0, 40);
      auto& l = last[sender];
      auto it = l.find(m->priority());
      if (it != l.end()) {
        ASSERT_GT(seq, it->second) << "order within a priority broken for " << sender;
      }
      l[m->priority()] = seq;
      ++received;
    }
  };
  constexpr int iterations = 100;
  for (int i = 0; i < iterations; ++i) {
    Child p = Child::spawn("producer", {name.name, "k" + std::to_string(i), "1000000", "random"});
    p.expect_line("ready");
    drain_some(std::chrono::milliseconds(rng() % 8));
    p.kill9();
    p.wait();
    ASSERT_TRUE(bus.remove_endpoint("k" + std::to_string(i)));  // keep the directory from filling up
  }
  // Whatever the kills left behind, a fresh producer on every lane gets through.
  Child last_one = Child::spawn("producer", {name.name, "final", "2000", "random"});
  last_one.expect_line("ready");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (last["final"].size() < 16 && std::chrono::steady_clock::now() < deadline) drain_some(std::chrono::milliseconds(50));
  EXPECT_EQ(last_one.wait(), 0);
  drain_some(std::chrono::milliseconds(300));
  EXPECT_EQ(last["final"].size(), 16u) << "every lane delivers after the kills";
  EXPECT_GT(received, 2000u);
  const auto& in = bob->inbox();
  RecordProperty("received", std::to_string(received));
  RecordProperty("revoked", std::to_string(in.revoked.load()));
  std::printf("received %llu, claims revoked after kills: %llu, corrupt: %llu\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(in.revoked.load()),
              static_cast<unsigned long long>(in.corrupt.load()));
  EXPECT_EQ(in.corrupt.load(), 0u);
}

TEST(MultiProcess, ReceiverKilledHoldingTheLeaseIsTakenOverAndItsMessageRedelivered) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 3, .expiry = std::chrono::seconds(30)}, "first"));
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 3, .expiry = std::chrono::seconds(30)}, "second"));
  Child holder = Child::spawn("take_and_hang", {name.name});
  holder.expect_line("took first");
  auto busy = bus.attach("bob");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Errc::busy);
  EXPECT_NE(busy.error().message.find(std::to_string(holder.pid())), std::string::npos) << busy.error().message;
  holder.kill9();
  holder.wait();
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "first");
  EXPECT_TRUE(m->redelivered()) << "taken by a receiver that died before acknowledging";
  m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "second");
  EXPECT_FALSE(m->redelivered());
}

TEST(MultiProcess, ProcessKilledMidDirectoryChangeDoesNotWedgeTheBus) {
  BusName name;
  Bus bus = open_bus(name.name);
  Child half = Child::spawn("register_endpoint", {name.name, "half"}, {"COURIER_TEST_PAUSE_IN_DIRECTORY=1"});
  half.expect_line("paused-in-directory");  // it holds the directory lock, half-way through
  half.kill9();
  half.wait();
  auto other = bus.add_endpoint("other");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(bus.find_endpoint("half").error().code, Errc::not_found);
  for (auto& e : bus.endpoints()) EXPECT_NE(e.name, "half");
  Child again = Child::spawn("register_endpoint", {name.name, "half"});
  EXPECT_EQ(again.read_line(), "registered");
  EXPECT_EQ(again.wait(), 0);
}

TEST(MultiProcess, ParkedReceiverIsWokenByAProducerInAnotherProcess) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob", {.idle = {.spin_ns = 0, .park = true}});
  ASSERT_TRUE(bob);
  Child s = Child::spawn("send_one", {name.name, "alice", "wake up"});
  auto m = bob->receive(std::chrono::seconds(10));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "wake up");
  EXPECT_EQ(s.read_line(), "sent");
  EXPECT_EQ(s.wait(), 0);
}

TEST(MultiProcess, NotificationFdFiresForAMessageFromAnotherProcess) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, bob->notification_fd(), &ev), 0);
  Child s = Child::spawn("send_one", {name.name, "alice", "via epoll"});
  epoll_event out{};
  ASSERT_EQ(epoll_wait(ep, &out, 1, 10000), 1);
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "via epoll");
  EXPECT_EQ(s.wait(), 0);
  ::close(ep);
}

TEST(MultiProcess, ManyProcessesOpeningANewBusAtOnceAllGetTheSameBus) {
  BusName name;
  std::vector<Child> kids;
  for (int i = 0; i < 6; ++i) kids.push_back(Child::spawn("register_endpoint", {name.name, "e" + std::to_string(i)}));
  for (auto& k : kids) {
    EXPECT_EQ(k.read_line(), "registered");
    EXPECT_EQ(k.wait(), 0);
  }
  Bus bus = open_bus(name.name);
  EXPECT_EQ(bus.endpoints().size(), 6u);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
