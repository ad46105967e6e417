// Tests of the `courier` commands that look at buses without changing them
// (ls, stat's resident size, peek, doctor, top), with the real binary as child
// processes on buses of their own.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/lane_data.hpp"
#include "courier/detail/record.hpp"
#include "support.hpp"

namespace {

using namespace courier::test::cli;
using Json = nlohmann::json;

class CliInspectTest : public ::testing::Test {
 protected:
  CliInspectTest() : bus_("cli-insp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}())) {}
  ~CliInspectTest() override {
    (void)courier::Bus::remove(bus_, {.force = true});
    for (const std::string& f : planted_) ::unlink(f.c_str());
  }

  void create(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"create", bus_};
    args.insert(args.end(), extra.begin(), extra.end());
    const Output o = run(args);
    ASSERT_EQ(o.status, 0) << o.err;
    ASSERT_EQ(run({"endpoint", "add", bus_, "bob"}).status, 0);
  }
  Output send(std::vector<std::string> extra, const std::string& data) {
    std::vector<std::string> args{"send", bus_, "--from", "alice", "--to", "bob"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(data);
    return run(args);
  }
  Json stat() { return Json::parse(run({"stat", bus_, "--json"}).out); }
  // The line of `courier ls --json` about bus `name`.
  Json listed(const std::string& name) {
    const Output o = run({"ls", "--json"});
    EXPECT_EQ(o.status, 0) << o.err;
    for (const std::string& line : lines_of(o.out)) {
      Json j = Json::parse(line);
      if (j["bus"] == name) return j;
    }
    return Json();
  }
  bool wait_receiver(bool attached) {
    for (const auto deadline = Clock::now() + patience; Clock::now() < deadline;) {
      const Json s = stat();  // kept: the loop below walks into it
      for (const Json& e : s["endpoints"])
        if (e["name"] == "bob" && e["receiver_attached"] == attached) return true;
    }
    return false;
  }
  // A file /dev/shm/courier.NAME made by the test, removed at its end.
  std::string plant(const std::string& name) {
    planted_.push_back("/dev/shm/courier." + name);
    return planted_.back();
  }

  std::string bus_;
  std::vector<std::string> planted_;
};

// ------------------------------------------------------------ ls and stat

TEST_F(CliInspectTest, lsListsTheBusWithReservedAndResidentSizeEndpointsAndReceivers) {
  create();
  Child receiver({"recv", bus_, "bob", "--timeout", "30s"});
  ASSERT_TRUE(wait_receiver(true));
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "3"}, "one").status, 0);
  const Json j = listed(bus_);
  ASSERT_TRUE(j.is_object());
  const Json s = stat();
  EXPECT_EQ(j["reserved_bytes"], s["segment_bytes"]);
  EXPECT_GT(j["resident_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_LT(j["resident_bytes"].get<std::uint64_t>(), j["reserved_bytes"].get<std::uint64_t>());  // reserved: 4 GiB
  EXPECT_EQ(j["endpoints"], 2);                                                                   // bob and alice
  EXPECT_EQ(j["receivers"], 1);
  EXPECT_TRUE(j["journals"].is_null());
  EXPECT_TRUE(j["skipped"].is_null());
  const Output text = run({"ls"});
  EXPECT_NE(text.out.find(bus_ + " "), std::string::npos) << text.out;
  receiver.signal(SIGTERM);
  EXPECT_EQ(receiver.finish().status, 0);
}

TEST_F(CliInspectTest, statShowsResidentBesideReserved) {
  create();
  const Json s = stat();
  ASSERT_TRUE(s["resident_bytes"].is_number()) << s.dump();
  EXPECT_GT(s["resident_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_LT(s["resident_bytes"].get<std::uint64_t>(), s["segment_bytes"].get<std::uint64_t>());
  const Output text = run({"stat", bus_});
  EXPECT_NE(text.out.find(" reserved, "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(" resident\n"), std::string::npos) << text.out;
}

TEST_F(CliInspectTest, lsSkipsWhatIsNotABusOfThisUserAndOpensNothingInIt) {
  const std::string link = plant(bus_ + "-link"), junk = plant(bus_ + "-junk"), other = plant(bus_ + "-other");
  ASSERT_EQ(::symlink("/etc/passwd", link.c_str()), 0);
  const int fd = ::open(junk.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  const std::string garbage(8192, 'x');
  ASSERT_EQ(::write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  ::close(fd);
  const bool root = ::geteuid() == 0;
  if (root) {  // only root can give a file to another user
    const int o = ::open(other.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(o, 0);
    ASSERT_EQ(::ftruncate(o, 4096), 0);
    ASSERT_EQ(::fchown(o, 65534, 65534), 0);
    ::close(o);
  }
  const Json l = listed(bus_ + "-link"), j = listed(bus_ + "-junk");
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l["skipped"], "not a regular file");
  EXPECT_TRUE(l["endpoints"].is_null());
  ASSERT_TRUE(j.is_object());
  ASSERT_TRUE(j["skipped"].is_string());  // the library refused to attach it
  EXPECT_EQ(j["reserved_bytes"], 8192);
  if (root) {
    const Json o = listed(bus_ + "-other");
    ASSERT_TRUE(o.is_object());
    EXPECT_EQ(o["skipped"], "owned by uid 65534, not by this user");
  }
  EXPECT_EQ(run({"ls"}).status, 0);
}

// ------------------------------------------------------------ peek

TEST_F(CliInspectTest, peekShowsWaitingMessagesInPriorityOrderWithoutTakingThem) {
  create();
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "9", "--type", "5"}, "later").status, 0);
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "1", "--id", "41"}, "first").status, 0);
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "9"}, std::string(100, 'z')).status, 0);
  const Output o = run({"peek", bus_, "bob", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const std::vector<std::string> lines = lines_of(o.out);
  ASSERT_EQ(lines.size(), 3u) << o.out;
  const Json a = Json::parse(lines[0]), b = Json::parse(lines[1]), c = Json::parse(lines[2]);
  EXPECT_EQ(a["id"], "41");
  EXPECT_EQ(a["priority"], 1);
  EXPECT_EQ(a["data"], "first");
  EXPECT_EQ(a["from"], "alice");
  EXPECT_EQ(b["data"], "later");
  EXPECT_EQ(b["type"], 5);
  EXPECT_EQ(c["size"], 100);
  EXPECT_EQ(c["truncated"], true);
  EXPECT_EQ(c["data"], std::string(64, 'z'));

  const Output limited = run({"peek", bus_, "bob", "--limit", "1"});
  ASSERT_EQ(limited.status, 0) << limited.err;
  ASSERT_EQ(lines_of(limited.out).size(), 2u) << limited.out;  // header and one message
  EXPECT_NE(limited.out.find("first"), std::string::npos) << limited.out;

  const Output got = run({"recv", bus_, "bob", "--count", "3", "--timeout", "10s"});  // nothing was taken
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_field(lines_of(got.out).at(0), "redelivered"), "false");
  EXPECT_EQ(run({"peek", bus_, "bob"}).out, "no messages waiting for 'bob'\n");
}

TEST_F(CliInspectTest, peekShowsBinaryPayloadsEscapedAndRefusesAMissingEndpoint) {
  create();
  ASSERT_EQ(send({"--expiry", "1m"}, "a\x01\x1b[2J").status, 0);
  const Output text = run({"peek", bus_, "bob"});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("a\\x01\\x1b[2J"), std::string::npos) << text.out;  // no raw control byte reaches a terminal
  EXPECT_EQ(text.out.find('\x1b'), std::string::npos);
  const Output missing = run({"peek", bus_, "carol"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no endpoint named 'carol'"), std::string::npos) << missing.err;
  const UsageCase bad[] = {{{"peek", bus_, "bob", "--limit", "0"}, "--limit: must be 1..1000000"},
                           {{"peek", bus_}, "peek: missing NAME"}};
  expect_usage_errors(bad);
}

// A record whose header claims more payload than its record holds is left
// out, and the records after it are still shown: the lanes are untrusted.
TEST_F(CliInspectTest, peekLeavesOutARecordWithAnImpossibleLength) {
  create();
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "4"}, "broken").status, 0);
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "4"}, "whole").status, 0);
  courier::Options o;
  o.create = false;
  o.prefault_tracker = false;
  auto bus = courier::Bus::open(bus_, o);
  ASSERT_TRUE(bus) << bus.error().message;
  const auto bob = bus->find_endpoint("bob");
  ASSERT_TRUE(bob);
  const courier::LaneView lane = bus->segment().lane(courier::endpoint_slot(*bob), 4);
  courier::RecordHeader* first = lane.header_at(lane.ctl->head.load(std::memory_order_acquire));
  ASSERT_EQ(first->payload_len, 6u);
  std::atomic_ref<std::uint32_t>(first->payload_len).store(0xfffffff0u, std::memory_order_release);  // a hostile writer
  const Output o2 = run({"peek", bus_, "bob", "--json"});
  ASSERT_EQ(o2.status, 0) << o2.err;
  const std::vector<std::string> lines = lines_of(o2.out);
  ASSERT_EQ(lines.size(), 1u) << o2.out;
  EXPECT_EQ(Json::parse(lines[0])["data"], "whole");
}

// ------------------------------------------------------------ doctor

TEST_F(CliInspectTest, doctorSaysHealthyOfAHealthyBus) {
  create();
  const Output o = run({"doctor", bus_});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  EXPECT_EQ(o.out, "bus '" + bus_ + "': healthy (6 checks passed)\n");
}

TEST_F(CliInspectTest, doctorReportsTheStaleLeaseOfAKilledReceiver) {
  create();
  Child receiver({"recv", bus_, "bob", "--timeout", "30s"});
  ASSERT_TRUE(wait_receiver(true));
  const pid_t pid = receiver.pid();
  receiver.signal(SIGKILL);
  (void)receiver.finish();  // reaped: the pid is gone
  const Output o = run({"doctor", bus_});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "stale_lease: endpoint 'bob': its receiver lease is held by pid " + std::to_string(pid) +
                       ", which is gone (the next attach takes it over; what it held is redelivered)\n");
  const Json j = Json::parse(run({"doctor", bus_, "--json"}).out);
  EXPECT_EQ(j["healthy"], false);
  EXPECT_EQ(j["problems"].size(), 1u);
}

TEST_F(CliInspectTest, doctorReportsATrackerNearlyFull) {
  create({"--tracker-capacity", "64"});
  std::string lines;
  for (int i = 0; i < 60; ++i) lines += "m\n";
  const Output sent = run({"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "1h", "--lines"}, lines);
  ASSERT_EQ(sent.status, 0) << sent.err;
  const Output o = run({"doctor", bus_});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("tracker: the tracker is 93% full (60 of 64 entries)"), std::string::npos) << o.out;
  for (const std::string& l : lines_of(o.out)) EXPECT_TRUE(l.starts_with("tracker: ")) << l;  // nothing else is wrong
}

TEST_F(CliInspectTest, doctorReportsDamageInTheJournals) {
  const courier::test::TempDir tmp("courier-doctor");  // removed at the end, whatever fails
  const std::string& dir = tmp.path;
  create({"--log", dir});
  ASSERT_EQ(send({"--expiry", "1m"}, "logged").status, 0);
  ASSERT_EQ(run({"doctor", bus_}).status, 0);
  // Each sending process writes a journal of its own: name records (alice at
  // 64, bob at 96), then the message. The first byte of alice's body (past its
  // 16-byte header), followed by another record: damage, not a torn tail.
  std::string journal;  // the sender's: the largest (others may hold a header alone)
  std::uintmax_t largest = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/" + bus_))
    if (f.path().extension() == ".journal" && f.file_size() > largest)
      journal = f.path().string(), largest = f.file_size();
  ASSERT_FALSE(journal.empty());
  {
    std::fstream f(journal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(80);
    char c = 0;
    f.get(c);
    f.seekp(80);
    f.put(static_cast<char>(c ^ 0xFF));
    ASSERT_TRUE(f);
  }
  const Output o = run({"doctor", bus_});
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(o.out.starts_with("log: journal damage: " + journal + " at offset 64, ")) << o.out;
}

// ------------------------------------------------------------ top

TEST_F(CliInspectTest, topPrintsCountViewsOfWaitingMessagesAndTheTracker) {
  create();
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "2"}, "x").status, 0);
  ASSERT_EQ(send({"--expiry", "1m", "--priority", "8"}, "y").status, 0);
  const Output o = run({"top", bus_, "--count", "2"});  // stdout a pipe: plain lines
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out.find('\033'), std::string::npos);
  const std::vector<std::string> lines = lines_of(o.out);
  std::size_t views = 0;
  for (const std::string& l : lines) views += l.starts_with("bus '" + bus_ + "'") ? 1 : 0;
  EXPECT_EQ(views, 2u) << o.out;
  EXPECT_NE(lines.at(0).find("tracker 2/65536"), std::string::npos) << lines.at(0);
  EXPECT_NE(o.out.find("p2:1 p8:1"), std::string::npos) << o.out;

  const Output j = run({"top", bus_, "--once", "--json"});
  ASSERT_EQ(j.status, 0) << j.err;
  ASSERT_EQ(lines_of(j.out).size(), 1u);
  const Json v = Json::parse(j.out);
  EXPECT_EQ(v["tracker"]["used"], 2);
  EXPECT_EQ(v["status_dropped"], 0);
  bool bob = false;
  for (const Json& e : v["endpoints"])
    if (e["name"] == "bob") {
      bob = true;
      EXPECT_EQ(e["waiting_total"], 2);
      EXPECT_EQ(e["waiting"][2], 1);
    }
  EXPECT_TRUE(bob) << j.out;
  const UsageCase bad[] = {{{"top", bus_, "--once", "--count", "2"}, "--once, --count: give one of them"}};
  expect_usage_errors(bad);
}

TEST_F(CliInspectTest, inspectingAMissingBusFailsAndCreatesNothing) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"peek", bus_, "bob"}, {"doctor", bus_}, {"top", bus_, "--once"}}) {
    const Output o = run(args);
    EXPECT_EQ(o.status, 1) << args[0];
    EXPECT_NE(o.err.find("no bus named '" + bus_ + "'"), std::string::npos) << o.err;
  }
  EXPECT_FALSE(courier::Bus::exists(bus_));
}

}  // namespace
