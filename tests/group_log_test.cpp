// Groups in the log (issue 12 item 5): group changes are journaled, recovery
// rebuilds the groups and their members after a reboot (the last change wins,
// across writers by time) before it puts back owed group messages, compaction
// keeps them, files of the older format are still read; and an opener waiting
// on a rebuild that fails gets a clear error, not a hang nor a half-built bus.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/crc32c.hpp"
#include "courier/detail/log_format.hpp"
#include "courier/detail/segment.hpp"
#include "support.hpp"

namespace courier {
namespace {

using namespace courier::test;
namespace fs = std::filesystem;

Options logged(const std::string& dir, std::uint64_t tracker_capacity = 4096) {
  Options o = small_options();
  o.log_dir = dir;
  o.sync = Sync::always;
  o.tracker_capacity = tracker_capacity;
  o.housekeeping_interval = std::chrono::milliseconds(0);  // the tests call housekeep() themselves
  return o;
}

SendOptions stored(Destination to) {
  SendOptions s;
  s.to = to;
  s.expiry = std::chrono::seconds(600);
  return s;
}

// The members of `group` by name, sorted; {"<no group>"} when there is no such group.
std::vector<std::string> members_of(const Bus& bus, const std::string& group) {
  for (const GroupEntry& g : bus.groups()) {
    if (g.name != group) continue;
    std::vector<std::string> out;
    for (EndpointId id : g.members) out.push_back(bus.endpoint_name(id));
    std::sort(out.begin(), out.end());
    return out;
  }
  return {"<no group>"};
}

std::vector<std::string> drain_texts(Receiver& r) {
  std::vector<std::string> out;
  while (auto m = r.try_receive()) out.emplace_back(m->text());
  return out;
}

std::vector<std::string> numbered(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

// A reboot: every process gone, the shared memory gone, the journals kept.
void reboot(const std::string& name) { ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true})); }

std::vector<std::string> journal_files(const std::string& log_dir, const std::string& bus) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(Bus::log_directory_for(log_dir, bus)))
    if (e.path().extension() == ".journal") out.push_back(e.path().string());  // not the bus.settings manifest
  std::sort(out.begin(), out.end());
  return out;
}

// Each member, attached, takes exactly `want` (every owed message once, in order).
void expect_each_takes(Bus& bus, std::initializer_list<const char*> members, const std::vector<std::string>& want) {
  for (const char* member : members) {
    auto r = bus.attach(member);
    ASSERT_TRUE(r) << member;
    EXPECT_EQ(drain_texts(*r), want) << member;
  }
}

// ---------------------------------------------------------------- children

// args: bus, log dir. Sets up the groups of the reboot test, says "done".
COURIER_CHILD(group_setup) {
  auto bus = Bus::open(args.at(0), logged(args.at(1)));
  if (!bus) return 2;
  bool ok = bus->add_group("team") && bus->add_member("team", "ann") && bus->add_member("team", "ben") &&
            bus->add_member("team", "cid") && bus->remove_member("team", "cid") && bus->add_group("gone") &&
            bus->add_member("gone", "ann") && bus->remove_group("gone") && bus->add_group("empty");
  if (!ok) return 3;
  tell_parent("done");
  return 0;
}

// The setup above in a process of its own, which then exits; `file`: the one
// journal file it wrote.
void run_group_setup(const std::string& bus, const std::string& dir, std::string* file = nullptr) {
  Child setup = Child::spawn("group_setup", {bus, dir});
  setup.expect_line("done");
  ASSERT_EQ(setup.wait(), 0);
  if (file == nullptr) return;
  const std::vector<std::string> files = journal_files(dir, bus);
  ASSERT_EQ(files.size(), 1u);
  *file = files[0];
}

// The groups of that setup as a rebuild must bring them back.
void expect_setup_groups(const Bus& bus) {
  EXPECT_EQ(members_of(bus, "team"), (std::vector<std::string>{"ann", "ben"}));
  EXPECT_EQ(members_of(bus, "empty"), std::vector<std::string>{});
  EXPECT_FALSE(bus.find_group("gone"));
}

// args: bus, log dir. Opens the bus (its journal writer first), says
// "ready", then on "add NAME" / "remove NAME" changes team and says "ok".
COURIER_CHILD(group_changer) {
  auto bus = Bus::open(args.at(0), logged(args.at(1)));
  if (!bus) return 2;
  tell_parent("ready");
  for (;;) {
    const std::string line = read_stdin_line();
    if (line.empty()) return 0;
    const std::string who = line.substr(line.find(' ') + 1);
    const bool ok = line.rfind("add ", 0) == 0 ? static_cast<bool>(bus->add_member("team", who))
                                               : static_cast<bool>(bus->remove_member("team", who));
    tell_parent(ok ? "ok" : "failed");
  }
}

// args: bus, log dir, tracker capacity, pause ("pause" or "no"). Opens the
// bus; with "pause", says "rebuilding" at the first progress report of the
// rebuild and waits for a line. Says "opened" or "error CODE MESSAGE".
COURIER_CHILD(rebuild_opener) {
  Options o = logged(args.at(1), std::stoull(args.at(2)));
  bool paused = false;
  if (args.at(3) == "pause")
    o.on_recovery_progress = [&paused](const RecoveryProgress&) {
      if (paused) return;
      paused = true;
      tell_parent("rebuilding");
      (void)read_stdin_line();
    };
  auto bus = Bus::open(args.at(0), o);
  if (bus) {
    tell_parent("opened");
    return 0;
  }
  tell_parent("error " + std::string(errc_name(bus.error().code)) + " " + bus.error().message);
  return 1;
}

// args: bus, log dir. Adds an endpoint: with COURIER_TEST_PAUSE_IN_DIRECTORY
// set it stops inside that change, holding the directory's lock, alive.
COURIER_CHILD(directory_holder) {
  auto bus = Bus::open(args.at(0), logged(args.at(1)));
  if (!bus) return 2;
  return bus->add_endpoint("holder") ? 0 : 3;
}

// ---------------------------------------------------------------- tests

// Groups after a reboot: the members that joined come back, a member that
// left does not, a removed group does not, an empty group does; owed group
// messages reach each member once; the rebuilt group takes new messages.
TEST(GroupLog, GroupsComeBackAfterARebootWithTheirMembers) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_group_setup(name.name, dir.path));
  {
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice);
    for (const std::string& t : numbered(20)) {
      const SendResult r = alice->send(stored(group("team")), t);
      ASSERT_EQ(r.status, Status::sent);
      ASSERT_EQ(r.accepted, 2u);
    }
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(members_of(*bus, "team"), (std::vector<std::string>{"ann", "ben"}));
  EXPECT_EQ(members_of(*bus, "empty"), std::vector<std::string>{});
  EXPECT_FALSE(bus->find_group("gone")) << "a removed group stays removed";
  EXPECT_EQ(bus->recovery().injected, 40u);
  expect_each_takes(*bus, {"ann", "ben"}, numbered(20));
  // cid left before the messages: none for it.
  if (bus->find_endpoint("cid")) {
    auto cid = bus->attach("cid");
    ASSERT_TRUE(cid);
    EXPECT_TRUE(drain_texts(*cid).empty());
  }
  // The rebuilt group is a group: a new message reaches its two members.
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->send(stored(group("team")), "after").accepted, 2u);
}

// A removed endpoint leaves its groups with it: a reboot does not bring it back as a member.
TEST(GroupLog, ARemovedEndpointIsNoMemberAfterAReboot) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_group("other"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->add_member("team", "ben"));
    ASSERT_TRUE(bus->add_member("other", "ben"));
    ASSERT_TRUE(bus->remove_endpoint("ben"));
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(members_of(*bus, "team"), std::vector<std::string>{"ann"});
  EXPECT_EQ(members_of(*bus, "other"), std::vector<std::string>{});
  EXPECT_FALSE(bus->find_endpoint("ben"));
}

// Two writers: the one whose journal files are read first (it opened first)
// makes the later change. Recovery orders the changes by time, not by file.
TEST(GroupLog, TheLastChangeWinsAcrossWritersByTime) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
  }
  Child first = Child::spawn("group_changer", {name.name, dir.path});
  first.expect_line("ready");
  Child second = Child::spawn("group_changer", {name.name, dir.path});
  second.expect_line("ready");
  // second adds dan and eve; then first (read first) removes dan; second removes eve, first adds it back.
  ASSERT_TRUE(second.send_line("add dan"));
  second.expect_line("ok");
  ASSERT_TRUE(second.send_line("add eve"));
  second.expect_line("ok");
  ASSERT_TRUE(first.send_line("remove dan"));
  first.expect_line("ok");
  ASSERT_TRUE(second.send_line("remove eve"));
  second.expect_line("ok");
  ASSERT_TRUE(first.send_line("add eve"));
  first.expect_line("ok");
  first.close_input();
  second.close_input();
  ASSERT_EQ(first.wait(), 0);
  ASSERT_EQ(second.wait(), 0);
  {
    auto live = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(live);
    ASSERT_EQ(members_of(*live, "team"), std::vector<std::string>{"eve"});
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(members_of(*bus, "team"), std::vector<std::string>{"eve"});
}

// Compaction deletes the journal file that held the group changes (every
// record in it is settled) only after it wrote the groups as they are into
// its own journal: a reboot after it still brings them back.
TEST(GroupLog, GroupsSurviveCompactionThenAReboot) {
  BusName name;
  TempDir dir;
  std::string setup_file;
  ASSERT_NO_FATAL_FAILURE(run_group_setup(name.name, dir.path, &setup_file));
  {
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    auto h = bus->housekeep();
    ASSERT_TRUE(h) << h.error().message;
    ASSERT_TRUE(h->holder);
    EXPECT_EQ(h->segments_deleted, 1u);
    EXPECT_FALSE(fs::exists(setup_file)) << "the setup's journal file (only group changes) was compacted away";
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice);
    for (const std::string& t : numbered(5)) ASSERT_EQ(alice->send(stored(group("team")), t).accepted, 2u);
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  expect_setup_groups(*bus);
  expect_each_takes(*bus, {"ann", "ben"}, numbered(5));
}

// Compaction restates a file's groups as the directory has them before it
// deletes the file. A lookup that fails (the directory's lock held past the
// open timeout by a process that is alive but stopped inside a change) is no
// answer: the file is kept and nothing is written, where the group used to be
// restated as removed and its members as gone, for good, at the next reboot.
// Once the lock is free the file goes, and the groups survive a reboot.
TEST(GroupLog, CompactionKeepsAFileWhoseGroupsTheDirectoryCannotSay) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer reports the lock's takeover from the killed holder, after
  // a wait for it that timed out, as an unlock of an unlocked mutex (a robust
  // mutex across processes, which it does not follow); and `courier ls` in
  // another test, looking at this bus meanwhile, then fails the same way. The
  // release and ASan stages run it.
  GTEST_SKIP() << "the directory lock's takeover after a timed-out wait is not followed by ThreadSanitizer";
#endif
  BusName name;
  TempDir dir;
  std::string setup_file;
  ASSERT_NO_FATAL_FAILURE(run_group_setup(name.name, dir.path, &setup_file));
  {
    Options o = logged(dir.path);
    o.open_timeout = std::chrono::milliseconds(200);  // the directory lock's wait, too
    auto bus = Bus::open(name.name, o);
    ASSERT_TRUE(bus) << bus.error().message;
    Child holder = Child::spawn("directory_holder", {name.name, dir.path}, {"COURIER_TEST_PAUSE_IN_DIRECTORY=1"});
    holder.expect_line("paused-in-directory");
    auto h = bus->housekeep();
    ASSERT_TRUE(h) << h.error().message;
    ASSERT_TRUE(h->holder);
    EXPECT_EQ(h->segments_deleted, 0u);
    EXPECT_TRUE(fs::exists(setup_file)) << "kept while the directory cannot say what its groups are";
    holder.kill9();
    holder.wait();
    // Its back-off: due one pass after it was kept (the holder's own journal file goes too).
    for (int pass = 0; pass < 4 && fs::exists(setup_file); ++pass) {
      h = bus->housekeep();
      ASSERT_TRUE(h) << h.error().message;
    }
    EXPECT_FALSE(fs::exists(setup_file)) << "deleted once the directory can say";
  }
  reboot(name.name);
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  expect_setup_groups(*bus);
}

// Journal files of format version 2 have no membership records: they are
// still read, the groups their messages name come back (without members, as
// before version 3) and the owed group messages reach each member once.
TEST(GroupLog, FilesOfTheOlderFormatAreStillRead) {
  BusName name;
  TempDir dir;
  std::vector<std::string> setup_files;
  {
    // The groups made by one handle (its own journal file, deleted below),
    // the messages by another: what is left holds no membership record, as a
    // version-2 writer's journals. (Every opener of a logged bus writes to its
    // log, so a bus without membership records cannot be made otherwise.)
    {
      auto setup = Bus::open(name.name, logged(dir.path));
      ASSERT_TRUE(setup) << setup.error().message;
      ASSERT_TRUE(setup->add_group("team"));
      ASSERT_TRUE(setup->add_member("team", "ann"));
      ASSERT_TRUE(setup->add_member("team", "ben"));
    }
    setup_files = journal_files(dir.path, name.name);
    ASSERT_EQ(setup_files.size(), 1u);
    auto bus = Bus::open(name.name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice);
    for (const std::string& t : numbered(10)) ASSERT_EQ(alice->send(stored(group("team")), t).accepted, 2u);
  }
  reboot(name.name);
  ASSERT_TRUE(fs::remove(setup_files[0]));  // the membership records go with it
  for (const std::string& path : journal_files(dir.path, name.name)) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    ASSERT_GE(f.size(), logfmt::file_header_size);
    logfmt::FileHeader h;
    std::memcpy(&h, f.data(), sizeof h);
    ASSERT_EQ(h.format_version, logfmt::format_version);
    h.format_version = 2;
    h.header_crc = crc32c::mask(crc32c::value(&h, logfmt::file_header_crc_span));
    std::memcpy(f.data(), &h, sizeof h);
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(f.data(), static_cast<std::streamsize>(f.size()));
  }
  auto bus = Bus::open(name.name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().damaged, 0u);
  EXPECT_EQ(bus->recovery().injected, 20u);
  EXPECT_TRUE(bus->find_group("team"));
  expect_each_takes(*bus, {"ann", "ben"}, numbered(10));
}

// `courier log BUS dump|stat|verify` show the group changes.
TEST(GroupLog, TheCliShowsGroupChanges) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_group_setup(name.name, dir.path));
  const cli::Output dump = cli::run({"log", name.name, "dump", "--log", dir.path});
  ASSERT_EQ(dump.status, 0) << dump.err;
  std::vector<std::string> changes;
  for (const std::string& line : cli::lines_of(dump.out)) {
    if (cli::json_field(line, "kind") != "\"membership\"") continue;
    EXPECT_GT(cli::json_number(line, "at_ns"), 0u) << line;
    changes.push_back(cli::json_field(line, "change") + " " + cli::json_field(line, "group") + " " +
                      cli::json_field(line, "member"));
  }
  EXPECT_EQ(changes,
            (std::vector<std::string>{R"("group_created" "team" null)", R"("joined" "team" "ann")",
                                      R"("joined" "team" "ben")", R"("joined" "team" "cid")", R"("left" "team" "cid")",
                                      R"("group_created" "gone" null)", R"("joined" "gone" "ann")",
                                      R"("group_removed" "gone" null)", R"("group_created" "empty" null)"}));
  const cli::Output stat = cli::run({"log", name.name, "stat", "--log", dir.path, "--json"});
  ASSERT_EQ(stat.status, 0) << stat.err;
  EXPECT_NE(stat.out.find("\"membership\":9"), std::string::npos) << stat.out;
  const cli::Output text = cli::run({"log", name.name, "stat", "--log", dir.path});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("membership:"), std::string::npos) << text.out;
  const cli::Output verify = cli::run({"log", name.name, "verify", "--log", dir.path});
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("9 valid records: no damage"), std::string::npos) << verify.out;
}

// Whether process `pid` has the shared memory of bus `name` mapped.
bool maps_bus(pid_t pid, const std::string& name) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const std::string shm = "/dev/shm" + Segment::shm_name(name);
  std::string line;
  while (std::getline(maps, line))
    if (line.find(shm) != std::string::npos) return true;
  return false;
}

// A logged bus with team = {ann}, `n` stored sends to team (numbered(n)),
// then a simulated reboot: what the rebuild tests below start from.
void group_sends_then_reboot(const std::string& name, const std::string& dir, int n) {
  {
    auto bus = Bus::open(name, logged(dir));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice);
    for (const std::string& t : numbered(n)) ASSERT_EQ(alice->send(stored(group("team")), t).status, Status::sent);
  }
  reboot(name);
}

// A rebuild that fails (the tracker too small) while another process waits
// for it: the waiter gets busy, saying the rebuild failed, at once; no bus
// is left half built, and the next opener with room rebuilds everything.
TEST(GroupLog, AnOpenerWaitingOnARebuildThatFailsGetsBusyNotAHang) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(group_sends_then_reboot(name.name, dir.path, 100));
  // 200 entries (100 totals, 100 members) do not fit 64 at the safe fill.
  Child rebuilder = Child::spawn("rebuild_opener", {name.name, dir.path, "64", "pause"});
  rebuilder.expect_line("rebuilding");
  Child waiter = Child::spawn("rebuild_opener", {name.name, dir.path, "64", "no"});
  // The waiter attached the rebuilder's shared memory: it now waits for the rebuild.
  ASSERT_TRUE(eventually([&] { return maps_bus(waiter.pid(), name.name); }, std::chrono::seconds(60)));
  ASSERT_TRUE(rebuilder.send_line("go"));
  const std::string failed = rebuilder.read_line();
  EXPECT_EQ(failed.rfind("error capacity ", 0), 0u) << failed;
  EXPECT_NE(failed.find("tracker_capacity >= 512"), std::string::npos) << failed;
  EXPECT_EQ(rebuilder.wait(), 1);
  const std::string waited = waiter.read_line();
  EXPECT_EQ(waited.rfind("error busy ", 0), 0u) << waited;
  EXPECT_NE(waited.find("the rebuild of this bus from its log failed"), std::string::npos) << waited;
  EXPECT_EQ(waiter.wait(), 1);
  EXPECT_FALSE(Bus::exists(name.name)) << "no half-built bus is left";
  auto bus = Bus::open(name.name, logged(dir.path, 512));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(members_of(*bus, "team"), std::vector<std::string>{"ann"});
  auto ann = bus->attach("ann");
  ASSERT_TRUE(ann);
  EXPECT_EQ(drain_texts(*ann), numbered(100));
}

// A look while another process rebuilds the bus from its log
// (Options::wait_for_rebuild = false, what courier ls, peek, doctor and top
// open with): busy at once, naming the rebuilder, not a wait of up to 10
// minutes. All of it happens while the rebuild is held paused, so a look that
// waited would never return (the old `courier ls` hung here). Once the rebuild
// is done, the same looks see the bus.
TEST(GroupLog, ALookWhileAnotherProcessRebuildsIsBusyAtOnceNotAWait) {
  BusName name;
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(group_sends_then_reboot(name.name, dir.path, 20));
  Child rebuilder = Child::spawn("rebuild_opener", {name.name, dir.path, "4096", "pause"});
  rebuilder.expect_line("rebuilding");
  const std::string who = "pid " + std::to_string(rebuilder.pid()) + " is rebuilding the bus from its log";

  Options look;
  look.create = false;
  look.recover = false;
  look.wait_for_rebuild = false;
  look.housekeeping_interval = std::chrono::milliseconds(0);
  auto seen = Bus::open(name.name, look);
  ASSERT_FALSE(seen) << "a look must not use a bus being rebuilt";
  EXPECT_EQ(seen.error().code, Errc::busy);
  EXPECT_NE(seen.error().message.find(who), std::string::npos) << seen.error().message;

  const cli::Output ls = cli::run({"ls", "--json"});
  EXPECT_EQ(ls.status, 0) << ls.err;
  bool listed = false;
  for (const std::string& line : cli::lines_of(ls.out)) {
    if (cli::json_field(line, "bus") != "\"" + name.name + "\"") continue;
    listed = true;
    EXPECT_NE(cli::json_field(line, "skipped").find(who), std::string::npos) << line;
  }
  EXPECT_TRUE(listed) << ls.out;
  const cli::Output peek = cli::run({"peek", name.name, "ann"});
  EXPECT_EQ(peek.status, 1) << peek.out;
  EXPECT_NE(peek.err.find(who), std::string::npos) << peek.err;

  ASSERT_TRUE(rebuilder.send_line("go"));
  EXPECT_EQ(rebuilder.read_line(), "opened");
  EXPECT_EQ(rebuilder.wait(), 0);
  // The rebuild is done (the rebuilder exited; the bus stays): the looks see it.
  auto after = Bus::open(name.name, look);
  ASSERT_TRUE(after) << after.error().message;
  const cli::Output peek_after = cli::run({"peek", name.name, "ann", "--json", "--limit", "100"});
  EXPECT_EQ(peek_after.status, 0) << peek_after.err;
  EXPECT_EQ(cli::lines_of(peek_after.out).size(), 20u) << peek_after.out;
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
