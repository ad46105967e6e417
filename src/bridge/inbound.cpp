// bridge/inbound.cpp — JetStream -> local: consume what other hosts sent to
// this one (most urgent band first), send it on the local bus as
// SENDER@THEIRHOST with the original id, and acknowledge JetStream only once
// the local send is `sent` under the bus's sync policy (flush_log). A copy
// JetStream hands out again finds the id in the local tracker (a duplicate:
// acknowledged, not enqueued). Statuses of those sends go back to the
// sender's host; statuses coming from other hosts are reported to local
// senders (Bus::report_relayed).
#include <chrono>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bridge_shared.hpp"
#include "courier/detail/clock.hpp"
#include "courier/names.hpp"
#include "subjects.hpp"

namespace courier::bridge {
namespace {

// Where a status of a message taken from JetStream goes: the headers that
// identify its send on the sender's bus.
struct Origin {
  std::string reply_host;
  RelayedMessage send;  // on the sender's bus
  std::string sender;   // "alice@ha"
};

// One message as it came from JetStream, its headers read and checked.
struct Incoming {
  Origin origin;
  std::string to;
  std::uint8_t priority = 0;
  std::uint32_t type = 0;
};

class Inbound final : public Loop {
 public:
  explicit Inbound(Bridge::Shared& s) : s_(s) {}

  Result<void> subscribe() {
    for (unsigned b = 0; b < band_count; ++b) {
      auto sub = s_.link->pull(msg_subject(s_.o.stream, s_.o.host, b), msg_durable(s_.o.host, b));
      if (!sub) return std::move(sub).error();
      bands_[b] = *sub;
    }
    auto st = s_.link->pull(status_subject(s_.o.stream, s_.o.host), status_durable(s_.o.host));
    if (!st) return std::move(st).error();
    statuses_ = *st;
    return {};
  }

  void run() override {
    while (!s_.stopping()) {
      int done = 0;
      for (unsigned b = 0; b < band_count && done == 0; ++b) done += take(bands_[b], &Inbound::enqueue);
      done += take(statuses_, &Inbound::report);
      follow_statuses();
      retry_statuses();
      if (done == 0) s_.link->wait_ring(std::chrono::milliseconds(20));
    }
  }

 private:
  using Handler = bool (Inbound::*)(natsMsg*);  // true: acknowledge once the batch is durable; false: handled

  // Fetch a batch of `sub` and hand each message to `h`; acknowledge the ones
  // it keeps for after the local log's flush.
  int take(natsSubscription* sub, Handler h) {
    natsMsgList list{};
    const int n = s_.link->fetch(sub, 64, list);
    if (n == 0) return 0;
    std::vector<natsMsg*> to_ack;
    for (int i = 0; i < list.Count; ++i)
      if ((this->*h)(list.Msgs[i])) to_ack.push_back(list.Msgs[i]);
    if (!to_ack.empty() && s_.bus.has_log()) {
      if (auto r = s_.bus.flush_log(); !r) {
        s_.log("local log: " + r.error().message + " (JetStream will hand the messages out again)");
        for (natsMsg* m : to_ack) (void)natsMsg_Nak(m, nullptr);
        to_ack.clear();
      }
    }
    for (natsMsg* m : to_ack) (void)natsMsg_Ack(m, nullptr);
    natsMsgList_Destroy(&list);
    return n;
  }

  // A message from another host. True: acknowledge after the flush.
  bool enqueue(natsMsg* m) {
    Incoming in;
    if (!parse(m, in)) {
      s_.log("malformed message on " + std::string(natsMsg_GetSubject(m)) + ": dropped");
      (void)natsMsg_Term(m, nullptr);
      return false;
    }
    Endpoint* e = sender(in.origin.sender);
    if (e == nullptr) {
      (void)natsMsg_NakWithDelay(m, 1000, nullptr);  // the local bus refused the name: try again later
      return false;
    }
    const std::uint64_t id = in.origin.send.id;
    const std::uint64_t expires = in.origin.send.expires_ns;
    const std::uint64_t now = realtime_ns();
    if (expires != 0 && now >= expires) {
      // Known here already: a copy of one enqueued before; otherwise it never made it in time.
      if (id == 0 || !e->status(id)) {
        Bridge::Shared::bump(s_.stats.expired);
        send_status(in.origin, Status::expired);
      }
      return true;
    }
    const auto expiry = std::chrono::nanoseconds(expires == 0 ? 0 : static_cast<std::int64_t>(expires - now));
    const void* data = natsMsg_GetData(m);
    const auto len = static_cast<std::size_t>(natsMsg_GetDataLength(m));
    const SendResult r = e->send(
        SendOptions{
            .to = peer(in.to), .priority = in.priority, .expiry = expiry, .type = in.type, .id = id, .timeout = {}},
        std::span<const std::byte>(static_cast<const std::byte*>(data), len));
    if (r.duplicate) {
      Bridge::Shared::bump(s_.stats.duplicates);
      return true;
    }
    if (r.status == Status::sent || r.status == Status::outbox) {
      if (id != 0) origins_[{e->id(), id}] = in.origin;
      Bridge::Shared::bump(s_.stats.enqueued);
      return true;
    }
    if (r.status == Status::full) {
      (void)natsMsg_NakWithDelay(m, 100, nullptr);  // room comes when the receiver reads: again in 100 ms
      return false;
    }
    Bridge::Shared::bump(s_.stats.refused);
    send_status(in.origin, r.status);  // invalid_destination, too_large, offline, ...
    return true;
  }

  bool parse(natsMsg* m, Incoming& in) {
    bool ok = true;
    Origin& o = in.origin;
    o.send.id = header_u64(m, hdr::id, ok);
    o.send.from = static_cast<EndpointId>(header_u64(m, hdr::from_id, ok));
    o.send.to = static_cast<EndpointId>(header_u64(m, hdr::via_id, ok));
    o.send.group = static_cast<GroupId>(header_u64(m, hdr::group, ok));
    o.send.timestamp_ns = header_u64(m, hdr::timestamp, ok);
    o.send.expires_ns = header_u64(m, hdr::expires, ok);
    const std::uint64_t prio = header_u64(m, hdr::priority, ok);
    const std::uint64_t type = header_u64(m, hdr::type, ok);
    o.sender = header(m, hdr::sender);
    o.reply_host = header(m, hdr::reply_host);
    in.to = header(m, hdr::to);
    if (!ok || prio >= priority_levels || type > UINT32_MAX || !split_remote(o.sender).remote()) return false;
    if (!token_problem("host", o.reply_host).empty() || !endpoint_name_problem(in.to).empty()) return false;
    in.priority = static_cast<std::uint8_t>(prio);
    in.type = static_cast<std::uint32_t>(type);
    return true;
  }

  // The local handle that sends as `name` ("alice@ha"), made (and followed) on first use.
  Endpoint* sender(const std::string& name) {
    auto it = senders_.find(name);
    if (it != senders_.end()) return it->second.get();
    auto e = s_.bus.endpoint(name);
    if (!e) {
      s_.log("sender " + name + ": " + e.error().message);
      return nullptr;
    }
    auto h = std::make_unique<Endpoint>(std::move(*e));
    if (auto r = h->poll_status([](const StatusEvent&) {}); !r)  // follow from the first send on
      s_.log("statuses of " + name + ": " + r.error().message);
    return senders_.emplace(name, std::move(h)).first->second.get();
  }

  // Statuses of the local sends of remote messages: delivered, read, errors go back.
  void follow_statuses() {
    for (auto& [name, e] : senders_) {
      const EndpointId self = e->id();
      (void)e->poll_status([&](const StatusEvent& ev) {
        if (ev.status == Status::sent || ev.status == Status::outbox) return;
        auto it = origins_.find({self, ev.id});
        if (it == origins_.end()) return;
        send_status(it->second, ev.status);
        if (is_final(ev.status)) origins_.erase(it);
      });
    }
  }

  void send_status(const Origin& o, Status st) {
    if (o.send.id == 0) return;  // fire-and-forget: nobody follows it
    natsMsg* raw = nullptr;
    const std::string subject = status_subject(s_.o.stream, o.reply_host);
    if (natsMsg_Create(&raw, subject.c_str(), nullptr, nullptr, 0) != NATS_OK) return;
    MsgPtr msg(raw);
    auto set = [&](const char* k, const std::string& v) { natsMsgHeader_Set(raw, k, v.c_str()); };
    const std::string word(status_name(st));
    set(hdr::msg_id,
        "status/" + o.sender + "/" + std::to_string(o.send.id) + "/" + std::to_string(o.send.to) + "/" + word);
    set(hdr::status, word);
    set(hdr::id, std::to_string(o.send.id));
    set(hdr::from_id, std::to_string(o.send.from));
    set(hdr::via_id, std::to_string(o.send.to));
    set(hdr::group, std::to_string(o.send.group));
    set(hdr::timestamp, std::to_string(o.send.timestamp_ns));
    set(hdr::expires, std::to_string(o.send.expires_ns));
    pending_.push_back(std::move(msg));
    pending_hosts_.push_back(o.reply_host);
  }

  // Publish the statuses waiting (kept while NATS is away).
  void retry_statuses() {
    std::size_t i = 0;
    for (; i < pending_.size(); ++i) {
      std::string why;
      if (s_.link->publish(pending_[i].get(), why) == Published::failed) {
        s_.log("status: " + why + " (retrying)");
        break;
      }
      Bridge::Shared::bump(s_.stats.statuses_out);
      s_.link->ring(pending_hosts_[i]);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(i));
    pending_hosts_.erase(pending_hosts_.begin(), pending_hosts_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // A status from another host about a message a local sender sent there.
  bool report(natsMsg* m) {
    bool ok = true;
    RelayedMessage rm;
    rm.id = header_u64(m, hdr::id, ok);
    rm.from = static_cast<EndpointId>(header_u64(m, hdr::from_id, ok));
    rm.to = static_cast<EndpointId>(header_u64(m, hdr::via_id, ok));
    rm.group = static_cast<GroupId>(header_u64(m, hdr::group, ok));
    rm.timestamp_ns = header_u64(m, hdr::timestamp, ok);
    rm.expires_ns = header_u64(m, hdr::expires, ok);
    Status st{};
    if (!ok || !status_from_name(header(m, hdr::status), st)) {
      s_.log("malformed status message: dropped");
      return true;
    }
    // An error after delivered (a late copy found expired) must not undo it.
    if (is_error(st)) {
      auto cur = s_.bus.status(s_.bus.endpoint_name(rm.from), rm.id);
      if (cur && !is_owed(cur->status) && cur->group == 0) return true;
    }
    if (s_.bus.report_relayed(rm, st)) Bridge::Shared::bump(s_.stats.statuses_in);
    return true;
  }

  Bridge::Shared& s_;
  natsSubscription* bands_[band_count] = {};
  natsSubscription* statuses_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Endpoint>> senders_;
  std::map<std::pair<EndpointId, std::uint64_t>, Origin> origins_;
  std::vector<MsgPtr> pending_;
  std::vector<std::string> pending_hosts_;
};

}  // namespace

Result<std::unique_ptr<Loop>> make_inbound(Bridge::Shared& s) {
  auto in = std::make_unique<Inbound>(s);
  if (auto r = in->subscribe(); !r) return std::move(r).error();
  return std::unique_ptr<Loop>(std::move(in));
}

}  // namespace courier::bridge
