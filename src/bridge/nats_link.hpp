// bridge/nats_link.hpp — the bridge's one connection to NATS (cnats): the
// JetStream stream of the bridge network, publishing with JetStream's ack,
// pull consumers, and the doorbell that wakes a waiting bridge.
// Thread-safe as cnats is: the outbound and inbound threads share one link.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nats/nats.h>

#include "courier/result.hpp"

namespace courier::bridge {

using namespace std::chrono_literals;

// A natsMsg owned (destroyed with the holder).
struct MsgDeleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// One header of `m`, or "" when it has none.
std::string_view header(natsMsg* m, const char* key) noexcept;
// A decimal header as an unsigned number; `ok` false when missing or not a number.
std::uint64_t header_u64(natsMsg* m, const char* key, bool& ok) noexcept;

struct LinkOptions {
  std::string url;
  std::string stream;                            // the bridge network's name (subjects and stream)
  std::string host;                              // this bridge's host
  std::chrono::nanoseconds ack_wait = 10s;       // a message taken and not acknowledged is handed out again after this
  std::chrono::nanoseconds dedup_window = 2min;  // JetStream's duplicate window (Nats-Msg-Id)
};

enum class Published { ok, duplicate, too_large, failed };

class NatsLink {
 public:
  // Connect (waiting, trying every 100 ms, while the server is down or not
  // up yet; reconnecting for ever once connected), and make the stream when
  // it does not exist.
  static Result<std::unique_ptr<NatsLink>> connect(const LinkOptions& o);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Publish to JetStream and wait for its ack (stored by the stream). On
  // failed, `why` says what happened. The message is not consumed.
  Published publish(natsMsg* m, std::string& why) noexcept;
  // Core NATS, nothing stored: wake the bridge of `host`.
  void ring(std::string_view host) noexcept;
  // Wait up to `timeout` for a ring of ours, then swallow the ones queued.
  void wait_ring(std::chrono::milliseconds timeout) noexcept;

  // A durable pull consumer on `subject` (work-queue stream: one per subject).
  Result<natsSubscription*> pull(const std::string& subject, const std::string& durable);
  // Up to `batch` waiting messages of `sub`, without waiting. 0 when none (or the server is away).
  int fetch(natsSubscription* sub, int batch, natsMsgList& out) noexcept;

  // This host's origins bucket (JetStream KV "courier-<stream>-origins-<host>"):
  // where each message taken from JetStream and sent on the local bus came
  // from, so its statuses still go back after a restart (inbound.cpp). Made
  // when missing.
  Result<void> open_origins();
  // Store each {key, value}: publish them all, then wait for JetStream's acks
  // (one round trip for a batch). False (and `why`) when any was not stored.
  bool put_origins(const std::vector<std::pair<std::string, std::string>>& entries, std::string& why) noexcept;
  // Delete `key` (its final status went back). False when NATS did not take it (kept: sent again later).
  bool forget_origin(const std::string& key) noexcept;
  // Every origin stored: {key, value}. Empty when the bucket is.
  Result<std::vector<std::pair<std::string, std::string>>> origins();

  // Largest payload + headers the server takes.
  std::int64_t max_payload() const noexcept { return natsConnection_GetMaxPayload(nc_); }
  const LinkOptions& options() const noexcept { return o_; }

 private:
  explicit NatsLink(LinkOptions o) : o_(std::move(o)) {}
  Result<void> ensure_stream();
  // One pass over the origins bucket: purge the delete markers and, when
  // `live` is given, append every stored {key, value} to it.
  natsStatus scan_origins(std::vector<std::pair<std::string, std::string>>* live) noexcept;

  LinkOptions o_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* bell_ = nullptr;
  kvStore* origins_ = nullptr;
  jsCtx* async_js_ = nullptr;  // put_origins' asynchronous publishes (its acks counted apart from js_'s)
  // Asynchronous publishes JetStream refused or did not ack in time since put_origins began.
  // Relaxed: written by cnats' thread before js_PublishAsyncComplete returns, which orders it.
  std::atomic<std::uint64_t> async_failures_{0};
  std::uint64_t forgotten_ = 0;  // deletes since the delete markers were last purged
  std::vector<natsSubscription*> subs_;
};

}  // namespace courier::bridge
