// Tests of hostile command-line input (issue 13, item 5): control characters
// in names never reach stderr raw, '.' and '..' are no names, a duration
// names each unit once, largest first, and is bounded; a missing --log
// directory is an error, not made up. And (issue 12) the text of a send the
// bus's removal refused.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "support.hpp"

namespace courier {
namespace {

namespace fs = std::filesystem;
using namespace test::cli;

std::size_t lines_in(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(CliInput, controlCharactersInNamesAreEscapedInOneLine) {
  test::BusName name;
  ASSERT_EQ(run({"create", name.name}).status, 0);
  const UsageCase cases[] = {
      {{"stat", "a\nb"}, "BUS 'a\\nb': bus name has a character outside [A-Za-z0-9._-]: '\\n'"},
      {{"stat", "a\x1b[2Jb"}, "BUS 'a\\x1b[2Jb'"},
      {{"endpoint", "add", name.name, "x\x01y"}, "NAME 'x\\x01y': endpoint name has a character outside"},
      {{"send", name.name, "--from", "a\rb", "--to", "bob", "hi"}, "'a\\rb'"},
      {{"group", "add", name.name, "g\tg", "bob"}, "'g\\tg'"},
      {{"nosuchcommand\n"}, "unknown command 'nosuchcommand\\n'"},
  };
  expect_usage_errors(cases);
}

TEST(CliInput, dotAndDotDotAreNoEndpointOrGroupNames) {
  test::BusName name;
  ASSERT_EQ(run({"create", name.name}).status, 0);
  const UsageCase cases[] = {
      {{"endpoint", "add", name.name, ".."}, "NAME '..': endpoint name may not be '.' or '..'"},
      {{"endpoint", "add", name.name, "."}, "endpoint name may not be '.' or '..'"},
      {{"send", name.name, "--from", "alice", "--to", "..", "x"}, "may not be '.' or '..'"},
      {{"group", "add", name.name, "..", "bob"}, "group name may not be '.' or '..'"},
  };
  expect_usage_errors(cases);
  auto bus = Bus::open(name.name);
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_FALSE(bus->add_endpoint(".."));
  EXPECT_FALSE(bus->add_endpoint("."));
  EXPECT_TRUE(bus->add_endpoint("..a"));  // only the two exact names
}

TEST(CliInput, anExpiryNamesEachUnitOnceLargestFirstAndIsBounded) {
  test::BusName name;
  ASSERT_EQ(run({"create", name.name}).status, 0);
  ASSERT_EQ(run({"endpoint", "add", name.name, "bob"}).status, 0);
  const auto send = [&](const std::string& expiry) {
    return std::vector<std::string>{"send", name.name, "--from", "alice", "--to", "bob", "--expiry", expiry, "x"};
  };
  const UsageCase cases[] = {
      {send("1h1h"), "--expiry: bad duration '1h1h': unit 'h' given twice"},
      {send("30m1h"), "--expiry: bad duration '30m1h': unit 'h' after 'm'"},
      {send("9223372036854775807ns"), "--expiry: bad duration '9223372036854775807ns': too long"},
      {send("36501d"), "too long (at most 36500d"},
  };
  expect_usage_errors(cases);
}

TEST(CliInput, aMissingLogDirectoryIsAnErrorNamingIt) {
  test::BusName name;
  test::TempDir dir;
  const std::string missing = dir.path + "/missing/deeper";
  const Output o = run({"create", name.name, "--log", missing});
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_NE(o.err.find("log directory '" + missing + "' does not exist"), std::string::npos) << o.err;
  EXPECT_EQ(lines_in(o.err), 1u) << o.err;
  EXPECT_FALSE(fs::exists(dir.path + "/missing"));
  EXPECT_FALSE(Bus::exists(name.name));
}

// `courier send --lines` whose bus is removed between two lines says why the
// second was not sent in words (it used to say "the bus refused the message").
TEST(CliInput, aSendTheRemovalRefusedIsExplained) {
  test::BusName name;
  ASSERT_EQ(run({"create", name.name}).status, 0);
  ASSERT_EQ(run({"endpoint", "add", name.name, "bob"}).status, 0);
  int in[2], err[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args{COURIER_CLI_PATH, "send", name.name, "--from", "alice",  "--to", "bob",
                                "--expiry",       "1h",   "--id",    "7",      "--lines"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawn(&pid, COURIER_CLI_PATH, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(err[1]);
  ASSERT_EQ(::write(in[1], "one\n", 4), 4);
  bool sent = false;  // line 1 is in the tracker: the sender is between lines
  for (const auto deadline = Clock::now() + patience; !sent && Clock::now() < deadline;)
    sent = run({"status", name.name, "--from", "alice", "7"}).status == 0;
  EXPECT_TRUE(sent);
  EXPECT_EQ(run({"rm", name.name}).status, 0);
  ASSERT_EQ(::write(in[1], "two\n", 4), 4);
  ::close(in[1]);
  std::string said;
  bool ended = false;  // stderr reached its end: the process is exiting
  pollfd p{err[0], POLLIN, 0};
  for (const auto deadline = Clock::now() + patience; !ended && Clock::now() < deadline;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) ended = true;
    if (n > 0) said.append(buf, static_cast<std::size_t>(n));
  }
  ::close(err[0]);
  if (!ended) ::kill(pid, SIGKILL);  // it outlived our patience
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(said.find("line 2: not sent (removed): the bus '" + name.name + "' was removed (courier rm)"),
            std::string::npos)
      << said;
}

}  // namespace
}  // namespace courier
