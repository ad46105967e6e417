// Tests of the `courier` commands that look at buses without changing them
// (ls, stat's resident size, peek, doctor, top), with the real binary as child
// processes on buses of their own.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

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

// `courier top BUS` on a real terminal: a pseudo-terminal whose slave is its
// controlling terminal, stdin, stdout and stderr (as a shell would start it).
// The test reads the master side view by view: a view is complete when it has
// its header, the table's header and one row per endpoint. Every wait is for
// an event (a view drawn, the process ended: a pidfd), bounded by a count of
// views, never by time.
class TopOnATerminal {
 public:
  TopOnATerminal(const std::string& bus, std::size_t endpoints) : rows_(endpoints + 2) {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) throw std::runtime_error("posix_openpt");
    const std::string slave_path = ::ptsname(master_);
    slave_ = ::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);  // the test's view of its modes
    if (slave_ < 0 || ::tcgetattr(slave_, &before_) != 0) throw std::runtime_error("slave");
    winsize ws{40, 160, 0, 0};
    ::ioctl(master_, TIOCSWINSZ, &ws);
    std::vector<std::string> storage;
    std::vector<char*> argv = cli_argv(storage, {"top", bus});
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {  // a new session whose controlling terminal is the slave
      ::setsid();
      const int fd = ::open(slave_path.c_str(), O_RDWR);
      if (fd < 0 || ::ioctl(fd, TIOCSCTTY, 0) != 0) ::_exit(120);
      for (int to : {0, 1, 2}) ::dup2(fd, to);
      ::execv(COURIER_CLI_PATH, argv.data());
      ::_exit(121);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) throw std::runtime_error("pidfd_open");
  }
  ~TopOnATerminal() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {master_, slave_, pidfd_})
      if (fd >= 0) ::close(fd);
  }

  // The next complete view (its text after the clear-screen), or nullopt when
  // the process ended first.
  std::optional<std::string> next_view() {
    for (;;) {
      if (auto v = take_view()) return v;
      if (!read_more()) return std::nullopt;
    }
  }
  // Types `bytes` on the terminal.
  void type(std::string_view bytes) { ASSERT_EQ(::write(master_, bytes.data(), bytes.size()), ssize_t(bytes.size())); }
  // Waits for the process to end while it draws at most `views` more views;
  // its exit status (128 + signal), or -1 if it went on drawing.
  int exit_within_views(int views) {
    for (int drawn = 0;;) {
      while (take_view())
        if (++drawn > views) return -1;
      if (!read_more()) break;
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    drain();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }
  termios modes_now() const {
    termios t{};
    ::tcgetattr(slave_, &t);
    return t;
  }
  const termios& modes_before() const { return before_; }
  const std::string& all_output() const { return all_; }

 private:
  static constexpr std::string_view clear = "\033[H\033[2J";
  // Reads what the terminal has (waiting for it); false when the process ended.
  bool read_more() {
    pollfd fds[2] = {{master_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0)
      if (errno != EINTR) return false;
    if ((fds[0].revents & POLLIN) != 0) return read_once();
    return false;  // ended: what it wrote last is read by drain()
  }
  bool read_once() {
    char buf[4096];
    const ssize_t n = ::read(master_, buf, sizeof buf);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    all_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  void drain() {
    pollfd fd{master_, POLLIN, 0};
    while (::poll(&fd, 1, 0) > 0 && read_once()) {
    }
  }
  std::optional<std::string> take_view() {
    const std::size_t at = pending_.find(clear);
    if (at == std::string::npos) return std::nullopt;
    const std::size_t body = at + clear.size();
    std::size_t end = body;
    for (std::size_t lines = 0; lines < rows_; ++lines, ++end) {
      end = pending_.find('\n', end);
      if (end == std::string::npos) return std::nullopt;
    }
    std::string view = pending_.substr(body, end - body);
    pending_.erase(0, end);
    view.erase(std::remove(view.begin(), view.end(), '\r'), view.end());  // the terminal's ONLCR
    return view;
  }

  std::size_t rows_;  // lines of a view
  int master_ = -1, slave_ = -1, pidfd_ = -1;
  pid_t pid_ = -1;
  termios before_{};
  std::string pending_, all_;
};

// The words of the row of `endpoint` in a view of top (ENDPOINT SENT/S RECV/S WAITING ...).
std::vector<std::string> row_of(const std::string& view, const std::string& endpoint) {
  for (const std::string& line : lines_of(view)) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (!w.empty() && w[0] == endpoint) return w;
  }
  return {};
}

bool same_modes(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag &&
         std::equal(std::begin(a.c_cc), std::end(a.c_cc), std::begin(b.c_cc));
}

// A view a second, whose rates follow the sends made between views: a view
// without sends in its second says 0 for alice; the first view that sees all
// 50 waiting (the one before it saw fewer: some were sent in its second) says
// more; a later one (no sends) 0 again. Ends on q, the terminal as it was.
TEST_F(CliInspectTest, topOnATerminalRedrawsEachSecondWithTheRatesOfTheSendsBetweenViewsAndEndsOnQ) {
  create();
  courier::Options o;
  o.create = false;
  o.prefault_tracker = false;
  auto bus = courier::Bus::open(bus_, o);
  ASSERT_TRUE(bus) << bus.error().message;
  auto alice = bus->endpoint("alice");
  ASSERT_TRUE(alice);
  TopOnATerminal top(bus_, 2);  // alice and bob
  const std::optional<std::string> first = top.next_view();
  ASSERT_TRUE(first) << top.all_output();
  EXPECT_EQ(first->rfind("bus '" + bus_ + "'", 0), 0u) << *first;
  ASSERT_EQ(row_of(*first, "alice").size(), 6u) << *first;
  EXPECT_EQ(row_of(*first, "alice")[1], "0") << *first;
  EXPECT_EQ(row_of(*first, "bob")[3], "0") << *first;
  // Drawn after top set its terminal up: keys one by one, no echo, Ctrl-C still a signal.
  const termios running = top.modes_now();
  EXPECT_EQ(running.c_lflag & (ICANON | ECHO), 0u);
  EXPECT_NE(running.c_lflag & ISIG, 0u);

  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(alice->send({.to = courier::peer("bob"), .expiry = std::chrono::minutes(1)}, "m").status,
              courier::Status::sent);  // stored: bob has no receiver
  std::optional<std::string> seen;
  for (int views = 0; views < 5; ++views) {  // the 50 are sent before the views that follow are taken
    seen = top.next_view();
    ASSERT_TRUE(seen) << top.all_output();
    if (row_of(*seen, "bob")[3] == "50") break;
  }
  ASSERT_EQ(row_of(*seen, "bob")[3], "50") << *seen;
  EXPECT_NE(row_of(*seen, "alice")[1], "0") << "the sends in this view's second: " << *seen;
  // Then no more sends: a view of 0 again (the next one, unless the last send
  // was still counting itself as `seen` was taken: the one after then).
  std::optional<std::string> after;
  for (int views = 0; views < 3; ++views) {
    after = top.next_view();
    ASSERT_TRUE(after) << top.all_output();
    if (row_of(*after, "alice")[1] == "0") break;
  }
  EXPECT_EQ(row_of(*after, "alice")[1], "0") << "no sends in this view's second: " << *after;
  EXPECT_EQ(row_of(*after, "bob")[3], "50") << *after;

  top.type("q");
  EXPECT_EQ(top.exit_within_views(1), 0) << "q did not end it";
  EXPECT_TRUE(same_modes(top.modes_now(), top.modes_before())) << "the terminal's modes were not restored";
  EXPECT_TRUE(top.all_output().ends_with("\033[?25h")) << "the cursor was not shown again";
}

// Ctrl-C typed on the terminal (SIGINT from its line discipline) and SIGTERM
// end it as q does: exit status 0, the terminal as it was.
TEST_F(CliInspectTest, topOnATerminalEndsOnCtrlCAndOnSigtermRestoringTheTerminal) {
  create();
  for (const bool ctrl_c : {true, false}) {
    TopOnATerminal top(bus_, 1);  // bob
    ASSERT_TRUE(top.next_view()) << top.all_output();
    EXPECT_EQ(top.modes_now().c_lflag & ECHO, 0u);
    if (ctrl_c)
      top.type("\x03");
    else
      ::kill(top.pid(), SIGTERM);
    EXPECT_EQ(top.exit_within_views(1), 0) << (ctrl_c ? "Ctrl-C" : "SIGTERM");
    EXPECT_TRUE(same_modes(top.modes_now(), top.modes_before())) << (ctrl_c ? "Ctrl-C" : "SIGTERM");
    EXPECT_TRUE(top.all_output().ends_with("\033[?25h")) << top.all_output();
  }
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
