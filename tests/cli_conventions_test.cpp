// Tests of the conventions every `courier` command keeps (the real binary, as
// child processes): usage on a bare `courier`, silence on a closed pipe,
// message ids as JSON strings accepted back, --json on every command that
// prints.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cli_support.hpp"
#include "courier/bus.hpp"

namespace {

using namespace courier::test::cli;

class CliConventionsTest : public ::testing::Test {
 protected:
  CliConventionsTest()
      : bus_("cli-conv-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}())) {}
  ~CliConventionsTest() override { (void)courier::Bus::remove(bus_); }

  void create() {
    const Output o = run({"create", bus_});
    ASSERT_EQ(o.status, 0) << o.err;
    ASSERT_EQ(run({"endpoint", "add", bus_, "bob"}).status, 0);
  }

  std::string bus_;
};

// `courier ARGS...` with stdout a pipe whose reader has already gone (its
// first write meets EPIPE, whatever the timing) and stderr captured.
Output run_into_closed_pipe(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  ::close(out[0]);  // no reader, ever
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
  std::vector<std::string> argv_s;
  std::vector<char*> argv = cli_argv(argv_s, args);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, COURIER_CLI_PATH, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) throw std::runtime_error("posix_spawn");
  Output o;
  char buf[4096];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) != 0;)
    if (n > 0) o.err.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

TEST(CliUsage, bareCourierPrintsTheCommandsOnStderrWithStatus2) {
  const Output o = run({});
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(o.out, "");
  EXPECT_TRUE(o.err.starts_with("usage: courier COMMAND [OPTION...]\n")) << o.err;
  for (const char* cmd : {"\n  send BUS", "\n  ls [--json]", "\n  peek BUS NAME", "\n  doctor BUS", "\n  top BUS"})
    EXPECT_NE(o.err.find(cmd), std::string::npos) << cmd;
  const Output help = run({"help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_TRUE(help.out.starts_with("usage: courier COMMAND")) << help.out;
  EXPECT_EQ(help.err, "");
}

TEST(CliUsage, aClosedPipeEndsTheOutputSilently) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"help"}, {"--help"}, {"--version"}, {"ls"}, {"help", "send"}}) {
    const Output o = run_into_closed_pipe(args);
    EXPECT_TRUE(o.status == 0 || o.status == 128 + SIGPIPE) << args[0] << ": " << o.status;
    EXPECT_EQ(o.err, "") << args[0];
  }
  // recv into a closed pipe: cli_test.cpp, messageThatCouldNotBeWrittenIsRedeliveredToTheNextReceiver.
}

// 2^53 + 1: a double (jq 1.6, JavaScript) cannot hold it; as a string it survives.
TEST_F(CliConventionsTest, messageIdsAreJsonStringsAndAreAcceptedBackQuotedOrNot) {
  create();
  const std::string big = "9007199254740993";
  const Output sent =
      run({"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "1m", "--id", big, "--json", "x"});
  ASSERT_EQ(sent.status, 0) << sent.err;
  EXPECT_EQ(sent.out, "{\"id\":\"" + big + "\",\"status\":\"sent\"}\n");
  const Output quoted = run({"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "1m", "--id", "\"77\"", "y"});
  EXPECT_EQ(quoted.out, "77 sent\n") << quoted.err;

  for (const std::string& given : {big, "\"" + big + "\""}) {
    const Output s = run({"status", bus_, "--from", "alice", given, "--json"});
    ASSERT_EQ(s.status, 0) << given << ": " << s.err;
    EXPECT_EQ(json_id(s.out), big);
  }
  const Output peeked = run({"peek", bus_, "bob", "--json"});
  ASSERT_EQ(peeked.status, 0) << peeked.err;
  EXPECT_EQ(json_id(lines_of(peeked.out).at(0)), big);
  const Output got = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  EXPECT_EQ(json_id(got.out), big);

  const UsageCase bad[] = {
      {{"status", bus_, "--from", "alice", "\"12"}, "ID: not a positive integer"},
      {{"status", bus_, "--from", "alice", "\"\""}, "ID: not a positive integer"},
      {{"send", bus_, "--from", "a", "--to", "bob", "--id", "\"x\"", "z"}, "--id: not a non-negative integer"},
  };
  expect_usage_errors(bad);
}

// The commands that print nothing on stdout (their notes go to stderr; the
// bridge logs what it does to stderr, one line per event).
const std::set<std::string> silent_commands{"endpoint add", "endpoint rm", "group add", "group rm", "rm", "bridge"};

TEST(CliUsage, everyCommandThatPrintsTakesJson) {
  const Output usage = run({});
  std::size_t commands = 0;
  for (const std::string& line : lines_of(usage.err)) {
    if (!line.starts_with("  ")) continue;
    std::istringstream words(line);
    std::string name, sub;
    words >> name;
    if (name == "endpoint" || name == "group") words >> sub;
    ++commands;
    if (silent_commands.count(sub.empty() ? name : name + " " + sub) != 0) continue;
    const Output help = sub.empty() ? run({"help", name}) : run({"help", name, sub});
    ASSERT_EQ(help.status, 0) << name << " " << sub;
    EXPECT_NE(help.out.find("--json"), std::string::npos) << name << " " << sub;  // not in the common text
  }
  EXPECT_GE(commands, 19u) << usage.err;
  EXPECT_EQ(run({"help", "rm"}).out.find("--json"), std::string::npos);  // the check can fail
}

TEST_F(CliConventionsTest, jsonOutputIsOneObjectPerLine) {
  create();
  const std::vector<std::vector<std::string>> cmds{
      {"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "1m", "--json", "a"},
      {"stat", bus_, "--json"},
      {"endpoint", "ls", bus_, "--json"},
      {"sweep", bus_, "--json"},
      {"ls", "--json"},
      {"peek", bus_, "bob", "--json"},
      {"doctor", bus_, "--json"},
      {"top", bus_, "--once", "--json"},
      {"recv", bus_, "bob", "--count", "1", "--timeout", "10s", "--json"},
  };
  for (const auto& args : cmds) {
    const Output o = run(args);
    EXPECT_EQ(o.status, 0) << args[0] << ": " << o.err;
    ASSERT_FALSE(o.out.empty()) << args[0];
    for (const std::string& line : lines_of(o.out)) {
      nlohmann::json j;
      EXPECT_NO_THROW(j = nlohmann::json::parse(line)) << args[0] << ": " << line;
      EXPECT_TRUE(j.is_object()) << args[0] << ": " << line;
    }
  }
}

}  // namespace
