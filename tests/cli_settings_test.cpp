// Settings belong to the bus, through the CLI (issue 12 item 1): after
// `courier create BUS --log DIR`, commands without --log write to the bus's
// log; a flag that differs from the bus's setting is refused naming both
// values (the flags not given are not compared); `courier stat` shows the log
// and its sync policy; after a reboot the bus comes back with its settings;
// a damaged settings file is a one-line error. The real binary
// (COURIER_CLI_PATH) runs as child processes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace courier::test::cli;

class CliSettingsTest : public ::testing::Test {
 protected:
  CliSettingsTest() {
    std::string tmpl = (fs::temp_directory_path() / "courier-cli-settings-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    log_ = fs::canonical(tmpl).string();
  }
  ~CliSettingsTest() override {
    std::error_code ec;
    fs::remove_all(log_, ec);
  }

  const std::string& bus() const { return bus_.name; }
  std::string journals() const { return log_ + "/" + bus(); }
  // `courier create BUS --log DIR` with `extra` flags; asserts it worked.
  void create(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"create", bus(), "--log", log_};
    args.insert(args.end(), extra.begin(), extra.end());
    const Output o = run(args);
    ASSERT_EQ(o.status, 0) << o.err;
  }
  // The one-line failure of `args`: exit 1, nothing on stdout.
  std::string failure(const std::vector<std::string>& args) {
    const Output o = run(args);
    EXPECT_EQ(o.status, 1) << o.out << o.err;
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(lines_of(o.err).size(), 1u) << o.err;
    return o.err;
  }

  courier::test::BusName bus_{courier::test::unique_bus_name("cli-settings")};
  std::string log_;
};

TEST_F(CliSettingsTest, aSendWithoutLogOnALoggedBusIsDurable) {
  create({"--sync", "always"});
  ASSERT_EQ(run({"endpoint", "add", bus(), "bob"}).status, 0);
  const Output sent = run({"send", bus(), "--from", "alice", "--to", "bob", "--expiry", "1h", "--id", "77", "kept"});
  ASSERT_EQ(sent.status, 0) << sent.err;
  EXPECT_EQ(sent.out, "77 sent\n");
  // It is in the journal.
  const Output log = run({"log", bus(), "stat", "--log", log_, "--json"});
  ASSERT_EQ(log.status, 0) << log.err;
  EXPECT_EQ(json_number(log.out, "unsettled"), 1u) << log.out;
  EXPECT_EQ(json_number(log.out, "damaged"), 0u) << log.out;  // the settings file is not a journal
  const Output verify = run({"log", bus(), "verify", "--log", log_});
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
  // A reboot, and a rebuilding open: the message is back.
  ASSERT_EQ(run({"rm", bus()}).status, 0);
  const Output got = run({"recv", bus(), "bob", "--count", "1", "--timeout", "10s", "--log", log_});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_field(got.out, "data"), "\"kept\"");
  EXPECT_EQ(std::stoull(json_id(got.out)), 77u);
}

TEST_F(CliSettingsTest, flagsThatDifferFromTheBusAreRefusedWithBothValues) {
  create({"--sync", "always", "--lane-capacity", "64KiB"});
  const std::string other = log_ + "/elsewhere";
  const std::string b = bus();
  EXPECT_NE(
      failure({"endpoint", "add", b, "bob", "--log", other})
          .find("bus '" + b + "' was created with log directory '" + log_ + "'; this open asks for '" + other + "'"),
      std::string::npos);
  EXPECT_NE(failure({"endpoint", "add", b, "bob", "--log", log_, "--sync", "group"})
                .find("bus '" + b + "' was created with sync always; this open asks for group"),
            std::string::npos);
  EXPECT_NE(failure({"send", b, "--from", "a", "--to", "b", "--lane-capacity", "128KiB", "x"})
                .find("bus '" + b + "' was created with lane_capacity 65536; this open asks for 131072"),
            std::string::npos);
  EXPECT_NE(failure({"endpoint", "ls", b, "--tracker-capacity", "128"})
                .find("was created with tracker_capacity 65536; this open asks for 128"),
            std::string::npos);
  // The same values given again are fine, and so is giving none.
  EXPECT_EQ(
      run({"endpoint", "add", b, "bob", "--log", log_ + "/", "--sync", "always", "--lane-capacity", "64KiB"}).status,
      0);
  EXPECT_EQ(run({"endpoint", "add", b, "carol"}).status, 0);
}

TEST_F(CliSettingsTest, aLogForABusCreatedWithoutOneIsRefused) {
  ASSERT_EQ(run({"create", bus()}).status, 0);
  EXPECT_NE(failure({"endpoint", "add", bus(), "bob", "--log", log_, "--sync", "os"})
                .find("bus '" + bus() + "' was created without a log; this open asks for log directory '" + log_ + "'"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(journals()));
}

TEST_F(CliSettingsTest, statShowsTheLogAndItsSyncPolicy) {
  create({"--sync", "os"});
  const Output text = run({"stat", bus()});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("log:            " + log_ + " (journals in " + journals() + ")\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("sync:           os (batches every 250us or 1 MiB)\n"), std::string::npos) << text.out;
  const Output json = run({"stat", bus(), "--json"});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_NE(json.out.find("\"log\":{\"dir\":\"" + log_ + "\",\"journals\":\"" + journals() +
                          "\",\"sync\":\"os\",\"group_commit_interval_ns\":250000,\"group_commit_bytes\":1048576}"),
            std::string::npos)
      << json.out;
}

TEST_F(CliSettingsTest, statOfABusWithoutALogSaysNone) {
  ASSERT_EQ(run({"create", bus()}).status, 0);
  const Output text = run({"stat", bus()});
  EXPECT_NE(text.out.find("log:            none (messages live in shared memory only)\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("sync:           -\n"), std::string::npos) << text.out;
  EXPECT_NE(run({"stat", bus(), "--json"}).out.find("\"log\":null"), std::string::npos);
}

TEST_F(CliSettingsTest, theBusComesBackWithItsSettingsAfterAReboot) {
  create({"--sync", "always", "--max-endpoints", "8", "--lane-capacity", "64KiB", "--tracker-capacity", "1024"});
  ASSERT_EQ(run({"rm", bus()}).status, 0);  // as a reboot would
  const Output again = run({"endpoint", "add", bus(), "bob", "--log", log_});
  ASSERT_EQ(again.status, 0) << again.err;
  const Output json = run({"stat", bus(), "--json"});
  EXPECT_NE(json.out.find("\"max_endpoints\":8,\"lane_capacity\":65536,"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"tracker_capacity\":1024,"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"sync\":\"always\""), std::string::npos) << json.out;
}

TEST_F(CliSettingsTest, aDamagedSettingsFileIsAOneLineError) {
  create();
  ASSERT_EQ(run({"rm", bus()}).status, 0);
  {
    std::ofstream f(journals() + "/bus.settings", std::ios::trunc);
    f << "courier-bus-settings 1\nmax_endpoints 8\nlane_capac";
  }
  const std::string err = failure({"endpoint", "add", bus(), "bob", "--log", log_});
  EXPECT_NE(err.find("reading '" + journals() + "/bus.settings': not a valid bus settings file"), std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists("/dev/shm/courier." + bus()));
}

TEST_F(CliSettingsTest, rmPurgeRemovesTheSettingsFileWithTheJournals) {
  create();
  ASSERT_TRUE(fs::exists(journals() + "/bus.settings"));
  const Output rm = run({"rm", bus(), "--purge", "--log", log_});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_FALSE(fs::exists(journals()));
}

}  // namespace
