// Tests of a bus's log directory and journal files made hostile (issue 13,
// items 2 and 3): a FIFO named like a journal, an unreadable journal, a
// journal of another uid, a log directory that is a symbolic link, of another
// uid, or writable by others, a missing LOG_DIR. Nothing may hang, and one bad
// file may not stop a recovery: it is reported as damage and skipped. The
// commands that could hang run as `courier` child processes (bounded by
// cli_support's patience), before the library is asked the same.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_writer.hpp"
#include "courier/log_inspect.hpp"
#include "support.hpp"

namespace courier {
namespace {

namespace fs = std::filesystem;
using test::BusName;
using test::TempDir;
namespace cli = test::cli;

constexpr uid_t nobody = 65534;
constexpr int stored = 3;  // messages each scenario leaves owed to bob

Options logged(const std::string& dir) {
  Options o = test::small_options();
  o.log_dir = dir;
  o.sync = Sync::always;
  return o;
}

// A name a journal file could have (sorted before every real one: epoch 1).
std::string journal_like_name(std::uint64_t sequence = 0) {
  JournalWriterId w;
  w.pid = 1;
  w.epoch_ns = 1;
  return journal_file_name(w, sequence);
}

// The journal files of `dir` (not the settings file).
std::vector<std::string> journals(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".journal" && e.is_regular_file()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A bus with a log in `log_dir` whose shared memory is gone (a reboot), with
// `stored` messages owed to bob in its journals. "" or why it failed.
std::string owed_messages_then_reboot(const std::string& bus, const std::string& log_dir) {
  {
    auto b = Bus::open(bus, logged(log_dir));
    if (!b) return "open: " + b.error().message;
    if (!b->add_endpoint("bob")) return "add_endpoint failed";
    auto alice = b->endpoint("alice");
    if (!alice) return "endpoint: " + alice.error().message;
    for (int i = 0; i < stored; ++i) {
      auto r = alice->send({.to = peer("bob"), .expiry = std::chrono::hours(1)}, "owed");
      if (r.status != Status::sent) return std::string("send: ") + std::string(status_name(r.status));
    }
  }
  if (auto r = Bus::remove(bus, RemoveOptions{.force = true}); !r) return "remove: " + r.error().message;
  return {};
}

bool mentions(const std::vector<JournalDamage>& damage, const std::string& file, const std::string& why) {
  for (const JournalDamage& d : damage)
    if (d.file == file && d.reason.find(why) != std::string::npos) return true;
  return false;
}

// Runs `body` as uid 65534 (in a child process, when we are root: root reads
// any file) and returns what it returned ("" for success).
std::string as_unprivileged(const std::function<std::string()>& body) {
  if (::geteuid() != 0) return body();
  int p[2];
  if (::pipe(p) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string why = ::setgid(nobody) == 0 && ::setuid(nobody) == 0 ? body() : "setuid(65534) failed";
    if (!why.empty()) (void)!::write(p[1], why.data(), why.size());
    ::_exit(why.empty() ? 0 : 1);
  }
  ::close(p[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) why.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (why.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) why = "the unprivileged child failed";
  return why;
}

// ------------------------------------------------------------ journal files

// A FIFO named like a journal: log verify, log stat, recover and the open that
// rebuilds the bus finish, name it as damage, and recover every message.
TEST(HostileLog, aFifoNamedLikeAJournalIsDamageAndNeverWaitedOn) {
  BusName name;
  TempDir log;
  ASSERT_EQ(owed_messages_then_reboot(name.name, log.path), "");
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  const std::string fifo = dir + "/" + journal_like_name();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

  const cli::Output verify = cli::run({"log", name.name, "verify", "--log", log.path});
  ASSERT_EQ(verify.status, 1) << verify.out << verify.err;  // 137 when it hung and was killed
  EXPECT_NE(verify.out.find(fifo), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("a FIFO, not a regular file"), std::string::npos) << verify.out;
  const cli::Output stat = cli::run({"log", name.name, "stat", "--log", log.path, "--json"});
  ASSERT_EQ(stat.status, 0) << stat.err;
  EXPECT_EQ(cli::json_number(stat.out, "damaged"), 1u) << stat.out;
  const cli::Output recover = cli::run({"recover", name.name, "--log", log.path, "--json"});
  ASSERT_EQ(recover.status, 0) << recover.err;
  EXPECT_EQ(cli::json_number(recover.out, "injected"), std::uint64_t(stored)) << recover.out;
  EXPECT_NE(recover.out.find("a FIFO"), std::string::npos) << recover.out;

  // The library's rebuild: the same, in the report.
  ASSERT_TRUE(Bus::remove(name.name, RemoveOptions{.force = true}));
  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().injected, std::uint64_t(stored));
  EXPECT_TRUE(mentions(bus->recovery().damage, fifo, "a FIFO")) << bus->recovery().damage.size();
  EXPECT_EQ(bus->recovery().damaged, 1u);
}

// A message record whose priority is past the last lane (a CRC-valid record
// of a hostile or corrupt writer) is not recovered: its priority indexes the
// lanes and the spill counts of the segment, and would write past them. The
// other records of its file are recovered.
TEST(HostileLog, aMessageWithAPriorityPastTheLastLaneIsNotRecovered) {
  BusName name;
  TempDir log;
  ASSERT_EQ(owed_messages_then_reboot(name.name, log.path), "");
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  {
    auto w = JournalWriter::open(dir);
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE(w->append_name(1, false, "alice"));
    ASSERT_TRUE(w->append_name(2, false, "bob"));
    const std::byte payload[4] = {std::byte{'b'}, std::byte{'a'}, std::byte{'d'}, std::byte{'!'}};
    for (const std::uint8_t priority : {std::uint8_t{200}, std::uint8_t{priority_levels}, std::uint8_t{7}}) {
      RecordHeader h{};
      h.id = 900 + priority;
      h.timestamp_ns = realtime_ns();
      h.expires_ns = h.timestamp_ns + 3'600'000'000'000ull;
      h.from = 1;
      h.to = 2;
      h.payload_len = sizeof payload;
      h.priority = priority;
      ASSERT_TRUE(w->append_message(h, payload));
    }
    ASSERT_TRUE(w->close());
  }
  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_TRUE(bus) << bus.error().message;
  const RecoveryReport& rep = bus->recovery();
  EXPECT_EQ(rep.injected, std::uint64_t(stored) + 1) << "the owed ones and priority 7's";
  EXPECT_EQ(rep.left, 0u);
  const BusStats st = bus->stat();
  for (const EndpointStats& e : st.endpoints)
    if (e.name == "bob") {
      EXPECT_EQ(e.waiting_total, std::uint64_t(stored) + 1);
      EXPECT_EQ(e.waiting[7], 1u);
    }
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  std::vector<std::string> got;
  while (auto m = bob->try_receive()) got.emplace_back(m->text());
  EXPECT_EQ(got, (std::vector<std::string>{"bad!", "owed", "owed", "owed"})) << "priority 7 first";
}

// A journal file nobody may read: damage naming it and why, the others are
// recovered (it used to abort the whole recovery).
TEST(HostileLog, anUnreadableJournalIsSkippedAndReported) {
  BusName name;
  TempDir log;
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(log.path.c_str(), nobody, nobody), 0);
  }
  const std::string why = as_unprivileged([&]() -> std::string {
    if (auto r = owed_messages_then_reboot(name.name, log.path); !r.empty()) return r;
    const std::string dir = Bus::log_directory_for(log.path, name.name);
    const std::string locked = dir + "/" + journal_like_name();
    {
      std::ofstream f(locked);
      f << "whatever it holds, it cannot be read";
    }
    if (::chmod(locked.c_str(), 0) != 0) return "chmod failed";
    auto inspect = LogInspector::open(dir);
    if (!inspect) return "LogInspector::open: " + inspect.error().message;
    LogRecord rec;
    for (;;) {
      auto more = inspect->next(rec);
      if (!more) return "LogInspector::next: " + more.error().message;
      if (!*more) break;
    }
    const auto damage = inspect->damage();
    if (damage.size() != 1 || damage[0].file != locked ||
        damage[0].reason.find("Permission denied") == std::string::npos)
      return "log inspection did not report the unreadable file as its only damage";
    auto bus = Bus::open(name.name, logged(log.path));
    if (!bus) return "Bus::open: " + bus.error().message;
    const RecoveryReport& r = bus->recovery();
    const bool ok = r.injected == std::uint64_t(stored) && r.damaged == 1 && mentions(r.damage, locked, "cannot be");
    (void)Bus::remove(name.name, RemoveOptions{.force = true});
    return ok ? "" : "recovery: " + std::to_string(r.injected) + " injected, " + std::to_string(r.damaged) + " damaged";
  });
  EXPECT_EQ(why, "");
}

// A journal of another uid (in a directory that is ours: only root could put
// it there) is not believed: damage, and its messages are not delivered.
TEST(HostileLog, aJournalOfAnotherUidIsDamageNotDelivered) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to uid 65534";
  BusName name;
  TempDir log;
  ASSERT_EQ(owed_messages_then_reboot(name.name, log.path), "");
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  const std::vector<std::string> files = journals(dir);
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) ASSERT_EQ(::chown(f.c_str(), nobody, nobody), 0);

  const cli::Output verify = cli::run({"log", name.name, "verify", "--log", log.path});
  EXPECT_EQ(verify.status, 1) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("owned by uid 65534"), std::string::npos) << verify.out;

  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->recovery().injected, 0u);
  EXPECT_EQ(bus->recovery().damaged, files.size());
  for (const std::string& f : files) EXPECT_TRUE(mentions(bus->recovery().damage, f, "owned by uid 65534")) << f;
}

// ------------------------------------------------------------ the log directory

// LOG_DIR/BUS a symbolic link (to a directory the caller owns, even): refused,
// nothing written where it points.
TEST(HostileLog, aLogDirectoryThatIsASymbolicLinkIsRefused) {
  BusName name;
  TempDir log, elsewhere;
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  ASSERT_EQ(::symlink(elsewhere.path.c_str(), dir.c_str()), 0);
  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_FALSE(bus);
  EXPECT_NE(bus.error().message.find("'" + dir + "' is a symbolic link"), std::string::npos) << bus.error().message;
  EXPECT_TRUE(fs::is_empty(elsewhere.path));
  // Nor are journals deleted where it points.
  const std::string bystander = elsewhere.path + "/" + journal_like_name();
  { std::ofstream(bystander) << "not the bus's"; }
  auto removed = Bus::remove_log(log.path, name.name);
  ASSERT_FALSE(removed);
  EXPECT_NE(removed.error().message.find("symbolic link"), std::string::npos) << removed.error().message;
  EXPECT_TRUE(fs::exists(bystander));
  const cli::Output verify = cli::run({"log", name.name, "verify", "--log", log.path});
  EXPECT_EQ(verify.status, 1);
  EXPECT_NE(verify.err.find("symbolic link"), std::string::npos) << verify.err;
}

TEST(HostileLog, aLogDirectoryOfAnotherUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to uid 65534";
  BusName name;
  TempDir log;
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir.c_str(), nobody, nobody), 0);
  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_FALSE(bus);
  const std::string& m = bus.error().message;
  EXPECT_NE(m.find("'" + dir + "' is owned by uid 65534 (mode 0700)"), std::string::npos) << m;
  EXPECT_TRUE(fs::is_empty(dir));
  const cli::Output create = cli::run({"create", name.name, "--log", log.path});
  EXPECT_EQ(create.status, 1);
  EXPECT_NE(create.err.find("owned by uid 65534"), std::string::npos) << create.err;
  EXPECT_EQ(std::count(create.err.begin(), create.err.end(), '\n'), 1) << create.err;
}

TEST(HostileLog, aLogDirectoryWritableByOthersIsRefused) {
  BusName name;
  TempDir log;
  const std::string dir = Bus::log_directory_for(log.path, name.name);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  auto bus = Bus::open(name.name, logged(log.path));
  ASSERT_FALSE(bus);
  EXPECT_NE(bus.error().message.find("'" + dir + "' has mode 0777"), std::string::npos) << bus.error().message;
  EXPECT_TRUE(fs::is_empty(dir));
}

// The directory courier creates is 0700 whatever the umask.
TEST(HostileLog, theCreatedLogDirectoryIsPrivateWhateverTheUmask) {
  BusName name;
  TempDir log;
  const mode_t old = ::umask(0277);  // would leave 0500 of 0700
  auto bus = Bus::open(name.name, logged(log.path));
  ::umask(old);
  ASSERT_TRUE(bus) << bus.error().message;
  struct stat sb {};
  ASSERT_EQ(::stat(bus->log_directory().c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0700u);
}

// Only the bus's own directory is created: a missing LOG_DIR is an error naming it.
TEST(HostileLog, aMissingLogDirIsAnErrorNotCreated) {
  BusName name;
  TempDir log;
  const std::string missing = log.path + "/missing";
  auto bus = Bus::open(name.name, logged(missing + "/deeper"));
  ASSERT_FALSE(bus);
  EXPECT_NE(bus.error().message.find("'" + missing + "/deeper' does not exist"), std::string::npos)
      << bus.error().message;
  EXPECT_FALSE(fs::exists(missing));
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
