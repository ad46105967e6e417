#include "notifier.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>

#include "courier/detail/futex.hpp"
#include "courier/detail/status_ring.hpp"

namespace courier {

namespace {
// The notifier thread wakes at least this often: to see a stop, and to say
// again that messages announced 100 ms ago are still unread.
constexpr std::uint64_t recheck_ns = 100'000'000ull;  // 100 ms
}  // namespace

Receiver::Notifier::~Notifier() {
  stop.store(true, std::memory_order_release);  // release: partner of the thread's acquire loads
  rearm.fetch_add(1, std::memory_order_release);
  futex_wake_all(rearm);
  if (inbox != nullptr) futex_wake_all(inbox->parked);
  if (thread.joinable()) thread.join();
  if (efd >= 0) ::close(efd);
}

int Receiver::notification_fd() {
  if (st_->notifier) return st_->notifier->efd;
  auto n = std::make_unique<Notifier>();
  n->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (n->efd < 0) return -1;
  State* st = st_.get();
  Notifier* np = n.get();
  n->inbox = &st->bus->seg.inbox(st->slot);
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
        futex_wait(np->rearm, seen, recheck_ns);
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
        if ((in.nonempty.load(std::memory_order_seq_cst) & InboxReader::all_lanes) == 0 &&
            !np->stop.load(std::memory_order_acquire))
          futex_wait(in.parked, 1, recheck_ns);
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

}  // namespace courier

namespace courier {

Endpoint::StatusNotifier::~StatusNotifier() {
  stop.store(true, std::memory_order_release);  // release: partner of the thread's acquire loads
  rearm.fetch_add(1, std::memory_order_release);
  futex_wake_all(rearm);
  if (ring.ctl != nullptr) futex_wake_all(status_parked(ring));
  if (thread.joinable()) thread.join();
  if (efd >= 0) ::close(efd);
}

int Endpoint::status_fd() {
  if (status_notifier_) return status_notifier_->efd;
  follow();
  auto n = std::make_shared<StatusNotifier>();
  n->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (n->efd < 0) return -1;
  const std::uint32_t slot = endpoint_slot(self_);
  n->ring = s_->seg.status_lane(slot);
  n->inbox = &s_->seg.inbox(slot);
  // Acquire: partner of post()'s count (as poll_status reads it).
  n->polled_drops.store(n->inbox->status_dropped.load(std::memory_order_acquire), std::memory_order_relaxed);
  StatusNotifier* np = n.get();
  n->thread = std::thread([np] {
    std::uint64_t fired_tail = ~0ull, fired_head = ~0ull;
    // Something the application has not been told of: records in the ring
    // (other than those it was told of and could not take yet: a claim not
    // committed), or drops since its last poll.
    auto waiting = [&] {
      // seq_cst: the load half of the Dekker with wake_status_notifier.
      const std::uint64_t tail = np->ring.ctl->tail.load(std::memory_order_seq_cst);
      const std::uint64_t head = np->ring.ctl->head.load(std::memory_order_seq_cst);
      if (tail != head && (tail != fired_tail || head != fired_head)) return true;
      // seq_cst: as above; relaxed for our own word (written by this process's poll_status).
      return np->inbox->status_dropped.load(std::memory_order_seq_cst) !=
             np->polled_drops.load(std::memory_order_relaxed);
    };
    std::uint32_t seen = np->rearm.load(std::memory_order_acquire);  // acquire: partner of rearm_status_notifier
    bool fired = false;
    while (!np->stop.load(std::memory_order_acquire)) {  // acquire: partner of ~StatusNotifier
      if (fired) {
        // The fd stays readable until poll_status reads it: wait for that.
        futex_wait(np->rearm, seen, recheck_ns);
        const std::uint32_t now = np->rearm.load(std::memory_order_acquire);
        if (now == seen) continue;
        seen = now;
        fired = false;
      }
      if (!waiting()) {
        std::atomic<std::uint32_t>& parked = status_parked(np->ring);
        parked.store(1, std::memory_order_seq_cst);  // seq_cst: the store half of the Dekker
        if (!waiting() && !np->stop.load(std::memory_order_acquire)) {
          futex_wait(parked, 1, recheck_ns);
          // Woken by a post (a claim we told of may be committed now) or 100 ms
          // passed (a stalled claim: say so again): look at the ring afresh.
          fired_tail = fired_head = ~0ull;
        }
        if (!waiting()) continue;
      }
      fired_tail = np->ring.ctl->tail.load(std::memory_order_relaxed);  // relaxed: compared only
      fired_head = np->ring.ctl->head.load(std::memory_order_relaxed);
      std::uint64_t one = 1;
      (void)!::write(np->efd, &one, sizeof one);
      fired = true;
    }
  });
  status_notifier_ = std::move(n);
  return status_notifier_->efd;
}

void Endpoint::rearm_status_notifier(std::uint64_t drops) noexcept {
  std::uint64_t v = 0;
  (void)!::read(status_notifier_->efd, &v, sizeof v);  // drain: readable again only when the thread says so
  status_notifier_->polled_drops.store(drops, std::memory_order_relaxed);  // relaxed: published by the release below
  status_notifier_->rearm.fetch_add(1, std::memory_order_release);         // release: partner of the thread's acquire
  futex_wake_all(status_notifier_->rearm);
}

}  // namespace courier
