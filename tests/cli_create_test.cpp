// Tests of who makes a bus (issue 12): only `courier create` does; the other
// commands fail on a missing bus and leave nothing in /dev/shm, except that a
// command given --log DIR rebuilds a bus whose journals are in DIR/BUS (after
// a reboot). The real binary (COURIER_CLI_PATH) runs as child processes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace courier::test::cli;

class CliCreateTest : public ::testing::Test {
 protected:
  CliCreateTest() {
    std::string tmpl = (fs::temp_directory_path() / "courier-cli-create-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    log_ = tmpl;
  }
  ~CliCreateTest() override {
    std::error_code ec;
    fs::remove_all(log_, ec);
  }

  const std::string& bus() const { return bus_.name; }
  std::string shm() const { return "/dev/shm/courier." + bus(); }

  courier::test::BusName bus_{courier::test::unique_bus_name("cli-create")};
  std::string log_;
};

TEST_F(CliCreateTest, commandsOnAMissingBusFailClearlyAndCreateNothing) {
  const std::string b = bus();
  const std::vector<std::vector<std::string>> commands = {
      {"send", b, "--from", "a", "--to", "b", "x"},
      {"send", b, "--from", "a", "--to", "b", "--expiry", "1m", "x"},
      {"recv", b, "bob", "--count", "1", "--timeout", "1s"},
      {"stat", b},
      {"stat", b, "--json"},
      {"status", b, "--from", "a", "1"},
      {"sweep", b},
      {"endpoint", "add", b, "bob"},
      {"endpoint", "rm", b, "bob"},
      {"endpoint", "ls", b},
      {"group", "add", b, "team", "bob"},
      {"group", "rm", b, "team"},
      {"group", "ls", b},
  };
  for (std::vector<std::string> args : commands) {
    for (bool with_log : {false, true}) {
      if (with_log) args.insert(args.end(), {"--log", log_});  // a log directory without this bus's journals
      std::string cmdline;
      for (const std::string& a : args) cmdline += " " + a;
      const Output o = run(args);
      EXPECT_EQ(o.status, 1) << cmdline;
      EXPECT_EQ(o.out, "") << cmdline;
      EXPECT_TRUE(o.err.starts_with("courier: no bus named '" + b + "' on this host")) << cmdline << ": " << o.err;
      EXPECT_NE(o.err.find("(create it with: courier create " + b + ")\n"), std::string::npos) << o.err;
      EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
      EXPECT_FALSE(fs::exists(shm())) << cmdline;
      EXPECT_FALSE(fs::exists(log_ + "/" + b)) << cmdline;
    }
  }
}

TEST_F(CliCreateTest, createThenSendAndRecvBetweenTwoProcesses) {
  const Output created = run({"create", bus(), "--max-endpoints", "8", "--lane-capacity", "64KiB"});
  ASSERT_EQ(created.status, 0) << created.err;
  EXPECT_EQ(created.err, "");
  EXPECT_TRUE(created.out.starts_with("created bus '" + bus() + "': ")) << created.out;
  EXPECT_NE(created.out.find(" of shared memory, 8 endpoints at most, lanes of 64 KiB\n"), std::string::npos)
      << created.out;
  EXPECT_EQ(lines_of(created.out).size(), 1u);
  EXPECT_TRUE(fs::exists(shm()));

  Child receiver({"recv", bus(), "bob", "--count", "1", "--timeout", "10s"});
  bool attached = false;
  for (const auto deadline = Clock::now() + patience; !attached && Clock::now() < deadline;)
    attached = run({"stat", bus(), "--json"}).out.find("\"receiver_attached\":true") != std::string::npos;
  ASSERT_TRUE(attached);
  const Output sent = run({"send", bus(), "--from", "alice", "--to", "bob", "--id", "7", "hello"});
  EXPECT_EQ(sent.status, 0) << sent.err;
  EXPECT_EQ(sent.out, "7 sent\n");
  const std::optional<std::string> line = receiver.read_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(json_field(*line, "data"), "\"hello\"");
  EXPECT_EQ(receiver.finish().status, 0);
}

TEST_F(CliCreateTest, createOfAnExistingBusFailsAndChangesNothing) {
  ASSERT_EQ(run({"create", bus(), "--max-endpoints", "8"}).status, 0);
  ASSERT_EQ(run({"endpoint", "add", bus(), "bob"}).status, 0);
  const Output again = run({"create", bus(), "--max-endpoints", "16"});
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err, "courier: bus '" + bus() + "' already exists (courier stat " + bus() + " shows it)\n");
  const Output stat = run({"stat", bus(), "--json"});
  EXPECT_NE(stat.out.find("\"max_endpoints\":8,"), std::string::npos) << stat.out;
  EXPECT_EQ(run({"endpoint", "ls", bus()}).out, "bob\n");
}

TEST_F(CliCreateTest, endpointAddOfAnExistingEndpointDoesNothingAndSaysSo) {
  ASSERT_EQ(run({"create", bus()}).status, 0);
  const Output first = run({"endpoint", "add", bus(), "bob"});
  EXPECT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.err, "");
  const Output again = run({"endpoint", "add", bus(), "bob"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err, "courier: note: endpoint 'bob' already exists: nothing to do\n");
  EXPECT_EQ(run({"endpoint", "ls", bus()}).out, "bob\n");
}

// After a reboot (the shared memory removed, the journals kept), a command
// given --log DIR rebuilds the bus from DIR/BUS, and the message owed is back.
TEST_F(CliCreateTest, sendWithTheLogRebuildsABusWhoseSharedMemoryIsGone) {
  const Output created = run({"create", bus(), "--log", log_, "--sync", "always"});
  ASSERT_EQ(created.status, 0) << created.err;
  EXPECT_NE(created.out.find(", log in " + log_ + "/" + bus() + " (sync always)\n"), std::string::npos) << created.out;
  ASSERT_EQ(run({"endpoint", "add", bus(), "bob", "--log", log_}).status, 0);
  const Output first = run({"send", bus(), "--from", "alice", "--to", "bob", "--expiry", "10m", "--log", log_, "one"});
  ASSERT_EQ(first.status, 0) << first.err;
  ASSERT_EQ(run({"rm", bus()}).status, 0);  // as a reboot would
  ASSERT_FALSE(fs::exists(shm()));

  const Output without_log = run({"send", bus(), "--from", "alice", "--to", "bob", "--expiry", "10m", "two"});
  EXPECT_EQ(without_log.status, 1);
  EXPECT_NE(without_log.err.find("no bus named '" + bus() + "'"), std::string::npos) << without_log.err;
  EXPECT_FALSE(fs::exists(shm()));

  const Output second = run({"send", bus(), "--from", "alice", "--to", "bob", "--expiry", "10m", "--log", log_, "two"});
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_TRUE(fs::exists(shm()));
  const Output got = run({"recv", bus(), "bob", "--count", "2", "--timeout", "10s", "--log", log_});
  ASSERT_EQ(got.status, 0) << got.err;
  const std::vector<std::string> lines = lines_of(got.out);
  ASSERT_EQ(lines.size(), 2u) << got.out;
  std::vector<std::string> data{json_field(lines[0], "data"), json_field(lines[1], "data")};
  std::sort(data.begin(), data.end());
  EXPECT_EQ(data, (std::vector<std::string>{"\"one\"", "\"two\""}));
}

// rm refuses while a `courier recv` is attached (naming it and its pid), keeps
// the bus and its journals; --force removes it anyway (issue 12, item 4).
TEST_F(CliCreateTest, rmIsRefusedWhileARecvIsAttachedUnlessForced) {
  ASSERT_EQ(run({"create", bus(), "--log", log_}).status, 0);
  Child receiver({"recv", bus(), "bob", "--count", "1", "--timeout", "30s", "--log", log_});
  bool attached = false;
  for (const auto deadline = Clock::now() + patience; !attached && Clock::now() < deadline;)
    attached = run({"stat", bus(), "--json"}).out.find("\"receiver_attached\":true") != std::string::npos;
  ASSERT_TRUE(attached);
  const std::string refusal = "courier: bus '" + bus() + "' has receivers attached: bob (pid " +
                              std::to_string(receiver.pid()) + "); detach them, or remove with force\n";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"rm", bus()}, std::vector<std::string>{"rm", bus(), "--log", log_, "--purge"}}) {
    const Output refused = run(args);
    EXPECT_EQ(refused.status, 1);
    EXPECT_EQ(refused.out, "");
    EXPECT_EQ(refused.err, refusal);
    EXPECT_TRUE(fs::exists(shm()));
    EXPECT_TRUE(fs::exists(log_ + "/" + bus()));
  }
  const Output forced = run({"rm", bus(), "--force"});
  EXPECT_EQ(forced.status, 0) << forced.err;
  EXPECT_EQ(forced.err, "");
  EXPECT_FALSE(fs::exists(shm()));
  EXPECT_TRUE(fs::exists(log_ + "/" + bus()));  // rm keeps the journals
  const Output purged = run({"rm", bus(), "--log", log_, "--purge", "--force"});
  EXPECT_EQ(purged.status, 0) << purged.err;
  EXPECT_FALSE(fs::exists(log_ + "/" + bus()));
}

TEST_F(CliCreateTest, rmRemovesOnceTheReceiverIsGone) {
  ASSERT_EQ(run({"create", bus()}).status, 0);
  Child receiver({"recv", bus(), "bob", "--count", "1", "--timeout", "30s"});
  bool attached = false;
  for (const auto deadline = Clock::now() + patience; !attached && Clock::now() < deadline;)
    attached = run({"stat", bus(), "--json"}).out.find("\"receiver_attached\":true") != std::string::npos;
  ASSERT_TRUE(attached);
  EXPECT_EQ(run({"rm", bus()}).status, 1);
  receiver.signal(SIGKILL);  // a dead holder is not attached
  EXPECT_EQ(receiver.finish().status, 128 + SIGKILL);
  const Output removed = run({"rm", bus()});
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_FALSE(fs::exists(shm()));
}

TEST_F(CliCreateTest, badCreateArgumentsExitWith2AndCreateNothing) {
  const std::string b = bus();
  const UsageCase cases[] = {
      {{"create"}, "create: missing BUS"},
      {{"create", b, "extra"}, "create: unexpected argument 'extra'"},
      {{"create", b, "--from", "a"}, "--from"},
      {{"create", b, "--sync", "always"}, "--sync: needs --log DIR"},
      {{"create", b, "--lane-capacity", "3000"}, "--lane-capacity: must be a power of two"},
  };
  expect_usage_errors(cases);
  EXPECT_FALSE(fs::exists(shm()));
}

TEST_F(CliCreateTest, helpOfRmDocumentsForce) {
  const Output one = run({"help", "rm"});
  EXPECT_EQ(one.status, 0);
  EXPECT_TRUE(one.out.starts_with("  rm BUS [--log DIR --purge] [--force]")) << one.out;
  EXPECT_NE(one.out.find("--force: remove it anyway"), std::string::npos) << one.out;
}

TEST_F(CliCreateTest, helpNamesCreate) {
  const Output all = run({"--help"});
  EXPECT_EQ(all.status, 0);
  EXPECT_NE(all.out.find("  create BUS [--max-endpoints N]"), std::string::npos) << all.out;
  const Output one = run({"help", "create"});
  EXPECT_EQ(one.status, 0);
  EXPECT_TRUE(one.out.starts_with("  create BUS")) << one.out;
  EXPECT_NE(one.out.find("when the\n      bus exists already"), std::string::npos) << one.out;
}

}  // namespace
