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
//   courier.spin.drain  (one-way only) as courier.spin, the stream received
//                 in batches of up to 64 by Receiver::drain (one store of
//                 head per batch), against courier.spin's receive per message
//   inproc.courier the bus used by two threads of one process, opened with
//                 Options::in_process (the process's private memory, no
//                 /dev/shm): one Bus object (made in setup, shared through
//                 inproc::publish), an Endpoint + Receiver per thread,
//                 receive() busy-spinning as courier.spin
//   inproc.courier.shm  (not in the default run) the same two threads on a
//                 /dev/shm bus, as inproc.courier was before in-process buses
//   courier.log.always / .group / .os  reliable sends: the bus has a durable
//                 log (Options::log_dir in RunConfig::disk_dir, one journal per
//                 process) with that sync policy, and every message is stored
//                 (expiry 60 s, an id from the bus, tracked): it goes to the
//                 peer's lane and to the sender's journal. `always`: send()
//                 returns `sent` once the record is fdatasync'ed (the message
//                 is in the lane just before; the receiver's acknowledgement
//                 is synced too), against floor.fdatasync. `group` / `os`: the message
//                 is in the lane at once and `sent` follows when its batch is
//                 synced / written (the round trip measures what the log
//                 costs the delivery path, against floor.cacheline; bench_log
//                 measures send -> sent). Receivers acknowledge (auto_ack: a
//                 `delivered` record in the log); each side drains its status
//                 events after every round trip. A stream ends with
//                 Bus::flush_log(): its last batch is on disk (group) or
//                 written (os) before the run's clock stops.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "courier/bus.hpp"
#include "transports.hpp"

namespace cbench {
namespace {

// drain: as spin, but a stream is received in batches (Receiver::drain).
enum class Wait { spin, park, poll, drain };
// Where the two sides run: two processes on a /dev/shm bus, or two threads of
// one process (the inproc.* topology, one Bus object) on a /dev/shm bus or on
// an in-process bus (Options::in_process).
enum class Where { processes, threads_shm, threads_private };
// Without a log (real-time messages), or stored messages on a bus with a log of that policy.
enum class Logged { no, always, group, os };

template <Wait W, Where P = Where::processes, Logged L = Logged::no>
class CourierTransport {
  static constexpr bool Threads = P != Where::processes;
  static constexpr bool Private = P == Where::threads_private;
  static constexpr bool Log = L != Logged::no;
  static_assert(!Log || (P == Where::processes && W == Wait::spin), "the log rows are two processes, spinning");

 public:
  static constexpr bool in_process = Threads;
  static constexpr bool batch_receive = W == Wait::drain;
  const char* name() const noexcept {
    if constexpr (Private) return "inproc.courier";
    if constexpr (Threads) return "inproc.courier.shm";
    if constexpr (L == Logged::always) return "courier.log.always";
    if constexpr (L == Logged::group) return "courier.log.group";
    if constexpr (L == Logged::os) return "courier.log.os";
    return W == Wait::spin    ? "courier.spin"
           : W == Wait::park  ? "courier.park"
           : W == Wait::drain ? "courier.spin.drain"
                              : "courier.poll";
  }
  const char* description() const noexcept {
    if constexpr (Private)
      return "courier in-process bus (Options::in_process) shared by two threads, receive() busy-spinning";
    if constexpr (Threads) return "courier /dev/shm bus shared by two threads of one process, receive() busy-spinning";
    if constexpr (L == Logged::always)
      return "courier bus with a log, Sync::always: stored messages, each fdatasync'ed before send() returns";
    if constexpr (L == Logged::group)
      return "courier bus with a log, Sync::group: stored messages in the lane at once, sent after the batch's "
             "fdatasync";
    if constexpr (L == Logged::os)
      return "courier bus with a log, Sync::os: stored messages in the lane at once, sent once written";
    return W == Wait::spin   ? "courier bus, receive() busy-spinning (IdleStrategy park = false)"
           : W == Wait::park ? "courier bus, receive() parked on the inbox futex (spin_ns = 0)"
           : W == Wait::drain
               ? "courier bus, one-way received in batches of up to 64 (Receiver::drain, busy-spinning)"
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
    if constexpr (Log) {
      // A tracker entry lives expiry (60 s) + retention (0): room for every
      // message of a run (a ping-pong run of the defaults makes 2 x 220,000
      // entries, a stream --log-stream-messages: under half full). The expiry
      // is long so that a backlog spilled to the log while a side lost its
      // CPU is delivered, not expired (the stream checks that nothing is
      // missing). Options::prefault_tracker (default) maps the table in at open.
      o.tracker_capacity = 1u << 20;
      // Lanes of the library's default size (4 MiB), not ring_capacity: a
      // stored message whose lane is full spills to the log, and so does every
      // later one of that lane until the receiver has forwarded the backlog
      // (a write() and a read per message). With 256 KiB lanes a consumer
      // preempted for a moment tipped the stream into that mode for good
      // (group: 0.14 M msgs/s against 0.7 M with 4 MiB, same machine, A/B).
      o.lane_capacity = courier::Options{}.lane_capacity;
      o.status_retention = std::chrono::nanoseconds{0};
      log_root_ = log_root(cfg);
      std::error_code ec;
      std::filesystem::remove_all(log_root_, ec);
      if (::mkdir(log_root_.c_str(), 0700) != 0) {
        err = "mkdir " + log_root_ + ": " + std::strerror(errno);
        log_root_.clear();
        return false;
      }
      log_options(o, cfg);
    }
    if constexpr (!Private) {
      // A bus of this name must not exist: we would measure (and remove) someone else's.
      if (courier::Bus::exists(name_)) {
        err = "bus '" + name_ + "' exists already";
        name_.clear();
        return false;
      }
      cleanup::register_bus(name_);
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
    if constexpr (Log) log_options(o, cfg);
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
      cleanup::unregister_bus(name_);
    }
    name_.clear();
    if (!log_root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(log_root_, ec);
      log_root_.clear();
    }
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
    if constexpr (Log) return drain_statuses(err);
    return true;
  }

  bool pong(Watchdog& wd, std::string& err) {
    std::optional<courier::Message> m = wait(wd);
    if (!m) {
      err = wd.reason();
      return false;
    }
    const auto p = m->payload();
    if (!send(p.data(), p.size(), wd, err)) return false;  // echo: one copy, lane to lane
    if constexpr (Log) return drain_statuses(err);
    return true;
  }

  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) {
    if (!send(msg, n, wd, err)) return false;
    if constexpr (Log) {
      if ((++streamed_ & 255u) == 0) return drain_statuses(err);  // keep the status ring from overflowing
    }
    return true;
  }

  // Log rows: the stream is done when its last batch is on disk (group) or written (os).
  bool finish_stream(Watchdog&, std::string& err) {
    if constexpr (Log) {
      if (auto r = bus_->flush_log(); !r) {
        err = "flush_log: " + r.error().message;
        return false;
      }
      return drain_statuses(err);
    }
    return true;
  }

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

  // Wait::drain: a stream's messages, up to `limit` at once, handed to each(payload, length).
  template <class F>
  std::size_t recv_some(F&& each, std::size_t limit, Watchdog& wd, std::string& err) {
    auto one = [&each](const courier::Message& m) {
      const auto p = m.payload();
      each(p.data(), p.size());
    };
    wd.begin();
    for (;;) {
      if (const std::size_t got = rx_->drain(one, limit, std::chrono::milliseconds(100))) return got;
      if (!wd.check()) {
        err = wd.reason();
        return 0;
      }
    }
  }

 private:
  static std::string bus_name(const RunConfig& cfg) {
    std::string t = cfg.tag;
    for (char& c : t)
      if (c == '.') c = '-';
    return "cbench-" + t;
  }

  // Log rows: the journals of both processes go under one directory per run,
  // "cbench.<pid>.<n>.log" in disk_dir (cleanup::sweep_stale removes a dead run's).
  static std::string log_root(const RunConfig& cfg) { return cfg.disk_dir + "/cbench." + cfg.tag + ".log"; }
  static void log_options(courier::Options& o, const RunConfig& cfg) {
    o.log_dir = log_root(cfg);
    o.sync = L == Logged::always  ? courier::Sync::always
             : L == Logged::group ? courier::Sync::group
                                  : courier::Sync::os;
  }

  // The status events of our sends (sent, delivered): taken as a reliable
  // sender would, so the ring never overflows and its cost is in the sample.
  bool drain_statuses(std::string& err) {
    auto r = tx_->poll_status([](const courier::StatusEvent&) {});
    if (!r) {
      err = "poll_status: " + r.error().message;
      return false;
    }
    return true;
  }

  bool attach(courier::Bus& bus, const char* me, const char* peer, std::string& err) {
    courier::ReceiverOptions ro;
    if constexpr (W == Wait::park)
      ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = true};
    else
      ro.idle = courier::IdleStrategy{.spin_ns = ~0ull, .park = false};
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
    so_.expiry = Log ? std::chrono::nanoseconds{std::chrono::seconds{60}} : std::chrono::nanoseconds{0};
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
  std::string log_root_;  // Log, parent: the run's log directory (removed in teardown)
  std::uint64_t streamed_ = 0;
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
std::unique_ptr<Transport> make_courier_spin_drain() {
  return std::make_unique<Adapter<CourierTransport<Wait::drain>>>();
}
std::unique_ptr<Transport> make_inproc_courier() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::threads_private>>>();
}
std::unique_ptr<Transport> make_courier_log_always() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::processes, Logged::always>>>();
}
std::unique_ptr<Transport> make_courier_log_group() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::processes, Logged::group>>>();
}
std::unique_ptr<Transport> make_courier_log_os() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::processes, Logged::os>>>();
}
std::unique_ptr<Transport> make_inproc_courier_shm() {
  return std::make_unique<Adapter<CourierTransport<Wait::spin, Where::threads_shm>>>();
}

}  // namespace cbench
