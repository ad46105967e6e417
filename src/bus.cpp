#include "courier/bus.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "courier/names.hpp"
#include "courier/process.hpp"

namespace courier {

Result<Bus> Bus::open(std::string_view name, const Options& o) {
  const std::string where = "opening bus '" + std::string(name) + "'";
  if (o.claim_timeout.count() <= 0) return Error(Errc::invalid_argument, "claim_timeout must be positive").with_context(where);
  if (o.open_timeout.count() < 0) return Error(Errc::invalid_argument, "open_timeout must not be negative").with_context(where);
  SegmentOptions so;
  so.geometry = Geometry{o.max_endpoints, o.lane_capacity, o.max_payload};
  so.claim_timeout_ns = static_cast<std::uint64_t>(o.claim_timeout.count());
  so.mode = o.group_access ? 0660 : 0600;
  so.create = o.create;
  so.open_timeout_ns = static_cast<std::uint64_t>(o.open_timeout.count());
  auto seg = Segment::open(name, so);
  if (!seg) {
    Error e = std::move(seg).error();
    if (e.message.rfind("opening", 0) != 0 && e.message.rfind("attaching", 0) != 0 && e.message.rfind("creating", 0) != 0)
      e.with_context(where);
    return e;
  }
  return Bus(std::make_shared<detail::BusState>(std::move(*seg), std::string(name)));
}

Result<void> Bus::remove(std::string_view name) { return Segment::remove(name); }

Result<Endpoint> Bus::endpoint(std::string_view name) {
  auto id = s_->dir.add(name, true);
  if (!id) return std::move(id).error().with_context("endpoint '" + std::string(name) + "'");
  return Endpoint(s_, *id, std::string(name));
}

Result<Receiver> Bus::attach(std::string_view name, const ReceiverOptions& options) {
  const std::string where = "attaching a receiver to '" + std::string(name) + "' on bus '" + s_->name + "'";
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
  st->options = options;
  st->reader = InboxReader(s_->seg, slot, *id, me);
  return Receiver(std::move(st));
}

namespace {

std::uint64_t lane_waiting(const LaneView& v) noexcept {
  // Acquire: read-only walk for statistics; frames are checked like the reader does.
  std::uint64_t h = v.ctl->head.load(std::memory_order_acquire);
  const std::uint64_t t = v.ctl->tail.load(std::memory_order_acquire);
  if (t < h || t - h > v.capacity) return 0;
  std::uint64_t n = 0;
  while (h < t) {
    const std::uint64_t f = v.frame_at(h).load(std::memory_order_acquire);
    const std::uint64_t units = frame::units(f);
    if (!frame::belongs_to(f, h) || units == 0 || (h & v.mask()) + units * record_unit > v.capacity) {
      h += record_unit;
      continue;
    }
    if (frame::state(f) == frame::committed) ++n;
    h += units * record_unit;
  }
  return n;
}

}  // namespace

BusStats Bus::stat() const {
  BusStats s;
  s.name = s_->name;
  s.geometry = s_->seg.geometry();
  s.segment_bytes = s_->seg.size();
  s.created_ns = s_->seg.header().created_ns;
  for (const EndpointEntry& e : s_->dir.list()) {
    EndpointStats es;
    es.name = e.name;
    es.id = e.id;
    const std::uint32_t slot = endpoint_slot(e.id);
    const InboxData& in = s_->seg.inbox(slot);
    // Relaxed loads below: a snapshot of statistics, not a synchronisation.
    const std::uint64_t lease = in.lease.load(std::memory_order_relaxed);
    es.receiver_attached = lease != 0 && lease_holder_alive(lease);
    es.receiver_pid = es.receiver_attached ? lease_pid(lease) : 0;
    for (unsigned p = 0; p < priority_levels; ++p) {
      es.waiting[p] = lane_waiting(s_->seg.lane(slot, p));
      es.waiting_total += es.waiting[p];
    }
    es.received = in.received.load(std::memory_order_relaxed);
    es.expired = in.expired.load(std::memory_order_relaxed);
    es.stale = in.stale.load(std::memory_order_relaxed);
    es.revoked = in.revoked.load(std::memory_order_relaxed);
    es.corrupt = in.corrupt.load(std::memory_order_relaxed);
    es.redelivered = in.redelivered.load(std::memory_order_relaxed);
    es.full = in.full.load(std::memory_order_relaxed);
    es.offline = in.offline.load(std::memory_order_relaxed);
    s.endpoints.push_back(std::move(es));
  }
  return s;
}

// ------------------------------------------------------------ receiver

// A thread that turns "messages may be waiting" into a readable eventfd. It
// never touches the lanes' consumer state (that belongs to the receiving
// thread): it looks at the bitmap and at head/tail only.
struct Receiver::Notifier {
  int efd = -1;
  std::thread thread;
  std::atomic<bool> stop{false};         // set by the receiver to end the thread
  std::atomic<std::uint32_t> rearm{0};   // process-local futex word: bumped when the app drained the inbox
  std::atomic<bool> announced{false};    // the fd was made readable and not yet re-armed
};

Receiver::State::~State() {
  if (notifier) {
    notifier->stop.store(true, std::memory_order_release);  // release: partner of the thread's acquire loads
    notifier->rearm.fetch_add(1, std::memory_order_release);
    futex_wake_all(notifier->rearm);
    futex_wake_all(bus->seg.inbox(slot).parked);
    if (notifier->thread.joinable()) notifier->thread.join();
    if (notifier->efd >= 0) ::close(notifier->efd);
  }
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

int Receiver::notification_fd() {
  if (st_->notifier) return st_->notifier->efd;
  auto n = std::make_unique<Notifier>();
  n->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (n->efd < 0) return -1;
  State* st = st_.get();
  Notifier* np = n.get();
  n->thread = std::thread([st, np] {
    InboxData& in = st->bus->seg.inbox(st->slot);
    const Segment& seg = st->bus->seg;
    auto lanes_busy = [&] {
      for (unsigned p = 0; p < priority_levels; ++p) {
        LaneView v = seg.lane(st->slot, p);
        // Relaxed: compared only, to learn whether anything is outstanding.
        if (v.ctl->tail.load(std::memory_order_relaxed) != v.ctl->head.load(std::memory_order_relaxed)) return true;
      }
      return false;
    };
    bool fired = false;
    std::uint32_t seen = np->rearm.load(std::memory_order_acquire);  // acquire: partner of rearm_notifier
    while (!np->stop.load(std::memory_order_acquire)) {              // acquire: partner of ~State
      if (fired) {
        // Wait until the application has drained what we announced.
        futex_wait(np->rearm, seen, 100'000'000ull);
        const std::uint32_t now = np->rearm.load(std::memory_order_acquire);
        if (now == seen) {
          if (lanes_busy()) {  // still unread after 100 ms (or a stalled claim): say so again
            std::uint64_t one = 1;
            (void)!::write(np->efd, &one, sizeof one);
          }
          continue;
        }
        seen = now;
        fired = false;
      }
      // seq_cst: same protocol as InboxReader::park (we are a second sleeper on parked).
      if ((in.nonempty.load(std::memory_order_seq_cst) & InboxReader::all_lanes) == 0) {
        in.parked.store(1, std::memory_order_seq_cst);
        if ((in.nonempty.load(std::memory_order_seq_cst) & InboxReader::all_lanes) == 0 && !np->stop.load(std::memory_order_acquire))
          futex_wait(in.parked, 1, 100'000'000ull);
        if ((in.nonempty.load(std::memory_order_seq_cst) & InboxReader::all_lanes) == 0 && !lanes_busy()) continue;
      }
      np->announced.store(true, std::memory_order_release);  // release: before the app can see the fd readable
      std::uint64_t one = 1;
      (void)!::write(np->efd, &one, sizeof one);
      fired = true;
    }
  });
  st_->notifier = std::move(n);
  st_->notifier_armed = true;
  return st_->notifier->efd;
}

void Receiver::rearm_notifier() noexcept {
  // The app found nothing: make the bitmap exact (so the notifier does not
  // fire on stale bits), drain the eventfd, then let the notifier look again.
  // acq_rel: pairs with the notifier's release store; only once per announcement.
  if (!st_->notifier->announced.exchange(false, std::memory_order_acq_rel)) return;
  st_->reader.tidy(monotonic_ns());
  std::uint64_t v = 0;
  (void)!::read(st_->notifier->efd, &v, sizeof v);
  st_->notifier->rearm.fetch_add(1, std::memory_order_release);  // release: partner of the notifier's acquire
  futex_wake_all(st_->notifier->rearm);
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
