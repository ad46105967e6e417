// After a forced removal (issue 12, item 4): every process still attached to
// the removed bus gets `removed` on its next call (a parked receiver is woken
// with it), and with a log nothing reported `sent` is lost: the next opener
// creates the bus anew and recovers every owed message, once. Real child
// processes hold the receivers and send; the courier CLI runs as one too.
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::read_stdin_line;
using test::small_options;
using test::tell_parent;
using test::TempDir;

constexpr auto patience = std::chrono::seconds(20);  // bound of every wait for another process

std::string removed_message(const std::string& bus) {
  return "bus '" + bus + "' was removed (courier rm --force); open it again";
}

Options logged_options(const std::string& dir, bool create) {
  Options o = small_options();
  o.lane_capacity = 1 << 20;  // room for everything the senders below owe
  o.log_dir = dir;
  o.sync = Sync::always;
  o.create = create;
  return o;
}

// args: bus. Attaches bob's receiver (parking at once), says "attached", and
// waits for a message for an hour: the removal must wake it. Then reports
// the error and what the next calls answer.
COURIER_CHILD(blocked_receiver) {
  Options o;  // names no setting: takes the bus's, whatever geometry it was created with
  o.create = false;
  auto bus = Bus::open(args[0], o);
  if (!bus) return 3;
  auto bob = bus->attach("bob", ReceiverOptions{.idle = {.spin_ns = 0, .park = true}});
  if (!bob) return 4;
  tell_parent("attached");
  if (bob->receive(std::chrono::hours(1))) return 5;  // nothing is ever sent to bob
  const std::optional<Error> e = bob->error();
  if (!e) return 6;
  tell_parent(std::string(errc_name(e->code)) + ": " + e->message);
  // The next calls answer at once, the same way.
  const bool quiet = !bob->receive(std::chrono::hours(1)) && !bob->try_receive() && bob->removed();
  auto added = bus->add_endpoint("late");
  auto carol = bus->attach("carol");
  tell_parent(std::string(quiet ? "quiet" : "noisy") + " " +
              std::string(added ? "added" : errc_name(added.error().code)) + " " +
              std::string(carol ? "attached" : errc_name(carol.error().code)));
  return 0;
}

// Wait (bounded) until the receiver of endpoint `id` sleeps on its futex word.
bool wait_parked(const Bus& bus, EndpointId id) {
  const InboxData& in = bus.segment().inbox(endpoint_slot(id));
  for (const auto deadline = std::chrono::steady_clock::now() + patience;;) {
    // Relaxed: a sleeping receiver's flag, observed only.
    if (in.parked.load(std::memory_order_relaxed) != 0) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    sched_yield();
  }
}

TEST(Removal, aParkedReceiverIsWokenAndItsNextCallsAnswerRemoved) {
  BusName name;
  auto bus = Bus::open(name.name, small_options());
  ASSERT_TRUE(bus) << bus.error().message;
  auto bob_id = bus->add_endpoint("bob");
  ASSERT_TRUE(bob_id);
  Child bob = Child::spawn("blocked_receiver", {name.name});
  bob.expect_line("attached");
  ASSERT_TRUE(wait_parked(*bus, *bob_id));

  auto refused = Bus::remove(name);  // a receiver is attached: refused, nothing marked
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::busy);
  EXPECT_FALSE(bus->removed());

  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  bob.expect_line("removed: receiving as 'bob': " + removed_message(name.name));
  bob.expect_line("quiet removed removed");
  EXPECT_EQ(bob.wait(), 0);
  EXPECT_TRUE(bus->removed());  // this process had it open too
  auto again = bus->endpoint("alice");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::removed);
  EXPECT_EQ(again.error().message, removed_message(name.name));
}

// args: bus. Sends as alice; before the removal (stdin "before") and after it
// (stdin "after") reports what each kind of call answers, on one line.
COURIER_CHILD(sender_across_removal) {
  Options o = small_options();
  o.create = false;
  auto bus = Bus::open(args[0], o);
  if (!bus) return 3;
  auto alice = bus->endpoint("alice");
  if (!alice) return 4;
  for (;;) {
    tell_parent("ready");
    const std::string when = read_stdin_line();
    if (when.empty()) return 0;
    const SendResult ff = alice->send({.to = peer("bob")}, "real-time");
    const SendResult tracked = alice->send({.to = peer("bob"), .expiry = std::chrono::minutes(1)}, "stored");
    const SendResult fan = alice->send({.to = group("team"), .expiry = std::chrono::minutes(1)}, "to all");
    auto polled = alice->poll_status();
    auto st = alice->status(tracked.id);
    auto ep = bus->endpoint("dave");
    auto err = [](const auto& r) { return r ? std::string("ok") : std::string(errc_name(r.error().code)); };
    tell_parent(when + ": " + std::string(status_name(ff.status)) + " " + std::string(status_name(tracked.status)) +
                " " + std::string(status_name(fan.status)) + " " + err(polled) + " " + err(st) + " " + err(ep));
  }
}

TEST(Removal, aSendersNextCallsAnswerRemoved) {
  BusName name;
  auto bus = Bus::open(name.name, small_options());
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->add_group("team"));
  ASSERT_TRUE(bus->add_member("team", "bob"));
  auto bob = bus->attach("bob");  // a live receiver: real-time sends are taken
  ASSERT_TRUE(bob);
  Child alice = Child::spawn("sender_across_removal", {name.name});
  alice.expect_line("ready");
  ASSERT_TRUE(alice.send_line("before"));
  alice.expect_line("before: sent sent sent ok ok ok");
  alice.expect_line("ready");

  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  ASSERT_TRUE(alice.send_line("after"));
  alice.expect_line("after: removed removed removed removed removed removed");
  alice.expect_line("ready");
  alice.close_input();
  EXPECT_EQ(alice.wait(), 0);
  EXPECT_TRUE(bob->removed());
  EXPECT_FALSE(bob->try_receive());  // the three messages sent before are the removed bus's
}

// args: bus, log dir, count. Sends `count` stored messages to carol (no
// receiver: they are owed), each `sent`; says so; at "go" (after the removal)
// sends one more and reports its status.
COURIER_CHILD(logged_sender) {
  auto bus = Bus::open(args[0], logged_options(args[1], false));
  if (!bus) return 3;
  auto alice = bus->endpoint("alice");
  if (!alice) return 4;
  const int n = std::stoi(args[2]);
  for (int i = 0; i < n; ++i) {
    const SendResult r =
        alice->send({.to = peer("carol"), .expiry = std::chrono::minutes(10)}, "m" + std::to_string(i));
    if (r.status != Status::sent) return 5;
  }
  tell_parent("sent " + std::to_string(n));
  if (read_stdin_line() != "go") return 6;
  const SendResult late = alice->send({.to = peer("carol"), .expiry = std::chrono::minutes(10)}, "after the removal");
  tell_parent(std::string(status_name(late.status)));
  return 0;
}

// Everything carol's receiver hands out on the bus rebuilt from the log.
std::vector<std::string> drain(Bus& bus, const std::string& endpoint) {
  std::vector<std::string> got;
  auto rx = bus.attach(endpoint);
  if (!rx) return {"attach failed: " + rx.error().message};
  while (auto m = rx->try_receive()) got.emplace_back(m->text());
  return got;
}

TEST(Removal, theNextOpenerRecoversEveryOwedMessageOnceWithoutAnExplicitRecover) {
  BusName name;
  TempDir dir;
  constexpr int owed = 200;
  {
    auto bus = Bus::open(name.name, logged_options(dir.path, true));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_endpoint("bob"));
    ASSERT_TRUE(bus->add_endpoint("carol"));
  }
  Child bob = Child::spawn("blocked_receiver", {name.name});
  bob.expect_line("attached");
  Child alice = Child::spawn("logged_sender", {name.name, dir.path, std::to_string(owed)});
  alice.expect_line("sent " + std::to_string(owed));

  ASSERT_FALSE(Bus::remove(name));  // bob is attached
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  bob.expect_line("removed: receiving as 'bob': " + removed_message(name.name));
  ASSERT_TRUE(alice.send_line("go"));
  alice.expect_line("removed");  // not written anywhere: not promised, not recovered
  EXPECT_EQ(alice.wait(), 0);

  // The next open creates the bus again and rebuilds it from the journals
  // (alice's process is gone; bob's too, once it answered).
  bob.close_input();
  EXPECT_EQ(bob.wait(), 0);
  auto bus = Bus::open(name.name, logged_options(dir.path, true));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_TRUE(bus->created());
  EXPECT_FALSE(bus->removed());
  EXPECT_EQ(bus->recovery().owed, static_cast<std::uint64_t>(owed));
  std::vector<std::string> got = drain(*bus, "carol");
  std::vector<std::string> want;
  for (int i = 0; i < owed; ++i) want.push_back("m" + std::to_string(i));
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

// args: bus, log dir, tag, file. Sends stored messages to carol with
// Sync::always until a send answers `removed` (at most `limit`), says
// "running" after the first few, then writes the texts of those reported
// `sent` to `file`, one a line, and says "done".
constexpr int racing_limit = 20000;
COURIER_CHILD(racing_sender) {
  auto bus = Bus::open(args[0], logged_options(args[1], false));
  if (!bus) return 3;
  auto alice = bus->endpoint("alice-" + args[2]);
  if (!alice) return 4;
  std::vector<std::string> sent;
  int i = 0;
  for (;; ++i) {
    if (i == racing_limit) return 6;  // the removal never reached this sender
    const std::string text = args[2] + "-" + std::to_string(i);
    const SendResult r = alice->send({.to = peer("carol"), .expiry = std::chrono::minutes(10)}, text);
    if (r.status == Status::removed) break;
    if (r.status != Status::sent) return 5;
    sent.push_back(text);
    if (i == 100) tell_parent("running");
  }
  if (i <= 100) return 7;
  std::ofstream out(args[3]);
  for (const std::string& t : sent) out << t << '\n';
  out.close();
  if (!out) return 8;
  tell_parent("done");
  return 0;
}

// The scenario: two senders with --sync always keep sending while
// the bus is removed with force and opened again; every message reported
// `sent` comes back in the bus the next open creates, once (the removal
// reaches a sender between its check and its journal write: that message is
// reported `removed`, not `sent`).
TEST(Removal, noSentMessageOfTwoRacingSendersIsStranded) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name.name, logged_options(dir.path, true));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_endpoint("carol"));
  }
  const std::string file_a = dir.path + "/a.sent", file_b = dir.path + "/b.sent";
  Child a = Child::spawn("racing_sender", {name.name, dir.path, "a", file_a});
  Child b = Child::spawn("racing_sender", {name.name, dir.path, "b", file_b});
  a.expect_line("running");
  b.expect_line("running");
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  // The next opener comes at once, while the senders may still be writing
  // to their journals: it creates the bus and recovers what they hold now.
  auto bus = Bus::open(name.name, logged_options(dir.path, true));
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->created());
  a.expect_line("done");
  b.expect_line("done");
  EXPECT_EQ(a.wait(), 0);
  EXPECT_EQ(b.wait(), 0);

  std::set<std::string> sent;
  for (const std::string& f : {file_a, file_b}) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) sent.insert(line);
  }
  ASSERT_GT(sent.size(), 200u);
  std::map<std::string, int> got;
  for (const std::string& t : drain(*bus, "carol")) ++got[t];
  std::size_t stranded = 0, twice = 0;
  for (const std::string& t : sent) stranded += got.count(t) == 0 ? 1 : 0;
  for (const auto& [t, n] : got) twice += n > 1 ? 1 : 0;
  std::cout << "[ removal  ] " << sent.size() << " reported sent, " << got.size() << " recovered, " << stranded
            << " stranded\n";
  EXPECT_EQ(stranded, 0u) << "of " << sent.size() << " reported sent";
  EXPECT_EQ(twice, 0u);
  // Received but reported `removed` (written, then the removal came first): at most one per sender.
  EXPECT_LE(got.size(), sent.size() + 2);
}

// args: bus. Opens it, answers "ready: <find_endpoint> <find_group>", then at
// "go" (after the removal) reports what every directory call answers.
COURIER_CHILD(directory_across_removal) {
  Options o = small_options();
  o.create = false;
  auto bus = Bus::open(args[0], o);
  if (!bus) return 3;
  auto err = [](const auto& r) { return r ? std::string("ok") : std::string(errc_name(r.error().code)); };
  tell_parent("ready: " + err(bus->find_endpoint("bob")) + " " + err(bus->find_group("team")));
  if (read_stdin_line() != "go") return 4;
  tell_parent(err(bus->add_group("crew")) + " " + err(bus->remove_group("team")) + " " +
              err(bus->find_endpoint("bob")) + " " + err(bus->find_group("team")) + " " +
              err(bus->add_member("team", "carol")) + " " + err(bus->remove_member("team", "bob")) + " " +
              err(bus->add_endpoint("dave")) + " " + err(bus->remove_endpoint("bob")) + " " +
              err(bus->endpoint("erin")) + " " + err(bus->attach("frank")) + " " + err(bus->status("bob", 1)));
  return 0;
}

// The directory calls of a process that had the bus open when it was removed
// (add_group, remove_group, find_endpoint, find_group, and the rest) answer
// removed, like its sends.
TEST(Removal, everyDirectoryCallAfterTheRemovalAnswersRemoved) {
  BusName name;
  auto bus = Bus::open(name.name, small_options());
  ASSERT_TRUE(bus) << bus.error().message;
  ASSERT_TRUE(bus->add_group("team"));
  ASSERT_TRUE(bus->add_member("team", "bob"));
  Child c = Child::spawn("directory_across_removal", {name.name});
  c.expect_line("ready: ok ok");
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  ASSERT_TRUE(c.send_line("go"));
  c.expect_line("removed removed removed removed removed removed removed removed removed removed removed");
  EXPECT_EQ(c.wait(), 0);
}

// The CLI: a `courier recv` waiting on a bus removed with `rm --force` exits 1
// naming the removal.
TEST(Removal, aWaitingCourierRecvExitsOneNamingTheRemoval) {
  namespace cli = test::cli;
  BusName name;
  ASSERT_EQ(cli::run({"create", name.name}).status, 0);
  cli::Child receiver({"recv", name.name, "bob", "--count", "1", "--timeout", "1h"});
  bool attached = false;
  for (const auto deadline = std::chrono::steady_clock::now() + patience;
       !attached && std::chrono::steady_clock::now() < deadline;)
    attached = cli::run({"stat", name.name, "--json"}).out.find("\"receiver_attached\":true") != std::string::npos;
  ASSERT_TRUE(attached);
  EXPECT_EQ(cli::run({"rm", name.name}).status, 1);  // refused: bob is attached
  const cli::Output rm = cli::run({"rm", name.name, "--force"});
  EXPECT_EQ(rm.status, 0) << rm.err;
  const cli::Output gone = receiver.finish();
  EXPECT_EQ(gone.status, 1);
  EXPECT_EQ(gone.out, "");
  EXPECT_EQ(gone.err, "courier: receiving as 'bob': " + removed_message(name.name) + "\n");
}

// A `courier send --wait delivered` waiting for a receiver that never comes
// exits 1 naming the removal too.
TEST(Removal, aCourierSendWaitingForAStatusExitsOneNamingTheRemoval) {
  namespace cli = test::cli;
  BusName name;
  ASSERT_EQ(cli::run({"create", name.name}).status, 0);
  ASSERT_EQ(cli::run({"endpoint", "add", name.name, "bob"}).status, 0);
  cli::Child sender({"send", name.name, "--from", "alice", "--to", "bob", "--expiry", "1h", "--id", "7", "--wait",
                     "delivered", "--timeout", "1h", "hello"});
  bool tracked = false;  // the message is in the tracker: the sender waits for its delivery
  for (const auto deadline = std::chrono::steady_clock::now() + patience;
       !tracked && std::chrono::steady_clock::now() < deadline;)
    tracked = cli::run({"status", name.name, "--from", "alice", "7"}).status == 0;
  ASSERT_TRUE(tracked);
  const cli::Output rm = cli::run({"rm", name.name});  // no receiver attached: no force needed
  EXPECT_EQ(rm.status, 0) << rm.err;
  const cli::Output gone = sender.finish();
  EXPECT_EQ(gone.status, 1);
  EXPECT_EQ(gone.err, "courier: waiting for delivered: " + removed_message(name.name) + "\n");
}

// The getters of a process that had the bus open when it was removed keep
// answering from the removed memory (read-only, harmless), and stat() says
// so: removed, and when. sweep() changes nothing there (it used to report a
// message expired and tell its sender, in the removed bus). Every call that
// changes or sends answers removed.
TEST(Removal, theGettersKeepAnsweringAndStatSaysTheBusWasRemoved) {
  BusName name;
  auto bus = Bus::open(name.name, small_options());
  ASSERT_TRUE(bus) << bus.error().message;
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice) << alice.error().message;
  ASSERT_TRUE(bus->add_endpoint("bob"));
  const SendResult r =
      alice->send({.to = peer("bob"), .expiry = std::chrono::milliseconds(1), .id = 77}, "waits for bob");
  ASSERT_EQ(r.status, Status::sent);
  const std::uint64_t expired_at = realtime_ns() + 2'000'000;
  ASSERT_TRUE(test::eventually([&] { return realtime_ns() >= expired_at; }));  // only time expires it
  EXPECT_FALSE(bus->stat().removed);
  EXPECT_EQ(bus->stat().removed_ns, 0u);

  const std::uint64_t before = realtime_ns();
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  const std::uint64_t after = realtime_ns();

  const BusStats s = bus->stat();
  EXPECT_TRUE(s.removed);
  EXPECT_GE(s.removed_ns, before);
  EXPECT_LE(s.removed_ns, after);
  EXPECT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(bus->settings().lane_capacity, small_options().lane_capacity.value());
  EXPECT_EQ(bus->endpoints().size(), 2u);
  EXPECT_EQ(bus->endpoint_name(alice->id()), "alice");
  const SweepResult swept = bus->sweep();
  EXPECT_EQ(swept.expired, 0u) << "swept the removed bus";
  EXPECT_EQ(swept.retired, 0u);
  auto added = bus->add_endpoint("carol");
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, Errc::removed);
  EXPECT_EQ(alice->send({.to = peer("bob"), .expiry = std::chrono::seconds(5)}, "x").status, Status::removed);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
