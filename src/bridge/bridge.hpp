// bridge/bridge.hpp — joins one local bus to a NATS JetStream stream shared
// by the bridges of other hosts (DESIGN.md §5; docs/design.md, "courier bridge").
//
//   auto bus = courier::Bus::open("orders", {.log_dir = dir});
//   auto b = courier::bridge::Bridge::start(*bus, {.nats_url = "nats://10.0.0.2:4222", .host = "ha"});
//   if (!b) { report(b.error()); return 1; }
//   ... (*b)->stop();
//
// Outbound: every local endpoint named ENDPOINT@HOST (HOST not this one) is a
// proxy; the bridge attaches to it, publishes what it takes to JetStream, and
// reports back to the local sender what the other host's bridge says became
// of it. Inbound: the bridge consumes what other hosts sent to this one and
// sends it on the local bus as SENDER@THEIRHOST with the original id.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "courier/bus.hpp"

namespace courier::bridge {

struct BridgeOptions {
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string host;                // this host's name in ENDPOINT@HOST: [A-Za-z0-9_-]{1,32}
  std::string stream = "courier";  // the bridge network (one JetStream stream): [A-Za-z0-9_-]{1,32}
  // A message a bridge took from JetStream and did not acknowledge (it died)
  // is handed out again after this.
  std::chrono::nanoseconds ack_wait = 10s;
  // How often the bus's endpoints are looked at for new ENDPOINT@HOST proxies.
  std::chrono::milliseconds scan_interval = 200ms;
  // Diagnostics, one line each (a failed publish, a malformed message, ...). May be empty.
  std::function<void(const std::string&)> on_log;
};

// Counters, for `courier bridge` and tests. Relaxed: statistics.
struct BridgeStats {
  std::atomic<std::uint64_t> published{0};     // local messages stored by JetStream
  std::atomic<std::uint64_t> republished{0};   // ... of which JetStream held a copy already (a retake after a crash)
  std::atomic<std::uint64_t> enqueued{0};      // remote messages sent on the local bus
  std::atomic<std::uint64_t> duplicates{0};    // remote messages the local tracker knew already
  std::atomic<std::uint64_t> expired{0};       // remote messages past their deadline, not enqueued
  std::atomic<std::uint64_t> refused{0};       // remote messages the local bus refused (status sent back)
  std::atomic<std::uint64_t> statuses_out{0};  // statuses published to other hosts
  std::atomic<std::uint64_t> statuses_in{0};   // statuses reported to local senders
  std::atomic<std::uint64_t> proxies{0};       // ENDPOINT@HOST endpoints attached
};

class Bridge {
 public:
  // Connect (waiting while the NATS server is down), make the stream and the
  // consumers, and run the two threads.
  static Result<std::unique_ptr<Bridge>> start(const Bus& bus, BridgeOptions options);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Stop both threads (a message in hand is left to JetStream / the local
  // lane, which hand it out again). Idempotent.
  void stop();
  const BridgeStats& stats() const noexcept { return stats_; }
  const BridgeOptions& options() const noexcept { return o_; }

  struct Shared;  // what the threads share (bridge_shared.hpp)

 private:
  Bridge() = default;
  BridgeOptions o_;
  BridgeStats stats_;
  std::atomic<bool> stop_{false};
  std::shared_ptr<Shared> shared_;
  std::thread outbound_, inbound_;
};

}  // namespace courier::bridge
