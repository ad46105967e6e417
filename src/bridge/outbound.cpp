// bridge/outbound.cpp — local -> JetStream: attach to every ENDPOINT@HOST
// proxy of the bus, publish what it takes, and release it only once JetStream
// stored it (a bridge that dies before gets it again from its lane, flagged
// redelivered; the same Nats-Msg-Id and the receiving tracker drop the copy).
//
// A proxy's message is taken without acknowledging it: its sender keeps
// `sent` until the other host's bridge reports delivered, read or an error,
// which the inbound loop passes on with Bus::report_relayed.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bridge_shared.hpp"
#include "courier/detail/clock.hpp"
#include "subjects.hpp"

namespace courier::bridge {
namespace {

struct Proxy {
  std::string name, endpoint, host;  // "bob@hb", "bob", "hb"
  Receiver rx;
  int fd = -1;
  std::optional<Message> held;  // taken, not yet stored by JetStream (publish failed: retried)
};

class Outbound final : public Loop {
 public:
  explicit Outbound(Bridge::Shared& s) : s_(s) {}

  void run() override {
    auto next_scan = std::chrono::steady_clock::now();
    while (!s_.stopping()) {
      if (std::chrono::steady_clock::now() >= next_scan) {
        scan();
        next_scan = std::chrono::steady_clock::now() + s_.o.scan_interval;
      }
      Drained worst = Drained::idle;
      for (auto& p : proxies_) worst = std::max(worst, drain(*p));
      if (worst == Drained::more) continue;
      // A publish that failed (NATS away) is retried at this pace; otherwise
      // wait for a proxy's notification fd, or the next scan.
      wait(worst == Drained::failing ? std::chrono::milliseconds(100) : s_.o.scan_interval);
    }
  }

 private:
  // Attach to ENDPOINT@HOST endpoints not attached yet (HOST another host).
  void scan() {
    for (const EndpointEntry& e : s_.bus.endpoints()) {
      const RemoteName rn = split_remote(e.name);
      if (!rn.remote() || rn.host == s_.o.host || attached_.count(e.name) != 0) continue;
      if (!token_problem("host", rn.host).empty()) continue;  // not a host a subject can name
      auto rx = s_.bus.attach(e.name, ReceiverOptions{.idle = {}, .auto_ack = false});
      if (!rx) {
        if (failed_.emplace(e.name).second) s_.log("proxy " + e.name + ": " + rx.error().message);
        continue;
      }
      auto p = std::make_unique<Proxy>(
          Proxy{e.name, std::string(rn.endpoint), std::string(rn.host), std::move(*rx), -1, std::nullopt});
      p->fd = p->rx.notification_fd();
      attached_.emplace(e.name);
      failed_.erase(e.name);
      proxies_.push_back(std::move(p));
      Bridge::Shared::bump(s_.stats.proxies);
    }
  }

  enum class Drained { idle, more, failing };  // in this order: the worst of all proxies decides
  // Forward what waits in one proxy.
  Drained drain(Proxy& p) {
    for (unsigned n = 0; n < 256; ++n) {  // bounded: other proxies get their turn
      if (s_.stopping()) return Drained::more;
      if (!p.held) {
        p.held = p.rx.try_receive();
        if (!p.held) return Drained::idle;
      }
      if (!forward(p, *p.held)) return Drained::failing;
      p.held.reset();  // released by the next try_receive
    }
    return Drained::more;
  }

  // Publish one message. False when JetStream did not store it (kept in hand).
  bool forward(Proxy& p, const Message& m) {
    const RelayedMessage rm = relayed(m);
    if (m.expires_ns() != 0 && realtime_ns() >= m.expires_ns()) {
      if (m.tracked()) s_.bus.report_relayed(rm, Status::expired);
      return true;
    }
    std::string sender = p.rx.name_of(m.from());
    if (sender.empty()) sender = "endpoint-" + std::to_string(m.from());  // removed since: still answerable by id
    if (!split_remote(sender).remote()) sender += "@" + s_.o.host;
    const std::string subject = msg_subject(s_.o.stream, p.host, band_of(m.priority()));
    natsMsg* raw = nullptr;
    const auto data = m.payload();
    if (natsMsg_Create(&raw, subject.c_str(), nullptr, reinterpret_cast<const char*>(data.data()),
                       static_cast<int>(data.size())) != NATS_OK) {
      s_.log("cannot make a NATS message (out of memory?)");
      return false;
    }
    MsgPtr msg(raw);
    auto set = [&](const char* k, const std::string& v) { natsMsgHeader_Set(raw, k, v.c_str()); };
    if (m.tracked()) set(hdr::msg_id, sender + "/" + std::to_string(m.id()));
    set(hdr::id, std::to_string(m.id()));
    set(hdr::sender, sender);
    set(hdr::to, p.endpoint);
    set(hdr::reply_host, s_.o.host);
    set(hdr::priority, std::to_string(m.priority()));
    set(hdr::type, std::to_string(m.type()));
    set(hdr::expires, std::to_string(m.expires_ns()));
    set(hdr::timestamp, std::to_string(m.timestamp_ns()));
    set(hdr::group, std::to_string(m.group()));
    set(hdr::from_id, std::to_string(m.from()));
    set(hdr::via_id, std::to_string(m.to()));
    std::string why;
    switch (s_.link->publish(raw, why)) {
      case Published::duplicate:  // stored before (a redelivered copy of ours)
        Bridge::Shared::bump(s_.stats.republished);
        [[fallthrough]];
      case Published::ok:
        Bridge::Shared::bump(s_.stats.published);
        s_.link->ring(p.host);
        return true;
      case Published::too_large:
        if (m.tracked()) s_.bus.report_relayed(rm, Status::too_large);
        return true;
      case Published::failed:
        if (why != last_error_) s_.log(p.name + ": " + why + " (retrying)");
        last_error_ = why;
        return false;
    }
    return false;
  }

  void wait(std::chrono::milliseconds timeout) {
    std::vector<pollfd> fds;
    for (auto& p : proxies_)
      if (p->fd >= 0 && !p->held) fds.push_back(pollfd{p->fd, POLLIN, 0});
    if (fds.empty()) {
      std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(100)));  // nothing to wait on: pace
      return;
    }
    (void)::poll(fds.data(), fds.size(), static_cast<int>(std::min(timeout, std::chrono::milliseconds(100)).count()));
  }

  Bridge::Shared& s_;
  std::vector<std::unique_ptr<Proxy>> proxies_;
  std::unordered_set<std::string> attached_, failed_;
  std::string last_error_;
};

}  // namespace

std::unique_ptr<Loop> make_outbound(Bridge::Shared& s) { return std::make_unique<Outbound>(s); }

}  // namespace courier::bridge
