// Status reporting: a tracked message's status moves forward in the tracker
// and an event goes to its sender's status ring; queries by id; the sender's
// consumption of its ring (poll_status, under the endpoint's status lease).
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "courier/bus.hpp"
#include "courier/detail/bus_log.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/status_ring.hpp"

namespace courier {

namespace {

// Status events posted one after another, each into its sender's status ring
// (in order: the order of post calls). A run of events for one sender uses
// one LaneWriter, which looks at the ring's head only when the ring looks
// full, and the sender's slot is checked once per run; the run's drops are
// counted with one add when it ends (the next sender's event, finish(), or
// the destructor). Each event is written after the tracker change it reports
// (the caller makes that change first), and every event is either committed
// to the ring or counted.
class StatusRun {
 public:
  explicit StatusRun(detail::BusState& s) noexcept : s_(s) {}
  ~StatusRun() { finish(); }
  StatusRun(const StatusRun&) = delete;
  StatusRun& operator=(const StatusRun&) = delete;

  void post(EndpointId sender, const StatusEvent& e, std::uint64_t entry) noexcept {
    if (sender != sender_) {
      finish();
      start(sender);
    }
    if (!live_) return;
    // After its seq_cst commit (wake_status_notifier): a notifier that parked
    // meanwhile hears of this event now, not at the run's end (a load when
    // nobody is parked).
    if (post_status(w_, sender, e, entry))
      wake_status_notifier(w_.view());
    else
      ++dropped_;
  }

  void finish() noexcept {
    if (dropped_ == 0) return;
    // seq_cst: after the tracker's changes (release would do: the sender
    // acquires the counter, then catches up from the tracker, so it finds
    // them); seq_cst for the Dekker with a status fd's notifier (wake below).
    s_.seg.inbox(slot_).status_dropped.fetch_add(dropped_, std::memory_order_seq_cst);
    dropped_ = 0;
    wake_status_notifier(w_.view());
  }

 private:
  void start(EndpointId sender) noexcept {
    sender_ = sender;
    slot_ = endpoint_slot(sender);
    // Acquire: the sender endpoint still exists (a removed one gets no events).
    live_ = sender != no_endpoint && slot_ < s_.seg.geometry().max_endpoints &&
            s_.seg.slot(slot_).id.load(std::memory_order_acquire) == sender;
    if (live_) w_ = LaneWriter(s_.seg.status_lane(slot_));
  }

  detail::BusState& s_;
  EndpointId sender_ = no_endpoint;
  std::uint32_t slot_ = 0;
  bool live_ = false;
  std::uint64_t dropped_ = 0;
  LaneWriter w_;
};

}  // namespace

void detail::BusState::post(EndpointId sender, const StatusEvent& e, std::uint64_t entry) noexcept {
  StatusRun run(*this);
  run.post(sender, e, entry);
}

void detail::durable(BusState& s, std::span<const Log::Pending> batch, Status st) noexcept {
  // A batch that failed holds only messages already in a lane or counted as
  // spilled: they are delivered, not durable, and stay outbox (log_error()
  // says why). log_failed is said by the send itself, of a message never
  // delivered (docs/design.md, "No wedged ids").
  if (st != Status::sent) return;
  const std::uint64_t now = fast_realtime_ns();
  st = s.after_sync(true);  // removed meanwhile: not promised (docs/design.md, "Safe removal")
  // One run per sender's consecutive events (a flush's batch comes mostly
  // from one sender at a time): one writer and one drop count each.
  StatusRun run(s);
  // A run's tracker lines are asked for together before they are used: each
  // is random in a table of MiBs, last written by the sender's CPU (one
  // prefetch spread among each record's work would wait for its own page
  // walk, docs/design.md "Recovery asks for its tracker lines a batch at a time").
  static constexpr std::size_t run_lines = 16;
  for (std::size_t at = 0; at < batch.size(); at += run_lines) {
    const std::span<const Log::Pending> part = batch.subspan(at, std::min(run_lines, batch.size() - at));
    for (const Log::Pending& p : part) s.tracker.warm_slot(p.slot);
    for (const Log::Pending& p : part) {
      // The slot may have retired and been reused since the send: check the key.
      if (!s.tracker.holds(p.slot, TrackerKey{p.sender, p.id, p.key_recipient})) continue;
      if (s.tracker.advance(p.slot, st, now))
        run.post(p.sender, StatusEvent{p.id, p.recipient, p.group, st, now}, p.slot);
    }
  }
}

bool detail::BusState::report(const RecordHeader& h, EndpointId recipient, Status status) noexcept {
  if (h.id == 0) return false;
  if (h.group != 0) return report_member(h, recipient, status);
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t slot = tracker.find(TrackerKey{h.from, h.id, no_endpoint});
  // Unknown, retired, made by another send of this id, or already there.
  if (slot == Tracker::no_slot || !same_send(tracker.entry(slot), h) || !tracker.advance(slot, status, now))
    return false;
  if (logged(h)) settle_in_log(h, recipient, status, now);
  post(h.from, StatusEvent{h.id, recipient, 0, status, now}, slot);
  return true;
}

void detail::BusState::settle_in_log(const RecordHeader& h, EndpointId recipient, Status status,
                                     std::uint64_t now) noexcept {
  (void)log->append_settle(logfmt::settle_kind(status), logfmt::SettleBody{h.id, h.from, recipient, now});
}

bool detail::BusState::report_member(const RecordHeader& h, EndpointId recipient, Status status) noexcept {
  const std::uint64_t now = fast_realtime_ns();
  TrackerKey key = key_of(h, recipient);
  std::uint64_t slot = tracker.find(key);
  if (slot == Tracker::no_slot && key.recipient != no_endpoint) {
    // A header without its flags (a relay's, Bus::report_relayed) of a 1-member group's send: its total's key.
    key.recipient = no_endpoint;
    slot = tracker.find(key);
  }
  // Unknown, retired, made by another send of this id, or already there.
  if (slot == Tracker::no_slot || !same_send(tracker.entry(slot), h)) return false;
  // Under the total's key: only the group_one entry of this member (a record's flags are untrusted).
  const bool one_member = key.recipient == no_endpoint;
  if (one_member && !is_one_member_of(tracker.entry(slot), recipient)) return false;
  if (!tracker.advance(slot, status, now)) return false;
  if (logged(h)) settle_in_log(h, recipient, status, now);
  post(h.from, StatusEvent{h.id, recipient, h.group, status, now}, slot);
  if (one_member) {
    // Its total's event (the same status: it has one member), after the member's, as a 2-entry group posts them.
    post(h.from, StatusEvent{h.id, no_endpoint, h.group, status, now}, slot);
    return true;
  }
  // The group total: count this member, and move the total when every member got there.
  const std::uint64_t total = total_of(slot, h.from, h.id);
  if (total != Tracker::no_slot && same_send(tracker.entry(total), h))
    count_in_total(h.from, h.id, h.group, total, status, now);
  return true;
}

void detail::BusState::settle_total(EndpointId sender, std::uint64_t id, GroupId group, std::uint64_t total,
                                    Status last, std::uint64_t now) noexcept {
  TrackerEntry& t = tracker.entry(total);
  // Relaxed: written before the entry was published. seq_cst counts: see report().
  const std::uint32_t n = t.recipients.load(std::memory_order_relaxed);
  const std::uint32_t failed = t.failed.load(std::memory_order_seq_cst);
  const std::uint32_t delivered = t.delivered.load(std::memory_order_seq_cst);
  const std::uint32_t read = t.read.load(std::memory_order_seq_cst);
  // advance() makes each transition once, whoever gets here first.
  if (failed >= n) {
    if (is_error(last) && tracker.advance(total, last, now))
      post(sender, StatusEvent{id, no_endpoint, group, last, now}, total);
    return;
  }
  if (delivered > 0 && delivered + failed >= n && tracker.advance(total, Status::delivered, now))
    post(sender, StatusEvent{id, no_endpoint, group, Status::delivered, now}, total);
  if (read > 0 && read + failed >= n && tracker.advance(total, Status::read, now))
    post(sender, StatusEvent{id, no_endpoint, group, Status::read, now}, total);
}

Result<StatusReport> detail::status_of(const BusState& s, EndpointId sender, std::uint64_t id) {
  if (s.removed()) return removed_error(s.name);
  const std::uint64_t slot = s.tracker.find(TrackerKey{sender, id, no_endpoint});
  if (slot == Tracker::no_slot)
    return Error(Errc::not_found, "no tracked message " + std::to_string(id) +
                                      " from this sender (never tracked, or retired after its expiry + retention)");
  const TrackerEntry& e = s.tracker.entry(slot);
  StatusReport r;
  r.id = id;
  // Acquire: partner of advance()'s release; counts below are relaxed snapshots.
  r.status = static_cast<Status>(e.status.load(std::memory_order_acquire));
  r.recipients = e.recipients.load(std::memory_order_relaxed);
  r.delivered = e.delivered.load(std::memory_order_relaxed);
  r.read = e.read.load(std::memory_order_relaxed);
  r.failed = e.failed.load(std::memory_order_relaxed);
  r.expires_ns = e.expires_ns.load(std::memory_order_relaxed);
  r.updated_ns = e.updated_ns.load(std::memory_order_relaxed);
  const EndpointId dest = e.dest.load(std::memory_order_relaxed);
  const std::uint8_t role = e.role.load(std::memory_order_relaxed);
  if (role == tracker_role::group_one) {
    // One entry for the member and the total: the counts follow from its status.
    r.group = dest;
    r.delivered = r.status == Status::delivered || r.status == Status::read;
    r.read = r.status == Status::read;
    r.failed = is_error(r.status);
    // Its member (layout.hpp). Relaxed: written before the entry's tag was published, which find acquired.
    const EndpointId m = e.delivered.load(std::memory_order_relaxed);
    std::vector<EndpointId> members;
    s.dir.members(dest, members);
    // As for a group total: listed while it is a member (removed from the group since the send: not listed).
    if (std::find(members.begin(), members.end(), m) != members.end()) r.members.push_back({m, r.status});
  } else if (role == tracker_role::group) {
    r.group = dest;
    std::vector<EndpointId> members;
    s.dir.members(dest, members);
    for (EndpointId m : members) {
      const std::uint64_t ms = s.tracker.find(TrackerKey{sender, id, m});
      if (ms == Tracker::no_slot) continue;  // joined after the send
      r.members.push_back({m, static_cast<Status>(s.tracker.entry(ms).status.load(std::memory_order_acquire))});
    }
  } else {
    r.dest = dest;
    r.delivered = r.status == Status::delivered || r.status == Status::read;
    r.read = r.status == Status::read;
    r.failed = is_error(r.status);
  }
  return r;
}

Result<StatusReport> Bus::status(std::string_view sender, std::uint64_t id) const {
  auto from = s_->dir.find(sender);
  if (!from) return std::move(from).error();
  return detail::status_of(*s_, *from, id);
}

// The endpoint's status lease: one process consumes its status ring.
struct Endpoint::StatusConsumer {
  std::shared_ptr<detail::BusState> bus;
  std::uint32_t slot = 0;
  std::uint64_t lease = 0;
  StatusRingReader reader;
  ~StatusConsumer() {
    std::uint64_t expected = lease;
    // Release: our head stores happen-before the next consumer's acquire of the lease.
    bus->seg.inbox(slot).status_lease.compare_exchange_strong(expected, 0, std::memory_order_release,
                                                              std::memory_order_relaxed);
  }
};

Result<std::size_t> Endpoint::poll_status(const std::function<void(const StatusEvent&)>& f) {
  if (s_->removed()) return removed_error(s_->name);
  if (!status_) {
    const std::uint32_t slot = endpoint_slot(self_);
    InboxData& in = s_->seg.inbox(slot);
    static std::atomic<std::uint16_t> nonce{0x8000};  // relaxed: only needs to differ between leases
    const std::uint64_t me = lease_word(self_identity(), nonce.fetch_add(1, std::memory_order_relaxed));
    for (;;) {
      // Acquire: partner of the previous consumer's release (its ring head).
      std::uint64_t cur = in.status_lease.load(std::memory_order_acquire);
      if (cur != 0 && lease_holder_alive(cur))
        return Error(Errc::busy, "the status events of '" + name_ + "' are consumed by " +
                                     (same_process(cur, me) ? std::string("another handle in this process")
                                                            : "pid " + std::to_string(lease_pid(cur))));
      // acq_rel: acquire as above; release publishes our identity.
      if (in.status_lease.compare_exchange_strong(cur, me, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    auto c = std::make_shared<StatusConsumer>();
    c->bus = s_;
    c->slot = slot;
    c->lease = me;
    c->reader = StatusRingReader(s_->seg.status_lane(slot), s_->seg.header().claim_timeout_ns);
    status_ = std::move(c);
  }
  follow();
  // Acquire: partner of post()'s release; read before the ring is drained, so
  // that a drop counted after it is caught up by the next poll.
  const std::uint64_t drops = s_->seg.inbox(status_->slot).status_dropped.load(std::memory_order_acquire);
  auto next = [this](StatusEvent& e, std::uint64_t& slot_plus_one) { return status_->reader.next(e, slot_plus_one); };
  auto n = follow_->poll(next, drops, f ? f : on_status_);
  if (status_notifier_) rearm_status_notifier(drops);
  return n;
}

}  // namespace courier
