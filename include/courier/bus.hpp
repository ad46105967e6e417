// courier/bus.hpp — the public API: open a bus, register endpoints, send, receive.
//
//   auto bus = courier::Bus::open("orders");
//   if (!bus) { std::cerr << bus.error().message << '\n'; return 1; }
//   auto alice = bus->endpoint("alice");          // register or find; send as alice
//   auto bob   = bus->attach("bob");              // bob's receiver: exclusive lease
//   alice->send({.to = courier::peer("bob"), .priority = 2, .expiry = 30s, .type = 7}, bytes);
//   if (auto m = bob->receive(100ms)) use(m->payload());
//
// Hot paths (send, claim/commit, try_receive) are inline and take no lock, make
// no syscall and allocate nothing once a destination has been resolved; the
// only syscall is the producer's futex wake when the receiver is parked.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "courier/clock.hpp"
#include "courier/directory.hpp"
#include "courier/inbox.hpp"
#include "courier/message.hpp"
#include "courier/result.hpp"
#include "courier/segment.hpp"

namespace courier {

using namespace std::chrono_literals;

// Options of Bus::open. Geometry fields matter only to the process that
// creates the segment; attachers take the geometry from its header.
struct Options {
  std::uint32_t max_endpoints = 64;           // 1..4096 endpoints on this bus
  std::uint64_t lane_capacity = 4ull << 20;   // bytes per lane, power of two, 4 KiB..1 GiB (16 lanes per endpoint)
  std::uint32_t max_payload = 1u << 20;       // largest payload; must fit in half a lane
  std::chrono::nanoseconds claim_timeout = 200ms;  // a claim unfinished this long is stepped over (dead producer)
  std::chrono::nanoseconds open_timeout = 2s;      // wait this long for a segment another process is creating
  bool create = true;                         // create the bus when it does not exist
  bool group_access = false;                  // mode 0660 instead of 0600
};

struct Destination {
  std::string name;                // endpoint name, or empty when id is given
  EndpointId id = no_endpoint;     // a resolved id (Endpoint::resolve) skips the name lookup
};
inline Destination peer(std::string_view name) { return Destination{std::string(name), no_endpoint}; }
inline Destination peer(EndpointId id) { return Destination{{}, id}; }

struct SendOptions {
  Destination to;
  std::uint8_t priority = default_priority;  // 0 (highest) .. 15
  std::chrono::nanoseconds expiry{0};        // 0: real-time (attached receiver now, or offline); > 0: stored until then
  std::uint32_t type = 0;
  std::uint64_t id = 0;                      // 0: generated when expiry > 0; 0 with expiry 0: fire-and-forget
  std::chrono::nanoseconds timeout{0};       // when the lane is full: wait up to this long for room (0: report full)
};

struct SendResult {
  Status status = Status::sent;
  std::uint64_t id = 0;
  bool ok() const noexcept { return status == Status::sent; }
  explicit operator bool() const noexcept { return ok(); }
};

struct ReceiverOptions {
  IdleStrategy idle{};
};

namespace detail {
struct BusState {
  Segment seg;
  Directory dir;
  std::string name;
  explicit BusState(Segment s, std::string n) : seg(std::move(s)), dir(seg), name(std::move(n)) {}
  BusState(const BusState&) = delete;
  BusState& operator=(const BusState&) = delete;
};
}  // namespace detail

class Endpoint;
class Receiver;

struct EndpointStats {
  std::string name;
  EndpointId id = no_endpoint;
  bool receiver_attached = false;   // a live process holds the lease
  int receiver_pid = 0;
  std::uint64_t waiting[priority_levels] = {};  // committed records waiting per lane
  std::uint64_t waiting_total = 0;
  std::uint64_t received = 0, expired = 0, stale = 0, revoked = 0, corrupt = 0, redelivered = 0, full = 0, offline = 0;
};

struct BusStats {
  std::string name;
  Geometry geometry{};
  std::uint64_t segment_bytes = 0;
  std::uint64_t created_ns = 0;
  std::vector<EndpointStats> endpoints;
};

class Bus {
 public:
  // Create or attach the bus `name` ([A-Za-z0-9._-]{1,64}).
  static Result<Bus> open(std::string_view name, const Options& options = {});
  // Remove the bus's shared memory. Processes that have it open keep using it.
  static Result<void> remove(std::string_view name);

  const std::string& name() const noexcept { return s_->name; }
  const Geometry& geometry() const noexcept { return s_->seg.geometry(); }

  Result<EndpointId> add_endpoint(std::string_view name) { return s_->dir.add(name, false); }
  Result<EndpointId> find_endpoint(std::string_view name) const { return s_->dir.find(name); }
  Result<void> remove_endpoint(std::string_view name) { return s_->dir.remove(name); }
  std::vector<EndpointEntry> endpoints() const { return s_->dir.list(); }

  // A handle to send as `name` (registered if missing).
  Result<Endpoint> endpoint(std::string_view name);
  // Become the receiver of `name` (registered if missing): an exclusive lease,
  // taken over when its holder has died.
  Result<Receiver> attach(std::string_view name, const ReceiverOptions& options = {});

  BusStats stat() const;
  const Segment& segment() const noexcept { return s_->seg; }

 private:
  explicit Bus(std::shared_ptr<detail::BusState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::BusState> s_;
};

// A zero-copy send in progress: write the payload in place, then commit.
class Claim {
 public:
  std::span<std::byte> payload() const noexcept { return {lc_.payload(), capacity_}; }
  std::uint64_t id() const noexcept { return id_; }
  bool active() const noexcept { return lc_.header != nullptr; }

 private:
  friend class Endpoint;
  LaneClaim lc_{};
  LaneWriter* writer_ = nullptr;
  InboxData* inbox_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t id_ = 0;
  unsigned lane_ = 0;
};

// Sends as one endpoint. One thread at a time (make one per thread).
class Endpoint {
 public:
  EndpointId id() const noexcept { return self_; }
  const std::string& name() const noexcept { return name_; }

  // Copy `data` into the destination's lane for `o.priority`.
  SendResult send(const SendOptions& o, std::span<const std::byte> data) noexcept {
    Claim c;
    SendResult r = claim(o, data.size(), c);
    if (!r) return r;
    if (!data.empty()) std::memcpy(c.lc_.payload(), data.data(), data.size());
    return commit(c, data.size());
  }
  SendResult send(const SendOptions& o, std::string_view text) noexcept {
    return send(o, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  }

  // Reserve room for a payload of up to `len` bytes; write it through
  // c.payload(), then commit (or abort). Commit within the bus's claim_timeout.
  SendResult claim(const SendOptions& o, std::size_t len, Claim& c) noexcept;
  // Publish a claim with its final payload length (<= the claimed length).
  SendResult commit(Claim& c, std::size_t len) noexcept;
  void abort(Claim& c) noexcept {
    if (c.active()) c.writer_->abort(c.lc_);
    c.lc_ = {};
  }

  // Resolve a name once; the Destination it returns skips the lookup on send.
  Result<Destination> resolve(std::string_view name) {
    auto id = s_->dir.find(name);
    if (!id) return std::move(id).error();
    return Destination{std::string(name), *id};
  }

 private:
  friend class Bus;
  struct Target {
    EndpointId id = no_endpoint;
    LaneWriter lanes[priority_levels];
  };
  Endpoint(std::shared_ptr<detail::BusState> s, EndpointId self, std::string name)
      : s_(std::move(s)), self_(self), name_(std::move(name)), targets_(s_->seg.geometry().max_endpoints) {}

  Target* target(const Destination& d) noexcept;
  Target* target_by_id(EndpointId id) noexcept;
  std::uint64_t next_id() noexcept {
    if (id_next_ == id_end_) {
      constexpr std::uint64_t block = 4096;
      // Relaxed: uniqueness comes from the RMW itself; nothing else is published.
      id_next_ = s_->seg.header().next_id.fetch_add(block, std::memory_order_relaxed);
      id_end_ = id_next_ + block;
    }
    return id_next_++;
  }

  std::shared_ptr<detail::BusState> s_;
  EndpointId self_ = no_endpoint;
  std::string name_;
  std::vector<std::unique_ptr<Target>> targets_;  // by slot, made on first send
  std::unordered_map<std::string, EndpointId> names_;
  std::uint64_t id_next_ = 0, id_end_ = 0;
};

// A received message: a view into the lane, valid until the next receive (or
// release) on the same Receiver. The header is a validated copy.
class Message {
 public:
  std::uint64_t id() const noexcept { return h_.id; }
  EndpointId from() const noexcept { return h_.from; }
  EndpointId to() const noexcept { return h_.to; }
  std::uint32_t group() const noexcept { return h_.group; }
  std::uint8_t priority() const noexcept { return h_.priority; }
  std::uint32_t type() const noexcept { return h_.type; }
  std::uint64_t timestamp_ns() const noexcept { return h_.timestamp_ns; }
  std::uint64_t expires_ns() const noexcept { return h_.expires_ns; }
  bool redelivered() const noexcept { return redelivered_; }
  std::span<const std::byte> payload() const noexcept { return {payload_, h_.payload_len}; }
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(payload_), h_.payload_len}; }

 private:
  friend class Receiver;
  RecordHeader h_{};
  const std::byte* payload_ = nullptr;
  bool redelivered_ = false;
};

// The receiving side of one endpoint. Holds the endpoint's lease until
// destroyed. One thread at a time.
class Receiver {
 public:
  Receiver(Receiver&&) noexcept = default;
  Receiver& operator=(Receiver&&) noexcept = default;
  ~Receiver();

  EndpointId id() const noexcept { return st_->self; }
  const std::string& name() const noexcept { return st_->name; }

  // The highest-priority waiting message, or nothing. Never blocks. Releases
  // the previous message (its view becomes invalid).
  std::optional<Message> try_receive() noexcept {
    release();
    InboxTaken t = st_->reader.poll();
    if (!t) {
      if (st_->notifier_armed) rearm_notifier();
      return std::nullopt;
    }
    st_->in_hand = t;
    Message m;
    std::memcpy(&m.h_, t.record.header, sizeof(RecordHeader));
    m.h_.payload_len = t.record.header->payload_len <= t.record.units * record_unit - sizeof(RecordHeader)
                           ? t.record.header->payload_len : 0;  // re-checked on the copy: the lane is shared
    m.payload_ = t.record.payload();
    m.redelivered_ = t.record.redelivered;
    return m;
  }

  // Wait up to `timeout` for a message: spin, then park (per IdleStrategy).
  std::optional<Message> receive(std::chrono::nanoseconds timeout) noexcept;

  // Call f(const Message&) for each message until `stop` becomes true
  // (checked at least every 100 ms). Returns the number of messages handled.
  template <class F>
  std::uint64_t run(F&& f, const std::atomic<bool>& stop) {
    std::uint64_t n = 0;
    // Acquire: pairs with whoever sets stop (it may publish state f relies on).
    while (!stop.load(std::memory_order_acquire)) {
      if (auto m = receive(100ms)) {
        f(*m);
        ++n;
      }
    }
    release();
    return n;
  }

  // Done with the message in hand: its space goes back to the producers.
  void release() noexcept {
    if (st_->in_hand) {
      st_->reader.release(st_->in_hand);
      st_->in_hand = {};
    }
  }

  // A file descriptor (eventfd) that is readable while messages may be
  // waiting, for epoll / Boost.Asio / libuv. After it fires, call try_receive
  // until it returns nothing; the fd is re-armed then. -1 on failure.
  int notification_fd();

  // The name of an endpoint id (cached), or "" when it no longer exists.
  const std::string& name_of(EndpointId id);

  const InboxData& inbox() const noexcept { return st_->reader.data(); }

 private:
  friend class Bus;
  struct Notifier;
  struct State {
    std::shared_ptr<detail::BusState> bus;
    EndpointId self = no_endpoint;
    std::uint32_t slot = 0;
    std::string name;
    std::uint64_t lease = 0;
    ReceiverOptions options;
    InboxReader reader;
    InboxTaken in_hand;
    bool notifier_armed = false;
    std::unique_ptr<Notifier> notifier;
    std::unordered_map<EndpointId, std::string> names;
    ~State();
  };
  explicit Receiver(std::unique_ptr<State> st) : st_(std::move(st)) {}
  void rearm_notifier() noexcept;
  std::unique_ptr<State> st_;
};

// ------------------------------------------------------------ inline bodies

inline Endpoint::Target* Endpoint::target_by_id(EndpointId id) noexcept {
  const std::uint32_t slot = endpoint_slot(id);
  if (id == no_endpoint || slot >= targets_.size()) return nullptr;
  // Acquire: partner of Directory's release store of id (the endpoint exists).
  if (s_->seg.slot(slot).id.load(std::memory_order_acquire) != id) return nullptr;
  std::unique_ptr<Target>& t = targets_[slot];
  if (!t || t->id != id) {
    if (!t) t = std::make_unique<Target>();  // once per destination slot, not per message
    t->id = id;
    for (unsigned p = 0; p < priority_levels; ++p) t->lanes[p] = LaneWriter(s_->seg.lane(slot, p));
  }
  return t.get();
}

inline Endpoint::Target* Endpoint::target(const Destination& d) noexcept {
  if (d.id != no_endpoint) return target_by_id(d.id);
  auto it = names_.find(d.name);
  if (it != names_.end()) {
    if (Target* t = target_by_id(it->second)) return t;
    names_.erase(it);  // removed, or re-registered under a new id
  }
  auto id = s_->dir.find(d.name);
  if (!id) return nullptr;
  names_.emplace(d.name, *id);
  return target_by_id(*id);
}

inline SendResult Endpoint::claim(const SendOptions& o, std::size_t len, Claim& c) noexcept {
  c.lc_ = {};
  if (o.priority >= priority_levels || o.expiry.count() < 0 || o.timeout.count() < 0) return {Status::invalid_argument, o.id};
  if (len > s_->seg.geometry().max_payload) return {Status::too_large, o.id};
  Target* t = target(o.to);
  if (t == nullptr) return {Status::invalid_destination, o.id};
  InboxData& in = s_->seg.inbox(endpoint_slot(t->id));
  // Acquire: pairs with the receiver's lease CAS; real-time messages need one.
  // Real-time messages carry the lease word they were sent to: a receiver that
  // takes over from a dead one drops them (no clock involved).
  const std::uint64_t lease = o.expiry.count() == 0 ? in.lease.load(std::memory_order_acquire) : 0;
  if (o.expiry.count() == 0 && lease == 0) {
    in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return {Status::offline, o.id};
  }
  LaneWriter& w = t->lanes[o.priority];
  const std::uint64_t bytes = record_bytes(len);
  ClaimResult cr = w.try_claim(bytes, c.lc_);
  if (cr == ClaimResult::full && o.timeout.count() > 0) {
    const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(o.timeout.count());
    for (unsigned spins = 0; cr == ClaimResult::full && monotonic_ns() < deadline; ++spins) {
      if (spins < 64) {
        cpu_relax();
      } else {
        timespec ts{0, 20'000};  // room comes when the receiver drains: poll every 20 us
        nanosleep(&ts, nullptr);
      }
      cr = w.try_claim(bytes, c.lc_);
    }
  }
  if (cr != ClaimResult::ok) {
    if (cr == ClaimResult::revoked) return {Status::revoked, o.id};
    in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return {Status::full, o.id};
  }
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t id = o.id != 0 ? o.id : (o.expiry.count() > 0 ? next_id() : 0);
  RecordHeader& h = *c.lc_.header;
  h.id = id;
  h.timestamp_ns = now;
  h.expires_ns = o.expiry.count() > 0 ? now + static_cast<std::uint64_t>(o.expiry.count()) : 0;
  h.from = self_;
  h.to = t->id;
  h.group = 0;
  h.type = o.type;
  h.payload_len = static_cast<std::uint32_t>(len);
  h.priority = o.priority;
  h.flags = 0;
  h.reserved0 = 0;
  h.lease = lease;
  c.writer_ = &w;
  c.inbox_ = &in;
  c.capacity_ = len;
  c.id_ = id;
  c.lane_ = o.priority;
  return {Status::sent, id};
}

inline SendResult Endpoint::commit(Claim& c, std::size_t len) noexcept {
  if (!c.active()) return {Status::invalid_argument, c.id_};
  if (len > c.capacity_) {
    abort(c);
    return {Status::too_large, c.id_};
  }
  c.lc_.header->payload_len = static_cast<std::uint32_t>(len);
  const bool ok = c.writer_->commit(c.lc_);
  c.lc_ = {};
  if (!ok) return {Status::revoked, c.id_};
  inbox_notify(*c.inbox_, c.lane_);
  return {Status::sent, c.id_};
}

}  // namespace courier

namespace courier {

inline std::optional<Message> Receiver::receive(std::chrono::nanoseconds timeout) noexcept {
  if (auto m = try_receive()) return m;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t span = timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
  const std::uint64_t deadline = span > ~0ull - start ? ~0ull : start + span;
  const IdleStrategy& idle = st_->options.idle;
  const std::uint64_t spin_until = idle.park ? (idle.spin_ns < deadline - start ? start + idle.spin_ns : deadline) : deadline;
  if (!idle.park || idle.spin_ns != 0) {  // spin_ns == 0 with park: sleep at once
    for (unsigned i = 1;; ++i) {
      if (auto m = try_receive()) return m;
      cpu_relax();
      if ((i & 63) == 0 && monotonic_ns() >= spin_until) break;  // the clock costs ~25 ns: read it every 64 polls
    }
  }
  if (!idle.park) return std::nullopt;
  for (;;) {
    if (monotonic_ns() >= deadline) return try_receive();
    st_->reader.park(deadline);
    if (auto m = try_receive()) return m;
  }
}

}  // namespace courier
