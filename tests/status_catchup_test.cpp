// No status lost (issue 12, item 2): a sender that polls its statuses rarely,
// or only at the end, still sees every transition of every tracked message
// exactly once and in order, while its status ring overflows. Real processes:
// a sender and a receiver (acks and marks read) spawned from this binary.
#include <gtest/gtest.h>
#include <poll.h>

#include <iostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "courier/bus.hpp"
#include "support.hpp"

using namespace courier;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool thread_sanitized = true;
#else
constexpr bool thread_sanitized = false;
#endif

// The million tracked sends (about 10 s in Release, 40 s under
// ASan); a tenth of it under TSan only (the release and ASan stages of
// scripts/test.sh run the whole million).
constexpr std::uint64_t million = thread_sanitized ? 100'000 : 1'000'000;

// Every message of the test lives in the tracker at once (expiry 10 min):
// 2^21 entries keep a million under half the table's fill.
Options catchup_options() {
  Options o = test::small_options();
  o.tracker_capacity = std::uint64_t{1} << 21;
  o.lane_capacity = 1 << 20;
  return o;
}

// With a log in `dir` (when given): batches made durable every 200 ms, so a
// receiver acknowledges most messages before their batch is durable.
Options catchup_options(const std::vector<std::string>& args, std::size_t log_arg) {
  Options o = catchup_options();
  if (args.size() > log_arg) {
    o.log_dir = args[log_arg];
    o.group_commit_interval = std::chrono::milliseconds(200);
  }
  return o;
}

// A line from a child, waiting as long as the work may take (a guard against a
// hang, not a time window: the line comes when the child is done).
std::string line_from(test::Child& c) { return c.read_line(std::chrono::minutes(10)); }

// Checks each message's events as they come: sent, delivered, read, each once
// and in that order, nothing after read.
struct Sequence {
  std::unordered_map<std::uint64_t, std::uint32_t> index;  // id -> message number
  std::vector<std::uint8_t> rank;                          // per message: rank of the last status seen
  std::uint64_t finals = 0, bad = 0, foreign = 0;
  std::string first_bad;

  void sent_one(std::uint64_t id) {
    index.emplace(id, static_cast<std::uint32_t>(rank.size()));
    rank.push_back(0);
  }
  void see(const StatusEvent& e) {
    auto it = index.find(e.id);
    if (it == index.end()) {
      ++foreign;
      return;
    }
    std::uint8_t& r = rank[it->second];
    const int want = r + 1;  // the next step: sent (1), delivered (2), read (3)
    if (status_rank(e.status) != want || want > 3) {
      if (bad++ == 0)
        first_bad = "message " + std::to_string(e.id) + ": " + std::string(status_name(e.status)) + " after rank " +
                    std::to_string(r);
      return;
    }
    r = static_cast<std::uint8_t>(want);
    if (e.status == Status::read) ++finals;
  }
};

// The sender: `n` tracked sends to bob; polls every `every` sends (0: never
// until the end). Says "sent", waits for "go" (the receiver is done), polls
// once more and reports what it saw.
COURIER_CHILD(catchup_sender) {
  auto bus = Bus::open(args.at(0), catchup_options(args, 3));
  if (!bus) return 2;
  auto alice = bus->endpoint("alice");
  if (!alice) return 3;
  const std::uint64_t n = std::stoull(args.at(1)), every = std::stoull(args.at(2));
  Sequence seq;
  seq.rank.reserve(n);
  seq.index.reserve(n);
  alice->on_status([&](const StatusEvent& e) { seq.see(e); });
  const SendOptions o{.to = peer("bob"), .expiry = 600s, .timeout = 60s};
  std::uint64_t refused = 0;
  for (std::uint64_t i = 1; i <= n; ++i) {
    // Registered before the send: its `sent` comes back from inside it.
    const std::uint64_t id = i;
    seq.sent_one(id);
    SendOptions oi = o;
    oi.id = id;
    if (!alice->send(oi, "m")) ++refused;
    if (every != 0 && i % every == 0 && !alice->poll_status()) return 4;
  }
  test::tell_parent("sent");
  if (test::read_stdin_line() != "go") return 5;
  if (args.size() > 3 && !bus->flush_log()) return 7;  // the last batch: its `sent`
  if (!alice->poll_status()) return 6;
  test::tell_parent("finals " + std::to_string(seq.finals) + " bad " + std::to_string(seq.bad) + " foreign " +
                    std::to_string(seq.foreign) + " refused " + std::to_string(refused) + " unknown " +
                    std::to_string(alice->status_unknown()) + " catch_ups " +
                    std::to_string(alice->status_catch_ups()) + (seq.bad ? " first " + seq.first_bad : ""));
  return 0;
}

// The receiver: takes `n` messages (acknowledged as taken), marks each read.
COURIER_CHILD(catchup_receiver) {
  auto bus = Bus::open(args.at(0), catchup_options(args, 2));
  if (!bus) return 2;
  auto bob = bus->attach("bob");
  if (!bob) return 3;
  const std::uint64_t n = std::stoull(args.at(1));
  test::tell_parent("ready");
  for (std::uint64_t got = 0; got < n;) {
    auto m = bob->receive(1s);
    if (!m) continue;
    if (!bob->mark_read(*m)) return 4;
    ++got;
  }
  test::tell_parent("done");
  return 0;
}

struct Outcome {
  std::string line;
  std::uint64_t dropped = 0;
};

Outcome run(std::uint64_t n, std::uint64_t every, const std::string& log_dir = {}) {
  test::BusName name;
  std::vector<std::string> log_args;
  if (!log_dir.empty()) log_args.push_back(log_dir);
  auto bus = Bus::open(name.name, catchup_options(log_args, 0));
  EXPECT_TRUE(bus) << bus.error().message;
  if (!bus) return {};
  EXPECT_TRUE(bus->endpoint("alice"));
  std::vector<std::string> rargs = {name.name, std::to_string(n)},
                           sargs = {name.name, std::to_string(n), std::to_string(every)};
  rargs.insert(rargs.end(), log_args.begin(), log_args.end());
  sargs.insert(sargs.end(), log_args.begin(), log_args.end());
  auto receiver = test::Child::spawn("catchup_receiver", rargs);
  EXPECT_EQ(line_from(receiver), "ready");
  auto sender = test::Child::spawn("catchup_sender", sargs);
  EXPECT_EQ(line_from(sender), "sent");
  EXPECT_EQ(line_from(receiver), "done");
  sender.send_line("go");
  Outcome out;
  out.line = line_from(sender);
  EXPECT_EQ(sender.wait(std::chrono::minutes(1)), 0);
  EXPECT_EQ(receiver.wait(std::chrono::minutes(1)), 0);
  for (const EndpointStats& e : bus->stat().endpoints)
    if (e.name == "alice") out.dropped = e.status_dropped;
  return out;
}

std::string expected_line(std::uint64_t n) {
  return "finals " + std::to_string(n) + " bad 0 foreign 0 refused 0 unknown 0 catch_ups ";
}

}  // namespace

// The test: a million tracked sends, a poll every 10,000 sends. The
// ring (1,024 events) overflows between polls, so the catch-up path runs.
TEST(StatusCatchup, MillionTrackedSendsPolledEvery10000SeeEveryTransitionOnceInOrder) {
  const Outcome o = run(million, 10'000);
  std::cout << o.line << ", status_dropped " << o.dropped << "\n";
  EXPECT_EQ(o.line.rfind(expected_line(million), 0), 0u) << o.line;
  EXPECT_GT(o.dropped, 0u) << "the ring never overflowed: the catch-up path was not tested";
  EXPECT_EQ(o.line.find("catch_ups 0"), std::string::npos) << o.line;
}

// A sender that polls only once every message is final (read).
TEST(StatusCatchup, SenderThatPollsOnlyAtTheEndSeesEveryTransitionOnce) {
  const Outcome o = run(20'000, 0);
  EXPECT_EQ(o.line.rfind(expected_line(20'000), 0), 0u) << o.line;
  EXPECT_GT(o.dropped, 0u);
}

// On a bus with a log, `sent` comes when the batch is durable, and the
// receiver acknowledges most messages before that: each is still reported
// sent, then delivered, then read (the tracker itself goes outbox -> delivered).
TEST(StatusCatchup, LoggedMessageAcknowledgedBeforeItsBatchIsDurableIsReportedSentFirst) {
  test::TempDir dir;
  const Outcome o = run(2'000, 500, dir.path);
  EXPECT_EQ(o.line.rfind(expected_line(2'000), 0), 0u) << o.line;
}

// The status fd: readable once an event waits, and poll_status drains it.
TEST(StatusCatchup, StatusFdBecomesReadableWhenAnEventWaits) {
  test::BusName name;
  auto bus = Bus::open(name.name, test::small_options());
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::vector<StatusEvent> seen;
  alice->on_status([&](const StatusEvent& e) { seen.push_back(e); });
  const int fd = alice->status_fd();
  ASSERT_GE(fd, 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 0) << "readable with nothing waiting";
  auto r = alice->send({.to = peer("bob"), .expiry = 60s}, "x");
  ASSERT_EQ(r.status, Status::sent);
  ASSERT_EQ(seen.size(), 1u);  // sent, from the send itself
  auto m = bob->receive(1s);   // acknowledged as taken: `delivered` goes to alice's ring
  ASSERT_TRUE(m);
  ASSERT_EQ(::poll(&p, 1, 60'000), 1);  // the event is the wake-up, not a time window
  EXPECT_TRUE(p.revents & POLLIN);
  auto n = alice->poll_status();
  ASSERT_TRUE(n);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].status, Status::delivered);
  // Drained: not readable again until the next event.
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  ASSERT_TRUE(bob->mark_read(*m));
  ASSERT_EQ(::poll(&p, 1, 60'000), 1);
  ASSERT_TRUE(alice->poll_status());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].status, Status::read);
}

COURIER_TEST_MAIN
