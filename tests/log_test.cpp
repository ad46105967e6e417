// The durable log as the bus uses it: sync policies (sent only when durable),
// recovery after a reboot (simulated by removing the shared memory), dedup
// and ids across restarts, expiry found at recovery, damaged logs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "courier/bus.hpp"
#include "courier/detail/compaction_memory.hpp"
#include "courier/detail/journal.hpp"
#include "courier/detail/log.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;
namespace fs = std::filesystem;

namespace {

Options logged(const std::string& dir, Sync sync = Sync::always) {
  Options o = small_options();
  o.log_dir = dir;
  o.sync = sync;
  o.group_commit_interval = std::chrono::microseconds(200);
  return o;
}

// logged(), with the housekeeping thread off: the test calls Bus::housekeep itself.
Options housekept(const std::string& dir, Sync sync = Sync::always) {
  Options o = logged(dir, sync);
  o.housekeeping_interval = std::chrono::milliseconds(0);
  return o;
}

// A bus with alice to send as and bob registered (bob's receiver not attached).
struct Scene {
  Bus bus;
  Endpoint alice;
  static std::optional<Scene> open(const std::string& name, const Options& o) {
    auto bus = Bus::open(name, o);
    if (!bus) {
      ADD_FAILURE() << bus.error().message;
      return std::nullopt;
    }
    auto alice = bus->endpoint("alice");
    if (!alice || !bus->add_endpoint("bob")) {
      ADD_FAILURE() << "registering alice and bob";
      return std::nullopt;
    }
    return Scene{std::move(*bus), std::move(*alice)};
  }
};

SendOptions stored(std::string_view to, std::uint8_t priority = 8, std::uint64_t id = 0) {
  SendOptions s;
  s.to = peer(to);
  s.priority = priority;
  s.expiry = std::chrono::seconds(60);
  s.id = id;
  return s;
}

// Attaches `who`'s receiver and receives until its lanes are empty: every
// one of `ids` must come (auto-ack settles each as delivered); then the log
// is flushed, so that the settle records are in the journal.
void receive_all(Bus& bus, std::string_view who, const std::set<std::uint64_t>& ids) {
  auto r = bus.attach(who);
  ASSERT_TRUE(r) << who;
  std::size_t received = 0;
  while (auto m = r->try_receive()) received += ids.count(m->id());
  ASSERT_EQ(received, ids.size()) << who;
  ASSERT_TRUE(bus.flush_log());
}

// Every status event of `e` until `want` is seen for each id (or 10 s pass).
std::map<std::uint64_t, Status> wait_statuses(Endpoint& e, const std::set<std::uint64_t>& ids, Status want) {
  std::map<std::uint64_t, Status> got;
  eventually([&] {
    auto n = e.poll_status([&](const StatusEvent& ev) {
      if (ids.count(ev.id) != 0 && (got.count(ev.id) == 0 || status_rank(ev.status) > status_rank(got[ev.id])))
        got[ev.id] = ev.status;
    });
    if (!n) return true;  // an error: let the caller's asserts report what is missing
    return std::all_of(ids.begin(), ids.end(), [&](std::uint64_t id) { return got.count(id) != 0 && got[id] == want; });
  });
  return got;
}

std::vector<std::string> drain_texts(Receiver& r, std::vector<bool>* redelivered = nullptr) {
  std::vector<std::string> out;
  while (auto m = r.try_receive()) {
    out.emplace_back(m->text());
    if (redelivered) redelivered->push_back(m->redelivered());
  }
  return out;
}

std::uint64_t records_of(const std::string& dir, logfmt::Kind kind) {
  auto rd = JournalReader::open_directory(dir);
  if (!rd) return 0;
  std::uint64_t n = 0;
  JournalRecord rec;
  while (true) {
    auto more = rd->next(rec);
    if (!more || !*more) break;
    if (rec.kind == kind) ++n;
  }
  return n;
}

TEST(Log, AlwaysReportsSentOnlyAfterTheRecordIsOnDisk) {
  BusName name;
  TempDir dir;
  auto bus = Bus::open(name.name, logged(dir.path, Sync::always));
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->has_log());
  EXPECT_EQ(bus->log_directory(), dir.path + "/" + name.name);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  ASSERT_TRUE(bus->add_endpoint("bob"));
  const SendResult r = alice->send(stored("bob"), "hello");
  ASSERT_EQ(r.status, Status::sent);
  // The record is in the file already: another reader sees it without any flush.
  EXPECT_EQ(records_of(bus->log_directory(), logfmt::Kind::message), 1u);
  auto st = alice->status(r.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::sent);
  const auto events = wait_statuses(*alice, {r.id}, Status::sent);
  EXPECT_EQ(events.at(r.id), Status::sent);
}

TEST(Log, GroupCommitSaysOutboxThenSentWhenTheBatchIsDurable) {
  for (Sync sync : {Sync::group, Sync::os}) {
    BusName name;
    TempDir dir;
    auto scene = Scene::open(name.name, logged(dir.path, sync));
    ASSERT_TRUE(scene);
    Bus* bus = &scene->bus;
    Endpoint* alice = &scene->alice;
    std::set<std::uint64_t> ids;
    for (int i = 0; i < 50; ++i) {
      const SendResult r = alice->send(stored("bob"), "m" + std::to_string(i));
      ASSERT_EQ(r.status, Status::outbox) << sync_name(sync);
      ASSERT_TRUE(r.ok());
      ids.insert(r.id);
    }
    const auto got = wait_statuses(*alice, ids, Status::sent);
    ASSERT_EQ(got.size(), ids.size()) << sync_name(sync);
    for (auto& [id, s] : got) EXPECT_EQ(s, Status::sent) << id;
    EXPECT_EQ(records_of(bus->log_directory(), logfmt::Kind::message), 50u);
    for (std::uint64_t id : ids) EXPECT_EQ(alice->status(id)->status, Status::sent);
  }
}

// The flusher posts a batch's `sent` events in runs, one per sender
// (detail::durable): runs of two senders alternating in one batch each reach
// their own sender, every event once, in send order, none dropped.
TEST(Log, GroupCommitPostsEachSendersSentEventsWholeAndInOrder) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path, Sync::group);
  o.group_commit_interval = std::chrono::seconds(1);  // the batch is normally flush_log()'s; any split is fine too
  auto scene = Scene::open(name.name, o);
  ASSERT_TRUE(scene);
  auto carol = scene->bus.endpoint("carol");
  ASSERT_TRUE(carol);
  Endpoint* senders[2] = {&scene->alice, &*carol};
  std::vector<std::uint64_t> sent[2];
  for (int run = 0; run < 6; ++run) {
    for (int i = 0; i < 40; ++i) {
      const SendResult r = senders[run % 2]->send(stored("bob"), "m");
      ASSERT_EQ(r.status, Status::outbox);
      sent[run % 2].push_back(r.id);
    }
  }
  // flush_log waits for a batch the flusher is writing, then writes the rest:
  // every event is posted when it returns.
  ASSERT_TRUE(scene->bus.flush_log());
  for (int k = 0; k < 2; ++k) {
    std::vector<std::uint64_t> got;
    auto n = senders[k]->poll_status([&](const StatusEvent& e) {
      EXPECT_EQ(e.status, Status::sent) << e.id;
      got.push_back(e.id);
    });
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(got, sent[k]) << "sender " << k;
  }
  const BusStats st = scene->bus.stat();
  for (const EndpointStats& e : st.endpoints) EXPECT_EQ(e.status_dropped, 0u) << e.name;
}

// A batch larger than the sender's status ring: the ring takes what fits, each
// event that does not is counted once (status_dropped), and poll_status
// catches those up from the tracker: every message is reported sent once.
TEST(Log, GroupCommitIntoAFullStatusRingCountsEachDropOnce) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path, Sync::group);
  o.group_commit_interval = std::chrono::seconds(1);
  o.status_capacity = min_status_capacity;  // 64 events of 64 bytes
  const std::uint64_t ring_events = min_status_capacity / 64;
  auto scene = Scene::open(name.name, o);
  ASSERT_TRUE(scene);
  ASSERT_TRUE(scene->alice.poll_status([](const StatusEvent&) {}));  // follow from here: drops are caught up
  constexpr std::uint64_t n = 200;
  std::set<std::uint64_t> ids;
  for (std::uint64_t i = 0; i < n; ++i) {
    const SendResult r = scene->alice.send(stored("bob"), "m");
    ASSERT_EQ(r.status, Status::outbox);
    ids.insert(r.id);
  }
  ASSERT_TRUE(scene->bus.flush_log());
  const BusStats st = scene->bus.stat();
  for (const EndpointStats& e : st.endpoints)
    EXPECT_EQ(e.status_dropped, e.name == "alice" ? n - ring_events : 0u) << e.name;
  std::map<std::uint64_t, int> got;
  auto polled = scene->alice.poll_status([&](const StatusEvent& e) {
    if (e.status == Status::outbox) return;  // each send's own outcome, reported by the poll
    EXPECT_EQ(e.status, Status::sent) << e.id;
    ++got[e.id];
  });
  ASSERT_TRUE(polled) << polled.error().message;
  EXPECT_EQ(got.size(), n);
  for (auto& [id, times] : got) {
    EXPECT_EQ(ids.count(id), 1u) << id;
    EXPECT_EQ(times, 1) << id;
  }
}

TEST(Log, UntrackedAndRealTimeMessagesAreNotLogged) {
  BusName name;
  TempDir dir;
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  SendOptions ff;
  ff.to = peer("bob");
  EXPECT_EQ(alice->send(ff, "fire and forget").status, Status::sent);
  ff.id = 77;  // tracked, real-time
  EXPECT_EQ(alice->send(ff, "real time").status, Status::sent);
  EXPECT_EQ(records_of(bus->log_directory(), logfmt::Kind::message), 0u);
}

TEST(Log, AcknowledgementsAndReadsAreLogged) {
  BusName name;
  TempDir dir;
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  auto bob = bus->attach("bob");
  ASSERT_TRUE(alice->send(stored("bob"), "x"));
  auto m = bob->try_receive();
  ASSERT_TRUE(m);
  ASSERT_TRUE(bob->mark_read(*m));
  EXPECT_EQ(records_of(bus->log_directory(), logfmt::Kind::delivered), 1u);
  EXPECT_EQ(records_of(bus->log_directory(), logfmt::Kind::read), 1u);
}

// A reboot: every process gone, the shared memory gone, the log kept.
void reboot(const std::string& name) { ASSERT_TRUE(Bus::remove(name)); }

TEST(Log, RebootPutsBackEveryMessageOwedOnceInPriorityOrder) {
  BusName name;
  TempDir dir;
  std::vector<std::uint64_t> ids;
  {
    auto scene = Scene::open(name.name, logged(dir.path, Sync::group));
    ASSERT_TRUE(scene);
    Bus* bus = &scene->bus;
    Endpoint* alice = &scene->alice;
    for (int i = 0; i < 6; ++i) {
      const std::uint8_t prio = i % 2 == 0 ? 9 : 2;
      const SendResult r = alice->send(stored("bob", prio), "p" + std::to_string(prio) + "-" + std::to_string(i));
      ASSERT_TRUE(r.ok());
      ids.push_back(r.id);
    }
    ASSERT_TRUE(bus->flush_log());
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path, Sync::group));
  ASSERT_TRUE(bus) << bus.error().message;
  const RecoveryReport& rep = bus->recovery();
  EXPECT_TRUE(rep.ran);
  EXPECT_EQ(rep.messages, 6u);
  EXPECT_EQ(rep.owed, 6u);
  EXPECT_EQ(rep.injected, 6u);
  EXPECT_EQ(rep.damaged, 0u);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::vector<bool> redelivered;
  const auto got = drain_texts(*bob, &redelivered);
  EXPECT_EQ(got, (std::vector<std::string>{"p2-1", "p2-3", "p2-5", "p9-0", "p9-2", "p9-4"}));
  // Handed out maybe before the reboot: flagged.
  EXPECT_EQ(std::count(redelivered.begin(), redelivered.end(), true), 6);
  // The statuses came back with them, and the sender can follow them on.
  auto alice = bus->endpoint("alice");
  for (std::uint64_t id : ids) {
    auto st = alice->status(id);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->status, Status::delivered);
  }
}

// More messages than the fresh load keeps waiting for their tracker lines
// (src/recovery_load.cpp, queue_load: three batches of 8), endpoint and group messages
// interleaved, with the receivers' settles in the same journal between them
// (one process): every settle still applies to its message and the put-back
// finds each message's entry (the slot remembered by the load) exactly once.
TEST(Log, RebootWithManyMessagesAndSettlesBetweenThemPutsBackExactlyTheOwed) {
  BusName name;
  TempDir dir;
  std::vector<std::string> bob_owed, ben_owed;
  {
    auto bus = Bus::open(name.name, logged(dir.path, Sync::group));
    ASSERT_TRUE(bus);
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->add_member("team", "ben"));
    auto alice = bus->endpoint("alice");
    auto bob = bus->attach("bob");
    auto ann = bus->attach("ann");
    ASSERT_TRUE(alice && bob && ann);
    for (int i = 0; i < 120; ++i) {
      const std::string text = std::to_string(i);
      if (i % 3 == 2) {
        SendOptions s = stored("x");
        s.to = group("team");
        ASSERT_TRUE(alice->send(s, "g" + text).ok());
        ben_owed.push_back("g" + text);
        if (i < 60) {  // ann takes the first half of hers at once: her settles land between the messages
          auto m = ann->try_receive();
          ASSERT_TRUE(m);
          EXPECT_EQ(m->text(), "g" + text);
        }
      } else {
        ASSERT_TRUE(alice->send(stored("bob"), text));
        if (i < 40) {
          auto m = bob->try_receive();
          ASSERT_TRUE(m);
          EXPECT_EQ(m->text(), text);
        } else {
          bob_owed.push_back(text);
        }
      }
    }
    ASSERT_TRUE(bus->flush_log());
    bob->release();
    ann->release();
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path, Sync::group));
  ASSERT_TRUE(bus) << bus.error().message;
  const RecoveryReport& rep = bus->recovery();
  EXPECT_EQ(rep.messages, 120u + 40u);  // a group message is logged per member
  const std::uint64_t ann_owed = 20;    // of 40 group messages, those from i = 60 on
  EXPECT_EQ(rep.injected, bob_owed.size() + ben_owed.size() + ann_owed);
  EXPECT_EQ(rep.settled, 120u + 40u - rep.injected);
  auto bob = bus->attach("bob");
  auto ann = bus->attach("ann");
  auto ben = bus->attach("ben");
  EXPECT_EQ(drain_texts(*bob), bob_owed);
  EXPECT_EQ(drain_texts(*ben), ben_owed);
  std::vector<std::string> ann_want;
  for (int i = 0; i < 120; ++i)
    if (i % 3 == 2 && i >= 60) ann_want.push_back("g" + std::to_string(i));
  EXPECT_EQ(drain_texts(*ann), ann_want);
}

TEST(Log, AcknowledgedMessagesDoNotComeBackAfterAReboot) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name.name, logged(dir.path, Sync::always));
    ASSERT_TRUE(bus);
    auto alice = bus->endpoint("alice");
    auto bob = bus->attach("bob");
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(alice->send(stored("bob"), std::to_string(i)));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(bob->try_receive());
    bob->release();
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path, Sync::always));
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->recovery().settled, 4u);
  EXPECT_EQ(bus->recovery().injected, 6u);
  auto bob = bus->attach("bob");
  EXPECT_EQ(drain_texts(*bob), (std::vector<std::string>{"4", "5", "6", "7", "8", "9"}));
}

TEST(Log, DuplicateDetectionAndIdsSurviveAReboot) {
  BusName name;
  TempDir dir;
  std::uint64_t generated = 0;
  {
    auto scene = Scene::open(name.name, logged(dir.path));
    ASSERT_TRUE(scene);
    Endpoint* alice = &scene->alice;
    ASSERT_EQ(alice->send(stored("bob", 8, 1234), "user id").status, Status::sent);
    // An id far ahead of the clock: a new bus must not hand it out again.
    generated = (realtime_ns() + (std::uint64_t(1) << 50));
    ASSERT_EQ(alice->send(stored("bob", 8, generated), "ahead").status, Status::sent);
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  const SendResult again = alice->send(stored("bob", 8, 1234), "user id");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.status, Status::sent);
  const SendResult fresh = alice->send(stored("bob"), "new");
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(fresh.id, generated);
  auto bob = bus->attach("bob");
  EXPECT_EQ(drain_texts(*bob), (std::vector<std::string>{"user id", "ahead", "new"}));
}

TEST(Log, MessagesThatExpiredWhileTheHostWasDownAreReportedExpired) {
  BusName name;
  TempDir dir;
  std::uint64_t id = 0;
  {
    auto scene = Scene::open(name.name, logged(dir.path));
    ASSERT_TRUE(scene);
    Endpoint* alice = &scene->alice;
    SendOptions s = stored("bob");
    s.expiry = std::chrono::milliseconds(30);
    const SendResult r = alice->send(s, "short");
    ASSERT_EQ(r.status, Status::sent);
    id = r.id;
    ASSERT_TRUE(alice->send(stored("bob"), "long"));
  }
  reboot(name.name);
  // Time is the subject here: wait on the clock past the 30 ms expiry.
  const std::uint64_t until = realtime_ns() + 40'000'000;
  while (realtime_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->recovery().expired, 1u);
  EXPECT_EQ(bus->recovery().injected, 1u);
  auto alice = bus->endpoint("alice");
  const auto got = wait_statuses(*alice, {id}, Status::expired);
  EXPECT_EQ(got.count(id) ? got.at(id) : Status::outbox, Status::expired);
  EXPECT_EQ(alice->status(id)->status, Status::expired);
  auto bob = bus->attach("bob");
  EXPECT_EQ(drain_texts(*bob), (std::vector<std::string>{"long"}));
  // The expiry is in the log now: a second reboot finds it settled.
  bus = Bus::open(name.name, logged(dir.path));
}

TEST(Log, GroupMembersThatAlreadyHadTheirCopyDoNotGetItAgain) {
  BusName name;
  TempDir dir;
  std::uint64_t id = 0;
  {
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->add_member("team", "ben"));
    auto alice = bus->endpoint("alice");
    SendOptions s = stored("x");
    s.to = group("team");
    const SendResult r = alice->send(s, "to all");
    ASSERT_EQ(r.status, Status::sent);
    ASSERT_EQ(r.accepted, 2u);
    id = r.id;
    auto ann = bus->attach("ann");
    ASSERT_TRUE(ann->try_receive());
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->recovery().injected, 1u);
  auto ann = bus->attach("ann");
  auto ben = bus->attach("ben");
  EXPECT_TRUE(drain_texts(*ann).empty());
  EXPECT_EQ(drain_texts(*ben), (std::vector<std::string>{"to all"}));
  auto alice = bus->endpoint("alice");
  auto st = alice->status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, Status::delivered);
  EXPECT_EQ(st->delivered, 2u);
}

TEST(Log, RecoverOnALiveBusPutsNothingBackTwice) {
  BusName name;
  TempDir dir;
  auto scene = Scene::open(name.name, logged(dir.path));
  ASSERT_TRUE(scene);
  Bus* bus = &scene->bus;
  Endpoint* alice = &scene->alice;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(alice->send(stored("bob"), std::to_string(i)));
  auto rep = bus->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->owed, 5u);
  EXPECT_EQ(rep->in_lane, 5u);
  EXPECT_EQ(rep->injected, 0u);
  auto bob = bus->attach("bob");
  EXPECT_EQ(drain_texts(*bob).size(), 5u);
}

TEST(Log, BadLogOptionsAreRefusedWithAReason) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path);
  o.log_segment_size = 100;
  auto b = Bus::open(name.name, o);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("log_segment_size"), std::string::npos) << b.error().message;
  o = logged(dir.path);
  o.group_commit_interval = std::chrono::microseconds(0);
  b = Bus::open(name.name, o);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("group_commit_interval"), std::string::npos) << b.error().message;
  o = logged("/proc/no-such-place");
  b = Bus::open(name.name, o);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("/proc/no-such-place"), std::string::npos) << b.error().message;
  o = logged(dir.path);
  o.in_process = true;
  EXPECT_FALSE(Bus::open(name.name, o));
  auto plain = Bus::open(name.name, small_options());
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->recover());
  EXPECT_FALSE(plain->flush_log());
}

TEST(Log, TheLogDirectoryIsPrivate) {
  BusName name;
  TempDir dir;
  const std::string base = dir.path + "/state/courier";
  fs::create_directories(base);  // only LOG_DIR/BUS is created (issue 13)
  auto bus = Bus::open(name.name, logged(base));
  ASSERT_TRUE(bus) << bus.error().message;
  struct stat sb {};
  ASSERT_EQ(::stat(bus->log_directory().c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700u);
  ASSERT_TRUE(remove_bus_log(base, name.name));
  EXPECT_FALSE(fs::exists(bus_log_directory(base, name.name)));
}

// Power loss: the files as the disk may have kept them. Cut every segment at
// random places, flip bytes, and recover: nothing crashes, damage is
// reported, and every message before the first damage of its file comes back.
TEST(Log, RecoveryOfADamagedLogKeepsWhatCameBeforeTheDamage) {
  std::mt19937_64 rng(20261126);
  for (int round = 0; round < 30; ++round) {
    BusName name;
    TempDir dir;
    std::string log_dir;
    {
      Options o = logged(dir.path, Sync::os);
      auto bus = Bus::open(name.name, o);
      ASSERT_TRUE(bus);
      log_dir = bus->log_directory();
      auto alice = bus->endpoint("alice");
      ASSERT_TRUE(bus->add_endpoint("bob"));
      for (int i = 0; i < 40; ++i) ASSERT_TRUE(alice->send(stored("bob"), "message-" + std::to_string(i)));
      ASSERT_TRUE(bus->flush_log());
    }
    reboot(name.name);
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(log_dir))
      if (e.path().extension() == ".journal") files.push_back(e.path());  // the journals, not bus.settings
    ASSERT_FALSE(files.empty());
    std::uint64_t first_damage = ~0ull;
    for (const fs::path& f : files) {
      const auto size = fs::file_size(f);
      if (size <= 64) continue;
      std::uniform_int_distribution<std::uint64_t> at(64, size - 1);
      if (round % 3 == 0) {
        const std::uint64_t cut = at(rng);
        fs::resize_file(f, cut);
        first_damage = std::min(first_damage, cut);
      } else {
        const std::uint64_t pos = at(rng);
        std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
        io.seekg(static_cast<std::streamoff>(pos));
        char c = 0;
        io.read(&c, 1);
        c = static_cast<char>(c ^ 0x5a);
        io.seekp(static_cast<std::streamoff>(pos));
        io.write(&c, 1);
        first_damage = std::min(first_damage, pos);
      }
    }
    auto bus = Bus::open(name.name, logged(dir.path, Sync::os));
    ASSERT_TRUE(bus) << bus.error().message;
    const RecoveryReport& rep = bus->recovery();
    auto bob = bus->attach("bob");
    const auto got = drain_texts(*bob);
    // The bytes before first_damage are intact: every record wholly there is back, in order.
    std::set<std::string> seen(got.begin(), got.end());
    EXPECT_EQ(seen.size(), got.size()) << "a message came back twice";
    EXPECT_EQ(rep.injected, got.size());
    std::size_t expected_prefix = 0;
    {
      // Count the message records that end before the damage in an undamaged copy of the layout:
      // each is 16 + 64 + len("message-i") rounded up to 8, after a header and name records.
      auto rd = JournalReader::open_directory(log_dir);
      ASSERT_TRUE(rd);
      JournalRecord rec;
      while (true) {
        auto more = rd->next(rec);
        ASSERT_TRUE(more);
        if (!*more) break;
        if (rec.kind == logfmt::Kind::message && rec.offset + 16 + rec.body.size() <= first_damage) ++expected_prefix;
      }
    }
    EXPECT_GE(got.size(), expected_prefix) << "round " << round;
    for (std::size_t i = 0; i < expected_prefix && i < got.size(); ++i)
      EXPECT_EQ(got[i], "message-" + std::to_string(i));
  }
}

// Spill: a full lane does not refuse a stored message; it waits in the log and
// comes, in order, as the receiver drains. Shared memory stays as it was sized.
TEST(LogSpill, FullLaneSpillsToTheLogAndTheReceiverGetsEverythingInOrder) {
  for (Sync sync : {Sync::always, Sync::group, Sync::os}) {
    BusName name;
    TempDir dir;
    auto scene = Scene::open(name.name, logged(dir.path, sync));
    ASSERT_TRUE(scene);
    Bus* bus = &scene->bus;
    Endpoint* alice = &scene->alice;
    const std::string pad(1000, 'x');
    std::set<std::uint64_t> ids;
    const int n = 300;  // 64 KiB lanes hold ~60 of these
    for (int i = 0; i < n; ++i) {
      const SendResult r = alice->send(stored("bob"), std::to_string(i) + ":" + pad);
      ASSERT_TRUE(r.ok()) << i << " " << status_name(r.status) << " " << sync_name(sync);
      ids.insert(r.id);
    }
    const BusStats st = bus->stat();
    EXPECT_EQ(st.endpoints.size(), 2u);
    (void)bus->flush_log();
    const auto got_status = wait_statuses(*alice, ids, Status::sent);
    EXPECT_EQ(got_status.size(), ids.size()) << "every message, spilled or not, is reported sent";
    auto bob = bus->attach("bob");
    int next = 0;
    while (auto m = bob->receive(std::chrono::milliseconds(200))) {
      const std::string t(m->text());
      ASSERT_EQ(t.substr(0, t.find(':')), std::to_string(next)) << sync_name(sync);
      EXPECT_FALSE(m->redelivered());
      ++next;
    }
    EXPECT_EQ(next, n) << sync_name(sync);
    for (std::uint64_t id : ids) EXPECT_EQ(alice->status(id)->status, Status::delivered);
  }
}

// A reader of a journal that its writer is writing can see a later page of a
// pwrite before an earlier one (both copy page by page): a spilled record then
// looks like a hole of zeros with valid records behind it. The forwarder must
// wait at it, not skip it as damage: skipped, it was forwarded thousands of
// messages later, found by the rescan from the files' starts (courier-bench's
// courier.log.group stream: "stream message 67584 carries sequence 67612").
// The hole is made here by hand in this process's own journal file (its
// writer is alive), and the spilled messages behind it must wait for it.
TEST(LogSpill, ARecordStillBeingWrittenHoldsTheMessagesBehindItInOrder) {
  BusName name;
  TempDir dir;
  auto scene = Scene::open(name.name, logged(dir.path, Sync::group));
  ASSERT_TRUE(scene);
  Bus* bus = &scene->bus;
  const std::string pad(1000, 'x');
  const int n = 300;  // 64 KiB lanes hold ~60 of these: the rest spill
  for (int i = 0; i < n; ++i)
    ASSERT_TRUE(scene->alice.send(stored("bob"), std::to_string(i) + ":" + pad).ok()) << i;
  ASSERT_TRUE(bus->flush_log());
  // The record of message `victim` (spilled): its file, offset and bytes.
  const int victim = 150;
  std::string file;
  std::uint64_t offset = 0, span = 0;
  {
    auto rd = JournalReader::open_directory(bus->log_directory());
    ASSERT_TRUE(rd);
    JournalRecord rec;
    const std::string want = std::to_string(victim) + ":";
    while (file.empty()) {
      auto more = rd->next(rec);
      ASSERT_TRUE(more && *more) << "no record of message " << victim;
      if (rec.kind != logfmt::Kind::message) continue;
      auto m = decode_journal_message(rec.body);
      ASSERT_TRUE(m);
      const std::string_view text(reinterpret_cast<const char*>(m->payload.data()), m->payload.size());
      if (text.substr(0, want.size()) != want) continue;
      file = rec.segment->path;
      offset = rec.offset;
      span = logfmt::record_span(rec.body.size());
    }
  }
  const int fd = ::open(file.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::vector<char> saved(span), zeros(span, 0);
  ASSERT_EQ(::pread(fd, saved.data(), span, static_cast<off_t>(offset)), static_cast<ssize_t>(span));
  ASSERT_EQ(::pwrite(fd, zeros.data(), span, static_cast<off_t>(offset)), static_cast<ssize_t>(span));
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  int next = 0;
  const auto take = [&](int upto) {
    while (next < upto) {
      auto m = bob->receive(std::chrono::seconds(10));
      if (!m) break;
      const std::string t(m->text());
      EXPECT_EQ(t.substr(0, t.find(':')), std::to_string(next));
      ++next;
    }
  };
  take(victim);
  ASSERT_EQ(next, victim) << "the messages before the unfinished record";
  // Its bytes are not there yet: nothing comes, least of all the messages behind it.
  auto early = bob->receive(std::chrono::milliseconds(200));
  EXPECT_FALSE(early) << "received '" << (early ? std::string(early->text()).substr(0, 8) : "") << "' before "
                      << victim;
  // The write completes: the rest comes, in order.
  ASSERT_EQ(::pwrite(fd, saved.data(), span, static_cast<off_t>(offset)), static_cast<ssize_t>(span));
  ::close(fd);
  take(n);
  EXPECT_EQ(next, n);
}

// A sender's spilled messages span two journal files (its log rolled between
// them): the forwarder that stops in the first (the lane has no room for the
// next record there) does not go on with the second, whose smaller record
// would fit. Order holds across the roll.
TEST(LogSpill, AForwarderHeldInOneFileDoesNotTakeTheSendersNextFileFirst) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path, Sync::group);
  o.log_segment_size = 4096;  // the smallest: a file rolls after every batch here
  auto scene = Scene::open(name.name, o);
  ASSERT_TRUE(scene);
  Bus* bus = &scene->bus;
  // Records of 16 KiB (a 64-byte header and 16,320 bytes): four fill the
  // 64 KiB lane exactly. big4..big7 spill; once bob has taken big0..big3 the
  // forwarder puts big4..big6 back and has 16 KiB left, too little for big7
  // (the largest payload, 64 bytes more) but room for the small one.
  std::vector<std::string> sent;
  for (int i = 0; i < 8; ++i) {
    sent.push_back("big" + std::to_string(i) + ":");
    sent.back().resize(i < 7 ? 16 * 1024 - 64 : 16 * 1024, 'b');
    ASSERT_TRUE(scene->alice.send(stored("bob"), sent.back()).ok()) << i;
  }
  ASSERT_TRUE(bus->flush_log());  // the file rolls after this batch: the next record is in a new file
  sent.push_back("small");
  ASSERT_TRUE(scene->alice.send(stored("bob"), sent.back()).ok());
  ASSERT_TRUE(bus->flush_log());
  {
    std::map<std::string, std::string> file_of;  // first 5 bytes of the payload -> its journal file
    auto rd = JournalReader::open_directory(bus->log_directory());
    ASSERT_TRUE(rd);
    JournalRecord rec;
    for (auto more = rd->next(rec); more && *more; more = rd->next(rec)) {
      if (rec.kind != logfmt::Kind::message) continue;
      auto m = decode_journal_message(rec.body);
      ASSERT_TRUE(m);
      file_of[std::string(reinterpret_cast<const char*>(m->payload.data()), std::min<std::size_t>(5, m->payload.size()))] =
          rec.segment->path;
    }
    ASSERT_EQ(file_of.count("big7:"), 1u);
    ASSERT_EQ(file_of.count("small"), 1u);
    ASSERT_NE(file_of["big7:"], file_of["small"]) << "the small message was to be in a later file";
  }
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::string> got;
  while (got.size() < sent.size()) {
    auto m = bob->receive(std::chrono::seconds(10));
    if (!m) break;
    got.emplace_back(m->text());
    ASSERT_TRUE(bob->ack(*m));
  }
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i)
    EXPECT_EQ(got[i].substr(0, 6), sent[i].substr(0, 6)) << "message " << i;
}

// The stream below: 256 KiB lanes (2,048 records of 64 B) with group commit.
Options stream_options(const std::string& dir) {
  Options o = logged(dir, Sync::group);
  o.lane_capacity = 256 * 1024;
  o.tracker_capacity = 1u << 18;  // every message of the stream is owed at once at worst
  // No housekeeper: its sweep walks the lane (lane_inspect.hpp) while the
  // forwarder writes its claims, the benign race tests/tsan.supp suppresses by
  // for_each_committed's frame, which ThreadSanitizer's history loses in a run
  // this long (it then reports the race without that frame).
  o.housekeeping_interval = std::chrono::milliseconds(0);
  return o;
}

// args: bus, log dir, n. Sends n stored messages to bob, each carrying its
// sequence number in its first 8 bytes, as fast as it can.
COURIER_CHILD(spill_stream_sender) {
  auto bus = Bus::open(args[0], stream_options(args[1]));
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  const std::uint64_t n = std::stoull(args[2]);
  std::array<std::byte, 64> payload{};
  for (std::uint64_t i = 0; i < n; ++i) {
    std::memcpy(payload.data(), &i, sizeof i);
    if (const SendResult r = alice->send(stored("bob"), payload); !r.ok()) {
      tell_parent("send " + std::to_string(i) + ": " + std::string(status_name(r.status)));
      return 12;
    }
    if ((i & 255) == 0) (void)alice->poll_status([](const StatusEvent&) {});
  }
  if (!bus->flush_log()) return 13;
  tell_parent("done");
  return 0;
}

// A receiver that pauses at random moments (busy loops of random length, no
// sleeps) while a sender in another process streams stored messages: the
// lane fills, the stream spills to the log and comes back through the
// forwarder, which reads the sender's journal while the sender writes it. One
// stop early on lasts until the sender has spilled a random number more, so
// the stream spills whatever the machine's speed. Every message arrives once,
// in order (without the fix above, 6 runs in 10 of this test saw a run
// of forwarded messages come thousands of messages too late), and every
// spilled message came through the forwarder.
TEST(LogSpillMultiProcess, AStreamThroughALaneThatKeepsFillingArrivesWholeAndInOrder) {
  BusName name;
  TempDir dir;
  auto bus = Bus::open(name.name, stream_options(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->add_endpoint("alice"));
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  const auto spilled = [&] {
    std::uint64_t t = 0;
    for (const auto& c : bob->inbox().spilled) t += c.load(std::memory_order_relaxed);  // relaxed: a count
    return t;
  };
  const std::uint64_t n = 100'000;
  Child sender = Child::spawn("spill_stream_sender", {name.name, dir.path, std::to_string(n)});
  std::mt19937_64 rng(20261205);
  std::uint64_t forwarded = 0, spilled_during_stop = 0;
  bool done = false;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto m = bob->receive(std::chrono::seconds(20));
    ASSERT_TRUE(m) << "nothing within 20 s after message " << i << " of " << n;
    std::uint64_t seq = ~0ull;
    ASSERT_GE(m->payload().size(), sizeof seq);
    std::memcpy(&seq, m->payload().data(), sizeof seq);
    ASSERT_EQ(seq, i) << "lost or reordered";
    forwarded += m->forwarded() ? 1 : 0;
    ASSERT_TRUE(bob->ack(*m));
    if (rng() % 512 == 0) {  // a pause of random length (a busy loop): the forwarder's reads fall at random points
      volatile std::uint64_t spin = 0;
      for (std::uint64_t k = rng() % 2'000'000; k != 0; --k) spin = spin + k;
    }
    if (i == 999) {  // one stop: until the sender has spilled `more` (the lane fills first), whatever the speeds
      const std::uint64_t from = spilled(), more = 1 + rng() % 1500;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (spilled() < from + more && !done) {
        const std::string line = sender.read_line(std::chrono::milliseconds(5));  // (1 ms rounds down to no wait)
        ASSERT_TRUE(line.empty() || line == "done") << line;
        done = line == "done";
        ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the sender neither spilled nor finished";
      }
      if (spilled() >= from + more) spilled_during_stop = more;
    }
  }
  if (!done) sender.expect_line("done");
  EXPECT_EQ(sender.wait(), 0);
  EXPECT_FALSE(bob->receive(std::chrono::milliseconds(0))) << "a message came twice";
  // The test is about the spilled stream: it spilled, and all of that came through the forwarder.
  EXPECT_GT(spilled_during_stop, 0u) << "the sender finished without spilling during the stop";
  EXPECT_GE(forwarded, spilled_during_stop);
  EXPECT_EQ(forwarded, spilled());
}

TEST(LogSpill, SpilledMessagesSurviveAReboot) {
  BusName name;
  TempDir dir;
  const std::string pad(1000, 'y');
  const int n = 200;
  {
    auto scene = Scene::open(name.name, logged(dir.path, Sync::group));
    ASSERT_TRUE(scene);
    Bus* bus = &scene->bus;
    Endpoint* alice = &scene->alice;
    for (int i = 0; i < n; ++i) ASSERT_TRUE(alice->send(stored("bob"), std::to_string(i) + ":" + pad));
    ASSERT_TRUE(bus->flush_log());
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path, Sync::group));
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->recovery().owed, static_cast<std::uint64_t>(n));
  EXPECT_GT(bus->recovery().left, 0u) << "more than the lane holds";
  EXPECT_EQ(bus->recovery().injected + bus->recovery().left, static_cast<std::uint64_t>(n));
  auto bob = bus->attach("bob");
  int next = 0;
  while (auto m = bob->receive(std::chrono::milliseconds(200))) {
    const std::string t(m->text());
    ASSERT_EQ(t.substr(0, t.find(':')), std::to_string(next));
    ++next;
  }
  EXPECT_EQ(next, n);
}

// Each spilled message is said `sent` by the flusher alone (no flush_log):
// a spill writes its record at once (write_now), and the flusher it woke may
// find nothing left to write when it gets the lock. Asleep again, it must be
// wakeable again: it was not (it slept marked busy), so no later spill woke
// it, no spilled message was said `sent`, and its journal file never rolled
// (bench_log's 10 M recovery found a 1.1 GB file the reader refused, and lost
// the messages in it). 1,000 spills, each awaited before the next: without the
// fix the first lost race stops the stream.
TEST(LogSpill, EachSpilledMessageIsSaidSentByTheFlusherAlone) {
  BusName name;
  TempDir dir;
  auto scene = Scene::open(name.name, logged(dir.path, Sync::group));
  ASSERT_TRUE(scene);
  Endpoint& alice = scene->alice;
  const std::string pad(1000, 's');
  constexpr int n = 1100;  // 64 KiB lanes hold ~60 of these: ~1,000 spill
  for (int i = 0; i < n; ++i) {
    const SendResult r = alice.send(stored("bob"), std::to_string(i) + ":" + pad);
    ASSERT_EQ(r.status, Status::outbox) << i;
    const auto got = wait_statuses(alice, {r.id}, Status::sent);
    ASSERT_EQ(got.count(r.id), 1u) << "message " << i << " was never said sent";
    ASSERT_EQ(got.at(r.id), Status::sent) << i;
  }
  EXPECT_TRUE(detail::await_log_flushers_idle(std::chrono::seconds(60))) << "the flusher never slept";
  auto bob = scene->bus.attach("bob");
  ASSERT_TRUE(bob);
  int next = 0, forwarded = 0;
  while (auto m = bob->receive(std::chrono::milliseconds(200))) {
    const std::string t(m->text());
    ASSERT_EQ(t.substr(0, t.find(':')), std::to_string(next));
    forwarded += m->forwarded() ? 1 : 0;
    ++next;
  }
  EXPECT_EQ(next, n);
  EXPECT_GE(forwarded, n - 100) << "the test is about spilled messages";
}

// A journal file rolls at about log_segment_size and never holds more than
// twice it, however long a batch waits: the records of a spill are written at
// once, and with a 10 s interval no batch comes to roll the file (before, one
// file took every spilled record; at 64 MiB segments it passed the 1 GiB a
// reader takes and recovery refused all of it). Every message comes back
// after a reboot.
void journal_files_stay_under_twice_the_segment_size(Sync sync) {
  SCOPED_TRACE(sync == Sync::os ? "Sync::os" : "Sync::group");
  BusName name;
  TempDir dir;
  constexpr std::uint64_t segment = 4096;
  Options o = logged(dir.path, sync);
  o.group_commit_interval = std::chrono::seconds(10);
  o.log_segment_size = segment;
  const std::string pad(1000, 'f');
  constexpr int n = 400;  // ~60 in the lane, the rest spilled
  const std::string log = dir.path + "/" + name.name;
  const auto largest_file = [&] {
    std::uint64_t most = 0, files = 0;
    for (const auto& e : fs::directory_iterator(log)) {
      if (e.path().extension() != ".journal") continue;
      ++files;
      auto rd = JournalReader::open_file(e.path().string());
      EXPECT_TRUE(rd) << e.path();
      if (!rd) continue;
      JournalRecord rec;
      for (;;) {
        auto more = rd->next(rec);
        EXPECT_TRUE(more) << e.path();
        if (!more || !*more) break;
        most = std::max<std::uint64_t>(most, rec.offset + logfmt::record_span(rec.body.size()));
      }
    }
    return std::pair{most, files};
  };
  {
    auto scene = Scene::open(name.name, o);
    ASSERT_TRUE(scene);
    for (int i = 0; i < n; ++i) ASSERT_TRUE(scene->alice.send(stored("bob"), std::to_string(i) + ":" + pad));
    const auto [most, files] = largest_file();  // while the 10 s batch waits
    EXPECT_LE(most, 2 * segment) << "records past twice the segment size in one file";
    EXPECT_GE(files, std::uint64_t{n * 1000 / (2 * segment)}) << "the files did not roll";
  }
  const auto [most, files] = largest_file();  // and after the bus's last batch
  EXPECT_LE(most, 2 * segment);
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path, sync));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().damaged, 0u);
  EXPECT_EQ(bus->recovery().unnamed, 0u) << "a record in a file without its name records";
  EXPECT_EQ(bus->recovery().owed, static_cast<std::uint64_t>(n));
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  for (int next = 0; next < n; ++next) {
    auto m = bob->receive(std::chrono::seconds(10));  // a guard: recovery put them all in the lane or the log
    ASSERT_TRUE(m) << "message " << next << " of " << n << " never came";
    const std::string t(m->text());
    ASSERT_EQ(t.substr(0, t.find(':')), std::to_string(next));
  }
  EXPECT_FALSE(bob->receive(std::chrono::milliseconds(0))) << "more than were sent";
}

TEST(LogSpill, JournalFilesStayUnderTwiceTheSegmentSizeWhateverTheInterval) {
  journal_files_stay_under_twice_the_segment_size(Sync::group);
}

// Sync::os: no batch syncs, so only the roll on append keeps the files small.
TEST(LogSpill, JournalFilesStayUnderTwiceTheSegmentSizeWithoutSyncs) {
  journal_files_stay_under_twice_the_segment_size(Sync::os);
}

TEST(LogSpill, GroupCopiesSpillPerMember) {
  BusName name;
  TempDir dir;
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus->add_group("team"));
  ASSERT_TRUE(bus->add_member("team", "ann"));
  ASSERT_TRUE(bus->add_member("team", "ben"));
  auto alice = bus->endpoint("alice");
  const std::string pad(1000, 'z');
  SendOptions s = stored("x");
  s.to = group("team");
  const int n = 150;
  for (int i = 0; i < n; ++i) {
    const SendResult r = alice->send(s, std::to_string(i) + ":" + pad);
    ASSERT_EQ(r.status, Status::sent) << i;
    ASSERT_EQ(r.accepted, 2u);
  }
  for (const char* who : {"ann", "ben"}) {
    auto rx = bus->attach(who);
    int next = 0;
    while (auto m = rx->receive(std::chrono::milliseconds(200))) {
      const std::string t(m->text());
      ASSERT_EQ(t.substr(0, t.find(':')), std::to_string(next)) << who;
      ++next;
    }
    EXPECT_EQ(next, n) << who;
  }
}

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += fs::file_size(e.path());
  return n;
}

// An endpoint that never comes back: its stored messages, in its lanes and
// spilled to the log, are swept at their deadline and their sender told.
TEST(LogHousekeeping, StoredMessagesOfAnEndpointThatNeverReturnsAreSweptAtTheirDeadline) {
  BusName name;
  TempDir dir;
  Options o = housekept(dir.path, Sync::os);
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(bus->add_endpoint("ghost"));
  const std::string pad(1000, 'g');
  std::set<std::uint64_t> ids;
  SendOptions s = stored("ghost");
  s.expiry = std::chrono::milliseconds(500);
  for (int i = 0; i < 120; ++i) {
    const SendResult r = alice->send(s, pad);
    ASSERT_EQ(r.status, Status::outbox);
    ids.insert(r.id);
  }
  ASSERT_TRUE(bus->flush_log());  // every spilled record written, so counted
  const InboxData& in = bus->segment().inbox(endpoint_slot(*bus->find_endpoint("ghost")));
  const std::uint64_t spilled = in.spilled[8].load();
  ASSERT_GT(spilled, 0u);
  auto early = bus->housekeep();
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->holder);
  EXPECT_EQ(early->sweep.expired + early->sweep.expired_stored, 0u) << "nothing is due yet";
  // Time is the subject: wait on the clock past the 500 ms deadline.
  ASSERT_TRUE(eventually([&] { return realtime_ns() > alice->status(*ids.rbegin())->expires_ns; }));
  auto hk = bus->housekeep();
  ASSERT_TRUE(hk);
  EXPECT_EQ(hk->sweep.expired_stored, spilled);
  EXPECT_EQ(hk->sweep.expired + hk->sweep.expired_stored, ids.size());
  EXPECT_EQ(in.forwarded[8].load(), spilled) << "the backlog is cleared";
  const auto got = wait_statuses(*alice, ids, Status::expired);
  for (std::uint64_t id : ids) EXPECT_EQ(alice->status(id)->status, Status::expired) << id;
  EXPECT_EQ(got.size(), ids.size());
  // Nothing waits for ghost any more: a new stored message goes to its lane.
  s.expiry = std::chrono::seconds(60);
  EXPECT_EQ(alice->send(s, "after").status, Status::outbox);
  EXPECT_EQ(in.spilled[8].load(), spilled);
}

// Soak: messages keep flowing, being delivered and expiring; settled
// segments are deleted and the log's size levels off.
TEST(LogHousekeeping, CompactionKeepsTheLogBounded) {
  BusName name;
  TempDir dir;
  Options o = housekept(dir.path, Sync::os);
  o.log_segment_size = 4096;
  o.status_retention = std::chrono::milliseconds(0);
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus);
  auto alice = bus->endpoint("alice");
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  ASSERT_TRUE(bus->add_endpoint("gone"));
  const std::string pad(200, 's');
  std::uint64_t written = 0, deleted = 0, peak_late = 0, peak_early = 0;
  for (int round = 0; round < 60; ++round) {
    SendOptions s = stored("bob");
    s.expiry = std::chrono::milliseconds(5);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(alice->send(s, pad));
      written += 300;
    }
    s.to = peer("gone");  // never received: expires
    ASSERT_TRUE(alice->send(s, pad));
    while (bob->try_receive()) {
    }
    ASSERT_TRUE(bus->flush_log());
    // Time is the subject: the 5 ms expiries must pass before the sweep.
    const std::uint64_t until = realtime_ns() + 6'000'000;
    while (realtime_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto hk = bus->housekeep();
    ASSERT_TRUE(hk) << hk.error().message;
    deleted += hk->segments_deleted;
    const std::uint64_t size = directory_bytes(bus->log_directory());
    if (round < 20) peak_early = std::max(peak_early, size);
    if (round >= 40) peak_late = std::max(peak_late, size);
  }
  EXPECT_GT(deleted, 0u);
  EXPECT_LT(peak_late, written / 4) << "written " << written;
  EXPECT_LE(peak_late, peak_early * 2 + 16384) << "the log keeps growing";
}

std::vector<std::string> journal_files(const std::string& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".journal") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

// Options::log_direct_io: with Sync::group and Sync::always the batches a
// process writes skip the page cache (none of the journal file's pages are
// cached after them); false, or Sync::os, writes through it (every page
// cached). Either way every message is `sent` and recovered after a reboot.
TEST(LogDirectIo, SyncedBatchesSkipThePageCacheUnlessTurnedOff) {
  {
    TempDir probe;
    if (!takes_direct_io(probe.path)) GTEST_SKIP() << probe.path << ": its file system does not take O_DIRECT";
  }
  struct Case {
    Sync sync;
    bool direct;
    bool cached;  // the journal's pages in the page cache after the sends
  };
  for (const Case c : {Case{Sync::group, true, false}, Case{Sync::always, true, false}, Case{Sync::group, false, true},
                       Case{Sync::os, true, true}}) {
    SCOPED_TRACE(std::string(sync_name(c.sync)) + (c.direct ? ", log_direct_io" : ", log_direct_io false"));
    BusName name;
    TempDir dir;
    Options o = logged(dir.path, c.sync);
    o.log_direct_io = c.direct;
    std::set<std::uint64_t> ids;
    std::string file;
    std::uint64_t bytes = 0;
    {
      auto scene = Scene::open(name.name, o);
      ASSERT_TRUE(scene);
      const std::string payload(1000, 'd');
      for (int i = 0; i < 64; ++i) {
        const SendResult r = scene->alice.send(stored("bob"), payload);
        ASSERT_TRUE(r) << status_name(r.status);
        ids.insert(r.id);
      }
      ASSERT_TRUE(scene->bus.flush_log());
      const auto files = journal_files(scene->bus.log_directory());
      ASSERT_EQ(files.size(), 1u);
      file = files[0];
      bytes = 64u << 10;  // 64 records of 1,144 bytes and more: past it
      const std::size_t cached = resident_pages(file, bytes);
      const std::size_t pages = bytes / static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
      if (c.cached)
        EXPECT_EQ(cached, pages);
      else
        EXPECT_EQ(cached, 0u);
    }
    // A reboot: the shared memory gone, the journal read back whole.
    ASSERT_TRUE(Bus::remove(name.name));
    auto bus = Bus::open(name.name, o);
    ASSERT_TRUE(bus) << bus.error().message;
    EXPECT_EQ(bus->recovery().messages, ids.size());
    EXPECT_EQ(bus->recovery().owed, ids.size());
    EXPECT_EQ(bus->recovery().damaged, 0u);
  }
}

// A segment that stays unsettled (here a damaged one, which is kept for good
// and has no record to judge it by) is not read every pass: the housekeeper
// reads it when it first sees it, then after 1, 2, 4 ... passes, at most
// max_backoff_passes apart. Another file under that name is read at once.
TEST(LogHousekeeping, ASegmentThatStaysUnsettledIsReadWithBackOff) {
  BusName name;
  TempDir dir;
  Options o = housekept(dir.path, Sync::os);
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus);
  // A dead writer's segment (no process has a pid above pid_max) holding garbage.
  JournalWriterId dead;
  dead.pid = 0x7ffffff0;
  dead.epoch_ns = 1;
  const std::string path = bus->log_directory() + "/" + journal_segment_name(dead, 1);
  std::ofstream(path, std::ios::binary) << std::string(1000, 'x');
  constexpr std::uint64_t cap = detail::CompactionMemory::max_backoff_passes;
  // What the directory holds (name and size of each file): said when a count is off.
  const auto listing = [&] {
    std::string l;
    for (const auto& e : fs::directory_iterator(bus->log_directory()))
      l += " " + e.path().filename().string() + (e.is_regular_file() ? ":" + std::to_string(e.file_size()) : "");
    return l;
  };
  std::vector<std::uint64_t> reads;
  for (std::uint64_t pass = 1; pass <= 4 * cap + 10; ++pass) {
    const std::string before = listing();
    auto hk = bus->housekeep();
    ASSERT_TRUE(hk) << hk.error().message;
    ASSERT_TRUE(hk->holder);
    EXPECT_EQ(hk->segments_deleted, 0u) << "damage is kept; pass " << pass << ", before:" << before
                                        << "; after:" << listing();
    EXPECT_EQ(hk->segments_checked + hk->segments_deferred, 1u)
        << "pass " << pass << ", before:" << before << "; after:" << listing();
    if (hk->segments_checked == 1) reads.push_back(pass);
  }
  // Each gap twice the last, from 1, capped.
  std::vector<std::uint64_t> want{1};
  for (std::uint64_t gap = 1; want.back() + gap <= 4 * cap + 10; gap = std::min(gap * 2, cap))
    want.push_back(want.back() + gap);
  EXPECT_EQ(reads, want);
  ASSERT_TRUE(fs::exists(path));
  // Another file under that name (or the same one grown): read at the next pass.
  std::ofstream(path, std::ios::binary | std::ios::app) << "more";
  auto hk = bus->housekeep();
  ASSERT_TRUE(hk);
  EXPECT_EQ(hk->segments_checked, 1u);
  hk = bus->housekeep();
  ASSERT_TRUE(hk);
  EXPECT_EQ(hk->segments_checked, 1u) << "then 1 pass later, as a new one";
  EXPECT_EQ(hk->segments_deferred, 0u);
}

// A large stored backlog is not re-read every pass: a segment whose messages
// nobody receives is read once, then only the record that kept it is looked
// up in the tracker (when its back-off is due). Once the messages are
// received, the segments are deleted within max_backoff_passes.
TEST(LogHousekeeping, UnsettledSegmentsAreDeferredAndDeletedOnceSettled) {
  BusName name;
  TempDir dir;
  Options o = housekept(dir.path, Sync::os);
  o.log_segment_size = 4096;
  auto scene = Scene::open(name.name, o);
  ASSERT_TRUE(scene);
  Bus& bus = scene->bus;
  const std::string pad(200, 'u');
  std::set<std::uint64_t> ids;
  for (int batch = 0; batch < 6; ++batch) {  // segments roll between batches
    for (int i = 0; i < 15; ++i) {
      const SendResult r = scene->alice.send(stored("bob"), pad);
      ASSERT_TRUE(r);
      ids.insert(r.id);
    }
    ASSERT_TRUE(bus.flush_log());
  }
  std::vector<std::string> before = journal_files(bus.log_directory());
  ASSERT_GE(before.size(), 4u) << "several rolled segments";
  before.pop_back();  // our writer's newest: never touched while we live
  const std::uint64_t old = before.size();

  auto first = bus.housekeep();
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->holder);
  EXPECT_EQ(first->segments_checked, old) << "each read once";
  EXPECT_EQ(first->segments_deferred, 0u);
  EXPECT_EQ(first->segments_deleted, 0u);
  EXPECT_EQ(first->segments_kept, old + 1);
  constexpr std::uint64_t cap = detail::CompactionMemory::max_backoff_passes;
  for (std::uint64_t pass = 2; pass <= 3 * cap; ++pass) {  // long enough for the back-off to reach its cap
    auto hk = bus.housekeep();
    ASSERT_TRUE(hk);
    ASSERT_EQ(hk->segments_checked, 0u) << "pass " << pass << ": read again while nothing changed";
    ASSERT_EQ(hk->segments_deferred, old) << pass;
    ASSERT_EQ(hk->segments_deleted, 0u) << pass;
  }
  for (const std::string& f : before) EXPECT_TRUE(fs::exists(f)) << f;

  // Settle them: bob receives (auto-ack: delivered).
  receive_all(bus, "bob", ids);
  if (HasFatalFailure()) return;
  auto any_left = [&] {
    return std::any_of(before.begin(), before.end(), [](const std::string& f) { return fs::exists(f); });
  };
  std::uint64_t deleted = 0, passes = 0;
  while (any_left() && passes <= cap) {
    auto hk = bus.housekeep();
    ASSERT_TRUE(hk);
    deleted += hk->segments_deleted;
    ++passes;
  }
  for (const std::string& f : before) EXPECT_FALSE(fs::exists(f)) << f;
  EXPECT_GE(deleted, old);
  EXPECT_GT(passes, 1u) << "read when due, not at once";
  EXPECT_LE(passes, cap) << "the back-off delays a deletion by at most its cap";
}

// Journal files of a few MiB for the tests of the housekeeper's first look
// (log_defaults::settle_peek_bytes): stored 4,000-byte messages to `to`,
// flushed in batches of 40, until `until` says stop.
Options peek_options(const std::string& dir) {
  Options o = housekept(dir, Sync::os);
  o.lane_capacity = 16u << 20;  // every message in its lane: none spilled
  o.max_payload = 4096;
  o.log_segment_size = 2u << 20;
  return o;
}

template <class Until>
std::set<std::uint64_t> send_batches(Bus& bus, Endpoint& from, std::string_view to, Until until) {
  std::set<std::uint64_t> ids;
  const std::string payload(4000, 'p');
  while (!until()) {
    for (int i = 0; i < 40; ++i) {
      const SendResult r = from.send(stored(to), payload);
      EXPECT_TRUE(r) << status_name(r.status);
      if (!r) return ids;
      ids.insert(r.id);
    }
    EXPECT_TRUE(bus.flush_log());
  }
  return ids;
}

// A bus of peek_options(): alice, bob and carol; the housekeeper called by the test.
class LogHousekeepingFirstLook : public ::testing::Test {
 protected:
  void SetUp() override {
    scene_ = Scene::open(name_.name, peek_options(dir_.path));
    ASSERT_TRUE(scene_);
    ASSERT_TRUE(scene_->bus.add_endpoint("carol"));
  }
  BusName name_;
  TempDir dir_;
  std::optional<Scene> scene_;
};

// A file nobody has received from is kept by its first message: the
// housekeeper reads its first megabyte, not the whole file. Once everything
// is received, the file is read whole and deleted.
TEST_F(LogHousekeepingFirstLook, AFileNobodyReceivedFromIsJudgedByItsFirstMegabyte) {
  Scene* scene = &*scene_;
  Bus& bus = scene->bus;
  const std::string logs = bus.log_directory();
  const std::set<std::uint64_t> ids =
      send_batches(bus, scene->alice, "bob", [&] { return journal_files(logs).size() >= 3; });
  std::vector<std::string> old = journal_files(logs);
  old.pop_back();  // our writer's newest: never judged while we live
  std::uint64_t old_bytes = 0;
  for (const std::string& f : old) {
    ASSERT_GT(fs::file_size(f), detail::log_defaults::settle_peek_bytes * 3 / 2) << f << ": rolled, cut to its records";
    old_bytes += fs::file_size(f);
  }

  auto hk = bus.housekeep();
  ASSERT_TRUE(hk) << hk.error().message;
  ASSERT_TRUE(hk->holder);
  EXPECT_EQ(hk->segments_checked, old.size());
  EXPECT_EQ(hk->segments_deleted, 0u);
  EXPECT_GT(hk->bytes_read, 0u);
  EXPECT_LE(hk->bytes_read, old.size() * detail::log_defaults::settle_peek_bytes)
      << "files of " << old_bytes << " bytes in all read whole";
  for (const std::string& f : old) EXPECT_TRUE(fs::exists(f)) << f;

  receive_all(bus, "bob", ids);
  if (HasFatalFailure()) return;
  std::uint64_t deleted = 0, deleted_bytes = 0, read_when_deleting = 0;
  for (std::uint64_t pass = 0; pass <= detail::CompactionMemory::max_backoff_passes && deleted < old.size(); ++pass) {
    hk = bus.housekeep();
    ASSERT_TRUE(hk);
    deleted += hk->segments_deleted;
    deleted_bytes += hk->bytes_deleted;
    if (hk->segments_deleted != 0) read_when_deleting += hk->bytes_read;
  }
  EXPECT_EQ(deleted, old.size());
  for (const std::string& f : old) EXPECT_FALSE(fs::exists(f)) << f;
  // Each deleted file: its first megabyte, then the whole file.
  EXPECT_GE(read_when_deleting, deleted_bytes + deleted * detail::log_defaults::settle_peek_bytes);
}

// The first look decides only when it finds a record that keeps the file:
// the first megabyte all settled, a message owed behind it still keeps it.
TEST_F(LogHousekeepingFirstLook, AMessageOwedPastTheFirstMegabyteStillKeepsItsFile) {
  Scene* scene = &*scene_;
  Bus& bus = scene->bus;
  const std::string logs = bus.log_directory();
  // bob's messages fill the file's first megabyte and more (a batch is 40
  // records of 4,144 bytes); then carol's.
  std::uint64_t batches = 0;
  const std::set<std::uint64_t> to_bob = send_batches(bus, scene->alice, "bob", [&] {
    return batches++ * 40 * 4144 > detail::log_defaults::settle_peek_bytes + (256u << 10);
  });
  ASSERT_EQ(journal_files(logs).size(), 1u) << "bob's messages in the first file only";
  const std::set<std::uint64_t> to_carol = send_batches(bus, scene->alice, "carol", [&] {
    return journal_files(logs).size() >= 2;  // the first file rolled: carol's first messages are in it
  });
  const std::string first = journal_files(logs).front();
  receive_all(bus, "bob", to_bob);
  if (HasFatalFailure()) return;

  for (std::uint64_t pass = 0; pass <= 2 * detail::CompactionMemory::max_backoff_passes; ++pass) {
    auto hk = bus.housekeep();
    ASSERT_TRUE(hk) << hk.error().message;
    ASSERT_EQ(hk->segments_deleted, 0u) << "pass " << pass;
    if (pass == 0) {
      EXPECT_GE(hk->bytes_read, fs::file_size(first)) << "its owed message is past the first look";
    }
  }
  EXPECT_TRUE(fs::exists(first));

  // Once carol's messages are received too, it goes.
  receive_all(bus, "carol", to_carol);
  if (HasFatalFailure()) return;
  for (std::uint64_t pass = 0; pass <= detail::CompactionMemory::max_backoff_passes && fs::exists(first); ++pass)
    ASSERT_TRUE(bus.housekeep());
  EXPECT_FALSE(fs::exists(first));
}

COURIER_CHILD(housekeeper_and_hang) {
  Options o = small_options();
  o.log_dir = args[1];
  o.housekeeping_interval = std::chrono::milliseconds(0);
  auto bus = Bus::open(args[0], o);
  if (!bus) return 3;
  auto hk = bus->housekeep();
  if (!hk) return 4;
  tell_parent(hk->holder ? "holder" : "not holder");
  for (;;) ::pause();
}

TEST(LogHousekeeping, TheLeaseIsHeldByOneProcessAndTakenOverWhenItDies) {
  BusName name;
  TempDir dir;
  Options o = housekept(dir.path);
  auto bus = Bus::open(name.name, o);
  ASSERT_TRUE(bus);
  Child keeper = Child::spawn("housekeeper_and_hang", {name.name, dir.path});
  keeper.expect_line("holder");
  auto mine = bus->housekeep();
  ASSERT_TRUE(mine);
  EXPECT_FALSE(mine->holder);
  keeper.kill9();
  keeper.wait();
  mine = bus->housekeep();
  ASSERT_TRUE(mine);
  EXPECT_TRUE(mine->holder);
  Child second = Child::spawn("housekeeper_and_hang", {name.name, dir.path});
  second.expect_line("not holder");
}

// Power loss: the disk holds what was synced; what was only buffered or in
// flight may be gone. A copy of the log taken right after every message of a
// first batch was reported `sent`, while a second batch is still being sent,
// recovers every message of the first batch once. For both policies that
// promise `sent` = on disk: `group` (sent comes with the batch's fdatasync, as
// an event) and `always` (send() returns sent after its record's fdatasync).
// `os` promises a written record, which a power loss may take: the crash
// matrix covers it (a killed process, CrashMatrix.SyncOs).
TEST(Log, PowerLossKeepsEveryMessageReportedSent) {
  for (Sync sync : {Sync::group, Sync::always}) {
    SCOPED_TRACE(sync == Sync::group ? "group" : "always");
    BusName name;
    TempDir dir, disk;
    std::set<std::uint64_t> promised;
    {
      auto scene = Scene::open(name.name, logged(dir.path, sync));
      ASSERT_TRUE(scene);
      Bus* bus = &scene->bus;
      Endpoint* alice = &scene->alice;
      for (int i = 0; i < 100; ++i) {
        const SendResult r = alice->send(stored("bob"), "a" + std::to_string(i));
        ASSERT_EQ(r.status, sync == Sync::always ? Status::sent : Status::outbox) << i;
        promised.insert(r.id);
      }
      if (sync == Sync::group) {
        const auto got = wait_statuses(*alice, promised, Status::sent);
        ASSERT_EQ(got.size(), promised.size());
      }
      for (int i = 0; i < 100; ++i) ASSERT_TRUE(alice->send(stored("bob"), "b" + std::to_string(i)));
      // The power goes: the disk as it is now (the second batch maybe partly there).
      fs::copy(bus->log_directory(), disk.path + "/" + name.name, fs::copy_options::recursive);
    }
    reboot(name.name);
    auto bus = Bus::open(name.name, logged(disk.path, sync));
    ASSERT_TRUE(bus) << bus.error().message;
    auto bob = bus->attach("bob");
    std::set<std::uint64_t> received;
    while (auto m = bob->try_receive()) EXPECT_TRUE(received.insert(m->id()).second) << "twice: " << m->id();
    for (std::uint64_t id : promised) EXPECT_EQ(received.count(id), 1u) << id;
  }
}

}  // namespace

COURIER_TEST_MAIN
