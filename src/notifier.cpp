#include "notifier.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>

#include "courier/detail/futex.hpp"

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
