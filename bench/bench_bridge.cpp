// bench/bench_bridge.cpp — host to host through two bridges (two buses
// standing for two hosts, a Bridge each, one nats-server) beside raw
// JetStream publish / pull-consume with cnats, in the same run:
//   one-way: N tracked messages sent, all received on the other side (msg/s)
//   round trip: one message there and a reply back, one at a time (percentiles)
// Usage: bench_bridge [N] (default 2000). Starts its own nats-server on a free port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nats/nats.h>

#include "bridge.hpp"
#include "courier/bus.hpp"
#include "courier_bench/machine.hpp"
#include "courier_bench/stats.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point t) { return std::chrono::duration<double, std::nano>(Clock::now() - t).count(); }

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void print(const char* what, std::vector<double>& ns) {
  const cbench::Percentiles p = cbench::summarize_ns(ns);
  std::printf("%-34s p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us  (%llu)\n", what, p.p50 / 1e3, p.p90 / 1e3,
              p.p99 / 1e3, p.max / 1e3, static_cast<unsigned long long>(p.count));
}

// Raw JetStream: publish with ack, then pull-consume, on a stream of its own.
void raw_jetstream(const std::string& url, int n) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK || natsConnection_JetStream(&js, nc, nullptr) != NATS_OK)
    return;
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char* subjects[] = {"raw.>"};
  sc.Name = "RAW";
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Retention = js_WorkQueuePolicy;
  jsErrCode je{};
  jsStreamInfo* si = nullptr;
  js_AddStream(&si, js, &sc, nullptr, &je);
  jsStreamInfo_Destroy(si);
  auto pull = [&](const char* subject, const char* durable) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "RAW";
    so.Config.AckPolicy = js_AckExplicit;
    natsSubscription* sub = nullptr;
    js_PullSubscribe(&sub, js, subject, durable, nullptr, &so, &je);
    return sub;
  };
  natsSubscription* there = pull("raw.there", "there");
  natsSubscription* back = pull("raw.back", "back");
  const std::string payload(64, 'x');
  auto take = [&](natsSubscription* sub, int want) {
    int got = 0;
    while (got < want) {
      natsMsgList l{};
      jsFetchRequest r;
      jsFetchRequest_Init(&r);
      r.Batch = std::min(64, want - got);  // a fetch waits for its whole batch (or Expires)
      r.Expires = 1'000'000'000;
      if (natsSubscription_FetchRequest(&l, sub, &r) == NATS_OK) {
        for (int i = 0; i < l.Count; ++i) natsMsg_Ack(l.Msgs[i], nullptr);
        got += l.Count;
      }
      natsMsgList_Destroy(&l);
    }
  };
  const auto t0 = Clock::now();
  std::thread consumer([&] { take(there, n); });
  for (int i = 0; i < n; ++i) js_Publish(nullptr, js, "raw.there", payload.data(), 64, nullptr, &je);
  consumer.join();
  std::printf("%-34s %10.0f msg/s (%d messages, publish with ack, pull + ack)\n", "raw JetStream one-way",
              n / (ns_since(t0) / 1e9), n);
  std::vector<double> rtt;
  for (int i = 0; i < std::min(n, 500); ++i) {
    const auto t = Clock::now();
    js_Publish(nullptr, js, "raw.there", payload.data(), 64, nullptr, &je);
    take(there, 1);
    js_Publish(nullptr, js, "raw.back", payload.data(), 64, nullptr, &je);
    take(back, 1);
    rtt.push_back(ns_since(t));
  }
  print("raw JetStream round trip", rtt);
  natsSubscription_Destroy(there);
  natsSubscription_Destroy(back);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

void through_bridges(const std::string& url, int n) {
  const std::string a_name = "bbench-a-" + std::to_string(::getpid()),
                    b_name = "bbench-b-" + std::to_string(::getpid());
  auto a = courier::Bus::open(a_name), b = courier::Bus::open(b_name);
  if (!a || !b) return;
  (void)a->add_endpoint("bob@hb");
  (void)b->add_endpoint("bob");
  (void)b->add_endpoint("alice@ha");
  auto ba = courier::bridge::Bridge::start(*a, {.nats_url = url, .host = "ha", .stream = "bench", .on_log = {}});
  auto bb = courier::bridge::Bridge::start(*b, {.nats_url = url, .host = "hb", .stream = "bench", .on_log = {}});
  if (!ba || !bb) {
    std::fprintf(stderr, "bridge: %s\n", (!ba ? ba.error() : bb.error()).message.c_str());
    return;
  }
  auto alice = a->endpoint("alice");
  auto alice_rx = a->attach("alice");
  auto bob = b->attach("bob");
  auto bob_tx = b->endpoint("bob");
  const std::string payload(64, 'x');
  const courier::SendOptions there{.to = courier::peer("bob@hb"), .priority = 4, .expiry = 60s};
  const courier::SendOptions back{.to = courier::peer("alice@ha"), .priority = 4, .expiry = 60s};
  const auto t0 = Clock::now();
  int got = 0;
  std::thread consumer([&] {
    while (got < n && bob->receive(10s)) ++got;
  });
  for (int i = 0; i < n; ++i) (void)alice->send(there, payload);
  consumer.join();
  std::printf("%-34s %10.0f msg/s (%d of %d messages, tracked, expiry 60s)\n", "courier one-way (two bridges)",
              got / (ns_since(t0) / 1e9), got, n);
  std::vector<double> rtt;
  for (int i = 0; i < std::min(n, 500); ++i) {
    const auto t = Clock::now();
    (void)alice->send(there, payload);
    if (!bob->receive(10s)) break;
    (void)bob_tx->send(back, payload);
    if (!alice_rx->receive(10s)) break;
    rtt.push_back(ns_since(t));
  }
  print("courier round trip (two bridges)", rtt);
  (*ba)->stop();
  (*bb)->stop();
  (void)courier::Bus::remove(a_name, {.force = true});
  (void)courier::Bus::remove(b_name, {.force = true});
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int port = free_port();
  std::string dir = std::filesystem::temp_directory_path() / ("bench-bridge-" + std::to_string(::getpid()));
  std::vector<std::string> args{"nats-server",        "-js", "-a", "127.0.0.1", "-p",
                                std::to_string(port), "-sd", dir,  "-l",        dir + ".log"};
  std::vector<char*> av;
  for (auto& s : args) av.push_back(s.data());
  av.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, "nats-server", nullptr, nullptr, av.data(), environ) != 0) {
    std::fprintf(stderr, "bench_bridge: cannot start nats-server (Debian: nats-server)\n");
    return 1;
  }
  for (int i = 0; i < 2000 && !port_open(port); ++i) std::this_thread::sleep_for(5ms);
  std::printf("machine: %s\n", cbench::probe_machine().line().c_str());
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  raw_jetstream(url, n);
  through_bridges(url, n);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(dir + ".log");
  return 0;
}
