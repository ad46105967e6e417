// The crash matrix of the durable log: producers and receivers (real
// processes) are killed with SIGKILL at random moments, the host is
// "rebooted" now and then (every process killed, the shared memory removed,
// the bus rebuilt from its log by the next opener), and a checker verifies
// from the outside:
//   - every message a producer saw reported `sent` was received (or reported
//     expired: nothing here expires), and
//   - no message was handed out twice except flagged redelivered (the window
//     DESIGN.md §2 leaves open: a receiver that died after taking it and
//     before acknowledging it).
// COURIER_CRASH_ITERATIONS sets the number of kills (default 120; a longer
// run: COURIER_CRASH_ITERATIONS=2000); COURIER_CRASH_SEED another schedule of
// kills and reboots (default: a fixed seed per test). A run that loses
// messages prints what the journals and the tracker say of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "courier/bus.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/log_inspect.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

Options crash_options(const std::string& log_dir, Sync sync) {
  Options o = small_options();
  o.lane_capacity = 1u << 20;
  o.log_dir = log_dir;
  o.sync = sync;
  o.group_commit_interval = std::chrono::microseconds(300);
  o.open_timeout = std::chrono::seconds(20);
  // Every process keeps house often: the lease holder is among those killed.
  o.housekeeping_interval = std::chrono::milliseconds(20);
  o.log_segment_size = 64u << 10;  // rolls and compaction happen during the run
  // A long run (COURIER_CRASH_ITERATIONS) keeps ~200 messages per kill young
  // (600 s expiry) in the journals, and a rebuild tracks them at no more than
  // half the tracker: beyond the default run, a tracker to match.
  const char* it = std::getenv("COURIER_CRASH_ITERATIONS");
  const std::uint64_t kills = it != nullptr ? static_cast<std::uint64_t>(std::max(1, std::atoi(it))) : 120;
  if (kills > 120) o.tracker_capacity = std::bit_ceil(kills * 512);
  return o;
}

Sync sync_arg(const std::string& s) {
  Sync v = Sync::always;
  sync_from_name(s, v);
  return v;
}

// args: bus, log dir, sync, producer number, first sequence. Sends ids
// producer * 1e9 + seq to "rx" and says "sent ID" once `sent` is reported
// (send's own result with always; the status event with group / os).
COURIER_CHILD(crash_producer) {
  auto bus = Bus::open(args[0], crash_options(args[1], sync_arg(args[2])));
  if (!bus) return 3;
  const std::uint64_t base = std::stoull(args[3]) * 1'000'000'000ull;
  std::uint64_t seq = std::stoull(args[4]);
  auto me = bus->endpoint("p" + args[3]);
  if (!me) return 4;
  if (auto rx = bus->add_endpoint("rx"); !rx && rx.error().code != Errc::already_exists) return 5;
  tell_parent("ready");
  // sent, or beyond it (delivered / read imply it was stored and promised).
  std::set<std::uint64_t> told;
  auto report = [&](const StatusEvent& e) {
    if (status_rank(e.status) >= 1 && status_rank(e.status) <= 3 && told.insert(e.id).second)
      tell_parent("sent " + std::to_string(e.id));
  };
  for (int i = 0; i < 400; ++i, ++seq) {
    SendOptions o;
    o.to = peer("rx");
    o.expiry = std::chrono::seconds(600);
    o.priority = static_cast<std::uint8_t>(seq % 3);
    o.id = base + seq;
    o.timeout = std::chrono::milliseconds(50);
    const SendResult r = me->send(o, "m" + std::to_string(o.id));
    if (r.status == Status::sent && !r.duplicate && told.insert(o.id).second)
      tell_parent("sent " + std::to_string(o.id));
    (void)me->poll_status(report);  // an error (the status lease is busy) shows as missing `sent` lines
  }
  // Wait for the last batch's `sent`.
  (void)bus->flush_log();
  (void)me->poll_status(report);
  tell_parent("done");
  for (;;) ::pause();
}

// args: bus, log dir, sync. Receives from "rx" without auto-ack: says
// "got ID R" (R = 1 when flagged redelivered), then acknowledges.
COURIER_CHILD(crash_receiver) {
  auto bus = Bus::open(args[0], crash_options(args[1], sync_arg(args[2])));
  if (!bus) return 3;
  ReceiverOptions ro;
  ro.auto_ack = false;
  auto rx = bus->attach("rx", ro);
  if (!rx) return 4;
  tell_parent("ready");
  for (;;) {
    auto m = rx->receive(std::chrono::milliseconds(100));
    if (!m) continue;
    tell_parent("got " + std::to_string(m->id()) + " " + (m->redelivered() ? "1" : "0"));
    if (rx->ack(*m)) tell_parent("acked " + std::to_string(m->id()));
  }
}

struct Ledger {
  Sync sync = Sync::always;
  int reboots = 0;
  std::vector<std::string> events;          // kills and reboots, in order (for a failure's diagnosis)
  std::map<std::uint64_t, pid_t> life_pid;  // first id of a producer life -> its pid
  std::set<std::uint64_t> sent;
  std::map<std::uint64_t, unsigned> fresh, redelivered;
  std::map<std::uint64_t, int> acked;  // id -> reboots counted when its ack returned
  std::uint64_t after_ack = 0;
  void got(std::uint64_t id, bool again) {
    (again ? redelivered : fresh)[id]++;
    // Handed out after its ack returned: never, except that with group / os an
    // ack still in the receiver's buffer when the host goes down is lost with it.
    auto a = acked.find(id);
    if (a != acked.end() && (sync == Sync::always || a->second == reboots) && ++after_ack <= 5)
      ADD_FAILURE() << "handed out again after it was acknowledged: " << id << (again ? " (flagged redelivered)" : "")
                    << ", acknowledged before reboot " << a->second << ", handed out after reboot " << reboots;
  }
  void take(const std::string& line) {
    std::istringstream in(line);
    std::string word;
    std::uint64_t id = 0;
    in >> word >> id;
    if (word == "sent") sent.insert(id);
    if (word == "acked") acked.emplace(id, reboots);
    if (word == "got") {
      int r = 0;
      in >> r;
      got(id, r != 0);
    }
  }
};

// What waits in an endpoint's lanes (bytes between head and tail, and the
// state of the frame at head); empty when nothing does.
std::string lanes_left(const Bus& bus, EndpointId to) {
  std::ostringstream out;
  for (unsigned p = 0; p < priority_levels; ++p) {
    const LaneView v = bus.segment().lane(endpoint_slot(to), p);
    // Relaxed: a snapshot taken when every producer is dead.
    const std::uint64_t head = v.ctl->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = v.ctl->tail.load(std::memory_order_relaxed);
    if (head == tail) continue;
    const std::uint64_t f = v.frame_at(head).load(std::memory_order_relaxed);
    out << " lane " << p << ": " << tail - head << " bytes from " << head << ", "
        << (!frame::belongs_to(f, head)           ? "no frame at head (a claim never committed)"
            : frame::state(f) == frame::committed ? "a record at head"
                                                  : "padding or revoked at head")
        << ";";
  }
  return out.str();
}

// What the journals and the tracker say of messages reported sent and never
// received, printed when a run lost some: a failure explains itself.
void explain_lost(const Ledger& ledger, const std::vector<std::uint64_t>& lost, const std::string& bus_log_dir,
                  const Bus& bus) {
  constexpr std::uint64_t per_producer = 1'000'000'000ull;
  std::map<std::tuple<std::uint64_t, std::uint64_t, unsigned>, unsigned> by_life;  // producer, first seq, priority
  for (std::uint64_t id : lost) by_life[{id / per_producer, id % per_producer / 400 * 400, id % per_producer % 3}]++;
  std::cout << "[ crash    ] lost, by producer life and priority:";
  for (const auto& [k, n] : by_life) {
    const auto [producer, first, prio] = k;
    auto pid = ledger.life_pid.find(producer * per_producer + first);
    std::cout << " p" << producer << " seq " << first << ".." << first + 399 << " (pid "
              << (pid != ledger.life_pid.end() ? pid->second : 0) << ") priority " << prio << ": " << n << ";";
  }
  // Kills and reboots from the start of the first life that lost messages on.
  const auto [producer, first_seq, prio] = by_life.begin()->first;
  const std::string from = "p" + std::to_string(producer) + ":" + std::to_string(first_seq) + "=";
  auto e = std::find_if(ledger.events.begin(), ledger.events.end(),
                        [&](const std::string& s) { return s.starts_with(from); });
  std::cout << "\n[ crash    ] kills and reboots since:";
  for (int shown = 0; e != ledger.events.end() && shown < 40; ++e, ++shown) std::cout << " " << *e;
  const std::string lanes = lanes_left(bus, *bus.find_endpoint("rx"));
  std::cout << "\n[ crash    ] rx's lanes:" << (lanes.empty() ? " empty" : lanes) << "\n";
  const std::set<std::uint64_t> all(lost.begin(), lost.end());
  const std::set<std::uint64_t> first(lost.begin(), lost.begin() + std::min<std::size_t>(lost.size(), 5));
  std::map<std::uint64_t, std::vector<std::string>> seen;
  std::map<std::string, unsigned> messages_by_file;  // lost ids with a message record in the file
  auto log = LogInspector::open(bus_log_dir);
  if (!log) {
    std::cout << "[ crash    ] the journals cannot be read: " << log.error().message << "\n";
    return;
  }
  LogRecord r;
  for (;;) {
    auto more = log->next(r);
    if (!more || !*more) break;
    if (r.kind == LogRecordKind::name || r.kind == LogRecordKind::membership || all.count(r.id) == 0) continue;
    const std::string file = std::filesystem::path(std::string(r.file)).filename().string();
    if (r.kind == LogRecordKind::message) messages_by_file[file]++;
    if (first.count(r.id) == 0) continue;
    std::ostringstream d;
    d << log_record_kind_name(r.kind) << " in " << file << "@" << r.offset;
    if (r.kind == LogRecordKind::message) {
      const std::string* to = log->name_of(r.to);
      d << " (priority " << unsigned(r.priority) << ", flags " << unsigned(r.flags) << ", to "
        << (to != nullptr ? *to : "unnamed " + std::to_string(r.to)) << ")";
    }
    seen[r.id].push_back(d.str());
  }
  std::cout << "[ crash    ] " << log->files().size() << " journal files, " << log->damage().size() << " damaged, "
            << log->torn_tails().size() << " torn; message records of lost ids by file:";
  for (const auto& [f, n] : messages_by_file) std::cout << " " << f << ": " << n << ";";
  std::cout << "\n";
  const Tracker tracker(bus.segment().tracker(), bus.segment().geometry().tracker_capacity);
  for (std::uint64_t id : first) {
    std::cout << "[ crash    ] lost " << id << ":";
    const std::string sender = "p" + std::to_string(id / per_producer);
    if (auto st = bus.status(sender, id)) std::cout << " tracker " << status_name(st->status);
    if (auto from = bus.find_endpoint(sender)) {
      const std::uint64_t slot = tracker.find(TrackerKey{*from, id, no_endpoint});
      if (slot != Tracker::no_slot)
        std::cout << " flags " << tracker.entry(slot).flags.load(std::memory_order_relaxed);  // relaxed: a snapshot
    }
    if (seen[id].empty()) std::cout << "; no record in the journals";
    for (const std::string& d : seen[id]) std::cout << "; " << d;
    std::cout << "\n";
  }
}

// Read whatever a child has said, for up to `ms` (the wait that places the next kill).
void pump(std::vector<Child>& children, Ledger& ledger, int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  do {
    for (Child& c : children) {
      for (;;) {
        const std::string line = c.read_line(std::chrono::milliseconds(1));
        if (line.empty()) break;
        ledger.take(line);
      }
    }
  } while (std::chrono::steady_clock::now() < until);
}

void finish(Child& c, Ledger& ledger) {
  c.kill9();
  const int rc = c.wait();
  if (rc != 128 + SIGKILL) ADD_FAILURE() << "child " << c.pid() << " exited with " << rc << " before its kill";
  for (;;) {
    const std::string line = c.read_line(std::chrono::milliseconds(50));
    if (line.empty()) break;
    ledger.take(line);
  }
}

void run_matrix(Sync sync, int iterations, std::uint64_t seed) {
  BusName name;
  char tmpl[] = "/tmp/courier-crash-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string log_dir = tmpl;
  std::mt19937_64 rng(seed);
  Ledger ledger;
  ledger.sync = sync;
  const std::vector<std::string> common = {name.name, log_dir, std::string(sync_name(sync))};
  std::uint64_t next_seq[2] = {0, 0};
  // Half of the lives are let run until they say "ready" (the bus open and
  // rebuilt, slow under sanitizers) before the next kill is placed; the other
  // half may die anywhere in their start, a recovery included.
  auto started = [&](Child c) {
    if (rng() % 2 == 0) {
      for (;;) {
        const std::string line = c.read_line(std::chrono::seconds(20));
        if (line.empty() || line == "ready") break;
        ledger.take(line);
      }
    }
    return c;
  };
  auto spawn_producer = [&](int k) {
    std::vector<std::string> a = common;
    a.push_back(std::to_string(k + 1));
    a.push_back(std::to_string(next_seq[k]));
    Child c = Child::spawn("crash_producer", a);
    ledger.life_pid[(k + 1) * 1'000'000'000ull + next_seq[k]] = c.pid();
    ledger.events.push_back("p" + std::to_string(k + 1) + ":" + std::to_string(next_seq[k]) + "=" +
                            std::to_string(c.pid()));
    next_seq[k] += 400;  // a new life never reuses a previous life's ids
    return started(std::move(c));
  };
  auto spawn_receiver = [&] {
    Child c = Child::spawn("crash_receiver", common);
    ledger.events.push_back("rx=" + std::to_string(c.pid()));
    return started(std::move(c));
  };
  std::vector<Child> children;
  children.push_back(spawn_producer(0));
  children.push_back(spawn_producer(1));
  children.push_back(spawn_receiver());
  int reboots = 0;
  for (int i = 0; i < iterations; ++i) {
    pump(children, ledger, static_cast<int>(rng() % 40));
    if (rng() % 10 == 0) {  // a reboot: everything dies, the shared memory goes
      ledger.events.push_back("REBOOT");
      for (Child& c : children) finish(c, ledger);
      (void)Bus::remove(name.name);  // gone already if every process died before opening it
      ledger.reboots = ++reboots;
      children[0] = spawn_producer(0);
      children[1] = spawn_producer(1);
      children[2] = spawn_receiver();
      continue;
    }
    const std::size_t victim = rng() % children.size();
    ledger.events.push_back("kill:" + std::to_string(children[victim].pid()));
    finish(children[victim], ledger);
    children[victim] = victim == 2 ? spawn_receiver() : spawn_producer(static_cast<int>(victim));
  }
  for (Child& c : children) finish(c, ledger);
  // Drain what is left (after one more reboot half of the time).
  if (rng() % 2 == 0) {
    ledger.events.push_back("REBOOT");
    (void)Bus::remove(name.name);
    ledger.reboots = ++reboots;
  }
  ledger.events.push_back("drain");
  std::vector<std::uint64_t> lost;
  {
    auto bus = Bus::open(name.name, crash_options(log_dir, sync));
    ASSERT_TRUE(bus) << bus.error().message;
    auto rx = bus->attach("rx");
    ASSERT_TRUE(rx) << rx.error().message;
    // Drain, letting the housekeeper adopt what dead processes left half-way
    // (in the log, in no lane), until a round brings nothing, nothing waits in
    // the log and rx's lanes are empty. A claim left open by a producer killed
    // at the end hides every record behind it in its lane until the receiver
    // steps over it, claim_timeout after it first found it at the lane's head:
    // the rounds go on until then (a drain that stopped at the first empty
    // round lost such a lane's records: docs/design.md, "The crash matrix's drain").
    const InboxData& in = bus->segment().inbox(endpoint_slot(rx->id()));
    constexpr int max_rounds = 2000;  // each round waits 5 ms for a message: far beyond claim_timeout
    bool drained = false;
    int waited_for_lanes = 0;  // rounds that brought nothing while rx's lanes held something
    std::string first_wait;
    for (int round = 0; round < max_rounds && !drained; ++round) {
      auto hk = bus->housekeep();
      ASSERT_TRUE(hk) << hk.error().message;
      std::uint64_t n = 0;
      // receive() polls for 5 ms: the forwarder looks at the log again every 1 ms while spilled messages wait.
      while (auto m = rx->receive(std::chrono::milliseconds(5))) {
        ledger.got(m->id(), m->redelivered());
        ++n;
      }
      bool backlog = false;
      for (unsigned p = 0; p < priority_levels; ++p) backlog |= in.spilled[p].load() > in.forwarded[p].load();
      const std::string lanes = lanes_left(*bus, rx->id());
      drained = n == 0 && !backlog && lanes.empty();
      // The case the drain once stopped at: nothing came, yet rx's lanes hold something.
      if (n == 0 && !backlog && !lanes.empty() && waited_for_lanes++ == 0) first_wait = lanes;
    }
    EXPECT_TRUE(drained) << "after " << max_rounds << " rounds, rx's lanes:" << lanes_left(*bus, rx->id());
    if (waited_for_lanes != 0)
      std::cout << "[ crash    ] the drain waited " << waited_for_lanes << " rounds for rx's lanes:" << first_wait
                << "\n";
    for (std::uint64_t id : ledger.sent)
      if (ledger.fresh.count(id) == 0 && ledger.redelivered.count(id) == 0) lost.push_back(id);
    if (!lost.empty()) explain_lost(ledger, lost, bus->log_directory(), *bus);
  }
  std::uint64_t doubled = 0;
  for (std::size_t i = 0; i < lost.size() && i < 5; ++i) ADD_FAILURE() << "reported sent, never received: " << lost[i];
  for (auto& [id, n] : ledger.fresh) {
    if (n > 1 && ++doubled <= 5) ADD_FAILURE() << "handed out " << n << " times unflagged: " << id;
  }
  EXPECT_EQ(lost.size(), 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_EQ(ledger.after_ack, 0u);
  EXPECT_GT(ledger.sent.size(), 0u);
  std::cout << "[ crash    ] " << sync_name(sync) << ", seed " << seed << ": " << iterations << " kills, " << reboots
            << " reboots, " << ledger.sent.size() << " sent, " << ledger.fresh.size() << " received, "
            << ledger.redelivered.size() << " redelivered, " << ledger.acked.size() << " acknowledged\n";
  (void)Bus::remove(name.name);
  if (::testing::Test::HasFailure() && std::getenv("COURIER_CRASH_KEEP") != nullptr) {
    std::cout << "[ crash    ] log kept in " << log_dir << " (bus " << name.name << ")\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(log_dir, ec);
}

int iterations() {
  const char* e = std::getenv("COURIER_CRASH_ITERATIONS");
  return e != nullptr ? std::max(1, std::atoi(e)) : 120;
}

// The schedule's seed: COURIER_CRASH_SEED, else the test's own.
std::uint64_t seed(std::uint64_t fixed) {
  const char* e = std::getenv("COURIER_CRASH_SEED");
  return e != nullptr ? std::strtoull(e, nullptr, 10) : fixed;
}

TEST(CrashMatrix, SyncAlways) { run_matrix(Sync::always, iterations(), seed(1)); }
TEST(CrashMatrix, SyncGroup) { run_matrix(Sync::group, iterations(), seed(2)); }
TEST(CrashMatrix, SyncOs) { run_matrix(Sync::os, iterations(), seed(3)); }

}  // namespace

COURIER_TEST_MAIN
