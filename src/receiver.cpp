// The receiving side: attaching (the endpoint's exclusive lease), detaching,
// and what try_receive asks of the tracker and the directory.
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "courier/bus.hpp"
#include "courier/detail/process.hpp"
#include "notifier.hpp"
#include "spill_forwarder.hpp"

namespace courier {

Result<Receiver> Bus::attach(std::string_view name, const ReceiverOptions& options) {
  const std::string where = "attaching a receiver to '" + std::string(name) + "' on bus '" + s_->name + "'";
  if (s_->removed()) return removed_error(s_->name).with_context(where);
  auto id = s_->dir.add(name, true);
  if (!id) return std::move(id).error().with_context(where);
  const std::uint32_t slot = endpoint_slot(*id);
  InboxData& in = s_->seg.inbox(slot);
  static std::atomic<std::uint16_t> attach_nonce{0};  // relaxed: only needs to differ between attaches
  const std::uint64_t me = lease_word(self_identity(), attach_nonce.fetch_add(1, std::memory_order_relaxed));
  const std::uint64_t since = realtime_ns();
  for (;;) {
    // Acquire: pairs with the previous holder's release of the lease (its head
    // and handed stores happen-before our reads of them).
    std::uint64_t cur = in.lease.load(std::memory_order_acquire);
    if (cur != 0 && same_process(cur, me))
      return Error(Errc::busy, "this process already holds the receiver lease").with_context(where);
    if (cur != 0 && lease_holder_alive(cur))
      return Error(Errc::busy, "endpoint already has a receiver (pid " + std::to_string(lease_pid(cur)) + ")")
          .with_context(where);
    // acq_rel: acquire as above; release publishes our identity to the next taker.
    if (in.lease.compare_exchange_strong(cur, me, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  in.lease_since_ns.store(since, std::memory_order_relaxed);  // relaxed: informational (courier stat)
  in.attaches.fetch_add(1, std::memory_order_relaxed);        // relaxed: a statistic
  // Acquire: the endpoint may have been removed between add and the lease.
  if (s_->seg.slot(slot).id.load(std::memory_order_acquire) != *id) {
    std::uint64_t expected = me;
    in.lease.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed);
    return Error(Errc::not_found, "endpoint was removed while attaching").with_context(where);
  }
  auto st = std::make_unique<Receiver::State>();
  st->bus = s_;
  st->self = *id;
  st->slot = slot;
  st->name = std::string(name);
  st->lease = me;
  st->removed = &s_->seg.header().removed;
  st->options = options;
  st->reader = InboxReader(s_->seg, slot, *id, me);
  if (s_->log) st->forwarder = std::make_unique<Receiver::Forwarder>();
  st->reader.on_drop(
      [](void* ctx, const RecordHeader& h, Status why) { static_cast<detail::BusState*>(ctx)->report(h, h.to, why); },
      s_.get());
  return Receiver(std::move(st));
}

Receiver::State::~State() {
  notifier.reset();  // its thread looks at our inbox: stop it first
  if (in_hand) {
    reader.release(in_hand);  // a clean detach acknowledges the message in hand
    in_hand = {};
  }
  reader.flush_counters();
  if (bus && lease != 0) {
    std::uint64_t expected = lease;
    // Release: our head/handed stores happen-before the next holder's acquire of the lease.
    bus->seg.inbox(slot).lease.compare_exchange_strong(expected, 0, std::memory_order_release,
                                                       std::memory_order_relaxed);
  }
}

Receiver::~Receiver() = default;

std::optional<Error> Receiver::error() const {
  if (!removed()) return std::nullopt;
  return removed_error(st_->bus->name).with_context("receiving as '" + st_->name + "'");
}

bool Receiver::acknowledged_before(const RecordHeader& lane_header) const noexcept {
  RecordHeader h;
  std::memcpy(&h, &lane_header, sizeof h);  // the record is ours while in hand; a copy keeps the checks on one value
  const detail::BusState& s = *st_->bus;
  const std::uint64_t slot = s.tracker.find(key_of(h, st_->self));
  if (slot == Tracker::no_slot || !s.same_send(s.tracker.entry(slot), h)) return false;
  // Acquire: the status the acknowledging receiver published.
  const Status st = static_cast<Status>(s.tracker.entry(slot).status.load(std::memory_order_acquire));
  return st == Status::delivered || st == Status::read;
}

const std::string& Receiver::name_of(EndpointId id) {
  auto it = st_->names.find(id);
  if (it != st_->names.end()) return it->second;
  std::string n = st_->bus->dir.name_of(id);
  static const std::string empty;
  if (n.empty()) return empty;
  return st_->names.emplace(id, std::move(n)).first->second;
}

}  // namespace courier
