// No wedged ids (docs/design.md, "No wedged ids"): a sender killed at each
// point of a logged or spilled send leaves no id that a resend cannot use,
// and a message reported log_failed is never delivered while its id is free
// for a resend. Real processes: the sender is a child that stops at a named
// point (COURIER_TEST_PAUSE_AT, detail::pause_point) and is SIGKILLed there;
// the resend comes from another child; the parent receives.
#include <sys/resource.h>

#include <csignal>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

constexpr std::uint64_t wedge_id = 4242;
constexpr std::uint8_t spill_priority = 5;  // the lane the parent fills: a stored send to it spills
constexpr std::uint8_t lane_priority = 3;   // an empty lane: a stored send to it goes to the lane

Options wedge_options(const std::string& dir, Sync sync) {
  Options o = small_options();
  o.lane_capacity = 256 * 1024;
  o.max_payload = 64 * 1024;
  o.log_dir = dir;
  o.sync = sync;
  o.housekeeping_interval = std::chrono::milliseconds(0);  // the parent housekeeps when it chooses
  o.prefault_tracker = false;
  return o;
}

Sync sync_named(const std::string& s) { return s == "always" ? Sync::always : Sync::group; }

// args: bus, log dir, sync, priority, payload bytes. Sends wedge_id from
// alice to bob (expiry 30 s) and prints "<status> <duplicate>". With
// COURIER_TEST_PAUSE_AT set it stops inside the send instead.
COURIER_CHILD(send_once) {
  auto bus = Bus::open(args[0], wedge_options(args[1], sync_named(args[2])));
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
// EFBIG), then lifts the cap and sends the same id again. Prints the two
// results ("<status> <duplicate>") and the tracker's status after the first.
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

struct Fixture {
  BusName name;
  TempDir dir{"courier-wedge"};
  Sync sync;
  std::optional<Bus> bus;
  std::optional<Receiver> bob;
  std::uint64_t fillers = 0;

  explicit Fixture(Sync s) : sync(s) {
    auto b = Bus::open(name.name, wedge_options(dir.path, sync));
    if (!b) throw std::runtime_error(b.error().message);
    bus.emplace(std::move(*b));
    if (!bus->endpoint("alice") || !bus->add_endpoint("bob")) throw std::runtime_error("endpoints");
    auto r = bus->attach("bob");
    if (!r) throw std::runtime_error(r.error().message);
    bob.emplace(std::move(*r));
  }
  std::string sync_arg() const { return sync == Sync::always ? "always" : "group"; }

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

  Child sender(const std::string& pause_at, std::uint8_t priority, std::size_t bytes = 16) {
    std::vector<std::string> env;
    if (!pause_at.empty()) env.push_back("COURIER_TEST_PAUSE_AT=" + pause_at);
    return Child::spawn("send_once", {name.name, dir.path, sync_arg(), std::to_string(priority), std::to_string(bytes)},
                        env);
  }

  // Receive until the fillers and one copy of wedge_id are in, then keep
  // housekeeping and draining until a round brings nothing and nothing waits
  // in the log. Returns how many copies of wedge_id bob got.
  int drain_counting_the_id() {
    int copies = 0;
    std::uint64_t others = 0;
    for (int misses = 0; others < fillers || copies == 0;) {
      auto hk = bus->housekeep();  // adopts what a dead sender left in the log
      EXPECT_TRUE(hk) << hk.error().message;
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
      auto hk = bus->housekeep();
      EXPECT_TRUE(hk) << hk.error().message;
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
  killed.expect_line("paused-at " + point);
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

TEST(Wedge, SpillerKilledAfterBufferingItsRecordLeavesAnIdTheResendUses) {
  killed_then_resent(Sync::group, "spill-appended", true, false);
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
// (then `sent` was said, the housekeeper adopts it and the resend is its duplicate).
TEST(Wedge, LoggedSenderKilledBeforeItsLaneCommitLeavesAnIdTheResendUses) {
  killed_then_resent(Sync::group, "logged-appended", false, true);
}

TEST(Wedge, LoggedSenderKilledBeforeItsLaneCommitLeavesAnIdTheResendUsesWithSyncAlways) {
  killed_then_resent(Sync::always, "logged-appended", false, false);
}

TEST(Wedge, SpillerKilledAfterWritingItsRecordLeavesAnIdTheResendUsesWithSyncAlways) {
  killed_then_resent(Sync::always, "spill-written", true, false);
}

// The log refuses the record (EFBIG): the send says log_failed, the message is
// never received, and the resend with the same id is accepted and received once.
void log_failed_then_resent(Sync sync, bool spill, const std::string& second) {
  Fixture f(sync);
  if (spill) f.fill_spill_lane();
  const std::uint8_t prio = spill ? spill_priority : lane_priority;
  Child c = Child::spawn("send_past_the_limit_then_again",
                         {f.name.name, f.dir.path, f.sync_arg(), std::to_string(prio), std::to_string(48 * 1024)});
  const std::vector<std::string> r = words(c.read_line());
  ASSERT_EQ(c.wait(), 0);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], "log_failed");
  EXPECT_EQ(r[1], "0");
  EXPECT_EQ(r[2], "log_failed") << "the tracker keeps the status the sender heard";
  EXPECT_EQ(r[3], second) << "the resend is accepted";
  EXPECT_EQ(r[4], "0") << "log_failed frees the id: the resend is no duplicate";
  EXPECT_EQ(f.drain_counting_the_id(), 1);
  EXPECT_EQ(f.status_of_id(), "delivered");
}

TEST(Wedge, LogFailedMessageIsNeverReceivedAndItsResendIsReceivedOnce) {
  log_failed_then_resent(Sync::always, true, "sent");
}

TEST(Wedge, LogFailedSpilledMessageIsNeverReceivedAndItsResendIsReceivedOnce) {
  log_failed_then_resent(Sync::group, true, "outbox");
}

}  // namespace

COURIER_TEST_MAIN
