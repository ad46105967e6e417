// bridge/bridge.cpp — Bridge::start / stop: the NATS link, then the outbound
// and inbound loops on a thread each (bridge.hpp).
#include "bridge.hpp"

#include "bridge_shared.hpp"
#include "subjects.hpp"

namespace courier::bridge {

Result<std::unique_ptr<Bridge>> Bridge::start(const Bus& bus, BridgeOptions options) {
  if (auto p = token_problem("host", options.host); !p.empty()) return Error(Errc::invalid_argument, p);
  if (auto p = token_problem("stream", options.stream); !p.empty()) return Error(Errc::invalid_argument, p);
  if (options.ack_wait.count() <= 0) return Error(Errc::invalid_argument, "ack_wait must be > 0");
  std::unique_ptr<Bridge> b(new Bridge());
  b->o_ = std::move(options);
  auto link = NatsLink::connect(
      LinkOptions{.url = b->o_.nats_url, .stream = b->o_.stream, .host = b->o_.host, .ack_wait = b->o_.ack_wait});
  if (!link) return std::move(link).error();
  b->shared_ = std::make_shared<Shared>(Shared{bus, std::move(*link), b->o_, b->stats_, b->stop_});
  auto in = make_inbound(*b->shared_);
  if (!in) return std::move(in).error();
  std::shared_ptr<Loop> inbound(std::move(*in)), outbound(make_outbound(*b->shared_));
  b->inbound_ = std::thread([inbound] { inbound->run(); });
  b->outbound_ = std::thread([outbound] { outbound->run(); });
  return b;
}

void Bridge::stop() {
  stop_.store(true, std::memory_order_release);  // release: partner of Shared::stopping()'s acquire
  if (outbound_.joinable()) outbound_.join();
  if (inbound_.joinable()) inbound_.join();
}

Bridge::~Bridge() {
  stop();
  shared_.reset();  // after the threads: the link goes last
}

}  // namespace courier::bridge
