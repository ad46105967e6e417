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
// Two producers send to one endpoint, a third to a group of two members
// (each with its receiver): a group send counts once per member, `sent` per
// member as its status says (tests/crash_matrix.hpp).
// COURIER_CRASH_ITERATIONS sets the number of kills per test (default 120,
// the CI size); COURIER_CRASH_SEED another schedule of kills and reboots
// (default: a fixed seed per test); COURIER_CRASH_LANE_KIB smaller lanes
// (64: sends spill to the log). scripts/crash-long.sh runs a long matrix on
// demand. A run that loses messages prints what the journals and the
// tracker say of them.
#include <gtest/gtest.h>

#include <random>

#include "courier/detail/journal.hpp"
#include "crash_matrix.hpp"

using namespace courier;
using namespace courier::test;
using namespace courier::test::crash;

namespace {

Sync sync_arg(const std::string& s) {
  Sync v = Sync::always;
  sync_from_name(s, v);
  return v;
}

// What a producer that found a member missing saw, for the failure's message:
// the ids, whether this open rebuilt the bus (and from how much), and the
// journal files there are now.
std::string membership_seen(Bus& bus, const std::string& member, const Result<EndpointId>& id, const Result<GroupId>& g,
                            const std::vector<EndpointId>& members) {
  std::string s = member + (id ? " is endpoint " + std::to_string(*id) : " is no endpoint: " + id.error().message);
  s += g ? "; " + std::string(group_name) + " is group " + std::to_string(*g) + ", members:"
         : "; no group: " + g.error().message;
  for (EndpointId e : members) s += " " + std::to_string(e);
  const RecoveryReport& r = bus.recovery();
  s += r.ran ? "; this open rebuilt the bus from " + std::to_string(r.segments) + " journal files, " +
                   std::to_string(r.records) + " records, " + std::to_string(r.damaged) + " damaged, " +
                   std::to_string(r.torn) + " torn"
             : "; this open did not rebuild the bus";
  s += "; journal files now:";
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(bus.log_directory(), ec))
    s += " " + f.path().filename().string();
  // Whether the journals still say the group and its members exist (a
  // compaction that lost them) or a rebuild did not apply what they say.
  s += "; membership records of " + std::string(group_name) + " in them:";
  int found = 0;
  if (auto rd = JournalReader::open_directory(bus.log_directory()); !rd) {
    s += " (unreadable: " + rd.error().message + ")";
  } else {
    JournalRecord rec;
    for (;;) {
      auto more = rd->next(rec);
      if (!more || !*more) break;
      if (rec.kind != logfmt::Kind::membership) continue;
      auto m = decode_journal_membership(rec.body);
      if (!m || m->group != group_name) continue;
      ++found;
      s += " [" + std::filesystem::path(rec.segment != nullptr ? rec.segment->path : "?").filename().string() + " @" +
           std::to_string(rec.offset) + ": change " + std::to_string(m->change) + " " + m->group +
           (m->endpoint.empty() ? "" : "/" + m->endpoint) + " at " + std::to_string(m->at_ns) + "]";
    }
  }
  if (found == 0) s += " none";
  return s;
}

// args: bus, log dir, sync, producer number, first sequence. Sends ids
// producer * 1e9 + seq to "rx" (p3: to the group "g") and says "sent EP ID"
// once `sent` is reported for EP (send's own result with always; the status
// events with group / os, a group send's per member).
COURIER_CHILD(crash_producer) {
  const Sync sync = sync_arg(args[2]);
  auto bus = Bus::open(args[0], crash_options(args[1], sync));
  if (!bus) return 3;
  const std::uint64_t producer = std::stoull(args[3]);
  std::uint64_t seq = std::stoull(args[4]);
  auto me = bus->endpoint("p" + args[3]);
  if (!me) return 4;
  const bool grouped = sends_to_group(producer);
  std::map<EndpointId, std::string> members;  // the group's members as the test set them up
  if (!grouped) {
    if (auto rx = bus->add_endpoint("rx"); !rx && rx.error().code != Errc::already_exists) return 5;
  } else {
    // Made by the test before any child ran: a rebuild must bring it back whole (its log records).
    auto g = bus->find_group(group_name);
    std::vector<EndpointId> now;
    for (const GroupEntry& e : bus->groups())
      if (g && e.id == *g) now = e.members;
    for (std::size_t i = 1; i < receivers.size(); ++i) {
      auto id = bus->find_endpoint(receivers[i]);
      if (!id || std::find(now.begin(), now.end(), *id) == now.end()) {
        tell_parent("problem " + receivers[i] + " is not a member of " + group_name + " at the start of a life (" +
                    membership_seen(*bus, receivers[i], id, g, now) + ")");
        return 6;
      }
      members[*id] = receivers[i];
    }
  }
  tell_parent("ready");
  std::set<std::pair<EndpointId, std::uint64_t>> told;
  auto tell = [&](EndpointId to, std::uint64_t id) {
    if (!told.insert({to, id}).second) return;
    auto m = members.find(to);
    if (!grouped)
      tell_parent("sent rx " + std::to_string(id));
    else if (m != members.end())
      tell_parent("sent " + m->second + " " + std::to_string(id));
    else
      tell_parent("problem a status for " + std::to_string(id) + " names recipient " + std::to_string(to));
  };
  // sent, or beyond it (delivered / read imply it was stored and promised);
  // of a group send, each member's (recipient 0 is the message as a whole).
  auto report = [&](const StatusEvent& e) {
    if (status_rank(e.status) < 1 || status_rank(e.status) > 3) return;
    if (!grouped)
      tell(no_endpoint, e.id);
    else if (e.recipient != no_endpoint)
      tell(e.recipient, e.id);
  };
  for (std::uint64_t i = 0; i < life_sends; ++i, ++seq) {
    SendOptions o;
    o.to = grouped ? group(group_name) : peer("rx");
    o.expiry = std::chrono::seconds(600);
    o.priority = static_cast<std::uint8_t>(seq % 3);
    o.id = producer * per_producer + seq;
    o.timeout = std::chrono::milliseconds(50);
    const SendResult r = me->send(o, "m" + std::to_string(o.id));
    if (grouped && r.ok() && r.recipients != members.size())
      tell_parent("problem " + std::to_string(o.id) + " addressed " + std::to_string(r.recipients) + " members");
    if (r.status == Status::sent && !r.duplicate) {
      if (!grouped) tell(no_endpoint, o.id);
      // With always, `sent` with every member's copy accepted says it of each member.
      if (grouped && r.recipients == members.size() && r.accepted == r.recipients)
        for (const auto& m : members) tell(m.first, o.id);
    }
    (void)me->poll_status(report);  // an error (the status lease is busy) shows as missing `sent` lines
  }
  // Wait for the last batch's `sent`.
  (void)bus->flush_log();
  (void)me->poll_status(report);
  tell_parent("done");
  for (;;) ::pause();
}

// args: bus, log dir, sync, endpoint. Receives from the endpoint without
// auto-ack: says "got EP ID R" (R = 1 when flagged redelivered), then
// acknowledges and says "acked EP ID".
COURIER_CHILD(crash_receiver) {
  auto bus = Bus::open(args[0], crash_options(args[1], sync_arg(args[2])));
  if (!bus) return 3;
  ReceiverOptions ro;
  ro.auto_ack = false;
  auto rx = bus->attach(args[3], ro);
  if (!rx) return 4;
  tell_parent("ready");
  for (;;) {
    auto m = rx->receive(std::chrono::milliseconds(100));
    if (!m) continue;
    tell_parent("got " + args[3] + " " + std::to_string(m->id()) + " " + (m->redelivered() ? "1" : "0"));
    if (rx->ack(*m)) tell_parent("acked " + args[3] + " " + std::to_string(m->id()));
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

// The endpoints and the group, made once before any child runs: after that
// only the log brings the group back (a reboot removes the shared memory).
void set_up(const std::string& bus_name, const std::string& log_dir, Sync sync) {
  auto bus = Bus::open(bus_name, crash_options(log_dir, sync));
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->add_endpoint("rx"));
  ASSERT_TRUE(bus->add_group(group_name));
  for (std::size_t i = 1; i < receivers.size(); ++i) ASSERT_TRUE(bus->add_member(group_name, receivers[i]));
}

// Drain what every receiving endpoint holds, letting the housekeeper adopt what
// dead processes left half-way (in the log, in no lane), until a round brings
// nothing, nothing waits in the log and every lane of rx, g1 and g2 is empty.
// A claim left open by a producer killed at the end hides every record behind
// it in its lane until the receiver steps over it, claim_timeout after it first
// found it at the lane's head: the rounds go on until then (a drain that
// stopped at the first empty round lost such a lane's records:
// docs/design.md, "The crash matrix's drain").
void drain(Bus& bus, Ledger& ledger) {
  std::vector<Receiver> rx;
  for (const std::string& r : receivers) {
    ReceiverOptions ro;
    ro.auto_ack = false;  // nothing checks the drain's acks (with always, each would cost a sync)
    auto a = bus.attach(r, ro);
    ASSERT_TRUE(a) << a.error().message;
    rx.push_back(std::move(*a));
  }
  constexpr int max_rounds = 2000;  // each round waits 5 ms per endpoint for a message: far beyond claim_timeout
  bool drained = false;
  int waited_for_lanes = 0;  // rounds that brought nothing while some lanes held something
  std::string first_wait, lanes;
  for (int round = 0; round < max_rounds && !drained; ++round) {
    auto hk = bus.housekeep();
    ASSERT_TRUE(hk) << hk.error().message;
    std::uint64_t n = 0;
    bool backlog = false;
    lanes.clear();
    for (std::size_t i = 0; i < rx.size(); ++i) {
      // receive() polls for 5 ms: the forwarder looks at the log again every 1 ms while spilled messages wait.
      while (auto m = rx[i].receive(std::chrono::milliseconds(5))) {
        ledger.got(Key{receivers[i], m->id()}, m->redelivered());
        ++n;
      }
      const InboxData& in = bus.segment().inbox(endpoint_slot(rx[i].id()));
      for (unsigned p = 0; p < priority_levels; ++p) backlog |= in.spilled[p].load() > in.forwarded[p].load();
      if (const std::string l = lanes_left(bus, rx[i].id()); !l.empty()) lanes += " " + receivers[i] + ":" + l;
    }
    drained = n == 0 && !backlog && lanes.empty();
    // The case the drain once stopped at: nothing came, yet some lanes hold something.
    if (n == 0 && !backlog && !lanes.empty() && waited_for_lanes++ == 0) first_wait = lanes;
  }
  EXPECT_TRUE(drained) << "after " << max_rounds << " rounds, lanes:" << lanes;
  if (waited_for_lanes != 0)
    std::cout << "[ crash    ] the drain waited " << waited_for_lanes << " rounds for lanes:" << first_wait << "\n";
}

void run_matrix(Sync sync, int iterations, std::uint64_t seed) {
  BusName name;
  char tmpl[] = "/tmp/courier-crash-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string log_dir = tmpl;
  std::mt19937_64 rng(seed);
  Ledger ledger;
  ledger.sync = sync;
  set_up(name.name, log_dir, sync);
  if (::testing::Test::HasFatalFailure()) return;
  const std::vector<std::string> common = {name.name, log_dir, std::string(sync_name(sync))};
  std::uint64_t next_seq[producers] = {};
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
  // Children 0 .. producers - 1: p1, p2, p3; then a receiver per receiving endpoint.
  auto spawn = [&](std::size_t k) {
    if (k >= producers) {
      std::vector<std::string> a = common;
      a.push_back(receivers[k - producers]);
      Child c = Child::spawn("crash_receiver", a);
      ledger.events.push_back(receivers[k - producers] + "=" + std::to_string(c.pid()));
      return started(std::move(c));
    }
    const std::uint64_t producer = k + 1;
    std::vector<std::string> a = common;
    a.push_back(std::to_string(producer));
    a.push_back(std::to_string(next_seq[k]));
    Child c = Child::spawn("crash_producer", a);
    ledger.life_pid[producer * per_producer + next_seq[k]] = c.pid();
    ledger.events.push_back("p" + std::to_string(producer) + ":" + std::to_string(next_seq[k]) + "=" +
                            std::to_string(c.pid()));
    next_seq[k] += life_sends;  // a new life never reuses a previous life's ids
    return started(std::move(c));
  };
  std::vector<Child> children;
  for (std::size_t k = 0; k < producers + receivers.size(); ++k) children.push_back(spawn(k));
  int reboots = 0;
  for (int i = 0; i < iterations; ++i) {
    pump(children, ledger, static_cast<int>(rng() % 40));
    if (rng() % 10 == 0) {  // a reboot: everything dies, the shared memory goes
      ledger.events.push_back("REBOOT");
      for (Child& c : children) finish(c, ledger);
      (void)Bus::remove(name.name);  // gone already if every process died before opening it
      ledger.reboots = ++reboots;
      for (std::size_t k = 0; k < children.size(); ++k) children[k] = spawn(k);
      continue;
    }
    const std::size_t victim = rng() % children.size();
    ledger.events.push_back("kill:" + std::to_string(children[victim].pid()));
    finish(children[victim], ledger);
    children[victim] = spawn(victim);
  }
  for (Child& c : children) finish(c, ledger);
  // Drain what is left (after one more reboot half of the time).
  if (rng() % 2 == 0) {
    ledger.events.push_back("REBOOT");
    (void)Bus::remove(name.name);
    ledger.reboots = ++reboots;
  }
  ledger.events.push_back("drain");
  const std::vector<Key> lost = [&] {
    auto bus = Bus::open(name.name, crash_options(log_dir, sync));
    if (!bus) {
      ADD_FAILURE() << "the drain cannot open the bus: " << bus.error().message;
      return ledger.lost();
    }
    drain(*bus, ledger);
    std::vector<Key> l = ledger.lost();
    if (!l.empty()) explain_lost(ledger, l, bus->log_directory(), *bus);
    return l;
  }();
  for (std::size_t i = 0; i < lost.size() && i < 5; ++i)
    ADD_FAILURE() << "reported sent, never received: " << lost[i].first << " " << lost[i].second;
  std::uint64_t doubled = 0;
  for (const auto& [k, n] : ledger.fresh)
    if (n > 1 && ++doubled <= 5)
      ADD_FAILURE() << "handed out " << n << " times unflagged: " << k.first << " " << k.second;
  for (std::size_t i = 0; i < ledger.problems.size() && i < 5; ++i) ADD_FAILURE() << ledger.problems[i];
  EXPECT_EQ(lost.size(), 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_EQ(ledger.after_ack, 0u);
  EXPECT_EQ(ledger.problems.size(), 0u);
  EXPECT_GT(ledger.sent.size(), 0u);
  EXPECT_TRUE(std::any_of(ledger.sent.begin(), ledger.sent.end(), [](const Key& k) { return k.first != "rx"; }))
      << "no group send was reported sent";
  std::cout << ledger.summary(sync, seed, iterations, crash_options(log_dir, sync).lane_capacity / 1024) << "\n";
  (void)Bus::remove(name.name);
  if (::testing::Test::HasFailure() && std::getenv("COURIER_CRASH_KEEP") != nullptr) {
    std::cout << "[ crash    ] log kept in " << log_dir << " (bus " << name.name << ")\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(log_dir, ec);
}

// The schedule's seed: COURIER_CRASH_SEED, else the test's own.
std::uint64_t seed(std::uint64_t fixed) {
  const char* e = std::getenv("COURIER_CRASH_SEED");
  return e != nullptr ? std::strtoull(e, nullptr, 10) : fixed;
}

TEST(CrashMatrix, SyncAlways) { run_matrix(Sync::always, kills_per_test(), seed(1)); }
TEST(CrashMatrix, SyncGroup) { run_matrix(Sync::group, kills_per_test(), seed(2)); }
TEST(CrashMatrix, SyncOs) { run_matrix(Sync::os, kills_per_test(), seed(3)); }

}  // namespace

COURIER_TEST_MAIN
