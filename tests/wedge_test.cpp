// No wedged ids (docs/design.md, "No wedged ids"): a sender killed at each
// point of a logged or spilled send leaves no id that a resend cannot use,
// and a message reported log_failed is never delivered while its id is free
// for a resend. Real processes: the sender is a child that stops at a named
// point (COURIER_TEST_PAUSE_AT, detail::pause_point) and is SIGKILLed there;
// the resend comes from another child; the parent receives.
#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_reader.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

constexpr std::uint64_t wedge_id = 4242;
constexpr std::uint8_t spill_priority = 5;  // the lane the parent fills: a stored send to it spills
constexpr std::uint8_t lane_priority = 3;   // an empty lane: a stored send to it goes to the lane

Options wedge_options(const std::string& dir, Sync sync,
                      std::chrono::microseconds group_interval = defaults::group_commit_interval) {
  Options o = small_options();
  o.lane_capacity = 256 * 1024;
  o.max_payload = 64 * 1024;
  o.log_dir = dir;
  o.sync = sync;
  if (group_interval != defaults::group_commit_interval) o.group_commit_interval = group_interval;
  o.housekeeping_interval = std::chrono::milliseconds(0);  // the parent housekeeps when it chooses
  o.prefault_tracker = false;
  return o;
}

Sync sync_named(const std::string& s) { return s == "always" ? Sync::always : Sync::group; }

// args: bus, log dir, sync, priority, payload bytes[, housekeeping ms]. Sends
// wedge_id from alice to bob (expiry 30 s) and prints "<status> <duplicate>".
// With COURIER_TEST_PAUSE_AT set it stops inside the send instead. With a
// housekeeping interval its housekeeper thread writes (unsynced, no status)
// what its log buffered, as every pass does first.
COURIER_CHILD(send_once) {
  Options o = wedge_options(args[1], sync_named(args[2]));
  if (args.size() > 5) o.housekeeping_interval = std::chrono::milliseconds(std::stoul(args[5]));
  auto bus = Bus::open(args[0], o);
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  const std::string payload(std::stoul(args[4]), 'w');
  const SendResult r = alice->send({.to = peer("bob"),
                                    .priority = static_cast<std::uint8_t>(std::stoul(args[3])),
                                    .expiry = std::chrono::seconds(30),
                                    .id = wedge_id},
                                   payload);
  tell_parent(std::string(status_name(r.status)) + " " + (r.duplicate ? "1" : "0"));
  return 0;
}

// args: bus, log dir, sync, priority, payload bytes. Sends wedge_id with the
// journal file capped below the record (RLIMIT_FSIZE: the write fails with
// EFBIG), flushes the log, then lifts the cap and sends the same id again.
// Prints the two results ("<status> <duplicate>") and the tracker's status
// after the first and the flush.
COURIER_CHILD(send_past_the_limit_then_again) {
  auto bus = Bus::open(args[0], wedge_options(args[1], sync_named(args[2])));
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  const SendOptions so{.to = peer("bob"),
                       .priority = static_cast<std::uint8_t>(std::stoul(args[3])),
                       .expiry = std::chrono::seconds(30),
                       .id = wedge_id};
  const std::string payload(std::stoul(args[4]), 'f');
  std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
  rlimit lim{};
  if (::getrlimit(RLIMIT_FSIZE, &lim) != 0) return 12;
  const rlim_t was = lim.rlim_cur;
  lim.rlim_cur = 32 * 1024;
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 13;
  const SendResult first = alice->send(so, payload);
  // Sync::group: a spilled send returns with its record buffered; this batch
  // (or the flusher's, before it) fails to write it under the cap.
  (void)bus->flush_log();
  auto st = bus->status("alice", wedge_id);
  const std::string after_first = st ? std::string(status_name(st->status)) : "none";
  lim.rlim_cur = was;
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 14;
  const SendResult again = alice->send(so, payload);
  if (auto f = bus->flush_log(); !f) return 15;
  tell_parent(std::string(status_name(first.status)) + " " + (first.duplicate ? "1" : "0") + " " + after_first + " " +
              std::string(status_name(again.status)) + " " + (again.duplicate ? "1" : "0"));
  return 0;
}

// args: bus, log dir, priority. Sends wedge_id (16 bytes) from alice to bob's
// full lane of `priority` (it spills; Sync::group), prints "A <status>", waits
// until bob took a message from that lane (its head moves: room for one), then
// sends wedge_id + 1 there and prints "B <status>". Run with the log's
// flusher paused at "spill-written" (COURIER_TEST_PAUSE_RESUME): the first
// spill is not written or counted while the second is sent.
COURIER_CHILD(spill_then_send_when_room) {
  auto bus = Bus::open(args[0], wedge_options(args[1], Sync::group));
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  auto bob = bus->find_endpoint("bob");
  if (!alice || !bob) return 11;
  const auto prio = static_cast<std::uint8_t>(std::stoul(args[2]));
  const LaneView lane = bus->segment().lane(endpoint_slot(*bob), prio);
  const std::uint64_t head = lane.ctl->head.load(std::memory_order_acquire);
  SendOptions so{.to = peer("bob"), .priority = prio, .expiry = std::chrono::seconds(30), .id = wedge_id};
  tell_parent(std::string("A ") + std::string(status_name(alice->send(so, std::string(16, 'a')).status)));
  // Guarded by a deadline only to fail instead of hanging: the parent moves the head.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (lane.ctl->head.load(std::memory_order_acquire) == head)
    if (std::chrono::steady_clock::now() > give_up) return 12;
  so.id = wedge_id + 1;
  tell_parent(std::string("B ") + std::string(status_name(alice->send(so, std::string(16, 'b')).status)));
  return 0;
}

// args: bus, log dir, sync. Sends wedge_id from alice to the group "team"
// (expiry 30 s) and prints "<status> <duplicate>" (or stops, as send_once).
COURIER_CHILD(send_group_once) {
  auto bus = Bus::open(args[0], wedge_options(args[1], sync_named(args[2])));
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  const SendResult r = alice->send(
      {.to = group("team"), .priority = lane_priority, .expiry = std::chrono::seconds(30), .id = wedge_id}, "g");
  tell_parent(std::string(status_name(r.status)) + " " + (r.duplicate ? "1" : "0"));
  return 0;
}

// args: bus. On a bus without a log: claims a zero-copy send of wedge_id to
// bob (its tracker entry made, the lane space reserved), writes the payload,
// says "claimed" and stops before the commit (the parent kills it there).
COURIER_CHILD(claim_and_stop) {
  auto bus = Bus::open(args[0], wedge_options("", Sync::group));
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  Claim c;
  const SendResult r = alice->claim(
      {.to = peer("bob"), .priority = lane_priority, .expiry = std::chrono::seconds(30), .id = wedge_id}, 16, c);
  if (!r || !c.active()) return 12;
  std::memset(c.payload().data(), 'z', 16);
  tell_parent("claimed");
  for (;;) ::pause();
}

struct Fixture {
  BusName name;
  TempDir dir{"courier-wedge"};
  Sync sync;
  std::optional<Bus> bus;
  std::optional<Receiver> bob;
  std::uint64_t fillers = 0;

  bool logged = true;

  explicit Fixture(Sync s, bool with_log = true,
                   std::chrono::microseconds group_interval = defaults::group_commit_interval)
      : sync(s), logged(with_log) {
    auto b = Bus::open(name.name, wedge_options(log_arg(), sync, group_interval));
    if (!b) throw std::runtime_error(b.error().message);
    bus.emplace(std::move(*b));
    if (!bus->endpoint("alice") || !bus->add_endpoint("bob")) throw std::runtime_error("endpoints");
    auto r = bus->attach("bob");
    if (!r) throw std::runtime_error(r.error().message);
    bob.emplace(std::move(*r));
  }
  std::string sync_arg() const { return sync == Sync::always ? "always" : "group"; }
  std::string log_arg() const { return logged ? dir.path : std::string(); }  // "": a bus without a log

  // Fill bob's lane of spill_priority with fire-and-forget messages until it is full.
  void fill_spill_lane() {
    auto filler = bus->endpoint("filler");
    ASSERT_TRUE(filler);
    // Large ones first, then ones as small as the test's message (which must not fit).
    for (const std::size_t bytes : {std::size_t{1000}, std::size_t{16}}) {
      const std::string pad(bytes, 'p');
      for (int i = 0;; ++i) {
        ASSERT_LT(i, 100000) << "the lane never filled";
        const SendResult r = filler->send({.to = peer("bob"), .priority = spill_priority}, pad);
        if (r.status == Status::full) break;
        ASSERT_EQ(r.status, Status::sent);
        ++fillers;
      }
    }
  }

  Child sender(const std::string& pause_at, std::uint8_t priority, std::size_t bytes = 16,
               const std::string& housekeeping_ms = "") {
    std::vector<std::string> env;
    if (!pause_at.empty()) env.push_back("COURIER_TEST_PAUSE_AT=" + pause_at);
    std::vector<std::string> args{name.name, log_arg(), sync_arg(), std::to_string(priority), std::to_string(bytes)};
    if (!housekeeping_ms.empty()) args.push_back(housekeeping_ms);
    return Child::spawn("send_once", args, env);
  }

  // Whether a journal file of the bus holds a message record of wedge_id.
  bool journal_holds_the_id() {
    auto rd = JournalReader::open_directory(Bus::log_directory_for(dir.path, name.name));
    if (!rd) return false;
    JournalRecord rec;
    for (;;) {
      auto more = rd->next(rec);
      if (!more || !*more) return false;
      if (rec.kind != logfmt::Kind::message) continue;
      auto m = decode_journal_message(rec.body);
      if (m && m->header.id == wedge_id) return true;
    }
  }

  // Receive until the fillers and one copy of wedge_id are in, then keep
  // housekeeping and draining until a round brings nothing and nothing waits
  // in the log. Returns how many copies of wedge_id bob got.
  int drain_counting_the_id() {
    int copies = 0;
    std::uint64_t others = 0;
    for (int misses = 0; others < fillers || copies == 0;) {
      housekeep();  // adopts what a dead sender left in the log

      auto m = bob->receive(std::chrono::seconds(2));
      if (!m) {
        if (++misses > 20) {
          ADD_FAILURE() << "got " << others << " of " << fillers << " fillers and " << copies << " copies";
          return copies;
        }
        continue;
      }
      if (m->id() == wedge_id)
        ++copies;
      else
        ++others;
    }
    const InboxData& in = bus->segment().inbox(endpoint_slot(bob->id()));
    for (int round = 0; round < 100; ++round) {
      housekeep();
      std::uint64_t n = 0;
      // receive() polls for 5 ms: the forwarder looks at the log again every 1 ms while spilled messages wait.
      while (auto m = bob->receive(std::chrono::milliseconds(5))) {
        ++n;
        if (m->id() == wedge_id) ++copies;
      }
      bool backlog = false;
      for (unsigned p = 0; p < priority_levels; ++p) backlog |= in.spilled[p].load() > in.forwarded[p].load();
      if (n == 0 && !backlog) break;
    }
    return copies;
  }

  void housekeep() {
    if (!logged) return;  // a bus without a log has no housekeeper
    auto hk = bus->housekeep();
    EXPECT_TRUE(hk) << hk.error().message;
  }

  std::string status_of_id() {
    auto st = bus->status("alice", wedge_id);
    return st ? std::string(status_name(st->status)) : st.error().message;
  }
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

// A sender killed at `point`; then a resend of the same id from another
// process. `may_be_duplicate`: the killed send's message is in the log and
// will be delivered, so the resend is (correctly) answered duplicate.
void killed_then_resent(Sync sync, const std::string& point, bool spill, bool may_be_duplicate) {
  Fixture f(sync);
  if (spill) f.fill_spill_lane();
  const std::uint8_t prio = spill ? spill_priority : lane_priority;
  Child killed = f.sender(point, prio);
  // A spill's points after its append run where its batch is written: on the
  // log's flusher thread (Sync::group), whose sender may have said its result
  // first (a spilled send returns once its record is buffered).
  std::string line = killed.read_line();
  if (spill && sync == Sync::group && line == "outbox 0") line = killed.read_line();
  ASSERT_EQ(line, "paused-at " + point);
  killed.kill9();
  killed.wait();
  Child again = f.sender("", prio);
  const std::vector<std::string> r = words(again.read_line());
  ASSERT_EQ(again.wait(), 0);
  ASSERT_EQ(r.size(), 2u);
  if (r[1] == "1") {
    EXPECT_TRUE(may_be_duplicate) << point << ": the resend was refused as a duplicate (" << r[0] << ")";
    EXPECT_TRUE(r[0] == "outbox" || r[0] == "sent") << point << ": duplicate of a " << r[0];
  } else {
    EXPECT_TRUE(r[0] == "outbox" || r[0] == "sent") << point << ": the resend was answered " << r[0];
  }
  EXPECT_EQ(f.drain_counting_the_id(), 1) << point;
  EXPECT_EQ(f.status_of_id(), "delivered") << point;
}

// The record buffered, the sender stopped: the log's flusher thread may still
// write, mark and count it before the kill (then it is delivered from the log
// and the resend is its duplicate), or not (then the resend takes the id).
TEST(Wedge, SpillerKilledAfterBufferingItsRecordLeavesAnIdTheResendUses) {
  killed_then_resent(Sync::group, "spill-appended", true, true);
}

TEST(Wedge, SpillerKilledAfterWritingItsRecordLeavesAnIdTheResendUses) {
  killed_then_resent(Sync::group, "spill-written", true, false);
}

// Marked spilled once the record is in the file: the message is delivered
// from the log (the housekeeper adopts it), and the resend is its duplicate.
TEST(Wedge, SpillerKilledAfterMarkingItsEntryIsDeliveredOnceFromTheLog) {
  killed_then_resent(Sync::group, "spill-marked", true, true);
}

// Killed with the record buffered and the lane claim open: the claim is
// stepped over; the flusher thread may have made the record durable first
// (then the housekeeper adopts it and the resend is its duplicate; `sent` is
// never said before the lane commit).
TEST(Wedge, LoggedSenderKilledBeforeItsLaneCommitLeavesAnIdTheResendUses) {
  killed_then_resent(Sync::group, "logged-appended", false, true);
}

TEST(Wedge, LoggedSenderKilledBeforeItsLaneCommitLeavesAnIdTheResendUsesWithSyncAlways) {
  killed_then_resent(Sync::always, "logged-appended", false, false);
}

TEST(Wedge, SpillerKilledAfterWritingItsRecordLeavesAnIdTheResendUsesWithSyncAlways) {
  killed_then_resent(Sync::always, "spill-written", true, false);
}

// A sender's spilled message is written and counted by its log's next batch;
// until then a later stored send of that process to the same lane spills
// behind it, even when the lane has room again (per-sender order): B comes
// after A. The child's flusher is held at "spill-written" (A in its file, not
// counted) while bob frees room and B is sent.
TEST(Wedge, ASendAfterASpillNotYetCountedSpillsBehindIt) {
  Fixture f(Sync::group);
  f.fill_spill_lane();
  Child c = Child::spawn("spill_then_send_when_room",
                         {f.name.name, f.dir.path, std::to_string(spill_priority)},
                         {"COURIER_TEST_PAUSE_AT=spill-written", "COURIER_TEST_PAUSE_RESUME=1"});
  // The flusher's pause and the sender's result, in either order.
  std::set<std::string> first{c.read_line(), c.read_line()};
  EXPECT_EQ(first, (std::set<std::string>{"paused-at spill-written", "A outbox"}));
  auto m = f.bob->receive(std::chrono::seconds(10));  // a filler: room in the lane for B
  ASSERT_TRUE(m);
  ASSERT_NE(m->id(), wedge_id);
  f.bob->release();  // its space back to the lane
  EXPECT_EQ(c.read_line(), "B outbox");
  c.close_input();  // the flusher goes on (and past every later pause)
  ASSERT_EQ(c.wait(), 0);
  std::vector<std::uint64_t> order;  // of A and B
  std::uint64_t others = 1;
  for (int misses = 0; order.size() < 2 || others < f.fillers;) {
    auto r = f.bob->receive(std::chrono::seconds(2));
    if (!r) {
      ASSERT_LT(++misses, 10) << "got " << others << " of " << f.fillers << " fillers, " << order.size() << " of 2";
      continue;
    }
    if (r->id() == wedge_id || r->id() == wedge_id + 1)
      order.push_back(r->id());
    else
      ++others;
  }
  EXPECT_EQ(order, (std::vector<std::uint64_t>{wedge_id, wedge_id + 1})) << "B went ahead of the spilled A";
  EXPECT_FALSE(f.bob->receive(std::chrono::milliseconds(0))) << "a message came twice";
}

// The log refuses the record (EFBIG): the send (Sync::always) or its batch
// (Sync::group) says log_failed, the message is never received, and the
// resend with the same id is accepted and received once.
void log_failed_then_resent(Sync sync, bool spill, const std::string& first, const std::string& second) {
  Fixture f(sync);
  if (spill) f.fill_spill_lane();
  const std::uint8_t prio = spill ? spill_priority : lane_priority;
  Child c = Child::spawn("send_past_the_limit_then_again",
                         {f.name.name, f.dir.path, f.sync_arg(), std::to_string(prio), std::to_string(48 * 1024)});
  const std::vector<std::string> r = words(c.read_line());
  ASSERT_EQ(c.wait(), 0);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], first);
  EXPECT_EQ(r[1], "0");
  EXPECT_EQ(r[2], "log_failed") << "the tracker says the write failed";
  EXPECT_EQ(r[3], second) << "the resend is accepted";
  EXPECT_EQ(r[4], "0") << "log_failed frees the id: the resend is no duplicate";
  EXPECT_EQ(f.drain_counting_the_id(), 1);
  EXPECT_EQ(f.status_of_id(), "delivered");
}

TEST(Wedge, LogFailedMessageIsNeverReceivedAndItsResendIsReceivedOnce) {
  log_failed_then_resent(Sync::always, true, "log_failed", "sent");
}

// Sync::group: the spilled send returns once its record is buffered (outbox,
// as any group send); the batch's failed write reports it log_failed.
TEST(Wedge, LogFailedSpilledMessageIsNeverReceivedAndItsResendIsReceivedOnce) {
  log_failed_then_resent(Sync::group, true, "outbox", "outbox");
}

// A resend of wedge_id from another process after the sender died: its
// "<status> <duplicate>" is `want`, and bob gets wedge_id exactly once.
void resent_and_received_once(Fixture& f, const std::vector<std::string>& want) {
  Child again = f.sender("", lane_priority);
  const std::vector<std::string> r = words(again.read_line());
  ASSERT_EQ(again.wait(), 0);
  EXPECT_EQ(r, want);
  EXPECT_EQ(f.drain_counting_the_id(), 1);
  EXPECT_EQ(f.status_of_id(), "delivered");
}

// A sender stopped between marking its entry committed and its lane commit.
Child stopped_after_the_mark(Fixture& f, const std::string& housekeeping_ms = "") {
  Child c = f.sender("logged-committed", lane_priority, 16, housekeeping_ms);
  c.expect_line("paused-at logged-committed");
  return c;
}

// Blocks until `done()` holds, looking again after each change the kernel
// reports in `dir` (a file made, written or closed: inotify) — an event wait for
// what another process writes there, with no time window. The watch is made
// before the first look, so a write between the look and the wait still wakes
// it. Also ends (false) when `child`'s stdout closes: it died, and nothing more
// will come. At most `changes` reports are looked at (count bound).
template <class F>
bool when_written(const std::string& dir, Child& child, int changes, F&& done) {
  const int in = ::inotify_init1(IN_CLOEXEC);
  if (in < 0) return false;
  const bool watched = ::inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0;
  bool ok = watched && done();
  for (int seen = 0; watched && !ok && seen < changes;) {
    pollfd fds[2] = {{in, POLLIN, 0}, {child.output_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) break;  // the paused child says no more: it died
    alignas(inotify_event) char buf[4096];
    const ssize_t n = ::read(in, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n; ++seen)
      off += static_cast<ssize_t>(sizeof(inotify_event)) + reinterpret_cast<const inotify_event*>(buf + off)->len;
    ok = done();
  }
  ::close(in);
  return ok;
}

// The lane-path window (docs/design.md, "No wedged ids"): a sender killed
// after marking its entry committed and before its lane commit leaves an
// outbox entry whose message is in no lane. The housekeeper proves the claim
// was never committed (here from the lane's first lap, before the receiver
// has revoked it) and, the record being in no journal (Sync::always writes
// after the commit), settles it revoked: the resend is accepted, received once.
TEST(Wedge, LoggedSenderKilledAfterMarkingItsEntryLeavesAnIdTheResendUses) {
  Fixture f(Sync::always);
  Child killed = stopped_after_the_mark(f);
  killed.kill9();
  killed.wait();
  EXPECT_EQ(f.status_of_id(), "outbox") << "the entry the dead sender left";
  f.housekeep();
  EXPECT_EQ(f.status_of_id(), "revoked") << "the housekeeper proved its claim never committed";
  resent_and_received_once(f, {"sent", "0"});
}

// The same window once the receiver has revoked the dead claim and moved on
// past it (a lap of the ring need not have passed): the revoked units still
// carry the send's header, which proves it was never committed.
TEST(Wedge, LoggedSenderKilledAfterMarkingItsEntryIsProvenFromTheRevokedClaim) {
  Fixture f(Sync::always);
  Child killed = stopped_after_the_mark(f);
  killed.kill9();
  killed.wait();
  const LaneView lane = f.bus->segment().lane(endpoint_slot(f.bob->id()), lane_priority);
  ASSERT_GT(lane.ctl->tail.load(), 0u) << "the dead sender claimed nothing";
  // The receiver finds the hole, waits out claim_timeout and steps over it (head reaches tail): an event.
  for (int i = 0; i < 100 && lane.ctl->head.load() != lane.ctl->tail.load(); ++i)
    EXPECT_FALSE(f.bob->receive(std::chrono::milliseconds(50)));
  ASSERT_EQ(lane.ctl->head.load(), lane.ctl->tail.load()) << "the receiver never stepped over the dead claim";
  EXPECT_EQ(f.status_of_id(), "outbox");
  f.housekeep();
  EXPECT_EQ(f.status_of_id(), "revoked");
  resent_and_received_once(f, {"sent", "0"});
}

// (A sender stopped here is never said `sent`: a logged send registers its
// `sent` after its lane commit, so the flusher cannot say it of a message in no
// lane — tests/spill_loss_test.cpp. What is left is this case.)
// The record reached the dead sender's journal file, unsynced, and no status
// was said (its housekeeper thread wrote the log's buffer while the send was
// stopped after its mark; group commit would sync only 10 s later). In no
// lane but in the journal: owed. The housekeeper syncs the file and adopts it;
// the resend is its duplicate; bob gets it once, from the log.
TEST(Wedge, LoggedSenderKilledAfterMarkingItsWrittenEntryIsDeliveredOnceFromTheLog) {
  Fixture f(Sync::group, true, std::chrono::seconds(10));
  Child killed = stopped_after_the_mark(f, "2");
  ASSERT_TRUE(when_written(Bus::log_directory_for(f.dir.path, f.name.name), killed, 10000, [&] {
    return f.journal_holds_the_id();
  })) << "its housekeeper never wrote the record";
  ASSERT_EQ(f.status_of_id(), "outbox") << "the batch was synced already: not the case under test";
  killed.kill9();
  killed.wait();
  f.housekeep();
  EXPECT_EQ(f.status_of_id(), "outbox") << "owed: adopted, not freed";
  resent_and_received_once(f, {"outbox", "1"});
}

// The same window in a group send: the member's entry is marked committed
// before its copy's lane commit. Before, the resend found that member entry
// "duplicate" and sent bob no copy at all. Now the member entry is settled
// revoked (the total with it), and the resend reaches bob once.
TEST(Wedge, GroupSenderKilledAfterMarkingAMemberLeavesAnIdTheResendUses) {
  Fixture f(Sync::always);
  ASSERT_TRUE(f.bus->add_group("team"));
  ASSERT_TRUE(f.bus->add_member("team", "bob"));
  Child killed = Child::spawn("send_group_once", {f.name.name, f.log_arg(), f.sync_arg()},
                              {"COURIER_TEST_PAUSE_AT=group-committed"});
  killed.expect_line("paused-at group-committed");
  killed.kill9();
  killed.wait();
  f.housekeep();
  EXPECT_EQ(f.status_of_id(), "revoked") << "its only member's copy was proven in no lane";
  Child again = Child::spawn("send_group_once", {f.name.name, f.log_arg(), f.sync_arg()});
  const std::vector<std::string> r = words(again.read_line());
  ASSERT_EQ(again.wait(), 0);
  EXPECT_EQ(r, (std::vector<std::string>{"sent", "0"}));
  EXPECT_EQ(f.drain_counting_the_id(), 1);
  EXPECT_EQ(f.status_of_id(), "delivered");
}

// A commit whose producer died before its wake-up (docs/design.md, "A commit
// whose producer died before its notify"): the record is in bob's lane and
// its bit in `nonempty` is clear, so no poll looks at that lane. The
// receiver's tidy (idle, and before each park) gives the lane its bit back,
// and a parked receiver sleeps at most claim_timeout between tidies. Before,
// tidy saw the record and left the bit clear: bob waited forever (the crash
// matrix's drain: "a record at head" after 2,000 rounds).
struct CommittedUnannounced {
  Fixture f{Sync::group};
  const InboxData& in = f.bus->segment().inbox(endpoint_slot(f.bob->id()));
  const LaneView lane = f.bus->segment().lane(endpoint_slot(f.bob->id()), lane_priority);

  // The sender (`child` of `args`, env COURIER_TEST_PAUSE_AT=`point`) stops
  // after its lane commit, before its notify, and is killed there.
  void kill_sender_after_its_commit(const std::string& child, const std::vector<std::string>& args,
                                    const std::string& point) {
    Child killed = Child::spawn(child, args, {"COURIER_TEST_PAUSE_AT=" + point});
    killed.expect_line("paused-at " + point);
    killed.kill9();
    killed.wait();
  }
  void expect_the_case_under_test() {
    EXPECT_NE(lane.ctl->tail.load(), lane.ctl->head.load()) << "the dead sender committed nothing";
    EXPECT_EQ(in.nonempty.load() & (1u << lane_priority), 0u) << "its bit was set: not the case under test";
  }
  // bob receives wedge_id once (its receive's timeout is a guard against the hang).
  void expect_received_once(std::optional<Message> m) {
    ASSERT_TRUE(m) << "bob never looked at the lane of the dead sender's committed record";
    EXPECT_EQ(m->id(), wedge_id);
    m.reset();  // auto_ack: acknowledged
    EXPECT_FALSE(f.bob->receive(std::chrono::milliseconds(0))) << "a second copy";
    EXPECT_EQ(f.status_of_id(), "delivered");
  }
};

TEST(Wedge, LoggedSenderKilledAfterItsLaneCommitBeforeItsNotifyIsReceived) {
  CommittedUnannounced t;
  t.kill_sender_after_its_commit(
      "send_once", {t.f.name.name, t.f.log_arg(), t.f.sync_arg(), std::to_string(lane_priority), "16"},
      "logged-lane-committed");
  t.expect_the_case_under_test();
  t.expect_received_once(t.f.bob->receive(std::chrono::seconds(30)));
}

TEST(Wedge, GroupSenderKilledAfterAMemberCommitBeforeItsNotifyIsReceived) {
  CommittedUnannounced t;
  ASSERT_TRUE(t.f.bus->add_group("team"));
  ASSERT_TRUE(t.f.bus->add_member("team", "bob"));
  t.kill_sender_after_its_commit("send_group_once", {t.f.name.name, t.f.log_arg(), t.f.sync_arg()},
                                 "group-lane-committed");
  t.expect_the_case_under_test();
  t.expect_received_once(t.f.bob->receive(std::chrono::seconds(30)));
}

// bob is parked (asleep on the futex) when the sender commits and dies: no
// wake-up comes, and bob's sleep ends at claim_timeout (100 ms here), well
// before its receive's 30 s, to tidy and find the record.
TEST(Wedge, ParkedReceiverFindsTheCommitOfASenderKilledBeforeItsNotify) {
  CommittedUnannounced t;
  std::atomic<bool> returned{false};
  std::optional<Message> got;
  std::thread receiver([&] {
    got = t.f.bob->receive(std::chrono::seconds(30));
    returned.store(true);
  });
  // Until bob sleeps (an event: it stores parked = 1 before its futex wait).
  while (t.in.parked.load() == 0 && !returned.load()) std::this_thread::yield();
  t.kill_sender_after_its_commit(
      "send_once", {t.f.name.name, t.f.log_arg(), t.f.sync_arg(), std::to_string(lane_priority), "16"},
      "logged-lane-committed");
  receiver.join();
  t.expect_received_once(std::move(got));
}

// An event loop on bob's notification fd: the notifier says again every
// 100 ms that a lane holds something; the application's try_receive finds
// nothing (the bit is clear) and re-arms, which tidies: the lane gets its bit
// back and the next readable fd brings the message. Bounded by events (fd
// readings), not by time: before, every one of them found nothing.
TEST(Wedge, EventLoopReceiverFindsTheCommitOfASenderKilledBeforeItsNotify) {
  CommittedUnannounced t;
  const int fd = t.f.bob->notification_fd();
  ASSERT_GE(fd, 0);
  t.kill_sender_after_its_commit(
      "send_once", {t.f.name.name, t.f.log_arg(), t.f.sync_arg(), std::to_string(lane_priority), "16"},
      "logged-lane-committed");
  t.expect_the_case_under_test();
  std::optional<Message> got;
  int readable = 0;
  for (; readable < 20 && !got; ++readable) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 30'000), 1) << "the notification fd never became readable";  // a guard
    got = t.f.bob->try_receive();
  }
  t.expect_received_once(std::move(got));
  EXPECT_LE(readable, 3) << "the fd was readable " << readable << " times before the message came";
}

// Without a log no entry is marked before the lane commit: a sender killed
// between its claim and its commit leaves an unmarked outbox entry of a dead
// inserter, which the resend replaces; the dead claim is stepped over.
TEST(Wedge, SenderWithoutLogKilledBeforeItsLaneCommitLeavesAnIdTheResendUses) {
  Fixture f(Sync::group, false);
  Child killed = Child::spawn("claim_and_stop", {f.name.name});
  killed.expect_line("claimed");
  killed.kill9();
  killed.wait();
  EXPECT_EQ(f.status_of_id(), "outbox");
  resent_and_received_once(f, {"sent", "0"});
}

}  // namespace

COURIER_TEST_MAIN
