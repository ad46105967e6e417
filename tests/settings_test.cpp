// Settings belong to the bus (issue 12 item 1): the creator records the log
// directory, the sync policy and the geometry in the segment header and, with
// a log, in LOG_DIR/BUS/bus.settings; an opener that names none adopts them,
// one that names other values is refused with both named; after a reboot
// (shared memory gone) the manifest brings the settings back; a damaged
// manifest is a clear error, never a crash.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "courier/detail/bus_manifest.hpp"
#include "support.hpp"

namespace courier {
namespace {

namespace fs = std::filesystem;
using test::BusName;
using test::Child;
using test::small_options;
using test::TempDir;

Options logged(const std::string& dir, Sync sync = Sync::always) {
  Options o = small_options();
  o.log_dir = dir;
  o.sync = sync;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  return o;
}

// Options that name nothing the bus owns (the log, the geometry).
Options naming_nothing() {
  Options o;
  o.prefault_tracker = false;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  return o;
}

std::string canonical(const std::string& dir) { return fs::canonical(dir).string(); }

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

// A child opens the bus naming nothing, sends one stored message from alice
// to bob and says what the send answered and whether it has the bus's log.
COURIER_CHILD(send_naming_nothing) {
  auto bus = Bus::open(args.at(0), naming_nothing());
  if (!bus) {
    test::tell_parent("open: " + bus.error().message);
    return 1;
  }
  auto alice = bus->endpoint("alice");
  if (!alice) return 2;
  const SendResult r = alice->send({.to = peer("bob"), .expiry = std::chrono::hours(1), .id = 4242}, "durable");
  test::tell_parent(std::string(status_name(r.status)) + " " + (bus->has_log() ? bus->log_directory() : "nolog"));
  return 0;
}

TEST(Settings, AProcessThatNamesNoLogWritesToTheBusLogAndItsMessageSurvivesAReboot) {
  BusName name;
  TempDir dir;
  {
    auto bus = Bus::open(name, logged(dir.path));
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_endpoint("bob"));
    Child c = Child::spawn("send_naming_nothing", {name.name});
    c.expect_line("sent " + Bus::log_directory_for(canonical(dir.path), name.name));
    ASSERT_EQ(c.wait(), 0);
  }
  // Reboot: the shared memory is gone, the journals are not.
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  auto bus = Bus::open(name, logged(dir.path));
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_TRUE(bus->created());
  EXPECT_EQ(bus->recovery().injected, 1u);
  EXPECT_EQ(bus->recovery().damaged, 0u);  // the manifest beside the journals is not a journal
  auto bob = bus->attach("bob");
  ASSERT_TRUE(bob);
  auto m = bob->receive(std::chrono::seconds(5));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id(), 4242u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->payload().data()), m->payload().size()), "durable");
}

TEST(Settings, AnOpenerThatNamesNothingAdoptsTheBusSettings) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path, Sync::os);
  o.status_capacity = 8192;
  o.tracker_capacity = 1024;
  o.group_commit_bytes = 16384;
  auto creator = Bus::open(name, o);
  ASSERT_TRUE(creator) << creator.error().message;
  auto bus = Bus::open(name, naming_nothing());
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_FALSE(bus->created());
  EXPECT_TRUE(bus->has_log());
  const BusSettings s = bus->settings();
  EXPECT_EQ(s.log_dir, canonical(dir.path));
  EXPECT_EQ(s.sync, Sync::os);
  EXPECT_EQ(s.group_commit_bytes, 16384u);
  EXPECT_EQ(s.status_capacity, 8192u);
  EXPECT_EQ(s.tracker_capacity, 1024u);
  EXPECT_EQ(s.lane_capacity, 64u * 1024);
  // The same values named, and the log directory by another spelling of the same path: accepted.
  Options same = o;
  same.log_dir = dir.path + "/./";
  EXPECT_TRUE(Bus::open(name, same));
}

TEST(Settings, ABusWithoutALogSaysSo) {
  BusName name;
  auto bus = Bus::open(name, small_options());
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->settings().log_dir, "");
  auto other = Bus::open(name, naming_nothing());
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_log());
}

// The open fails with Errc::incompatible and a message naming both values.
void expect_refused(std::string_view name, const Options& o, const std::string& bus_value, const std::string& asked) {
  auto r = Bus::open(name, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::incompatible) << r.error().message;
  EXPECT_NE(r.error().message.find("was created with" + bus_value), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("this open asks for " + asked), std::string::npos) << r.error().message;
}

TEST(Settings, AnOpenerThatNamesOtherSettingsIsRefusedWithBothValues) {
  BusName name;
  TempDir dir, other;
  auto bus = Bus::open(name, logged(dir.path, Sync::always));
  ASSERT_TRUE(bus) << bus.error().message;
  Options o = naming_nothing();
  o.status_capacity = 1u << 20;
  expect_refused(name, o, " status_capacity 65536", "1048576");
  o = naming_nothing();
  o.lane_capacity = 128 * 1024;
  expect_refused(name, o, " lane_capacity 65536", "131072");
  o = naming_nothing();
  o.sync = Sync::group;
  expect_refused(name, o, " sync always", "group");
  o = naming_nothing();
  o.log_dir = other.path;
  expect_refused(name, o, " log directory '" + canonical(dir.path) + "'", "'" + canonical(other.path) + "'");
  o = naming_nothing();
  o.status_retention = std::chrono::seconds(3);
  expect_refused(name, o, " status_retention 10s", "3s");
}

TEST(Settings, ALogNamedForABusCreatedWithoutOneIsRefused) {
  BusName name;
  TempDir dir;
  ASSERT_TRUE(Bus::open(name, small_options()));
  auto r = Bus::open(name, logged(dir.path));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::incompatible);
  EXPECT_NE(r.error().message.find("was created without a log; this open asks for log directory '" +
                                   canonical(dir.path) + "'"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(Bus::log_directory_for(dir.path, name.name)));  // and it made no log
}

TEST(Settings, AnInProcessBusComparesItsSettingsToo) {
  BusName name;
  Options o = small_options();
  o.in_process = true;
  auto bus = Bus::open(name, o);
  ASSERT_TRUE(bus);
  Options other = o;
  other.max_endpoints = 32;
  auto r = Bus::open(name, other);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("was created with max_endpoints 16; this open asks for 32"), std::string::npos)
      << r.error().message;
  Options nothing = naming_nothing();
  nothing.in_process = true;
  EXPECT_TRUE(Bus::open(name, nothing));
}

TEST(Settings, TheManifestBringsTheSettingsBackAfterAReboot) {
  BusName name;
  TempDir dir;
  Options o = logged(dir.path, Sync::os);
  o.max_endpoints = 8;
  o.status_capacity = 8192;
  o.tracker_capacity = 512;
  o.status_retention = std::chrono::seconds(7);
  o.group_commit_interval = std::chrono::microseconds(900);
  {
    auto bus = Bus::open(name, o);
    ASSERT_TRUE(bus) << bus.error().message;
  }
  const std::string manifest = Bus::log_directory_for(dir.path, name.name) + "/bus.settings";
  struct stat st {};
  ASSERT_EQ(::stat(manifest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  Options again = naming_nothing();
  again.log_dir = dir.path;  // only where the log is
  auto bus = Bus::open(name, again);
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_TRUE(bus->created());
  const BusSettings s = bus->settings();
  EXPECT_EQ(s.max_endpoints, 8u);
  EXPECT_EQ(s.lane_capacity, 64u * 1024);
  EXPECT_EQ(s.max_payload, 16u * 1024);
  EXPECT_EQ(s.status_capacity, 8192u);
  EXPECT_EQ(s.tracker_capacity, 512u);
  EXPECT_EQ(s.status_retention, std::chrono::seconds(7));
  EXPECT_EQ(s.sync, Sync::os);
  EXPECT_EQ(s.group_commit_interval, std::chrono::microseconds(900));
}

TEST(Settings, ARebuildThatNamesASettingOverridesTheManifestAndRecordsIt) {
  BusName name;
  TempDir dir;
  ASSERT_TRUE(Bus::open(name, logged(dir.path)));
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  Options bigger = naming_nothing();
  bigger.log_dir = dir.path;
  bigger.tracker_capacity = 4096;  // e.g. what a recovery too large for the old tracker asks for
  {
    auto bus = Bus::open(name, bigger);
    ASSERT_TRUE(bus) << bus.error().message;
    EXPECT_EQ(bus->settings().tracker_capacity, 4096u);
    EXPECT_EQ(bus->settings().lane_capacity, 64u * 1024);  // the rest from the manifest
  }
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  Options nothing = naming_nothing();
  nothing.log_dir = dir.path;
  auto bus = Bus::open(name, nothing);
  ASSERT_TRUE(bus) << bus.error().message;
  EXPECT_EQ(bus->settings().tracker_capacity, 4096u);
}

TEST(Settings, ADamagedManifestIsAClearErrorAndLeavesNoBus) {
  const std::string good = detail::encode_manifest(detail::BusManifest{
      Geometry{8, 64 * 1024, 1024, 2, 4, 256, 4096}, 200'000'000, 1'000'000'000, Sync::group, 500'000, 1u << 20});
  ASSERT_TRUE(detail::decode_manifest(good));
  std::string no_sync = good;
  no_sync.erase(no_sync.find("sync "), no_sync.find('\n', no_sync.find("sync ")) - no_sync.find("sync ") + 1);
  std::string bad_lane = good;
  bad_lane.replace(bad_lane.find("lane_capacity 65536"), 19, "lane_capacity 65537");
  std::string huge = good;
  huge.replace(huge.find("max_endpoints 8"), 15, "max_endpoints 99999999999999999999999");
  const struct Case {
    std::string what, text, says;
  } cases[] = {
      {"empty", "", "does not end with a whole line"},
      {"short", good.substr(0, good.size() / 2), "does not end with a whole line"},
      {"cut at a line", good.substr(0, good.find("tracker_capacity")), "is missing"},
      {"foreign", "[Unit]\nDescription=not ours\n", "the first line is not"},
      {"binary", std::string("\0\x01\xff\n", 4), "the first line is not"},
      {"no sync", no_sync, "sync is missing"},
      {"bad lane", bad_lane, "lane_capacity must be a power of two"},
      {"huge number", huge, "max_endpoints is not a number in range"},
      {"twice", good + "sync os\n", "sync given twice"},
      {"unknown", good + "colour blue\n", "unknown field"},
      {"too long", good + std::string(5000, 'x') + "\n", "longer than 4096 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    BusName name;
    TempDir dir;
    const std::string busdir = Bus::log_directory_for(dir.path, name.name);
    fs::create_directories(busdir);
    write_file(busdir + "/bus.settings", c.text);
    Options o = naming_nothing();
    o.log_dir = dir.path;
    auto r = Bus::open(name, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
    EXPECT_NE(r.error().message.find(busdir + "/bus.settings"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
    EXPECT_FALSE(Bus::exists(name));
  }
}

TEST(Settings, AManifestThatIsADirectoryIsRefused) {
  BusName name;
  TempDir dir;
  const std::string busdir = Bus::log_directory_for(dir.path, name.name);
  fs::create_directories(busdir + "/bus.settings");
  Options o = naming_nothing();
  o.log_dir = dir.path;
  auto r = Bus::open(name, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is not a regular file"), std::string::npos) << r.error().message;
}

TEST(Settings, ASettingIsNamedOnlyWhenAValueIsGiven) {
  Options o;
  EXPECT_FALSE(o.lane_capacity.named());
  EXPECT_EQ(o.lane_capacity, defaults::lane_capacity);
  Options copy = o;
  Setting<std::uint64_t> lanes = copy.lane_capacity;  // a copy, not a value: stays not named
  EXPECT_FALSE(copy.lane_capacity.named());
  EXPECT_FALSE(lanes.named());
  o.lane_capacity = 8192;
  EXPECT_TRUE(o.lane_capacity.named());
  EXPECT_EQ(o.lane_capacity, 8192u);
  o.status_retention = std::chrono::milliseconds(5);
  EXPECT_TRUE(o.status_retention.named());
  EXPECT_EQ(o.status_retention.value(), std::chrono::milliseconds(5));
  const Options d{.sync = Sync::os};
  EXPECT_TRUE(d.sync.named());
  EXPECT_FALSE(d.max_payload.named());
  EXPECT_EQ(sync_name(d.sync), "os");
}

TEST(Settings, TheManifestRoundTrips) {
  const detail::BusManifest m{Geometry{3, 8192, 100, 0, 1, 64, 4096}, 1'000'000, 0, Sync::always, 1000, 4096};
  auto back = detail::decode_manifest(detail::encode_manifest(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->geometry.max_endpoints, 3u);
  EXPECT_EQ(back->geometry.lane_capacity, 8192u);
  EXPECT_EQ(back->geometry.max_payload, 100u);
  EXPECT_EQ(back->geometry.max_groups, 0u);
  EXPECT_EQ(back->geometry.max_group_members, 1u);
  EXPECT_EQ(back->geometry.tracker_capacity, 64u);
  EXPECT_EQ(back->geometry.status_capacity, 4096u);
  EXPECT_EQ(back->claim_timeout_ns, 1'000'000u);
  EXPECT_EQ(back->status_retention_ns, 0u);
  EXPECT_EQ(back->sync, Sync::always);
  EXPECT_EQ(back->group_commit_interval_ns, 1000u);
  EXPECT_EQ(back->group_commit_bytes, 4096u);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
