/// @file
/// Receiving: a Receiver holds one endpoint's exclusive lease and hands out
/// its messages, highest priority first.
///
///     auto bob = bus->attach("bob");
///     if (auto m = bob->receive(100ms)) { use(m->payload()); bob->mark_read(*m); }
///
/// try_receive is inline: on a bus without a log it takes no lock, makes no
/// syscall (but a futex wake for a sender's status fd, see Receiver) and
/// allocates nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "courier/detail/bus_state.hpp"
#include "courier/detail/clock.hpp"
#include "courier/detail/inbox.hpp"
#include "courier/detail/record.hpp"
#include "courier/error.hpp"
#include "courier/ids.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

namespace courier {

using namespace std::chrono_literals;

class Bus;

/// A received message: a view into the lane, valid until the next receive (or
/// release) on the same Receiver. The header is a validated copy; the payload
/// is read in place (no copy). Accessors never block or allocate.
class Message {
 public:
  std::uint64_t id() const noexcept { return h_.id; }                      ///< its id (0: fire-and-forget)
  EndpointId from() const noexcept { return h_.from; }                     ///< its sender (Receiver::name_of)
  EndpointId to() const noexcept { return h_.to; }                         ///< this receiver's endpoint
  std::uint32_t group() const noexcept { return h_.group; }                ///< the group it was sent to (0: none)
  std::uint8_t priority() const noexcept { return h_.priority; }           ///< 0 (highest) .. 15
  std::uint32_t type() const noexcept { return h_.type; }                  ///< the sender's type
  std::uint64_t timestamp_ns() const noexcept { return h_.timestamp_ns; }  ///< accepted at (CLOCK_REALTIME)
  std::uint64_t expires_ns() const noexcept { return h_.expires_ns; }      ///< deadline (CLOCK_REALTIME; 0: real time)
  /// Maybe handed out before: to a receiver that died before acknowledging it,
  /// or before a reboot (a recovered message).
  bool redelivered() const noexcept { return redelivered_ || (h_.flags & record_flag::redelivered) != 0; }
  bool tracked() const noexcept { return h_.id != 0; }  ///< its sender follows its status (it has an id)
  /// Spilled: it waited in the log (its lane was full, or held earlier spilled
  /// messages, when it was sent) and came into the lane from there, in its
  /// sender's order (docs/design.md, "Spill").
  bool forwarded() const noexcept { return (h_.flags & record_flag::forwarded) != 0; }
  /// Incoming::read when a receiver marked it read (this copy, or one handed out before).
  Incoming status() const noexcept { return (h_.flags & record_flag::read) != 0 ? Incoming::read : Incoming::fresh; }
  /// The payload, in the lane (valid until the next receive or release).
  std::span<const std::byte> payload() const noexcept { return {payload_, h_.payload_len}; }
  /// The payload as characters (not NUL-terminated; same lifetime as payload()).
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(payload_), h_.payload_len}; }

 private:
  friend class Receiver;
  RecordHeader h_{};
  const std::byte* payload_ = nullptr;
  bool redelivered_ = false;
  std::uint64_t pos_ = 0;  // where it sits in its lane (ack/mark_read check it is still the one in hand)
};

/// The receiving side of one endpoint (Bus::attach). Holds the endpoint's
/// receiver lease until destroyed: one receiver per endpoint on the host; a
/// lease whose holder died is taken over by the next attach.
///
/// @threads One thread at a time: a Receiver has no lock. It may move to
/// another thread, but is never called from two at once. Receivers of
/// different endpoints are independent.
///
/// @blocking try_receive, ack and mark_read never wait on a bus without a
/// log and allocate nothing. On a bus with a log, acknowledging or marking
/// read a stored message (expiry > 0) also buffers a settle record under the
/// process's log mutex (with Sync::always: written and fdatasync'ed on this
/// thread), and try_receive, when the lanes are dry and messages wait in the
/// log (spilled from a full lane), reads journal files to bring them in
/// (allocates; after a scan that found nothing to bring in, not again for
/// 1 ms). A status event to a sender whose status_fd() thread sleeps costs
/// one futex wake syscall.
class Receiver {
 public:
  /// The lease moves with it; the moved-from receiver may only be destroyed or assigned.
  Receiver(Receiver&&) noexcept = default;
  /// Detaches this receiver (as the destructor does), then takes `other`'s lease.
  Receiver& operator=(Receiver&&) noexcept = default;
  /// Detach: stops the notification thread (joins it) and closes its fd,
  /// gives the message in hand back to the producers (its lane space; it is
  /// not handed out again), publishes the counters and releases the lease.
  ~Receiver();

  EndpointId id() const noexcept { return st_->self; }            ///< the endpoint received for
  const std::string& name() const noexcept { return st_->name; }  ///< its name

  /// The highest-priority waiting message, or nothing. Never waits. Releases
  /// the previous message (its view becomes invalid). With auto_ack, a
  /// tracked message is acknowledged as it is taken (its sender sees
  /// `delivered`). Messages past their deadline, real-time messages sent to
  /// an earlier receiver and copies acknowledged before are dropped on the
  /// way (their senders told expired / offline). After the bus was removed:
  /// nothing, for good (error() says why). On a bus with a log, see the class
  /// for what it may cost.
  [[nodiscard]] std::optional<Message> try_receive() noexcept {
    // Never inside try_drain's f (documented), so the message in hand is not a batch's.
    if (st_->in_hand) give_back();
    if (removed()) return std::nullopt;
    InboxTaken t;
    for (;;) {
      t = st_->reader.poll();
      if (!t) {
        // Lanes dry: bring in what waits in the log for us (a bus with a log only).
        if (st_->forwarder != nullptr && forward_spilled()) continue;
        if (st_->notifier_armed) rearm_notifier();
        return std::nullopt;
      }
      if (seen_before(t.record)) {
        st_->reader.release(t);
        continue;
      }
      break;
    }
    st_->in_hand = t;
    Message m = message_of(t.record);
    if (m.h_.id != 0 && st_->options.auto_ack) acknowledge(m.h_);
    return m;
  }

  /// Hand up to `limit` waiting messages to `f`, one after another, and give
  /// their lane space back to the producers with one store per lane when `f`
  /// is done with them all: the batched try_receive. Never waits; on a bus
  /// without a log allocates nothing. Returns the number of messages handed
  /// to `f` (0: none waiting, `limit` 0, or the bus was removed).
  ///
  /// - Order and semantics: as repeated try_receive calls, highest priority
  ///   first, FIFO within a priority, with the same drops (expired, real-time
  ///   for an earlier receiver, acknowledged before), redelivered flags and
  ///   auto_ack. The lanes are looked at in priority order once per batch: a
  ///   higher-priority message that arrives while `f` works through a lower
  ///   lane is handed by the next batch. Releases the message in hand first.
  /// - `f`: called as f(Message&) (or const Message&) on this thread. The
  ///   Message is valid inside that call only (its payload is read in place
  ///   and the space is given back when try_drain returns). Inside `f`, ack(m)
  ///   and mark_read(m) work on it as on the message in hand of try_receive.
  ///   `f` must not call try_receive, receive, try_drain, drain or run of this
  ///   Receiver (release() inside `f` does nothing to the batch but ends
  ///   ack/mark_read of that message).
  /// - `f` may return void, or bool: false declines the message: it is not
  ///   taken, the batch stops, and it is the first one handed by the next
  ///   receive of this Receiver; detaching gives it to the next receiver
  ///   flagged redelivered. Meant for auto_ack off: with auto_ack it was
  ///   acknowledged as it was handed, so a later receiver drops it.
  /// - If `f` throws, the message it threw on counts as taken, the batch
  ///   stops, the space of everything handed is given back, and the exception
  ///   propagates.
  /// - A receiver that dies in the middle of a batch (killed) leaves the
  ///   messages of the batch still in their lanes: the next receiver gets
  ///   each of them flagged redelivered ("maybe handed out before"), the ones
  ///   acknowledged before excepted.
  /// - After the bus was removed: 0, for good (error() says why).
  template <class F>
  std::size_t try_drain(F&& f, std::size_t limit) {
    release();
    std::size_t n = 0;
    bool declined = false;
    while (n < limit && !removed()) {
      n += st_->reader.drain(limit - n, [&](const InboxTaken& t) -> InboxReader::Take {
        if (seen_before(t.record)) return InboxReader::Take::skipped;
        st_->in_hand = t;
        st_->in_batch = true;  // release() inside f gives back nothing: the batch does
        Message m = message_of(t.record);
        if (m.h_.id != 0 && st_->options.auto_ack) acknowledge(m.h_);
        try {
          if constexpr (std::is_same_v<std::invoke_result_t<F&, Message&>, bool>) {
            declined = !f(m);
          } else {
            f(m);
          }
        } catch (...) {
          st_->in_hand = {};
          st_->in_batch = false;
          throw;
        }
        st_->in_hand = {};
        st_->in_batch = false;
        return declined ? InboxReader::Take::declined : InboxReader::Take::handed;
      });
      if (n >= limit || declined) break;
      // Lanes dry: bring in what waits in the log for us (a bus with a log only).
      if (st_->forwarder != nullptr && forward_spilled()) continue;
      if (st_->notifier_armed) rearm_notifier();
      break;
    }
    return n;
  }

  /// try_drain that waits up to `timeout` for the first message as receive
  /// does (spin, yield, park per ReceiverOptions::idle), then hands what is
  /// waiting, up to `limit`, to `f`. Returns the number handed (0: none came
  /// within `timeout`, or the bus was removed: at once then). Blocks the
  /// calling thread up to `timeout` plus the time `f` takes.
  template <class F>
  std::size_t drain(F&& f, std::size_t limit, std::chrono::nanoseconds timeout) {
    if (limit == 0) return 0;
    return wait_for(timeout, [&] { return try_drain(f, limit); });
  }

  /// Acknowledge a message taken with auto_ack off: its sender sees `delivered`.
  /// `m` must be the message in hand. False when it is not (or is untracked).
  /// A second ack changes nothing.
  bool ack(const Message& m) noexcept {
    if (m.h_.id == 0 || !holds(m)) return false;
    acknowledge(m.h_);
    return true;
  }
  /// Mark the message in hand read: its sender sees `read` (tracked
  /// messages); a redelivery of it shows status read. False when `m` is not
  /// the message in hand.
  bool mark_read(Message& m) noexcept {
    if (!holds(m)) return false;
    // The receiver owns the record while it is in hand; flags is ours to write.
    // Relaxed: read back only by a later receiver of this lane (after the lease CAS) or a statistics walk.
    std::atomic_ref<std::uint8_t>(const_cast<RecordHeader*>(st_->in_hand.record.header)->flags)
        .store(static_cast<std::uint8_t>(m.h_.flags | record_flag::read), std::memory_order_relaxed);
    m.h_.flags |= record_flag::read;
    if (m.h_.id != 0) st_->bus->report(m.h_, st_->self, Status::read);
    bump(st_->reader.data().read);
    return true;
  }

  /// Wait up to `timeout` for a message: spin for IdleStrategy::spin_ns
  /// (yielding the CPU every 64 polls when `park` is set, so that a sender on
  /// the same CPU can run), then park on the inbox's futex (a producer's
  /// commit wakes it), per
  /// ReceiverOptions::idle. Blocks the calling thread up to `timeout` (0: one
  /// try_receive); allocates nothing (but as try_receive). Returns nothing at
  /// once when the bus has been removed (error() says why).
  [[nodiscard]] std::optional<Message> receive(std::chrono::nanoseconds timeout) noexcept;

  /// The bus was removed (courier rm --force, Bus::remove) while this receiver
  /// was attached: from then on try_receive and receive hand out nothing, at
  /// once (a parked receive is woken), and error() says why. Its messages come
  /// back, with a log, in the bus its next opener creates. Safe from any thread.
  // Relaxed: a flag; nothing is read through it.
  bool removed() const noexcept { return st_->removed->load(std::memory_order_relaxed) != 0; }
  /// Why this receiver hands out nothing for good (Errc::removed, naming the
  /// bus and the endpoint), or nothing. Allocates the message.
  std::optional<Error> error() const;

  /// Call f(const Message&) for each message until `stop` becomes true
  /// (checked at least every 100 ms), on the calling thread: a loop of
  /// receive(100ms); set `stop` from any thread. Returns the number of
  /// messages handled. On a removed bus receive() returns at once, so run()
  /// spins until `stop`: watch removed() if the bus may be removed. (Not a
  /// loop of drain: with a sender it keeps up with, a batch holds one message
  /// and still costs more than a receive; docs/design.md, "Batched receive".)
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

  /// Done with the message in hand: its space goes back to the producers (the
  /// next try_receive does this too). Never blocks or allocates.
  void release() noexcept {
    if (st_->in_hand) {
      if (!st_->in_batch) st_->reader.release(st_->in_hand);
      st_->in_hand = {};
    }
  }

  /// A file descriptor that is readable while messages may be waiting, for
  /// poll / epoll / Boost.Asio / libuv: wait for it to be readable, then call
  /// try_receive until it returns nothing.
  ///
  /// - What it is: an eventfd (EFD_NONBLOCK | EFD_CLOEXEC) made by the first
  ///   call; later calls return the same fd.
  /// - Who owns it: this Receiver. It is closed when the Receiver is
  ///   destroyed (or assigned over); never close it yourself. Take it out of
  ///   your epoll set, or release() an Asio posix::stream_descriptor wrapping
  ///   it (so that Asio does not close it), before the Receiver goes.
  /// - Reading it: not needed. try_receive, when it finds nothing after the
  ///   fd fired, drains the eventfd and re-arms it. Reading it yourself is
  ///   harmless (it is non-blocking) but does not re-arm it.
  /// - When it becomes readable: when a lane of this endpoint gets a message
  ///   while the fd is armed; again every 100 ms while messages stay in the
  ///   lanes unread (or a claim there is unfinished); and when the bus is
  ///   removed (then try_receive returns nothing and error() says why).
  ///   Readable means "may be waiting": try_receive may find nothing (a
  ///   message that expired, a claim not committed yet).
  /// - The thread: the first call starts a helper thread in this process,
  ///   which sleeps on the inbox's futex word and writes the eventfd; the
  ///   Receiver's destructor stops and joins it. It only reads the inbox's
  ///   bitmap and lane positions, never takes a message. Producers pay the
  ///   one futex wake they pay for a parked receive().
  /// - Level or edge: both level-triggered polling and EPOLLET work (each
  ///   announcement is a new write to the eventfd).
  ///
  /// @threads As the Receiver: the fd may be polled from any thread, but
  /// try_receive runs on one thread at a time.
  /// @errors -1 when the eventfd cannot be made (errno from eventfd(2):
  /// EMFILE, ENFILE, ENOMEM); std::system_error when the thread cannot be
  /// started, std::bad_alloc when memory runs out (first call only).
  int notification_fd();

  /// The name of an endpoint id (cached per receiver: allocates and takes the
  /// directory lock the first time per id), or "" when it no longer exists.
  const std::string& name_of(EndpointId id);

  /// The endpoint's shared inbox (its counters and its lanes' control words),
  /// for tools and tests: an internal layout, read-only, may change.
  const InboxData& inbox() const noexcept { return st_->reader.data(); }

 private:
  friend class Bus;
  struct Notifier;
  struct Forwarder;
  struct State {
    std::shared_ptr<detail::BusState> bus;
    EndpointId self = no_endpoint;
    std::uint32_t slot = 0;
    std::string name;
    std::uint64_t lease = 0;
    const std::atomic<std::uint64_t>* removed = nullptr;  // the segment header's removed word
    ReceiverOptions options;
    InboxReader reader;
    InboxTaken in_hand;
    bool in_batch = false;  // in_hand is a batch's (inside try_drain's f): the batch gives its space back
    bool notifier_armed = false;
    std::unique_ptr<Notifier> notifier;
    std::unique_ptr<Forwarder> forwarder;  // a bus with a log only
    std::unordered_map<EndpointId, std::string> names;
    ~State();
  };
  explicit Receiver(std::unique_ptr<State> st) : st_(std::move(st)) {}
  void rearm_notifier() noexcept;
  bool acknowledged_before(const RecordHeader& lane_header) const noexcept;
  // Forward spilled messages of this endpoint from the log into its lanes
  // (src/spill.cpp). True when it forwarded something.
  bool forward_spilled() noexcept;
  // Counted once per message: a second ack (or ack after auto-ack) changes nothing.
  void acknowledge(const RecordHeader& h) noexcept {
    if (st_->bus->report(h, st_->self, Status::delivered)) bump(st_->reader.data().delivered);
  }
  // Receiver counters have one writer (the lease holder): relaxed load + store.
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // receive's wait (spin, yield, park) around attempt(), which returns
  // something that converts to false when nothing was taken.
  template <class Try>
  auto wait_for(std::chrono::nanoseconds timeout, Try&& attempt) -> decltype(attempt());
  // A copy handed out before (to a receiver that died, or before a reboot)
  // whose delivery was acknowledged meanwhile is not handed out again.
  bool seen_before(const LaneRecord& r) const noexcept {
    return (r.redelivered || (r.header->flags & (record_flag::redelivered | record_flag::forwarded)) != 0) &&
           r.header->id != 0 && acknowledged_before(*r.header);
  }
  // The Message for a record in hand: a validated copy of its header.
  static Message message_of(const LaneRecord& r) noexcept {
    Message m;
    std::memcpy(&m.h_, r.header, sizeof(RecordHeader));
    m.h_.payload_len = r.header->payload_len <= r.units * record_unit - sizeof(RecordHeader)
                           ? r.header->payload_len
                           : 0;  // re-checked on the copy: the lane is shared
    m.payload_ = r.payload();
    m.redelivered_ = r.redelivered;
    m.pos_ = r.pos;
    return m;
  }
  bool holds(const Message& m) const noexcept {
    return st_->in_hand && st_->in_hand.record.pos == m.pos_ && st_->in_hand.record.header->id == m.h_.id;
  }
  // The message in hand, outside a batch: its space goes back to the producers.
  void give_back() noexcept {
    st_->reader.release(st_->in_hand);
    st_->in_hand = {};
  }
  std::unique_ptr<State> st_;
};

inline std::optional<Message> Receiver::receive(std::chrono::nanoseconds timeout) noexcept {
  return wait_for(timeout, [this] { return try_receive(); });
}

template <class Try>
auto Receiver::wait_for(std::chrono::nanoseconds timeout, Try&& attempt) -> decltype(attempt()) {
  if (auto m = attempt()) return m;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t span = timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
  const std::uint64_t deadline = span > ~0ull - start ? ~0ull : start + span;
  const IdleStrategy& idle = st_->options.idle;
  const std::uint64_t spin_until =
      idle.park ? (idle.spin_ns < deadline - start ? start + idle.spin_ns : deadline) : deadline;
  if (!idle.park || idle.spin_ns != 0) {  // spin_ns == 0 with park: sleep at once
    for (unsigned i = 1;; ++i) {
      if (auto m = attempt()) return m;
      cpu_relax();
      // The clock costs ~25 ns: read it (and look for a removal) every 64 polls.
      if ((i & 63) != 0) continue;
      if (monotonic_ns() >= spin_until || removed()) break;
      // Before parking, yield every 64 polls (a syscall that returns at once on
      // an otherwise idle CPU): a sender that shares our CPU gets to run and
      // reply now, not when our spin_ns is spent (docs/design.md, "Idle: yield
      // while spinning"). --idle spin (park = false) stays a pure spin.
      if (idle.park) cpu_yield();
    }
  }
  if (!idle.park) return {};
  for (;;) {
    if (removed()) return {};  // Bus::remove wakes a parked receiver after setting it
    if (monotonic_ns() >= deadline) return attempt();
    st_->reader.park(deadline);
    if (auto m = attempt()) return m;
  }
}

}  // namespace courier
