// Tests of `courier bench` (issue 16): the real binary (COURIER_CLI_PATH) runs
// as a child process and forks its own peer; small counts; the JSON's shape
// and that every message was exchanged are checked, never a speed.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "support.hpp"

namespace {

using namespace courier::test::cli;
using Json = nlohmann::json;

// Small lanes: a run makes the bus, and /dev/shm is shared with other tests.
const std::vector<std::string> small_bus = {"--max-endpoints", "4", "--lane-capacity", "64K"};

std::vector<std::string> args(std::vector<std::string> a, const std::vector<std::string>& more = small_bus) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

Json parsed(const Output& o) {
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1) << o.out;
  return Json::parse(o.out);
}

void expect_latencies_ordered(const Json& l) {
  ASSERT_TRUE(l.is_object()) << l;
  std::uint64_t prev = 0;
  for (const char* k : {"p50", "p90", "p99", "p99_9", "p99_99", "max"}) {
    ASSERT_TRUE(l.contains(k) && l[k].is_number_unsigned()) << k << " in " << l;
    EXPECT_GE(l[k].get<std::uint64_t>(), prev) << k;
    prev = l[k].get<std::uint64_t>();
  }
  EXPECT_GT(l["p50"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(l["mean"].is_number());
}

TEST(CliBench, pingPongOnABusItMakesExchangesEveryMessageAndRemovesTheBus) {
  courier::test::BusName bus;
  const Json j =
      parsed(run(args({"bench", bus.name, "--size", "8,300", "--count", "200", "--warmup", "20", "--json"})));
  EXPECT_EQ(j["bus"], bus.name);
  EXPECT_EQ(j["mode"], "pingpong");
  EXPECT_EQ(j["bus_created"], true);
  EXPECT_EQ(j["tracked"], false);
  EXPECT_EQ(j["count"], 200);
  EXPECT_EQ(j["warmup"], 20);
  EXPECT_EQ(j["idle"], "default");
  EXPECT_TRUE(j["log_dir"].is_null());
  EXPECT_TRUE(j["host"]["cpu"].is_string());
  ASSERT_EQ(j["results"].size(), 2u);
  std::uint32_t sizes[] = {8, 300};
  for (std::size_t k = 0; k < 2; ++k) {
    const Json& r = j["results"][k];
    EXPECT_EQ(r["size"], sizes[k]);
    EXPECT_EQ(r["sent"], 200);
    EXPECT_EQ(r["received"], 200);
    EXPECT_EQ(r["peer_received"], 220);  // warm-up included
    EXPECT_TRUE(r["delivered"].is_null());
    EXPECT_GT(r["elapsed_ns"].get<std::uint64_t>(), 0u);
    EXPECT_TRUE(r["msgs_per_s"].is_number() && r["mb_per_s"].is_number());
    expect_latencies_ordered(r["latency_ns"]);
  }
  EXPECT_FALSE(courier::Bus::exists(bus.name));  // made for the run, removed after it
}

TEST(CliBench, streamOnAnExistingBusKeepsTheBusAndRemovesItsEndpoints) {
  courier::test::BusName bus;
  ASSERT_EQ(run(args({"create", bus.name})).status, 0);
  const Json j = parsed(run({"bench", bus.name, "--mode", "stream", "--count", "3000", "--warmup", "10", "--json"}));
  EXPECT_EQ(j["bus_created"], false);
  EXPECT_EQ(j["mode"], "stream");
  ASSERT_EQ(j["results"].size(), 1u);
  const Json& r = j["results"][0];
  EXPECT_EQ(r["size"], 64);
  EXPECT_EQ(r["sent"], 3000);
  EXPECT_EQ(r["received"], 3000);
  EXPECT_EQ(r["peer_received"], 3010);
  EXPECT_TRUE(r["latency_ns"].is_null());
  ASSERT_TRUE(courier::Bus::exists(bus.name));
  const Output ls = run({"endpoint", "ls", bus.name});
  EXPECT_EQ(ls.status, 0) << ls.err;
  EXPECT_EQ(ls.out.find("bench."), std::string::npos) << ls.out;
}

TEST(CliBench, trackedOnABusWithALogSeesEveryDeliveredStatusAndRemovesWhatItMade) {
  courier::test::BusName bus;
  courier::test::TempDir dir("cli-bench");
  for (const char* mode : {"pingpong", "stream"}) {
    const Json j =
        parsed(run(args({"bench", bus.name, "--mode", mode, "--tracked", "--log", dir.path, "--sync", "os", "--count",
                         "150", "--warmup", "5", "--priority", "3", "--idle", "park", "--json"})));
    EXPECT_EQ(j["idle"], "park");
    EXPECT_EQ(j["tracked"], true);
    EXPECT_EQ(j["priority"], 3);
    EXPECT_EQ(j["sync"], "os");
    EXPECT_TRUE(j["log_dir"].is_string());
    const Json& r = j["results"][0];
    EXPECT_EQ(r["received"], 150) << mode;
    EXPECT_EQ(r["peer_received"], 155) << mode;
    EXPECT_EQ(r["delivered"], 155) << mode;  // every message the parent sent, warm-up included
    EXPECT_FALSE(courier::Bus::exists(bus.name));
    EXPECT_FALSE(std::filesystem::exists(courier::Bus::log_directory_for(dir.path, bus.name))) << mode;
  }
}

TEST(CliBench, printsATableOfPercentilesAndRates) {
  courier::test::BusName bus;
  const Output o = run(args({"bench", bus.name, "--count", "100", "--warmup", "0"}));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("ping-pong"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("host: "), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("p99.99"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("msgs/s"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\n64 B "), std::string::npos) << o.out;
}

TEST(CliBench, aSizeAboveTheBussMaxPayloadFailsAndLeavesNothing) {
  courier::test::BusName bus;
  const Output o = run(args({"bench", bus.name, "--size", "64,40K", "--count", "10"}));
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("larger than bus"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("max_payload"), std::string::npos) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_FALSE(courier::Bus::exists(bus.name));
}

TEST(CliBench, plotWritesAPngWhenGnuplotIsPresentAndRefusesToRunWithoutIt) {
  courier::test::BusName bus;
  courier::test::TempDir dir("cli-bench-plot");
  const std::string png = dir.path + "/latency.png";
  const std::string path = ::getenv("PATH") != nullptr ? ::getenv("PATH") : "";
  ::setenv("PATH", dir.path.c_str(), 1);  // no gnuplot there
  const Output without = run(args({"bench", bus.name, "--count", "10", "--plot", png}));
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(without.status, 1);
  EXPECT_NE(without.err.find("gnuplot is not installed"), std::string::npos) << without.err;
  EXPECT_FALSE(courier::Bus::exists(bus.name));
  EXPECT_FALSE(std::filesystem::exists(png));

  bool gnuplot = false;
  for (const char* d : {"/usr/bin/gnuplot", "/usr/local/bin/gnuplot"}) gnuplot |= std::filesystem::exists(d);
  if (!gnuplot) GTEST_SKIP() << "gnuplot is not installed";
  const Output with = run(args({"bench", bus.name, "--count", "300", "--size", "8,64", "--plot", png, "--json"}));
  ASSERT_EQ(with.status, 0) << with.err;
  std::ifstream in(png, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  Json j;
  EXPECT_NO_THROW(j = Json::parse(with.out));  // gnuplot's chatter, if any, is not on stdout
  EXPECT_EQ(j["results"].size(), 2u);
}

// The pid of the process attached as `endpoint` of `bus`, once it is (polled:
// the event is the attach, bounded by the run's own patience, 60 s, which a
// slow start under a sanitizer may come close to); 0 if it never was.
pid_t receiver_of(const std::string& bus, const std::string& endpoint) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::optional<courier::Bus> b;  // opened once, when the run has made it
  courier::Options o;
  o.create = false;
  o.prefault_tracker = false;  // a look, not a run: no need to map the whole table
  while (Clock::now() < deadline) {
    if (!b) {
      if (auto opened = courier::Bus::open(bus, o)) b.emplace(std::move(*opened));
    }
    if (b) {
      for (const courier::EndpointStats& e : b->stat().endpoints)
        if (e.name == endpoint && e.receiver_attached) return e.receiver_pid;
    }
    ::usleep(10'000);
  }
  return 0;
}

TEST(CliBench, aPeerKilledMidRunFailsTheRunAndTheBusItMadeIsRemoved) {
  for (const char* mode : {"pingpong", "stream"}) {
    courier::test::BusName bus;
    Child bench(args({"bench", bus.name, "--mode", mode, "--count", "1000000000"}));
    const pid_t peer = receiver_of(bus.name, "bench." + std::to_string(bench.pid()) + ".pong");
    ASSERT_GT(peer, 0) << mode;
    ASSERT_NE(peer, bench.pid());
    ::kill(peer, SIGKILL);
    const Output o = bench.finish();
    EXPECT_EQ(o.status, 1) << mode;
    EXPECT_NE(o.err.find("the other process"), std::string::npos) << o.err;
    EXPECT_EQ(o.out, "");
    EXPECT_FALSE(courier::Bus::exists(bus.name)) << mode;
  }
}

TEST(CliBench, anInterruptedRunStopsBothProcessesAndRemovesTheBusItMade) {
  courier::test::BusName bus;
  Child bench(args({"bench", bus.name, "--count", "1000000000"}));
  ASSERT_GT(receiver_of(bus.name, "bench." + std::to_string(bench.pid()) + ".pong"), 0);
  bench.signal(SIGINT);
  const Output o = bench.finish();
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("interrupted"), std::string::npos) << o.err;
  EXPECT_FALSE(courier::Bus::exists(bus.name));
}

TEST(CliBench, badOptionsAreRefusedAsUsageErrors) {
  const UsageCase cases[] = {
      {{"bench"}, "missing BUS"},
      {{"bench", "b", "--mode", "burst"}, "--mode: must be pingpong or stream"},
      {{"bench", "b", "--idle", "nap"}, "--idle: must be default, spin or park"},
      {{"bench", "b", "--size", ""}, "--size"},
      {{"bench", "b", "--size", "8,,64"}, "--size: an empty size"},
      {{"bench", "b", "--size", "lots"}, "--size: not a size"},
      {{"bench", "b", "--size", "2G"}, "larger than any bus's largest payload"},
      {{"bench", "b", "--count", "0"}, "--count: must be"},
      {{"bench", "b", "--warmup", "-1"}, "-1"},
      {{"bench", "b", "--priority", "16"}, "--priority: must be 0..15"},
      {{"bench", "b", "--mode", "stream", "--plot", "x.png"}, "--plot: needs --mode pingpong"},
      {{"bench", "b", "--plot="}, "--plot"},
      {{"bench", "b", "--sync", "always"}, "--sync: needs --log"},
      {{"bench", "b", "--to", "bob"}, "--to: not an option of 'bench'"},
      {{"bench", "b", "extra"}, "unexpected argument 'extra'"},
      {{"bench", "no/such"}, "BUS"},
  };
  expect_usage_errors(cases);
}

}  // namespace
