// bridge/bridge_shared.hpp — what the outbound and inbound threads of a
// Bridge share: the bus, the NATS link, the options, the counters.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "bridge.hpp"
#include "nats_link.hpp"

namespace courier::bridge {

struct Bridge::Shared {
  Bus bus;
  std::unique_ptr<NatsLink> link;
  const BridgeOptions& o;
  BridgeStats& stats;
  const std::atomic<bool>& stop;

  void log(const std::string& line) const {
    if (o.on_log) o.on_log(line);
  }
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  }
  bool stopping() const noexcept {
    return stop.load(std::memory_order_acquire);  // acquire: partner of stop()'s release store
  }
};

// The two loops (outbound.cpp, inbound.cpp); run() returns when stopping().
class Loop {
 public:
  virtual ~Loop() = default;
  virtual void run() = 0;
};
std::unique_ptr<Loop> make_outbound(Bridge::Shared& s);
Result<std::unique_ptr<Loop>> make_inbound(Bridge::Shared& s);  // makes the consumers

}  // namespace courier::bridge
