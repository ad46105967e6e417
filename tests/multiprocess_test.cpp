// Behaviour across real processes (children re-execute this binary), including
// kill -9 of producers, receivers and a process inside a directory change.
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::eventually;
using test::read_stdin_line;
using test::resend_if_revoked;
using test::small_options;
using test::tell_parent;

using namespace std::chrono_literals;

Bus open_bus(const std::string& name, const Options& o = small_options()) {
  auto b = Bus::open(name, o);
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

// A word in a shared memory object of its own: releases child processes
// together (they spin on it; a pipe wakes them too far apart to race).
class SharedWord {
 public:
  SharedWord()
      : SharedWord("/courier-test-word-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()),
                   true) {}
  SharedWord(std::string name, bool create) : name_(std::move(name)), owner_(create) {
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
    if (fd < 0 || (create && ::ftruncate(fd, 64) != 0)) std::abort();
    void* p = ::mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) std::abort();
    word_ = static_cast<std::atomic<std::uint64_t>*>(p);
  }
  ~SharedWord() {
    ::munmap(word_, 64);
    if (owner_) ::shm_unlink(name_.c_str());
  }
  SharedWord(const SharedWord&) = delete;
  SharedWord& operator=(const SharedWord&) = delete;
  const std::string& name() const { return name_; }
  std::atomic<std::uint64_t>& operator*() { return *word_; }

 private:
  std::string name_;
  bool owner_;
  std::atomic<std::uint64_t>* word_ = nullptr;
};

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

// args: bus, name, count, priority|"random" [, shared word]. Sends count
// sequenced messages to bob; with a shared word, keeps in it how many sent.
COURIER_CHILD(producer) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  const std::uint64_t n = std::stoull(args[2]);
  std::optional<SharedWord> progress;
  if (args.size() > 4) progress.emplace(args[4], false);
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  tell_parent("ready");
  unsigned revoked = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint8_t prio =
        args[3] == "random" ? static_cast<std::uint8_t>(rng() % 16) : static_cast<std::uint8_t>(std::stoi(args[3]));
    const SendOptions o{
        .to = peer("bob"), .priority = prio, .expiry = std::chrono::seconds(60), .timeout = std::chrono::seconds(30)};
    const std::string payload = make_payload(args[1], i, rng() % 300);
    // A claim revoked while this process was descheduled (claim_timeout 100 ms) goes again.
    const SendResult r = resend_if_revoked(*ep, o, payload, ep->send(o, payload), revoked);
    if (!r) {
      std::fprintf(stderr, "send %llu: %s (%u revoked)\n", static_cast<unsigned long long>(i),
                   std::string(status_name(r.status)).c_str(), revoked);
      return 6;
    }
    // relaxed: a count that only places the parent's kill; the messages travel through the bus.
    if (progress) (**progress).store(i + 1, std::memory_order_relaxed);
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

// args: bus, sender, id. A tracked claim (id) for bob on lane 5, never committed.
COURIER_CHILD(claim_id_and_hang) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  Claim c;
  if (!ep->claim({.to = peer("bob"), .priority = 5, .expiry = 60s, .id = std::stoull(args[2])}, 100, c)) return 4;
  tell_parent("claimed");
  for (;;) ::pause();
}

// args: bus. Takes one message as bob and holds it (never releases), then hangs.
// args: bus [ack]. Takes one message without acknowledging it (or with
// auto-ack when "ack" is given), says so and hangs.
COURIER_CHILD(take_and_hang) {
  Bus bus = open_bus(args[0]);
  ReceiverOptions ro;
  ro.auto_ack = args.size() > 1 && args[1] == "ack";
  auto bob = bus.attach("bob", ro);
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

// args: bus, op (add_group | add_member | remove_member | remove_group), group, [endpoint].
COURIER_CHILD(group_change) {
  Bus bus = open_bus(args[0]);
  Result<void> r;
  if (args[1] == "add_group") {
    auto g = bus.add_group(args[2]);
    if (!g) r = std::move(g).error();
  } else if (args[1] == "add_member") {
    r = bus.add_member(args[2], args[3]);
  } else if (args[1] == "remove_member") {
    r = bus.remove_member(args[2], args[3]);
  } else {
    r = bus.remove_group(args[2]);
  }
  tell_parent(r ? "done" : "failed: " + r.error().message);
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

// ------------------------------------------------------------ tracked messages

// args: bus, sender, id, text. One tracked message to bob; says "<status> new|dup".
COURIER_CHILD(send_tracked_id) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  auto r = ep->send({.to = peer("bob"), .priority = 2, .expiry = 60s, .id = std::stoull(args[2])}, args[3]);
  tell_parent(std::string(status_name(r.status)) + (r.duplicate ? " dup" : " new"));
  return 0;
}

// args: bus, sender, text. One tracked message to bob with a generated id; says "sent <id>".
COURIER_CHILD(send_tracked) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  auto r = ep->send({.to = peer("bob"), .priority = 2, .expiry = 60s}, args[2]);
  tell_parent(std::string(status_name(r.status)) + " " + std::to_string(r.id));
  return r ? 0 : 1;
}

// args: bus, name. Takes one message as `name`, says its text, detaches.
COURIER_CHILD(receive_one) {
  Bus bus = open_bus(args[0]);
  auto rx = bus.attach(args[1]);
  if (!rx) return 4;
  auto m = rx->receive(20s);
  if (!m) return 5;
  tell_parent(std::string(m->text()));
  return 0;
}

// args: bus, count. Takes `count` messages as bob as soon as each is
// committed (a spinning try_receive; auto-ack: each is delivered as it is
// taken), then says "got N". Stops after 60 s without a new one (a lost message).
COURIER_CHILD(receive_spinning) {
  Bus bus = open_bus(args[0]);
  auto bob = bus.attach("bob");
  if (!bob) return 4;
  tell_parent("attached");
  const long n = std::stol(args[1]);
  long got = 0, got_then = 0;
  auto then = std::chrono::steady_clock::now();
  for (unsigned spins = 0; got < n; ++spins) {
    if (bob->try_receive()) {
      ++got;
      continue;
    }
    if (spins % 1024 == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (got != got_then) {
        got_then = got;
        then = now;
      } else if (now - then > 60s) {
        break;  // none for a minute: the parent sees the count short
      }
      sched_yield();
    }
  }
  bob->release();
  tell_parent("got " + std::to_string(got));
  return 0;
}

// args: bus, sender, id. Says the tracker's status of the sender's message.
COURIER_CHILD(query_status) {
  Bus bus = open_bus(args[0]);
  auto r = bus.status(args[1], std::stoull(args[2]));
  tell_parent(r ? std::string(status_name(r->status)) : "error: " + r.error().message);
  return 0;
}

// args: bus, sender. Drains the sender's status ring: "<id> <recipient> <status>" each, then "end".
COURIER_CHILD(poll_events) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  auto n = ep->poll_status([](const StatusEvent& e) {
    tell_parent(std::to_string(e.id) + " " + std::to_string(e.recipient) + " " + std::string(status_name(e.status)));
  });
  if (!n) return 5;
  tell_parent("end");
  return 0;
}

// args: bus. Bob's receiver without auto-ack: takes one message, then acks and
// marks it read when the parent says so, reporting each step.
COURIER_CHILD(ack_when_told) {
  Bus bus = open_bus(args[0]);
  auto bob = bus.attach("bob", {.auto_ack = false});
  if (!bob) return 4;
  tell_parent("attached");
  auto m = bob->receive(20s);
  if (!m) return 5;
  tell_parent("took " + std::string(m->text()));
  if (read_stdin_line() != "ack") return 6;
  tell_parent(bob->ack(*m) ? "acked" : "ack failed");
  if (read_stdin_line() != "read") return 7;
  tell_parent(bob->mark_read(*m) ? "marked read" : "mark_read failed");
  return 0;
}

// args: bus. Takes one message as bob, marks it read if asked ("read" as
// args[1]), then hangs holding it.
COURIER_CHILD(take_hold_and_hang) {
  Bus bus = open_bus(args[0]);
  auto bob = bus.attach("bob");
  if (!bob) return 4;
  auto m = bob->receive(20s);
  if (!m) return 5;
  if (args.size() > 1 && args[1] == "read" && !bob->mark_read(*m)) return 6;
  tell_parent("took " + std::string(m->text()));
  for (;;) ::pause();
}

// args: bus, name. A group member: receives until a message "end", saying
// "got <text>" for each group message and "end" at the end.
COURIER_CHILD(group_member) {
  Bus bus = open_bus(args[0]);
  auto rx = bus.attach(args[1]);
  if (!rx) return 4;
  tell_parent("attached");
  for (;;) {
    auto m = rx->receive(20s);
    if (!m) return 5;
    if (m->text() == "end") break;
    tell_parent("got " + std::string(m->text()) + (m->group() != 0 ? "" : " (not via the group)"));
  }
  tell_parent("end");
  return 0;
}

// args: bus, sender, per_round, shared word. On each line "<round>" from the
// parent says "armed", waits for the word to become round + 1, then sends ids
// round*per_round+1 .. +per_round to bob as `sender` and says
// "done <new> <dup> <other>". Ends on EOF.
COURIER_CHILD(race_sender) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  const std::uint64_t per_round = std::stoull(args[2]);
  SharedWord go(args[3], false);
  tell_parent("ready");
  for (;;) {
    const std::string line = read_stdin_line();
    if (line.empty()) return 0;
    const std::uint64_t round = std::stoull(line);
    tell_parent("armed");
    for (unsigned spins = 0; (*go).load() != round + 1; ++spins) {
      if (spins % 256 == 255)
        sched_yield();  // the parent needs a core to flip it
      else
        cpu_relax();
    }
    std::uint64_t fresh = 0, dup = 0, other = 0;
    for (std::uint64_t i = 1; i <= per_round; ++i) {
      auto r = ep->send({.to = peer("bob"), .priority = 6, .expiry = 60s, .id = round * per_round + i, .timeout = 10s},
                        std::to_string(round * per_round + i));
      if (r.duplicate && r.ok())
        ++dup;
      else if (!r.duplicate && r.status == Status::sent)
        ++fresh;
      else
        ++other;
    }
    tell_parent("done " + std::to_string(fresh) + " " + std::to_string(dup) + " " + std::to_string(other));
  }
}

// args: bus, sender, ids, rounds, shared word. Up to `rounds` rounds of two
// tracked sends as `sender` (ids cycling over 1..ids), keeping in the word how
// many rounds are done, then hangs: real-time to the group "crowd" (no member
// has a receiver: each send is offline, so every resend replaces the last
// one's entries) and to the endpoint "sink" with an expiry.
COURIER_CHILD(tracked_flood) {
  Bus bus = open_bus(args[0]);
  auto ep = bus.endpoint(args[1]);
  if (!ep) return 4;
  const std::uint64_t ids = std::stoull(args[2]);
  const std::uint64_t rounds = std::stoull(args[3]);
  SharedWord progress(args[4], false);
  tell_parent("ready");
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const std::uint64_t id = i % ids + 1;
    (void)ep->send({.to = group("crowd"), .priority = 1, .id = id}, "flood");
    (void)ep->send({.to = peer("sink"), .priority = 1, .expiry = 20ms, .id = id + ids}, "flood");
    (*progress).store(i + 1, std::memory_order_relaxed);  // relaxed: a count that only places the parent's kill
  }
  for (;;) ::pause();
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
  for (int i = 0; i < producers; ++i)
    kids.push_back(Child::spawn("producer", {name.name, "p" + std::to_string(i), std::to_string(each), "7"}));
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
  ASSERT_TRUE(
      alice->send({.to = peer("bob"), .priority = 5, .expiry = std::chrono::seconds(30)}, "behind the dead claim"));
  const auto t0 = std::chrono::steady_clock::now();
  auto m = bob->receive(std::chrono::seconds(5));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "behind the dead claim");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "well under the 5 s bound";
  bob->release();
  (void)bob->receive(std::chrono::milliseconds(1));  // lets the reader publish its counters
  EXPECT_EQ(bus.stat().endpoints.at(1).revoked + bus.stat().endpoints.at(0).revoked, 1u);
}

TEST(MultiProcess, ProducersKilledAtRandomMomentsNeverWedgeOrCorruptTheLanes) {
  BusName name;
  // The producers' messages are stored (expiry 60 s): each keeps its tracker
  // entry for 70 s, received or not, so every message of the test counts at
  // once. What a life sends is bounded by count, never by how much a machine
  // sends in a while: all lives together stay within half of the table (its
  // first insert is refused from ~70 % full).
  constexpr std::uint64_t tracker_capacity = 1u << 18;
  constexpr int iterations = 100;
  constexpr std::uint64_t final_sends = 2000;
  constexpr std::uint64_t per_life = (tracker_capacity / 2 - final_sends) / iterations;
  static_assert(per_life >= 2 && iterations * per_life + final_sends <= tracker_capacity / 2);
  Options o = small_options();
  o.tracker_capacity = tracker_capacity;
  Bus bus = open_bus(name.name, o);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::mt19937 rng(std::random_device{}());
  std::uint64_t received = 0;
  std::map<std::string, std::map<int, std::uint64_t>> last;  // sender -> priority -> last seq seen
  std::map<std::string, std::uint64_t> from;                 // sender -> messages received
  auto take = [&](const Message& m) {
    std::string sender;
    std::uint64_t seq = 0;
    ASSERT_TRUE(parse_payload(m.text(), sender, seq)) << "damaged payload: " << m.text().substr(0, 40);
    auto& l = last[sender];
    auto it = l.find(m.priority());
    if (it != l.end()) {
      ASSERT_GT(seq, it->second) << "order within a priority broken for " << sender;
    }
    l[m.priority()] = seq;
    ++from[sender];
    ++received;
  };
  SharedWord progress;  // how many the living producer has sent
  for (int i = 0; i < iterations; ++i) {
    (*progress).store(0, std::memory_order_relaxed);  // relaxed: the spawn below publishes it to the child
    Child p = Child::spawn("producer",
                           {name.name, "k" + std::to_string(i), std::to_string(per_life), "random", progress.name()});
    p.expect_line("ready");
    // The kill lands at a random point chosen by count: once k messages are
    // out, while the producer is still sending (k <= per_life / 2 of its
    // per_life). Bob takes messages meanwhile, so no lane fills.
    const std::uint64_t k = 1 + rng() % (per_life / 2);
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    // relaxed: the count only places the kill (the messages come through the bus).
    while ((*progress).load(std::memory_order_relaxed) < k) {
      ASSERT_LT(std::chrono::steady_clock::now(), guard)
          << "life " << i << " stopped after " << (*progress).load(std::memory_order_relaxed) << " sends";
      if (auto m = bob->receive(std::chrono::milliseconds(1))) take(*m);
      ASSERT_FALSE(HasFatalFailure());
    }
    p.kill9();
    p.wait();
    ASSERT_TRUE(bus.remove_endpoint("k" + std::to_string(i)));  // keep the directory from filling up
  }
  // Whatever the kills left behind, a fresh producer on every lane gets through:
  // all its messages arrive (each lane hands out what the dead left before them).
  Child last_one = Child::spawn("producer", {name.name, "final", std::to_string(final_sends), "random"});
  last_one.expect_line("ready");
  while (from["final"] < final_sends) {
    auto m = bob->receive(std::chrono::seconds(20));
    ASSERT_TRUE(m) << "stalled after " << from["final"] << " of the final producer's messages";
    take(*m);
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_EQ(last_one.wait(), 0);
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

// DESIGN.md §2: an acknowledged message is never handed out again, also when
// its receiver died before releasing it from the lane.
TEST(MultiProcess, MessageAcknowledgedByAReceiverThatDiedIsNotHandedOutAgain) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  auto first = alice->send({.to = peer("bob"), .priority = 3, .expiry = std::chrono::seconds(30)}, "first");
  ASSERT_TRUE(first);
  ASSERT_TRUE(alice->send({.to = peer("bob"), .priority = 3, .expiry = std::chrono::seconds(30)}, "second"));
  Child holder = Child::spawn("take_and_hang", {name.name, "ack"});
  holder.expect_line("took first");
  holder.kill9();
  holder.wait();
  EXPECT_EQ(alice->status(first.id)->status, Status::delivered);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "second");
  EXPECT_FALSE(bob->try_receive());
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

// Each group change killed half-way (the child stops inside it holding the
// directory lock): the group stays as it was before the change, the lock is
// recovered, and a group send still reaches each member exactly once.
TEST(MultiProcess, ProcessKilledMidGroupChangeLeavesTheGroupWhole) {
  BusName name;
  Bus bus = open_bus(name.name);
  ASSERT_TRUE(bus.add_group("team"));
  ASSERT_TRUE(bus.add_member("team", "bob"));
  ASSERT_TRUE(bus.add_endpoint("carol"));
  auto bob = bus.attach("bob");
  auto carol = bus.attach("carol");
  ASSERT_TRUE(bob && carol);
  auto member_names = [&] {
    std::vector<std::string> out;
    for (const GroupEntry& g : bus.groups())
      if (g.name == "team")
        for (EndpointId m : g.members) out.push_back(bus.endpoint_name(m));
    return out;
  };
  const std::vector<std::vector<std::string>> changes = {{"add_member", "team", "carol"},
                                                         {"remove_member", "team", "bob"},
                                                         {"add_group", "crew"},
                                                         {"remove_group", "team"}};
  for (const auto& change : changes) {
    std::vector<std::string> args{name.name};
    args.insert(args.end(), change.begin(), change.end());
    Child c = Child::spawn("group_change", args, {"COURIER_TEST_PAUSE_IN_DIRECTORY=1"});
    c.expect_line("paused-in-directory");
    c.kill9();
    c.wait();
    EXPECT_EQ(member_names(), std::vector<std::string>{"bob"}) << change[0];
    EXPECT_EQ(bus.find_group("crew").error().code, Errc::not_found) << change[0];
  }
  // The lock works and the group takes changes again.
  ASSERT_TRUE(bus.add_member("team", "carol"));
  ASSERT_TRUE(bus.add_member("team", "carol"));  // twice: still one copy
  auto alice = bus.endpoint("alice");
  auto r = alice->send({.to = group("team"), .expiry = std::chrono::seconds(30)}, "all");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.recipients, 2u);
  for (Receiver* rx : {&*bob, &*carol}) {
    auto m = rx->try_receive();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "all");
    EXPECT_EQ(m->group(), *bus.find_group("team"));
    EXPECT_FALSE(rx->try_receive());  // exactly one copy
  }
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

// ------------------------------------------------------------ tracked messages

TEST(MultiProcessTracked, ResendOfATrackedIdFromAnotherProcessIsEnqueuedOnce) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  ASSERT_EQ(alice->send({.to = peer("bob"), .priority = 2, .expiry = 60s, .id = 1001}, "original").status,
            Status::sent);
  Child other = Child::spawn("send_tracked_id", {name.name, "alice", "1001", "resent elsewhere"});
  EXPECT_EQ(other.read_line(), "sent dup") << "the original is waiting in bob's lane";
  EXPECT_EQ(other.wait(), 0);
  // And the other way round: first sent by another process, resent here.
  Child first = Child::spawn("send_tracked_id", {name.name, "alice", "1002", "sent elsewhere"});
  EXPECT_EQ(first.read_line(), "sent new");
  EXPECT_EQ(first.wait(), 0);
  auto again = alice->send({.to = peer("bob"), .priority = 2, .expiry = 60s, .id = 1002}, "resent here");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.status, Status::sent);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::string> got;
  while (auto m = bob->try_receive()) got.emplace_back(m->text());
  EXPECT_EQ(got, (std::vector<std::string>{"original", "sent elsewhere"}));
}

TEST(MultiProcessTracked, GroupFanOutGivesEachMemberProcessExactlyOneCopy) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_group("crew"));
  for (const char* m : {"m0", "m1", "m2", "m1", "gone"}) ASSERT_TRUE(bus.add_member("crew", m));  // m1 twice
  ASSERT_TRUE(bus.remove_member("crew", "gone"));
  std::vector<Child> members;
  for (int i = 0; i < 3; ++i) members.push_back(Child::spawn("group_member", {name.name, "m" + std::to_string(i)}));
  for (auto& m : members) m.expect_line("attached");
  auto r = alice->send({.to = group("crew"), .priority = 4, .expiry = 60s}, "tracked");
  EXPECT_EQ(r.status, Status::sent);
  EXPECT_EQ(r.recipients, 3u);
  EXPECT_EQ(r.accepted, 3u);
  auto rt = alice->send({.to = group("crew"), .priority = 4}, "real-time");
  EXPECT_EQ(rt.accepted, 3u);
  // Same sender, same priority: "end" comes after both copies in each lane.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice->send({.to = peer("m" + std::to_string(i)), .priority = 4}, "end"));
  for (auto& m : members) {
    EXPECT_EQ(m.read_line(), "got tracked");
    EXPECT_EQ(m.read_line(), "got real-time");
    EXPECT_EQ(m.read_line(), "end") << "one copy each";
    EXPECT_EQ(m.wait(), 0);
  }
  auto gone = bus.attach("gone");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->try_receive()) << "removed before the send";
  auto st = alice->status(r.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::delivered);
  EXPECT_EQ(st->delivered, 3u);
  ASSERT_EQ(st->members.size(), 3u);
  for (const RecipientStatus& m : st->members) EXPECT_EQ(m.status, Status::delivered);
}

// A group of one member in another process: its one tracker entry
// (tracker_role::group_one) is found by the member's receive there, and the
// sender sees the member's and the total's changes as for a group of two.
TEST(MultiProcessTracked, OneMemberGroupInAnotherProcessReportsMemberAndTotal) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_group("solo"));
  ASSERT_TRUE(bus.add_member("solo", "m0"));
  const GroupId solo = *bus.find_group("solo");
  std::vector<test::Event> events;
  const auto poll = [&] {
    events.clear();
    auto n = alice->poll_status([&](const StatusEvent& e) {
      events.push_back({e.id, e.recipient, e.group, e.status});
    });
    EXPECT_TRUE(n) << n.error().message;
  };
  poll();  // following from here
  Child m0 = Child::spawn("group_member", {name.name, "m0"});
  m0.expect_line("attached");
  const EndpointId id0 = *bus.find_endpoint("m0");
  const std::uint64_t used = bus.stat().tracker.used;
  auto r = alice->send({.to = group("solo"), .priority = 4, .expiry = 60s}, "tracked");
  ASSERT_EQ(r.status, Status::sent);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(bus.stat().tracker.used, used + 1);
  ASSERT_TRUE(alice->send({.to = peer("m0"), .priority = 4}, "end"));
  EXPECT_EQ(m0.read_line(), "got tracked");
  EXPECT_EQ(m0.read_line(), "end");
  EXPECT_EQ(m0.wait(), 0);
  auto st = alice->status(r.id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->status, Status::delivered);
  EXPECT_EQ(st->group, solo);
  EXPECT_EQ(st->delivered, 1u);
  ASSERT_EQ(st->members.size(), 1u);
  EXPECT_EQ(st->members[0].recipient, id0);
  EXPECT_EQ(st->members[0].status, Status::delivered);
  poll();
  EXPECT_EQ(events, (std::vector<test::Event>{{r.id, id0, solo, Status::sent},
                                              {r.id, no_endpoint, solo, Status::sent},
                                              {r.id, id0, solo, Status::delivered},
                                              {r.id, no_endpoint, solo, Status::delivered}}));
}

TEST(MultiProcessTracked, ReceiverInAnotherProcessAcksAndMarksReadAndTheSenderSeesBoth) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  Child bob = Child::spawn("ack_when_told", {name.name});
  bob.expect_line("attached");
  auto r = alice->send({.to = peer("bob"), .priority = 2, .expiry = 60s}, "please read");
  ASSERT_EQ(r.status, Status::sent);
  const EndpointId bob_id = *bus.find_endpoint("bob");
  std::vector<std::pair<EndpointId, Status>> events;
  auto poll = [&] {
    events.clear();
    auto n = alice->poll_status([&](const StatusEvent& e) {
      EXPECT_EQ(e.id, r.id);
      events.emplace_back(e.recipient, e.status);
    });
    ASSERT_TRUE(n);
  };
  bob.expect_line("took please read");
  EXPECT_EQ(alice->status(r.id)->status, Status::sent) << "taken, not acknowledged yet";
  poll();
  EXPECT_TRUE(events.empty());
  ASSERT_TRUE(bob.send_line("ack"));
  bob.expect_line("acked");
  EXPECT_EQ(alice->status(r.id)->status, Status::delivered);
  poll();
  EXPECT_EQ(events, (std::vector<std::pair<EndpointId, Status>>{{bob_id, Status::delivered}}));
  ASSERT_TRUE(bob.send_line("read"));
  bob.expect_line("marked read");
  EXPECT_EQ(bus.status("alice", r.id)->status, Status::read);
  poll();
  EXPECT_EQ(events, (std::vector<std::pair<EndpointId, Status>>{{bob_id, Status::read}}));
  EXPECT_EQ(bob.wait(), 0);
}

// A tracked send of a bus-assigned id writes `sent` into its entry before its
// lane commit, without a CAS (detail/tracker_entry.hpp, sent_before_commit),
// to one endpoint and to a group of one member (one entry for both); a
// receiver in another process that takes each message the instant it is
// committed moves it on to `delivered`. Whoever is first, every message ends
// delivered, and its sender hears it delivered once per recipient (the
// group's member and total). (With `sent` written after the commit instead,
// in the send to one endpoint, a `delivered` was overwritten in 4 of 10 runs
// of this test: six rounds, each on a bus of its own.)
TEST(MultiProcessTracked, EveryTrackedSendTakenTheMomentItIsCommittedEndsDelivered) {
  constexpr int to_bob = 30000;  // to the endpoint, waiting for room when the lane is full
  constexpr int to_solo = 2000;  // then to the group (a group send does not wait for room)
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    BusName name;
    Bus bus = open_bus(name.name);  // each message keeps its entry (60 s expiry): under half the tracker
    auto alice = bus.endpoint("alice");
    ASSERT_TRUE(alice);
    ASSERT_TRUE(bus.add_group("solo"));
    ASSERT_TRUE(bus.add_member("solo", "bob"));
    const EndpointId bob_id = *bus.find_endpoint("bob");
    Child bob = Child::spawn("receive_spinning", {name.name, std::to_string(to_bob + to_solo)});
    bob.expect_line("attached");
    std::map<std::pair<std::uint64_t, EndpointId>, std::vector<Status>> heard;  // by id and recipient
    std::size_t taken = 0;                                                      // messages heard delivered to bob
    auto poll = [&] {
      auto r = alice->poll_status([&](const StatusEvent& e) {
        heard[{e.id, e.recipient}].push_back(e.status);
        taken += e.status == Status::delivered && e.recipient == bob_id ? 1 : 0;
      });
      ASSERT_TRUE(r) << r.error().message;
    };
    poll();  // following starts here
    std::vector<std::pair<std::uint64_t, bool>> sent;  // id, to the group
    for (int i = 0; i < to_bob + to_solo; ++i) {
      const bool to_group = i >= to_bob;
      // To the group: at most 256 of bob's 512 records' room in flight, down
      // to 128 before going on, told by the events.
      if (to_group && sent.size() - taken >= 256) {
        for (long polls = 0; sent.size() - taken > 128; ++polls) {
          ASSERT_LT(polls, 100'000'000) << "bob stopped taking messages at " << taken;
          ASSERT_NO_FATAL_FAILURE(poll());
          if (sent.size() - taken > 128) sched_yield();
        }
      }
      const SendResult r =
          alice->send({.to = to_group ? group("solo") : peer("bob"), .expiry = 60s, .timeout = 30s}, "now");
      ASSERT_EQ(r.status, Status::sent) << "send " << i;
      sent.emplace_back(r.id, to_group);
      if (i % 256 == 255) {
        ASSERT_NO_FATAL_FAILURE(poll());
      }
    }
    EXPECT_EQ(bob.read_line(), "got " + std::to_string(to_bob + to_solo));
    EXPECT_EQ(bob.wait(), 0);
    for (const auto& [id, to_group] : sent) {
      auto st = alice->status(id);
      ASSERT_TRUE(st) << st.error().message;
      ASSERT_EQ(st->status, Status::delivered) << "id " << id << " ends " << status_name(st->status);
    }
    ASSERT_NO_FATAL_FAILURE(poll());
    for (const auto& [id, to_group] : sent) {
      const std::vector<EndpointId> recipients =
          to_group ? std::vector<EndpointId>{bob_id, no_endpoint} : std::vector<EndpointId>{bob_id};
      for (const EndpointId who : recipients) {
        const std::vector<Status>& h = heard[{id, who}];
        ASSERT_EQ(std::count(h.begin(), h.end(), Status::delivered), 1) << "id " << id << " recipient " << who;
        ASSERT_EQ(h.back(), Status::delivered) << "id " << id << " recipient " << who;
        for (std::size_t i = 1; i < h.size(); ++i)
          ASSERT_TRUE(moves_forward(h[i - 1], h[i]))
              << "id " << id << ": " << status_name(h[i - 1]) << " then " << status_name(h[i]);
      }
    }
  }
}

TEST(MultiProcessTracked, SenderThatExitedBeforeDeliveryStillHasItsStatusAndEvents) {
  BusName name;
  Bus bus = open_bus(name.name);
  ASSERT_TRUE(bus.add_endpoint("bob"));
  Child ghost = Child::spawn("send_tracked", {name.name, "ghost", "from beyond"});
  const std::string said = ghost.read_line();
  ASSERT_EQ(said.rfind("sent ", 0), 0u) << said;
  EXPECT_EQ(ghost.wait(), 0);
  const std::string id = said.substr(5);
  Child bob = Child::spawn("receive_one", {name.name, "bob"});
  EXPECT_EQ(bob.read_line(), "from beyond");
  EXPECT_EQ(bob.wait(), 0);
  auto st = bus.status("ghost", std::stoull(id));
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->status, Status::delivered);
  Child query = Child::spawn("query_status", {name.name, "ghost", id});
  EXPECT_EQ(query.read_line(), "delivered");
  EXPECT_EQ(query.wait(), 0);
  // The sender's status ring belongs to the endpoint: a new process finds the event.
  Child events = Child::spawn("poll_events", {name.name, "ghost"});
  EXPECT_EQ(events.read_line(), id + " " + std::to_string(*bus.find_endpoint("bob")) + " delivered");
  EXPECT_EQ(events.read_line(), "end");
  EXPECT_EQ(events.wait(), 0);
}

TEST(MultiProcessTracked, SendLeftUnfinishedByAKilledSenderIsSentAgainByItsResend) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  // The sender dies between its tracker entry (outbox) and its commit.
  Child stuck = Child::spawn("claim_id_and_hang", {name.name, "restarts", "555"});
  stuck.expect_line("claimed");
  stuck.kill9();
  stuck.wait();
  auto restarted = bus.endpoint("restarts");  // the sender, restarted, resends
  auto r = restarted->send({.to = peer("bob"), .priority = 5, .expiry = 60s, .id = 555}, "resent");
  EXPECT_EQ(r.status, Status::sent);
  EXPECT_FALSE(r.duplicate) << "the original never left: deduplicating against it would lose the message";
  auto m = bob->receive(5s);  // steps over the dead claim after claim_timeout
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "resent");
  EXPECT_EQ(m->id(), 555u);
  EXPECT_EQ(restarted->status(555)->status, Status::delivered);
}

// Marked read = acknowledged: not handed out again (DESIGN.md §2).
TEST(MultiProcessTracked, MessageReadByAReceiverThatDiedIsNotHandedOutAgain) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto alice = bus.endpoint("alice");
  ASSERT_TRUE(bus.add_endpoint("bob"));
  auto r = alice->send({.to = peer("bob"), .priority = 3, .expiry = 60s}, "read me");
  ASSERT_TRUE(r);
  Child holder = Child::spawn("take_hold_and_hang", {name.name, "read"});
  holder.expect_line("took read me");
  holder.kill9();
  holder.wait();
  EXPECT_EQ(alice->status(r.id)->status, Status::read);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->try_receive());
  EXPECT_EQ(alice->status(r.id)->status, Status::read);
}

TEST(MultiProcessTracked, DeliveredMessageRedeliveredAfterItsExpiryStaysDelivered) {
  // The child must take the message before it expires; a slow machine (a sanitizer build under load) may
  // start the child later than that, so an attempt whose message expired untaken is repeated on a new bus
  // with four times the expiry (0.3, 1.2, 4.8, 19.2 s): bounded by count, not by how fast this machine is.
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 4) << "the child never took the message before its expiry";
    BusName name;
    Bus bus = open_bus(name.name);
    auto alice = bus.endpoint("alice");
    ASSERT_TRUE(bus.add_endpoint("bob"));
    const auto expiry = 300ms * (1 << (2 * attempt));
    auto r = alice->send({.to = peer("bob"), .priority = 3, .expiry = expiry}, "short-lived");
    ASSERT_TRUE(r);
    Child holder = Child::spawn("take_hold_and_hang", {name.name});
    if (holder.read_line(expiry + 20s) != "took short-lived") {
      holder.kill9();
      holder.wait();
      ASSERT_EQ(alice->status(r.id)->status, Status::expired) << "not taken: only because it expired first";
      continue;
    }
    holder.kill9();
    holder.wait();
    ASSERT_EQ(alice->status(r.id)->status, Status::delivered);
    const std::uint64_t expires = alice->status(r.id)->expires_ns;
    ASSERT_TRUE(eventually([&] { return realtime_ns() > expires + 1'000'000; }, expiry + 10s));  // time is the subject
    auto bob = bus.attach("bob");
    ASSERT_TRUE(bob);
    EXPECT_FALSE(bob->try_receive()) << "expired: not handed out again";
    EXPECT_EQ(alice->status(r.id)->status, Status::delivered) << "it was delivered before it expired";
    EXPECT_EQ(bus.sweep().expired, 0u);
    std::vector<Status> events;
    ASSERT_TRUE(alice->poll_status([&](const StatusEvent& e) { events.push_back(e.status); }));
    EXPECT_EQ(events, (std::vector<Status>{Status::delivered}));
    return;
  }
}

TEST(MultiProcessConcurrency, TwoProcessesRacingToSendTheSameIdsGetEachOneDeliveredOnce) {
  BusName name;
  Bus bus = open_bus(name.name);
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  constexpr std::uint64_t per_round = 100, rounds = 40;
  SharedWord go;
  Child a = Child::spawn("race_sender", {name.name, "twin", std::to_string(per_round), go.name()});
  Child b = Child::spawn("race_sender", {name.name, "twin", std::to_string(per_round), go.name()});
  a.expect_line("ready");
  b.expect_line("ready");
  std::map<std::uint64_t, int> copies;
  std::uint64_t fresh = 0, dup = 0;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    ASSERT_TRUE(a.send_line(std::to_string(round)));
    ASSERT_TRUE(b.send_line(std::to_string(round)));
    a.expect_line("armed");
    b.expect_line("armed");
    (*go).store(round + 1);  // both start the same ids at the same moment
    for (Child* c : {&a, &b}) {
      std::istringstream done(c->read_line());
      std::string word;
      std::uint64_t f = 0, d = 0, other = 0;
      done >> word >> f >> d >> other;
      ASSERT_EQ(word, "done");
      EXPECT_EQ(other, 0u) << "round " << round << ": neither new nor a duplicate";
      fresh += f;
      dup += d;
    }
    while (auto m = bob->try_receive()) {
      ++copies[m->id()];
      EXPECT_EQ(m->text(), std::to_string(m->id()));
    }
  }
  EXPECT_EQ(fresh, per_round * rounds) << "exactly one of the two sends of each id went out";
  EXPECT_EQ(dup, per_round * rounds);
  EXPECT_EQ(copies.size(), per_round * rounds);
  int extra = 0;
  for (auto& [id, n] : copies) extra += n - 1;
  EXPECT_EQ(extra, 0) << "ids delivered more than once";
  for (Child* c : {&a, &b}) {
    c->close_input();
    EXPECT_EQ(c->wait(), 0);
  }
}

TEST(MultiProcessConcurrency, SenderKilledInTheMiddleOfTrackedSendsLeavesNoSlotStuck) {
  BusName name;
  Options o = small_options();
  o.status_retention = 100ms;
  o.tracker_capacity = 1u << 12;
  Bus bus = open_bus(name.name, o);
  ASSERT_TRUE(bus.add_group("crowd"));
  for (const char* m : {"c0", "c1", "c2"}) ASSERT_TRUE(bus.add_member("crowd", m));
  ASSERT_TRUE(bus.add_endpoint("sink"));
  constexpr std::uint64_t ids = 64;
  std::mt19937 rng(std::random_device{}());
  auto flood = bus.endpoint("flood");
  // Each life sends at most `rounds` rounds (its entries replace each other
  // by id) and is killed at a random point chosen by count: once k rounds are
  // done, while it is still sending (k <= rounds / 2).
  constexpr std::uint64_t rounds = 32 * ids;
  SharedWord progress;
  for (int round = 0; round < 20; ++round) {
    (*progress).store(0, std::memory_order_relaxed);  // relaxed: the spawn below publishes it to the child
    Child p = Child::spawn("tracked_flood",
                           {name.name, "flood", std::to_string(ids), std::to_string(rounds), progress.name()});
    p.expect_line("ready");
    const std::uint64_t k = 1 + rng() % (rounds / 2);
    const auto guard = std::chrono::steady_clock::now() + 30s;
    // relaxed: the count only places the kill.
    for (unsigned spins = 0; (*progress).load(std::memory_order_relaxed) < k; ++spins) {
      if (spins % 256 == 255) {
        ASSERT_LT(std::chrono::steady_clock::now(), guard) << "round " << round << ": the flood stopped";
        sched_yield();  // the child needs a core to get on
      } else {
        cpu_relax();
      }
    }
    p.kill9();
    EXPECT_EQ(p.wait(), 128 + SIGKILL);
    // The same sender carries on from this process, with the very ids the
    // dead one was sending: never refused, never stuck behind its claims.
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t id = 1; id <= ids; ++id) {
      auto g = flood->send({.to = group("crowd"), .priority = 1, .id = id}, "after");
      ASSERT_EQ(g.status, Status::offline) << "round " << round << " id " << id << ": " << status_name(g.status);
      EXPECT_FALSE(g.duplicate) << "an offline send is no original";
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "waited on claims of a dead process";
  }
  // Every entry retires after expiry + retention; claims the dead left are freed.
  std::uint64_t used = 0;
  EXPECT_TRUE(eventually([&] {
    bus.sweep();
    used = bus.stat().tracker.used;
    return used == 0;
  })) << used
      << " tracker slots still in use";
  // Fresh tracked sends go through.
  auto bob = bus.attach("bob");
  ASSERT_TRUE(bob);
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(flood->send({.to = peer("bob"), .expiry = 60s}, "fresh").status, Status::sent);
  EXPECT_EQ(bus.stat().tracker.used, 200u);
  EXPECT_EQ(bus.stat().tracker.full_events, 0u);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
