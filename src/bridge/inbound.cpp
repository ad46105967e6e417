// bridge/inbound.cpp — JetStream -> local: consume what other hosts sent to
// this one (most urgent band first), send it on the local bus as
// SENDER@THEIRHOST with the original id, and acknowledge JetStream only once
// the local send is `sent` under the bus's sync policy (flush_log). A copy
// JetStream hands out again finds the id in the local tracker (a duplicate:
// acknowledged, not enqueued). Statuses of those sends go back to the
// sender's host; statuses coming from other hosts are reported to local
// senders (Bus::report_relayed).
//
// Where a local send came from (its Origin) is kept in JetStream too, in this
// host's origins bucket, from before the JetStream message is acknowledged
// until its final status went back: a restarted bridge reads the bucket,
// reports what the local tracker says happened meanwhile, and follows the rest.
#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
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

// Origins in the bucket: the key names the local send ("<hex of sender>.<id>",
// the charset of a KV key), the value holds the Origin in one line.
std::string origin_key(const std::string& sender, std::uint64_t id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string k;
  for (unsigned char c : sender) {
    k += digits[c >> 4];
    k += digits[c & 15];
  }
  return k + "." + std::to_string(id);
}
std::string origin_value(const Origin& o) {
  const RelayedMessage& r = o.send;
  std::ostringstream v;
  v << "1 " << o.reply_host << ' ' << o.sender << ' ' << r.id << ' ' << r.from << ' ' << r.to << ' ' << r.group << ' '
    << r.timestamp_ns << ' ' << r.expires_ns;
  return v.str();
}
// The Origin of a value read back (untrusted: what another process stored). False when malformed.
bool parse_origin(const std::string& value, Origin& o) {
  std::istringstream in(value);
  std::string version;
  std::uint64_t from = 0, to = 0, group = 0;
  RelayedMessage& r = o.send;
  if (!(in >> version >> o.reply_host >> o.sender >> r.id >> from >> to >> group >> r.timestamp_ns >> r.expires_ns))
    return false;
  std::string rest;
  if (version != "1" || (in >> rest) || from > UINT32_MAX || to > UINT32_MAX || group > UINT32_MAX) return false;
  r.from = static_cast<EndpointId>(from);
  r.to = static_cast<EndpointId>(to);
  r.group = static_cast<GroupId>(group);
  return r.id != 0 && token_problem("host", o.reply_host).empty() && split_remote(o.sender).remote() &&
         endpoint_name_problem(o.sender).empty();
}

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
    return s_.link->open_origins();
  }

  void run() override {
    while (!s_.stopping()) {
      if (!recovered_) recovered_ = recover();
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
    keep_origins(to_ack);
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
    const std::span<const std::byte> payload(static_cast<const std::byte*>(data), len);
    SendOptions so{
        .to = peer(in.to), .priority = in.priority, .expiry = expiry, .type = in.type, .id = id, .timeout = {}};
    SendResult r = e->send(so, payload);
    if (r.status == Status::invalid_destination) {
      // No endpoint of that name here: a group of this host (team@hb on the sender's host) is sent to as a group.
      if (auto g = e->resolve_group(in.to)) {
        so.to = std::move(*g);
        r = e->send(so, payload);
      }
    }
    if (r.duplicate || r.status == Status::sent || r.status == Status::outbox) {
      Bridge::Shared::bump(r.duplicate ? s_.stats.duplicates : s_.stats.enqueued);
      // A copy too: the bridge that sent it locally may have died before keeping its origin.
      if (id != 0) kept_.push_back(Kept{m, e, in.origin, origin_key(in.origin.sender, id)});
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

  // Keep where this batch's local sends came from: in the bucket (before
  // JetStream's messages are acknowledged: a message whose origin was not
  // stored is left out of `to_ack` and comes again, a duplicate then, kept
  // that time) and here, following each.
  void keep_origins(std::vector<natsMsg*>& to_ack) {
    if (kept_.empty()) return;
    std::vector<std::pair<std::string, std::string>> entries;
    for (const Kept& k : kept_) entries.emplace_back(k.key, origin_value(k.origin));
    std::string why;
    if (!s_.link->put_origins(entries, why)) {
      s_.log(why + " (the messages come again)");
      for (const Kept& k : kept_) {
        to_ack.erase(std::remove(to_ack.begin(), to_ack.end(), k.msg), to_ack.end());
        (void)natsMsg_NakWithDelay(k.msg, 100, nullptr);
      }
    } else {
      for (const Kept& k : kept_) follow(*k.sender, k.origin, k.key);
    }
    kept_.clear();
  }
  // Follow the local send of `o` by `e`: send back at once what the local
  // tracker says already happened (a restart's catch-up, or a copy of a
  // message read meanwhile), and the rest as poll_status reports it.
  void follow(Endpoint& e, const Origin& o, const std::string& key) {
    auto st = e.status(o.send.id);
    if (!st) {  // retired: its end cannot be known any more
      if (st.error().code == Errc::not_found) (void)s_.link->forget_origin(key);
      return;
    }
    if (!is_owed(st->status)) send_status(o, st->status, is_final(st->status) ? key : std::string());
    if (!is_final(st->status)) origins_[{e.id(), o.send.id}] = Followed{o, key};
  }

  // After a start: follow every local send whose origin the bucket holds.
  bool recover() {
    auto all = s_.link->origins();
    if (!all) {  // NATS away: again at the next turn of the loop, said once
      if (all.error().message != recover_error_) s_.log(all.error().message + " (retrying)");
      recover_error_ = all.error().message;
      return false;
    }
    for (const auto& [key, value] : *all) {
      Origin o;
      if (!parse_origin(value, o) || key != origin_key(o.sender, o.send.id)) {
        s_.log("malformed origin " + key + ": dropped");
        (void)s_.link->forget_origin(key);
        continue;
      }
      if (Endpoint* e = sender(o.sender)) follow(*e, o, key);
    }
    return true;
  }

  // Statuses of the local sends of remote messages: delivered, read, errors go back.
  void follow_statuses() {
    for (auto& [name, e] : senders_) {
      const EndpointId self = e->id();
      (void)e->poll_status([&](const StatusEvent& ev) {
        if (ev.status == Status::sent || ev.status == Status::outbox) return;
        if (ev.group != 0 && ev.recipient != no_endpoint) return;  // a member's: the group's total goes back
        auto it = origins_.find({self, ev.id});
        if (it == origins_.end()) return;
        const bool last = is_final(ev.status);
        send_status(it->second.origin, ev.status, last ? it->second.key : std::string());
        if (last) origins_.erase(it);
      });
    }
  }

  // Queue a status for the sender's host; `forget`: the origin key to delete once it is published.
  void send_status(const Origin& o, Status st, std::string forget = {}) {
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
    pending_.push_back(Pending{std::move(msg), o.reply_host, std::move(forget)});
  }

  // Publish the statuses waiting (kept while NATS is away).
  void retry_statuses() {
    std::size_t i = 0;
    for (; i < pending_.size(); ++i) {
      std::string why;
      if (s_.link->publish(pending_[i].msg.get(), why) == Published::failed) {
        s_.log("status: " + why + " (retrying)");
        break;
      }
      Bridge::Shared::bump(s_.stats.statuses_out);
      s_.link->ring(pending_[i].host);
      // Not deleted (NATS went away meanwhile): the next start sends the status again, which A drops.
      if (!pending_[i].forget.empty()) (void)s_.link->forget_origin(pending_[i].forget);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(i));
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
  struct Followed {
    Origin origin;
    std::string key;  // in the origins bucket
  };
  std::map<std::pair<EndpointId, std::uint64_t>, Followed> origins_;
  struct Pending {
    MsgPtr msg;
    std::string host;    // whose bell to ring
    std::string forget;  // origin key to delete once published
  };
  std::vector<Pending> pending_;
  struct Kept {  // a message of the batch being taken whose origin goes into the bucket
    natsMsg* msg;
    Endpoint* sender;  // owned by senders_
    Origin origin;
    std::string key;
  };
  std::vector<Kept> kept_;
  bool recovered_ = false;
  std::string recover_error_;
};

}  // namespace

Result<std::unique_ptr<Loop>> make_inbound(Bridge::Shared& s) {
  auto in = std::make_unique<Inbound>(s);
  if (auto r = in->subscribe(); !r) return std::move(r).error();
  return std::unique_ptr<Loop>(std::move(in));
}

}  // namespace courier::bridge
