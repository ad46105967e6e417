// Tests of the log's threads (issue 15): the flusher sleeps while there is
// nothing to write and wakes for the next record, group commit still writes
// many records per batch, and Options::log_cpus (courier --log-cpus) places
// the log's threads on the CPUs named, or fails naming the CPU it may not use.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/log.hpp"
#include "support.hpp"

namespace {

using namespace courier;
using namespace std::chrono_literals;
using detail::log_thread_counts;

// A guard against a hang, not a time window: the flusher sleeps as soon as it
// has written what it had.
constexpr auto patience = std::chrono::milliseconds(60'000);

Options log_options(const std::string& dir) {
  Options o = test::small_options();
  o.log_dir = dir;
  o.sync = Sync::group;
  o.group_commit_interval = std::chrono::microseconds(1);  // the shortest: a timer would tick all the time
  o.housekeeping_interval = std::chrono::hours(1);         // its period is not under test here
  return o;
}

// A bus with a log (log_options, then `tune`), the sender "alice" (its status
// events taken by a callback) and "bob", with no receiver.
struct LogBus {
  test::TempDir dir;
  test::BusName name;
  std::optional<Bus> bus;
  std::optional<Endpoint> alice;
  void open(const std::function<void(Options&)>& tune) {
    Options o = log_options(dir.path);
    tune(o);
    auto b = Bus::open(name.name, o);
    ASSERT_TRUE(b) << b.error().message;
    bus.emplace(std::move(*b));
    auto a = bus->endpoint("alice");
    ASSERT_TRUE(a);
    alice.emplace(std::move(*a));
    alice->on_status([](const StatusEvent&) {});
    ASSERT_TRUE(bus->add_endpoint("bob"));
  }
};

// Read `alice`'s status events until one says `want` of `id` (each one is the
// wake-up of poll(): no time window).
bool await_status(Endpoint& alice, std::uint64_t id, Status want) {
  bool seen = false;
  const int fd = alice.status_fd();
  while (!seen) {
    if (!alice.poll_status([&](const StatusEvent& e) { seen = seen || (e.id == id && e.status == want); }))
      return false;
    if (seen) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(patience.count())) != 1) return false;
  }
  return true;
}

// The flusher wakes for a record and sleeps once it is written: over events
// that give the log nothing to write (real-time messages, which are not
// logged, and stat()), it does not wake once; the next stored message wakes
// it and is said `sent` without a flush_log().
TEST(LogIdle, FlusherSleepsWhileNothingIsWrittenAndWakesForTheNextRecord) {
  test::TempDir dir;
  test::BusName name;
  auto bus = Bus::open(name.name, log_options(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  alice->on_status([](const StatusEvent&) {});

  // A stored message, sent by the flusher's batch and taken (its settle
  // record is log work too), then nothing is left to write.
  const SendResult first = alice->send({.to = peer("bob"), .expiry = 60s}, "stored");
  ASSERT_EQ(first.status, Status::outbox);
  ASSERT_TRUE(await_status(*alice, first.id, Status::sent));
  ASSERT_TRUE(bob->receive(1s));
  ASSERT_TRUE(detail::await_log_flushers_idle(patience)) << "the flusher never slept";
  const auto before = log_thread_counts();

  constexpr int idle_events = 20'000;
  for (int i = 0; i < idle_events; ++i) {
    ASSERT_EQ(alice->send({.to = peer("bob")}, "real-time").status, Status::sent);  // expiry 0: not logged
    ASSERT_TRUE(bob->try_receive());
    if (i % 1000 == 0) (void)bus->stat();
  }
  const auto after = log_thread_counts();
  EXPECT_EQ(after.flusher_wakeups, before.flusher_wakeups) << "over " << idle_events << " events with nothing to write";
  EXPECT_EQ(after.flusher_batches, before.flusher_batches);
  EXPECT_EQ(after.housekeeper_wakeups, before.housekeeper_wakeups);

  const SendResult next = alice->send({.to = peer("bob"), .expiry = 60s}, "stored again");
  ASSERT_EQ(next.status, Status::outbox);
  ASSERT_TRUE(await_status(*alice, next.id, Status::sent)) << "the append did not wake the flusher";
  const auto woken = log_thread_counts();
  EXPECT_GT(woken.flusher_wakeups, after.flusher_wakeups);
  EXPECT_GT(woken.flusher_batches, after.flusher_batches);
}

// Group commit writes many records per batch: the flusher writes when
// group_commit_bytes (4 KiB) wait, so each of its batches holds at least three
// records of about 1 KiB (a batch at the 10 s interval may be smaller: a few
// allowed for a slow machine), not one per message. Message 200 of 256 is
// said `sent` by the flusher alone (no flush_log): more than 4 KiB follow it,
// so it never waits for the interval.
TEST(LogIdle, GroupCommitWritesManyRecordsPerBatch) {
  LogBus lb;
  ASSERT_NO_FATAL_FAILURE(lb.open([](Options& o) {
    o.group_commit_interval = std::chrono::seconds(10);
    o.group_commit_bytes = 4096;
    o.lane_capacity = 1 << 20;
  }));
  Bus& bus = *lb.bus;
  Endpoint& alice = *lb.alice;
  std::vector<std::uint64_t> ids;
  const std::string payload(1000, 'x');
  constexpr int messages = 256, awaited = 200;
  const auto before = log_thread_counts();
  for (int i = 0; i < messages; ++i) {
    const SendResult r = alice.send({.to = peer("bob"), .expiry = 60s}, payload);
    ASSERT_EQ(r.status, Status::outbox);
    ids.push_back(r.id);
  }
  ASSERT_TRUE(await_status(alice, ids[awaited - 1], Status::sent));
  const auto after = log_thread_counts();
  EXPECT_GE(after.flusher_batches - before.flusher_batches, 1u);
  EXPECT_LE(after.flusher_batches - before.flusher_batches, std::uint64_t{messages / 3 + 3});
  for (int i = 0; i < awaited; ++i) {
    auto s = bus.status("alice", ids[i]);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->status, Status::sent) << i;
  }
}

// A stored message that finds no batch started in the last interval is
// written at once, and its `sent` comes with that one batch (its pending does
// not wait for a batch of its own); the next batch still starts at least an
// interval after it (the interval bounds the rate of syncs). The sleep is the
// subject: an interval passing with nothing written. The first bound is half
// the 1.9 s the next tick of the interval would have made the message wait,
// a one-record write + fdatasync; the second is a lower bound, which no
// machine's speed can break.
TEST(LogIdle, AMessageThatFindsTheLogIdleIsWrittenAtOnceWithItsSent) {
  LogBus lb;
  ASSERT_NO_FATAL_FAILURE(lb.open([](Options& o) { o.group_commit_interval = std::chrono::seconds(2); }));
  Endpoint& alice = *lb.alice;
  ASSERT_TRUE(detail::await_log_flushers_idle(patience));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // more than an interval since the flusher began
  const auto before = log_thread_counts();
  using clock = std::chrono::steady_clock;

  const clock::time_point t0 = clock::now();
  const SendResult first = alice.send({.to = peer("bob"), .expiry = 60s}, "first");
  ASSERT_EQ(first.status, Status::outbox);
  ASSERT_TRUE(await_status(alice, first.id, Status::sent));
  const clock::time_point t1 = clock::now();
  EXPECT_LT(t1 - t0, std::chrono::milliseconds(950)) << "the message waited for the interval";
  EXPECT_EQ(log_thread_counts().flusher_batches - before.flusher_batches, 1u)
      << "the message and its `sent` in one batch";

  const SendResult second = alice.send({.to = peer("bob"), .expiry = 60s}, "second");
  ASSERT_EQ(second.status, Status::outbox);
  ASSERT_TRUE(await_status(alice, second.id, Status::sent));
  EXPECT_GE(clock::now() - t0, std::chrono::seconds(2)) << "two batches less than an interval apart";
  EXPECT_EQ(log_thread_counts().flusher_batches - before.flusher_batches, 2u);
}

// The flusher's own account of a batch (bench_log reports it): the time from
// the batch's start to the end of its sync, and from there to the end of its
// events, each within the time the caller saw pass around the batch.
TEST(LogIdle, TheFlusherTimesItsBatchWithinTheTimeSeenAroundIt) {
  LogBus lb;
  ASSERT_NO_FATAL_FAILURE(lb.open([](Options&) {}));
  Endpoint& alice = *lb.alice;
  ASSERT_TRUE(detail::await_log_flushers_idle(patience));
  using clock = std::chrono::steady_clock;
  const auto before = log_thread_counts();
  const clock::time_point t0 = clock::now();
  const SendResult r = alice.send({.to = peer("bob"), .expiry = 60s}, "timed");
  ASSERT_EQ(r.status, Status::outbox);
  ASSERT_TRUE(await_status(alice, r.id, Status::sent));
  ASSERT_TRUE(detail::await_log_flushers_idle(patience));  // its counts are added before it sleeps
  const auto seen = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
  const auto after = log_thread_counts();
  ASSERT_EQ(after.flusher_batches - before.flusher_batches, 1u);
  const std::uint64_t write_sync = after.flusher_write_sync_ns - before.flusher_write_sync_ns;
  const std::uint64_t post = after.flusher_post_ns - before.flusher_post_ns;
  EXPECT_GT(write_sync, 0u) << "a write and an fdatasync take time";
  EXPECT_LE(write_sync + post, static_cast<std::uint64_t>(seen)) << "more than the time around the batch";
}

// ------------------------------------------------------------ log_cpus

// The CPUs this process may use (as the library reads them: a mask of every
// CPU narrowed by the kernel, on a thread of its own).
cpu_set_t allowed_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::thread([&] {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (unsigned c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
    if (::sched_setaffinity(0, sizeof all, &all) != 0 || ::sched_getaffinity(0, sizeof allowed, &allowed) != 0)
      CPU_ZERO(&allowed);
  }).join();
  return allowed;
}

// The threads of this process named `comm`, with their CPUs.
std::vector<cpu_set_t> threads_named(const std::string& comm) {
  std::vector<cpu_set_t> found;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "comm");
    std::string n;
    std::getline(f, n);
    if (n != comm) continue;
    cpu_set_t set;
    CPU_ZERO(&set);
    const pid_t tid = std::stoi(e.path().filename().string());
    if (::sched_getaffinity(tid, sizeof set, &set) == 0) found.push_back(set);
  }
  return found;
}

cpu_set_t one_cpu(unsigned c) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(c, &s);
  return s;
}

// Restores the calling thread's CPUs when the test ends.
struct KeepAffinity {
  cpu_set_t saved;
  KeepAffinity() { ::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved); }
  ~KeepAffinity() { ::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved); }
};

// The opening thread is pinned to one CPU and log_cpus names another: the
// flusher and the housekeeper run on the one named, not where they would
// inherit.
TEST(LogCpus, TheLogsThreadsRunOnTheCpusNamed) {
  const cpu_set_t allowed = allowed_cpus();
  std::vector<unsigned> cpus;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs this process may use";
  const unsigned opener = cpus[0], log_cpu = cpus[1];
  KeepAffinity keep;
  const cpu_set_t pinned = one_cpu(opener);
  ASSERT_EQ(::pthread_setaffinity_np(::pthread_self(), sizeof pinned, &pinned), 0);
  test::TempDir dir;
  test::BusName name;
  Options o = log_options(dir.path);
  o.log_cpus = {log_cpu};
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus) << bus.error().message;
  const cpu_set_t want = one_cpu(log_cpu);
  for (const char* comm : {"courier-flusher", "courier-housekp"}) {
    const auto found = threads_named(comm);
    ASSERT_EQ(found.size(), 1u) << comm;
    EXPECT_TRUE(CPU_EQUAL(&found[0], &want)) << comm << " is not on CPU " << log_cpu << " alone";
  }
}

// A CPU this process may not use (or one beyond any CPU set) fails the open
// with a one-line error naming it and the CPUs allowed.
TEST(LogCpus, ACpuThisProcessMayNotUseIsRefusedByName) {
  const cpu_set_t allowed = allowed_cpus();
  unsigned absent = CPU_SETSIZE - 1;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (!CPU_ISSET(c, &allowed)) {
      absent = c;
      break;
    }
  ASSERT_FALSE(CPU_ISSET(absent, &allowed));
  for (unsigned cpu : {absent, 100'000u}) {
    test::TempDir dir;
    test::BusName name;
    Options o = log_options(dir.path);
    o.log_cpus = {cpu};
    auto bus = Bus::open(name.name, o);
    ASSERT_FALSE(bus) << cpu;
    EXPECT_EQ(bus.error().code, Errc::invalid_argument);
    const std::string& m = bus.error().message;
    EXPECT_NE(m.find("log_cpus: CPU " + std::to_string(cpu) + " is not one this process may run on (allowed: "),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// courier --log-cpus: a list is parsed (0-1,3), a bad one is a usage error
// (exit 2), a CPU the process may not use a failure (exit 1) naming it.
TEST(LogCpus, CliOptionTakesAListAndNamesWhatItRefuses) {
  using namespace test::cli;
  test::TempDir dir;
  test::BusName name;
  const cpu_set_t allowed = allowed_cpus();
  unsigned first = 0;
  while (first + 1 < CPU_SETSIZE && !CPU_ISSET(first, &allowed)) ++first;
  const std::string list = std::to_string(first) + "-" + std::to_string(first) + "," + std::to_string(first);
  const Output made = run({"create", name.name, "--log", dir.path, "--log-cpus", list});
  EXPECT_EQ(made.status, 0) << made.err;
  const UsageCase cases[] = {
      {{"stat", name.name, "--log-cpus", "x"}, "--log-cpus: a list like 0 or 0-1,3 (CPUs 0..4095), got 'x'"},
      {{"stat", name.name, "--log-cpus", "3-1"}, "--log-cpus: a list like 0 or 0-1,3"},
      {{"stat", name.name, "--log-cpus", "0,"}, "--log-cpus: a list like 0 or 0-1,3"},
      {{"stat", name.name, "--log-cpus", "4096"}, "--log-cpus: a list like 0 or 0-1,3"},
  };
  expect_usage_errors(cases);
  unsigned absent = 0;
  while (absent + 1 < 4096 && CPU_ISSET(absent, &allowed)) ++absent;
  const Output refused = run({"stat", name.name, "--log-cpus", std::to_string(absent)});
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_NE(refused.err.find("log_cpus: CPU " + std::to_string(absent) + " is not one this process may run on"),
            std::string::npos)
      << refused.err;
}

}  // namespace

COURIER_TEST_MAIN
