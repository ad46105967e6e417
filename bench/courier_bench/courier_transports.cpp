// bench/courier_bench/courier_transports.cpp — the courier bus between two
// processes, through its public API only (courier/bus.hpp).
//
// One bus per run ("cbench-<pid>-<n>", removed in teardown), two endpoints:
// the parent attaches the receiver of "ping" and sends as "ping" to "pong";
// the child attaches "pong" and sends back as "pong". Messages are real-time
// (expiry 0), untracked (id 0), one priority; destinations are resolved once
// (Endpoint::resolve), so a send does no name lookup.
//
//   courier.spin  Receiver::receive(timeout) with IdleStrategy{spin_ns = ~0, park = false}
//   courier.park  Receiver::receive(timeout) with IdleStrategy{spin_ns = 0, park = true}:
//                 the receiver sleeps on the inbox futex; the producer wakes it
//   courier.poll  (diagnostic, not in the default run) try_receive() in a
//                 busy loop: what receive()'s own bookkeeping costs
//   inproc.courier the bus used by two threads of one process, opened with
//                 Options::in_process (the process's private memory, no
//                 /dev/shm): one Bus object (made in setup, shared through
//                 inproc::publish), an Endpoint + Receiver per thread,
//                 receive() busy-spinning as courier.spin
//   inproc.courier.shm  (not in the default run) the same two threads on a
//                 /dev/shm bus, as inproc.courier was before in-process buses
#include <optional>

#include "courier/bus.hpp"
#include "transports.hpp"

namespace cbench {
namespace {

enum class Wait { spin, park, poll };
// Where the two sides run: two processes on a /dev/shm bus, or two threads of
// one process (the inproc.* topology, one Bus object) on a /dev/shm bus or on
// an in-process bus (Options::in_process).
enum class Where { processes, threads_shm, threads_private };

template <Wait W, Where P = Where::processes>
class CourierTransport {
  static constexpr bool Threads = P != Where::processes;
  static constexpr bool Private = P == Where::threads_private;

 public:
  static constexpr bool in_process = Threads;
  const char* name() const noexcept {
    if constexpr (Private) return "inproc.courier";
    if constexpr (Threads) return "inproc.courier.shm";
    return W == Wait::spin ? "courier.spin" : W == Wait::park ? "courier.park" : "courier.poll";
  }
  const char* description() const noexcept {
    if constexpr (Private)
      return "courier in-process bus (Options::in_process) shared by two threads, receive() busy-spinning";
    if constexpr (Threads) return "courier /dev/shm bus shared by two threads of one process, receive() busy-spinning";
    return W == Wait::spin   ? "courier bus, receive() busy-spinning (IdleStrategy park = false)"
           : W == Wait::park ? "courier bus, receive() parked on the inbox futex (spin_ns = 0)"
                             : "courier bus, try_receive() polled in a loop (diagnostic)";
  }
  std::size_t max_payload() const noexcept { return 65536; }

  bool setup(const RunConfig& cfg, std::string& err) {
    name_ = bus_name(cfg);
    courier::Options o;
    o.max_endpoints = 2;
    o.lane_capacity = ring_capacity;
    o.max_payload = static_cast<std::uint32_t>(max_payload());
    o.create = true;
    o.in_process = Private;
    if constexpr (!Private) {
      // A bus of this name must not exist: we would measure (and remove) someone else's.
      if (courier::Segment::exists(name_)) {
        err = "bus '" + name_ + "' exists already";
        name_.clear();
        return false;
      }
      cleanup::register_shm(courier::Segment::shm_name(name_));
    }
    auto bus = courier::Bus::open(name_, o);
    if (!bus) {
      err = bus.error().message;
      return false;
    }
    for (const char* ep : {"ping", "pong"}) {
      auto id = bus->add_endpoint(ep);
      if (!id) {
        err = id.error().message;
        return false;
      }
    }
    bus_.emplace(std::move(*bus));
    if constexpr (Threads) {
      tag_ = cfg.tag;
      inproc::publish(tag_, std::make_shared<courier::Bus>(*bus_));  // a copy shares the one mapping
    }
    return true;
  }

  bool parent_attach(std::string& err) { return attach(*bus_, "ping", "pong", err); }

  bool child_attach(const RunConfig& cfg, std::string& err) {
    if constexpr (Threads) {
      std::shared_ptr<courier::Bus> b = inproc::find_as<courier::Bus>(cfg.tag);
      if (!b) {
        err = "no bus published under " + cfg.tag;
        return false;
      }
      child_bus_.emplace(*b);
      return attach(*child_bus_, "pong", "ping", err);
    }
    courier::Options o;
    o.create = false;
    auto bus = courier::Bus::open(bus_name(cfg), o);
    if (!bus) {
      err = bus.error().message;
      return false;
    }
    child_bus_.emplace(std::move(*bus));
    return attach(*child_bus_, "pong", "ping", err);
  }

  void child_detach() noexcept {
    rx_.reset();
    tx_.reset();
    child_bus_.reset();
  }

  void teardown() noexcept {
    rx_.reset();
    tx_.reset();
    if (!tag_.empty()) inproc::withdraw(tag_);
    tag_.clear();
    bus_.reset();
    if (!name_.empty() && !Private) {  // an in-process bus goes with its last Bus object
      (void)courier::Bus::remove(name_);
      cleanup::unregister_shm(courier::Segment::shm_name(name_));
    }
    name_.clear();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    if (!send(msg, n, wd, err)) return false;
    std::optional<courier::Message> m = wait(wd);
    if (!m) {
      if (err.empty()) err = wd.reason();
      return false;
    }
    const auto p = m->payload();
    if (p.size() != n) {
      err = "reply of " + std::to_string(p.size()) + " bytes, expected " + std::to_string(n);
      return false;
    }
    std::memcpy(reply, p.data(), n);
    return true;
  }

  bool pong(Watchdog& wd, std::string& err) {
    std::optional<courier::Message> m = wait(wd);
    if (!m) {
      err = wd.reason();
      return false;
    }
    const auto p = m->payload();
    return send(p.data(), p.size(), wd, err);  // echo: one copy, lane to lane
  }

  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) { return send(msg, n, wd, err); }

  bool recv_one(std::byte* into, std::size_t n, Watchdog& wd, std::string& err) {
    std::optional<courier::Message> m = wait(wd);
    if (!m) {
      err = wd.reason();
      return false;
    }
    const auto p = m->payload();
    std::memcpy(into, p.data(), p.size() < n ? p.size() : n);
    return true;
  }

 private:
  static std::string bus_name(const RunConfig& cfg) {
    std::string t = cfg.tag;
    for (char& c : t)
      if (c == '.') c = '-';
    return "cbench-" + t;
  }

  bool attach(courier::Bus& bus, const char* me, const char* peer, std::string& err) {
    courier::ReceiverOptions ro;
    if constexpr (W == Wait::park) ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = true};
    else ro.idle = courier::IdleStrategy{.spin_ns = ~0ull, .park = false};
    auto rx = bus.attach(me, ro);
    if (!rx) {
      err = rx.error().message;
      return false;
    }
    auto tx = bus.endpoint(me);
    if (!tx) {
      err = tx.error().message;
      return false;
    }
    auto dest = tx->resolve(peer);
    if (!dest) {
      err = dest.error().message;
      return false;
    }
    rx_.emplace(std::move(*rx));
    tx_.emplace(std::move(*tx));
    so_ = courier::SendOptions{};
    so_.to = *dest;
    so_.priority = 8;
    so_.expiry = std::chrono::nanoseconds{0};
    return true;
  }

  // Send; waits (spinning) while the lane is full. A real-time message to a
  // peer that has not attached yet is `offline`: wait for it too.
  bool send(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    const std::span<const std::byte> data(p, n);
    courier::SendResult r = tx_->send(so_, data);
    if (r) return true;
    wd.begin();
    while (r.status == courier::Status::full || r.status == courier::Status::offline) {
      cpu_relax();
      if (!wd.spin_ok()) {
        err = std::string("send: ") + std::string(courier::status_name(r.status)) + " (" + wd.reason() + ")";
        return false;
      }
      r = tx_->send(so_, data);
      if (r) return true;
    }
    err = std::string("send: ") + std::string(courier::status_name(r.status));
    return false;
  }

  std::optional<courier::Message> wait(Watchdog& wd) {
    if constexpr (W == Wait::poll) {
      wd.begin();
      for (;;) {
        if (auto m = rx_->try_receive()) return m;
        cpu_relax();
        if (!wd.spin_ok()) return std::nullopt;
      }
    } else {
      wd.begin();
      for (;;) {
        if (auto m = rx_->receive(std::chrono::milliseconds(100))) return m;
        if (!wd.check()) return std::nullopt;
      }
    }
  }

  std::string name_;
  std::string tag_;  // Threads: the run's tag, under which the Bus is published
  std::optional<courier::Bus> bus_, child_bus_;
  std::optional<courier::Receiver> rx_;
  std::optional<courier::Endpoint> tx_;
  courier::SendOptions so_{};
};

}  // namespace

std::unique_ptr<Transport> make_courier_spin() { return std::make_unique<Adapter<CourierTransport<Wait::spin>>>(); }
std::unique_ptr<Transport> make_courier_park() { return std::make_unique<Adapter<CourierTransport<Wait::park>>>(); }
std::unique_ptr<Transport> make_courier_poll() { return std::make_unique<Adapter<CourierTransport<Wait::poll>>>(); }
std::unique_ptr<Transport> make_inproc_courier() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::threads_private>>>();
}
std::unique_ptr<Transport> make_inproc_courier_shm() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::threads_shm>>>();
}

}  // namespace cbench
