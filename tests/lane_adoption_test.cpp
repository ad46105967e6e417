// Messages the housekeeper adopts from the log (docs/design.md, "No wedged
// ids"): the receiver's forwarder finds them wherever its cursors are, and a
// copy that may be a second one is handed out flagged redelivered. Real
// processes: a sender stopped at a named point of its send
// (COURIER_TEST_PAUSE_AT, detail::pause_point) and SIGKILLed there; the
// parent housekeeps and receives.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_reader.hpp"
#include "journal_support.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

constexpr std::uint64_t alice_id = 5151;
constexpr std::uint8_t alice_lane = 3;  // empty: alice's send goes to the lane
constexpr std::uint8_t spill_lane = 5;  // filled by the parent: carol's send to it spills

Options adoption_options(const std::string& dir) {
  Options o = small_options();
  o.log_dir = dir;
  o.sync = Sync::group;
  o.group_commit_interval = std::chrono::seconds(10);      // nothing synced, nothing said sent, unless asked
  o.housekeeping_interval = std::chrono::milliseconds(0);  // the parent housekeeps when it chooses
  o.prefault_tracker = false;
  return o;
}

// args: bus, log dir. Alice sends alice_id to bob (stored). With
// COURIER_TEST_PAUSE_AT it stops inside the send; its housekeeper thread (every
// 2 ms) writes what its log buffered meanwhile, unsynced, no status said.
COURIER_CHILD(alice_sends) {
  Options o = adoption_options(args[1]);
  o.housekeeping_interval = std::chrono::milliseconds(2);
  auto bus = Bus::open(args[0], o);
  if (!bus) return 10;
  auto alice = bus->endpoint("alice");
  if (!alice) return 11;
  const SendResult r = alice->send(
      {.to = peer("bob"), .priority = alice_lane, .expiry = std::chrono::seconds(60), .id = alice_id}, "from alice");
  tell_parent(std::string(status_name(r.status)));
  return 0;
}

// args: bus, log dir. Attaches bob and receives until it stops (with
// COURIER_TEST_PAUSE_AT=forward-committed: inside the forwarder, its copy of
// a spilled message committed to the lane, not yet accounted).
COURIER_CHILD(bob_receives) {
  auto bus = Bus::open(args[0], adoption_options(args[1]));
  if (!bus) return 10;
  auto bob = bus->attach("bob");
  if (!bob) return 11;
  for (int misses = 0; misses < 20;) misses += bob->receive(std::chrono::seconds(1)) ? 0 : 1;
  tell_parent("drained");
  return 0;
}

// args: bus, log dir. Opens the bus, which rebuilds it from its log (its
// shared memory is gone: a reboot); with COURIER_TEST_PAUSE_AT=recovery-spilled
// it stops in the put-back, a message just marked spilled and not yet counted.
COURIER_CHILD(rebuilds) {
  auto bus = Bus::open(args[0], adoption_options(args[1]));
  if (!bus) return 10;
  tell_parent("rebuilt");
  return 0;
}

struct AdoptionBus {
  BusName name;
  TempDir dir{"courier-adopt"};
  std::optional<Bus> bus;
  std::optional<Receiver> bob;
  AdoptionBus() {
    auto b = Bus::open(name.name, adoption_options(dir.path));
    if (!b) throw std::runtime_error(b.error().message);
    bus.emplace(std::move(*b));
    if (!bus->endpoint("alice") || !bus->add_endpoint("bob")) throw std::runtime_error("endpoints");
    auto r = bus->attach("bob");
    if (!r) throw std::runtime_error(r.error().message);
    bob.emplace(std::move(*r));
  }

  // Whether a journal file of the bus holds a message record of alice_id.
  bool journal_holds_alice() {
    const std::string journals = Bus::log_directory_for(dir.path, name.name);
    for (const auto& r : journal_testing::read_dir_records(journals).records) {
      if (r.kind != logfmt::Kind::message) continue;
      auto m = decode_journal_message(r.body);
      if (m && m->header.id == alice_id) return true;
    }
    return false;
  }

  std::string alice_status() {
    auto st = bus->status("alice", alice_id);
    return st ? std::string(status_name(st->status)) : st.error().message;
  }
};

// The housekeeper adopts alice's message (her claim never committed, her
// record in her file) after bob's forwarder has read past her record: before,
// the forwarder's cursor never went back, and her message waited for the next
// receiver process (here: bob never got it). Now a scan that reads every file
// to its end and leaves spilled messages counted before it unaccounted reads
// the files again from their start.
TEST(LaneAdoption, AMessageAdoptedBehindTheForwardersCursorIsForwarded) {
  AdoptionBus b;
  // A spilled message of carol's gives bob's forwarder a backlog to scan for.
  auto carol = b.bus->endpoint("carol");
  ASSERT_TRUE(carol) << carol.error().message;
  std::uint64_t fillers = 0;
  for (const std::size_t bytes : {std::size_t{1000}, std::size_t{7}}) {  // 7: no smaller than carol's
    for (;; ++fillers) {
      ASSERT_LT(fillers, 100000u) << "the lane never filled";
      const SendResult r = carol->send({.to = peer("bob"), .priority = spill_lane}, std::string(bytes, 'f'));
      if (r.status == Status::full) break;
      ASSERT_EQ(r.status, Status::sent);
    }
  }

  Child alice = Child::spawn("alice_sends", {b.name.name, b.dir.path}, {"COURIER_TEST_PAUSE_AT=logged-committed"});
  alice.expect_line("paused-at logged-committed");
  ASSERT_TRUE(eventually([&] { return b.journal_holds_alice(); })) << "her record never reached her file";

  constexpr std::uint64_t carol_id = 6161;
  ASSERT_EQ(carol
                ->send({.to = peer("bob"), .priority = spill_lane, .expiry = std::chrono::seconds(60), .id = carol_id},
                       "spilled")
                .status,
            Status::outbox);
  // A spilled record is counted once a batch wrote it: this flush's, at the latest.
  ASSERT_TRUE(b.bus->flush_log());
  const InboxData& in = b.bus->segment().inbox(endpoint_slot(b.bob->id()));
  ASSERT_EQ(in.spilled[spill_lane].load(), 1u) << "carol's message did not spill";
  // Bob takes the fillers, then his forwarder scans every file: it reads past
  // alice's record (her entry is marked committed, not spilled: in her lane,
  // as far as it knows) and forwards carol's.
  std::uint64_t got = 0;
  bool carol_got = false;
  for (int misses = 0; got < fillers || !carol_got;) {
    auto m = b.bob->receive(std::chrono::seconds(2));
    if (!m) {
      ASSERT_LT(++misses, 10) << "got " << got << " of " << fillers << " fillers, carol's: " << carol_got;
      continue;
    }
    ASSERT_NE(m->id(), alice_id);
    if (m->id() == carol_id)
      carol_got = true;
    else
      ++got;
  }
  alice.kill9();
  alice.wait();
  // Her claim never committed, her record is in her file: adopted, owed.
  ASSERT_TRUE(b.bus->housekeep());
  ASSERT_EQ(in.spilled[alice_lane].load(), 1u) << "alice's message was not adopted";
  EXPECT_EQ(b.alice_status(), "outbox");

  int copies = 0;
  for (int round = 0; round < 200 && copies == 0; ++round) {
    while (auto m = b.bob->receive(std::chrono::milliseconds(5))) copies += m->id() == alice_id ? 1 : 0;
  }
  EXPECT_EQ(copies, 1) << "the adopted message was never forwarded";
  for (int round = 0; round < 20; ++round) {
    while (auto m = b.bob->receive(std::chrono::milliseconds(5))) copies += m->id() == alice_id ? 1 : 0;
  }
  EXPECT_EQ(copies, 1);
  EXPECT_EQ(b.alice_status(), "delivered");
  EXPECT_EQ(in.forwarded[alice_lane].load(), 1u);
}

// A receiver killed inside its forwarder, after its copy of a spilled
// message reached the lane and before it was accounted: the next receiver's
// forwarder puts a second copy there (at least once). Before, that copy was
// flagged `forwarded` only, and with auto_ack off (the first copy taken, not
// acknowledged) it was handed out with redelivered() false. Now the first
// forwarder marked the entry `copied` before its commit, and every later copy
// is flagged redelivered.
TEST(LaneAdoption, ASecondForwardedCopyIsFlaggedRedelivered) {
  AdoptionBus b;
  auto carol = b.bus->endpoint("carol");
  ASSERT_TRUE(carol) << carol.error().message;
  for (const std::size_t bytes : {std::size_t{1000}, std::size_t{7}}) {  // 7: no smaller than carol's
    for (int i = 0;; ++i) {
      ASSERT_LT(i, 100000) << "the lane never filled";
      const SendResult r = carol->send({.to = peer("bob"), .priority = spill_lane}, std::string(bytes, 'f'));
      if (r.status == Status::full) break;
      ASSERT_EQ(r.status, Status::sent);
    }
  }
  constexpr std::uint64_t carol_id = 7171;
  ASSERT_EQ(carol
                ->send({.to = peer("bob"), .priority = spill_lane, .expiry = std::chrono::seconds(60), .id = carol_id},
                       "spilled")
                .status,
            Status::outbox);
  b.bob.reset();  // detached: the child takes bob's lease

  Child bob = Child::spawn("bob_receives", {b.name.name, b.dir.path}, {"COURIER_TEST_PAUSE_AT=forward-committed"});
  bob.expect_line("paused-at forward-committed");
  bob.kill9();
  bob.wait();

  // The parent's receiver, acknowledging by hand: it takes each copy without acknowledging the one before.
  auto rx = b.bus->attach("bob", ReceiverOptions{.auto_ack = false});
  ASSERT_TRUE(rx) << rx.error().message;
  std::vector<bool> flags;  // redelivered() of each copy of carol's message, in order
  for (int round = 0; round < 200 && flags.size() < 2; ++round) {
    while (auto m = rx->receive(std::chrono::milliseconds(5)))
      if (m->id() == carol_id) flags.push_back(m->redelivered());
  }
  ASSERT_EQ(flags.size(), 2u) << "the dead forwarder's copy and the next forwarder's";
  EXPECT_FALSE(flags[0]) << "the first copy was never handed out";
  EXPECT_TRUE(flags[1]) << "a second copy handed out without the redelivered flag";
}

// A rebuild killed after marking a message spilled (no room for it in its
// lane) and before counting it: the opener that takes the rebuild over counts
// it, and it is delivered. Before, the takeover took the mark for a counted
// message; the last message of its lane, it waited in the log for good, as no
// forwarder looks for a message its lane's counts do not show.
TEST(LaneAdoption, AMessageMarkedSpilledByAKilledRebuildIsStillDelivered) {
  BusName name;
  TempDir dir{"courier-adopt"};
  std::uint64_t fit = 0;  // the stored messages bob's lane holds; one more spills
  {
    auto bus = Bus::open(name.name, adoption_options(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_endpoint("bob"));
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice) << alice.error().message;
    const InboxData& in = bus->segment().inbox(endpoint_slot(*bus->find_endpoint("bob")));
    for (;; ++fit) {
      ASSERT_LT(fit, 100000u) << "the lane never filled";
      const SendResult r = alice->send({.to = peer("bob"), .priority = spill_lane, .expiry = std::chrono::seconds(60)},
                                       std::string(1000, 'm'));
      ASSERT_TRUE(r.ok()) << status_name(r.status);
      ASSERT_TRUE(bus->flush_log());  // a spilled record is counted once a batch wrote it
      if (in.spilled[spill_lane].load() != 0) break;
    }
    ASSERT_GT(fit, 0u);
  }
  ASSERT_TRUE(Bus::remove(name.name, RemoveOptions{.force = true}));  // a reboot
  Child rebuild = Child::spawn("rebuilds", {name.name, dir.path}, {"COURIER_TEST_PAUSE_AT=recovery-spilled"});
  rebuild.expect_line("paused-at recovery-spilled");
  rebuild.kill9();
  rebuild.wait();

  auto bus = Bus::open(name.name, adoption_options(dir.path));  // takes the dead one's rebuild over
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().left, 1u);
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob) << bob.error().message;
  std::uint64_t got = 0;
  for (int misses = 0; got < fit + 1;) {
    if (bob->receive(std::chrono::seconds(2))) {
      ++got;
      continue;
    }
    ASSERT_LT(++misses, 5) << "got " << got << " of " << fit + 1;
  }
}

}  // namespace

COURIER_TEST_MAIN
