#include "courier/bus.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "courier/names.hpp"
#include "courier/detail/process.hpp"
#include "log_internal.hpp"

namespace courier {

namespace {
// In-process buses by name: a second open of the same name in this process
// gets the same bus while the first is alive.
struct InProcessRegistry {
  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<detail::BusState>> buses;
};
InProcessRegistry& in_process_registry() {
  static InProcessRegistry r;
  return r;
}
}  // namespace

namespace {
// Options::prefault_tracker: the tracker region (page aligned) in one call
// instead of a page fault at each first touch. A hint: errors are ignored
// (an older kernel without MADV_POPULATE_WRITE faults pages in as before).
void populate_tracker(const Segment& seg) noexcept {
#ifdef MADV_POPULATE_WRITE
  void* base = seg.tracker();
  (void)::madvise(base, static_cast<std::size_t>(seg.geometry().tracker_bytes()), MADV_POPULATE_WRITE);
#else
  (void)seg;
#endif
}
}  // namespace

Result<Bus> Bus::open(std::string_view name, const Options& o) {
  const std::string where = "opening bus '" + std::string(name) + "'";
  if (o.claim_timeout.count() <= 0) return Error(Errc::invalid_argument, "claim_timeout must be positive").with_context(where);
  if (o.open_timeout.count() < 0) return Error(Errc::invalid_argument, "open_timeout must not be negative").with_context(where);
  if (o.status_retention.count() < 0 || o.status_retention > std::chrono::hours(24 * 30))
    return Error(Errc::invalid_argument, "status_retention must be 0..30 days").with_context(where);
  SegmentOptions so;
  so.geometry = Geometry{o.max_endpoints,     o.lane_capacity,    o.max_payload,    o.max_groups,
                         o.max_group_members, o.tracker_capacity, o.status_capacity};
  so.claim_timeout_ns = static_cast<std::uint64_t>(o.claim_timeout.count());
  so.status_retention_ns = static_cast<std::uint64_t>(o.status_retention.count());
  so.mode = o.group_access ? 0660 : 0600;
  so.create = o.create;
  so.open_timeout_ns = static_cast<std::uint64_t>(o.open_timeout.count());
  so.recovery_pending = !o.log_dir.empty() && o.recover && !o.in_process;
  if (o.in_process) {
    if (auto why = bus_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why).with_context(where);
    if (!o.log_dir.empty())
      return Error(Errc::invalid_argument, "an in-process bus has no log (log_dir must be empty)").with_context(where);
    InProcessRegistry& reg = in_process_registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    auto it = reg.buses.find(std::string(name));
    if (it != reg.buses.end()) {
      if (auto live = it->second.lock()) return Bus(std::move(live));
    }
    if (!o.create) return Error(Errc::not_found, "no in-process bus named '" + std::string(name) + "'").with_context(where);
    auto seg = Segment::open_private(so);
    if (!seg) return std::move(seg).error().with_context(where);
    if (o.prefault_tracker) populate_tracker(*seg);
    auto st = std::make_shared<detail::BusState>(std::move(*seg), std::string(name));
    st->in_process = true;
    reg.buses[std::string(name)] = st;
    return Bus(std::move(st));
  }
  auto seg = Segment::open(name, so);
  if (!seg) {
    Error e = std::move(seg).error();
    if (e.message.rfind("opening", 0) != 0 && e.message.rfind("attaching", 0) != 0 && e.message.rfind("creating", 0) != 0)
      e.with_context(where);
    return e;
  }
  const bool created = seg->created();
  if (o.prefault_tracker) populate_tracker(*seg);
  auto st = std::make_shared<detail::BusState>(std::move(*seg), std::string(name));
  if (auto r = open_log(*st, o, created); !r) {
    // Leave the bus to the next opener, which takes the recovery over.
    if (created) st->seg.header().recovery_owner.store(0, std::memory_order_release);  // release: as below
    return std::move(r).error().with_context(where);
  }
  if (auto r = await_recovery(*st, o, created); !r) return std::move(r).error().with_context(where);
  // Only once the bus is rebuilt: compaction judges segments by the tracker and the directory.
  if (st->log && o.housekeeping_interval.count() > 0) {
    detail::BusState* sp = st.get();
    st->log->start_housekeeping(o.housekeeping_interval, [sp] { (void)Bus::housekeep_state(*sp); });
  }
  return Bus(std::move(st));
}

// A bus being rebuilt from its log is not used before the rebuild is done:
// wait while the rebuilding process lives, take the rebuild over when it died.
Result<void> Bus::await_recovery(detail::BusState& st, const Options& o, bool created) {
  std::atomic<std::uint64_t>& owner = st.seg.header().recovery_owner;
  if (created) {
    // Release: the rebuilt tracker and lanes before the openers waiting below.
    owner.store(0, std::memory_order_release);
    return {};
  }
  const std::uint64_t give_up = monotonic_ns() + 600'000'000'000ull;  // a live rebuild: 10 minutes at most
  for (;;) {
    // Acquire: partner of the release store above.
    std::uint64_t cur = owner.load(std::memory_order_acquire);
    if (cur == 0) return {};
    if (lease_holder_alive(cur)) {
      if (monotonic_ns() > give_up)
        return Error(Errc::timeout, "pid " + std::to_string(lease_pid(cur)) + " has been rebuilding the bus from its log for 10 minutes");
      timespec ts{0, 1'000'000};
      nanosleep(&ts, nullptr);
      continue;
    }
    if (!st.log || !o.recover)
      return Error(Errc::busy, "pid " + std::to_string(lease_pid(cur)) +
                                   " died rebuilding the bus from its log: open it with its log directory to finish");
    const std::uint64_t me = lease_word(self_identity());
    // acq_rel: one opener takes the rebuild over; acquire what the dead one left.
    if (!owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    auto r = recover_into(st, o.on_recovery_progress);
    owner.store(0, std::memory_order_release);  // release: as above
    if (!r) return std::move(r).error();
    st.recovery = std::move(*r);
    return {};
  }
}

Result<void> Bus::open_log(detail::BusState& st, const Options& o, bool created) {
  if (o.log_dir.empty()) return {};
  detail::Log::Settings ls;
  ls.dir = bus_log_directory(o.log_dir, st.name);
  ls.sync = o.sync;
  ls.interval = o.group_commit_interval;
  ls.batch_bytes = o.group_commit_bytes;
  ls.segment_size = o.log_segment_size;
  detail::BusState* sp = &st;
  auto log = detail::Log::open(
      ls,
      [sp](std::uint32_t id, bool group) { return group ? sp->dir.group_name_of(id) : sp->dir.name_of(id); },
      [sp](std::span<const detail::Log::Pending> batch, Status s) { sp->durable(batch, s); });
  if (!log) return std::move(log).error();
  st.log = std::move(*log);
  // Recover what the journals hold before the new writer adds to them (its
  // first segment holds nothing yet, so reading it is harmless).
  if (created && o.recover) {
    auto r = recover_into(st, o.on_recovery_progress);
    if (!r) return std::move(r).error();
    st.recovery = std::move(*r);
  }
  if (o.housekeeping_interval.count() < 0) return Error(Errc::invalid_argument, "housekeeping_interval must not be negative");
  return {};
}

Result<void> Bus::remove(std::string_view name) { return Segment::remove(name); }

bool Bus::exists(std::string_view name) {
  {
    InProcessRegistry& reg = in_process_registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    auto it = reg.buses.find(std::string(name));
    if (it != reg.buses.end() && !it->second.expired()) return true;
  }
  return Segment::exists(name);
}

BusSettings Bus::settings() const noexcept {
  const Geometry& g = s_->seg.geometry();
  const SegmentHeader& h = s_->seg.header();
  BusSettings b;
  b.max_endpoints = g.max_endpoints;
  b.lane_capacity = g.lane_capacity;
  b.max_payload = g.max_payload;
  b.max_groups = g.max_groups;
  b.max_group_members = g.max_group_members;
  b.tracker_capacity = g.tracker_capacity;
  b.status_capacity = g.status_capacity;
  b.claim_timeout = std::chrono::nanoseconds(h.claim_timeout_ns);
  b.status_retention = std::chrono::nanoseconds(h.status_retention_ns);
  b.created_ns = h.created_ns;
  b.segment_bytes = g.total_size();
  return b;
}

namespace {
// Populate [at, at + len) of this process's mapping (MADV_POPULATE_WRITE, Linux 5.14+).
void populate(const void* at, std::uint64_t len) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(at) & ~std::uintptr_t{page_size - 1};
  const auto e = reinterpret_cast<std::uintptr_t>(at) + len;
  (void)::madvise(reinterpret_cast<void*>(a), e - a, MADV_POPULATE_WRITE);  // best effort
}
}  // namespace

void Bus::prefault_lane(EndpointId to, std::uint8_t priority, std::uint64_t bytes) const noexcept {
  const std::uint32_t slot = endpoint_slot(to);
  if (to == no_endpoint || slot >= s_->seg.geometry().max_endpoints || priority >= priority_levels) return;
  const LaneView lane = s_->seg.lane(slot, priority);
  populate(lane.data, std::min<std::uint64_t>(lane.capacity, bytes));
}

void Bus::prefault_status_ring(EndpointId sender, std::uint64_t bytes) const noexcept {
  const std::uint32_t slot = endpoint_slot(sender);
  if (sender == no_endpoint || slot >= s_->seg.geometry().max_endpoints) return;
  const LaneView ring = s_->seg.status_lane(slot);
  populate(ring.data, std::min<std::uint64_t>(ring.capacity, bytes));
}

void Bus::retire_all_tracked_for_benchmark() noexcept { s_->tracker.sweep(~0ull); }

// ------------------------------------------------------------ tracked and group sends

ClaimResult Endpoint::wait_for_room(LaneWriter& w, std::uint64_t bytes, LaneClaim& lc,
                                    std::chrono::nanoseconds timeout) noexcept {
  ClaimResult cr = ClaimResult::full;
  const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(timeout.count());
  for (unsigned spins = 0; cr == ClaimResult::full && monotonic_ns() < deadline; ++spins) {
    if (spins < 64) {
      cpu_relax();
    } else {
      timespec ts{0, 20'000};  // room comes when the receiver drains: poll every 20 us
      nanosleep(&ts, nullptr);
    }
    cr = w.try_claim(bytes, lc);
  }
  return cr;
}

bool Endpoint::track(const TrackerKey& key, std::uint8_t role, std::uint32_t dest, std::uint32_t recipients,
                            std::uint64_t now, std::uint64_t expires, std::uint64_t& slot, SendResult& r) noexcept {
  // BusState::same_send recognises the records of this send by this deadline.
  const std::uint64_t base = expires > now ? expires : now;
  const std::uint64_t deadline = base + s_->retention_ns;
  Tracker::InsertResult ins = s_->tracker.insert(key, now, [&](TrackerEntry& e) {
    // Relaxed stores: the tracker's CAS to ready publishes the entry.
    e.dest.store(dest, std::memory_order_relaxed);
    e.role.store(role, std::memory_order_relaxed);
    e.status.store(static_cast<std::uint8_t>(Status::outbox), std::memory_order_relaxed);  // published by the ready CAS
    e.recipients.store(recipients, std::memory_order_relaxed);
    e.delivered.store(0, std::memory_order_relaxed);
    e.read.store(0, std::memory_order_relaxed);
    e.failed.store(0, std::memory_order_relaxed);
    e.deadline_ns.store(deadline, std::memory_order_relaxed);
    e.expires_ns.store(expires, std::memory_order_relaxed);
    e.updated_ns.store(now, std::memory_order_relaxed);
  });
  if (ins.result == Tracker::Insert::inserted) {
    slot = ins.slot;
    return true;
  }
  if (ins.result == Tracker::Insert::duplicate) {
    count(own().duplicates);
    // Acquire: the status the original's sender (or its receivers) published.
    r = {static_cast<Status>(s_->tracker.entry(ins.slot).status.load(std::memory_order_acquire)), key.id, true,
         s_->tracker.entry(ins.slot).recipients.load(std::memory_order_relaxed), 0};
    return false;
  }
  count(own().tracker_full);
  r = {Status::tracker_full, key.id};
  if (on_status_) on_status_(StatusEvent{key.id, no_endpoint, 0, Status::tracker_full, now});
  return false;
}

SendResult Endpoint::commit_logged(Claim& c, std::size_t len) noexcept {
  RecordHeader& h = *c.lc_.header;
  const EndpointId to = h.to;
  const std::uint64_t slot = c.track_;
  detail::Log& log = *s_->log;
  // The record goes to the log from the lane's bytes while the claim is still
  // ours; `sent` is reported when the batch that holds it is durable.
  const detail::Log::Pending p{slot, c.id_, self_, no_endpoint, to, 0};
  if (!log.append_message(h, {c.lc_.payload(), len}, slot != Tracker::no_slot ? &p : nullptr)) {
    abort(c);
    return {Status::log_failed, c.id_};
  }
  // Release: partner of Tracker::replaceable's acquire (a resend after our
  // death must not replace a message that reached the lane or the log).
  const auto prio_bits = static_cast<std::uint16_t>(c.lane_ << tracker_flag::priority_shift);
  if (slot != Tracker::no_slot)
    s_->tracker.entry(slot).flags.fetch_or(tracker_flag::committed | prio_bits, std::memory_order_release);
  const bool ok = c.writer_->commit(c.lc_);
  // in_lane after the commit: a sender killed before it leaves an entry the
  // housekeeper adopts (the forwarder may then bring a second copy, which the
  // receiver drops once the first is acknowledged); set before, the message
  // of a claim stepped over would be lost for good.
  if (ok && slot != Tracker::no_slot)  // release: as above
    s_->tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_release);
  c.lc_ = {};
  c.track_ = Tracker::no_slot;
  if (!ok) {
    // Stepped over before the commit: settle it in the log too, or a recovery would bring it back.
    log.append_settle(logfmt::Kind::expired, logfmt::SettleBody{c.id_, self_, to, fast_realtime_ns()});
    settle(slot, c.id_, to, 0, Status::revoked);
    return {Status::revoked, c.id_};
  }
  inbox_notify(*c.inbox_, c.lane_);
  count_sent();
  if (log.sync() == Sync::always) return {log.flush() ? Status::sent : Status::log_failed, c.id_};
  return {Status::outbox, c.id_};
}

// The send-time outcome of a tracked message (per recipient for groups).
void Endpoint::settle_tracked(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group,
                                     Status st) noexcept {
  s_->tracker.advance(slot, st, fast_realtime_ns());
  if (on_status_) on_status_(StatusEvent{id, recipient, group, st, fast_realtime_ns()});
}

SendResult Endpoint::send_group(const SendOptions& o, std::span<const std::byte> data) noexcept {
  if (o.priority >= priority_levels || o.expiry.count() < 0 || o.timeout.count() < 0) return {Status::invalid_argument, o.id};
  if (data.size() > s_->seg.geometry().max_payload) return {Status::too_large, o.id};
  GroupId gid = o.to.id;
  if (gid == 0) {
    auto it = group_names_.find(o.to.name);
    if (it != group_names_.end()) gid = it->second;
  }
  bool live = gid != 0 && s_->dir.members(gid, members_);
  if (!live && o.to.id == 0) {  // unknown or cached id gone stale: look the name up
    auto g = s_->dir.find_group(o.to.name);
    if (!g) return {Status::invalid_destination, o.id, false, 0, 0};
    gid = *g;
    group_names_[o.to.name] = gid;
    live = s_->dir.members(gid, members_);
  }
  if (!live || members_.empty()) return {Status::invalid_destination, o.id, false, 0, 0};
  const std::uint32_t n = static_cast<std::uint32_t>(members_.size());
  const bool tracked = o.expiry.count() > 0 || o.id != 0;
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t id = o.id != 0 ? o.id : (tracked ? next_id() : 0);
  const std::uint64_t expires = o.expiry.count() > 0 ? now + static_cast<std::uint64_t>(o.expiry.count()) : 0;
  std::uint64_t total = Tracker::no_slot;
  if (tracked) {
    SendResult r;
    if (!track(TrackerKey{self_, id, no_endpoint}, tracker_role::group, gid, n, now, expires, total, r)) {
      r.recipients = n;
      return r;
    }
  }
  std::uint32_t accepted = 0;
  Status first_error = Status::sent;
  detail::Log* const log = tracked && o.expiry.count() > 0 ? s_->log.get() : nullptr;
  for (EndpointId m : members_) {
    std::uint64_t slot = Tracker::no_slot;
    Status st = Status::sent;
    bool had_it = false;  // a member entry of an earlier send of this id outlived its total: the member has its copy
    Target* t = target_by_id(m);
    if (t == nullptr) {
      st = Status::invalid_destination;
    } else if (tracked) {
      SendResult r;
      // A member entry's dest is the slot of its group total: receivers reach the
      // total without a second lookup (checked with Tracker::holds before use).
      if (!track(TrackerKey{self_, id, m}, tracker_role::member, static_cast<std::uint32_t>(total), 1, now, expires,
                 slot, r)) {
        if (r.duplicate) had_it = true;
        else st = Status::tracker_full;
      }
    }
    if (t != nullptr && st == Status::sent && !had_it) {
      InboxData& in = s_->seg.inbox(endpoint_slot(m));
      // Acquire: as in claim() (real-time messages carry the receiver's lease word).
      const std::uint64_t lease = o.expiry.count() == 0 ? in.lease.load(std::memory_order_acquire) : 0;
      LaneWriter& w = t->lanes[o.priority];
      LaneClaim lc;
      ClaimResult cr = ClaimResult::full;
      // A stored copy whose lane is full, or behind spilled ones, waits in the log.
      bool spill_it = log != nullptr && detail::spill_backlog(in, o.priority);
      if (o.expiry.count() == 0 && lease == 0) {
        in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        st = Status::offline;
      } else if (spill_it || ((cr = w.try_claim(record_bytes(data.size()), lc)) == ClaimResult::full && log != nullptr)) {
        RecordHeader h{};
        fill(h, o, id, now, m, gid, data.size(), 0);
        st = spill(h, data, slot, m, in);
      } else if (cr != ClaimResult::ok) {
        if (cr != ClaimResult::revoked) in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        st = cr == ClaimResult::revoked ? Status::revoked : Status::full;
      } else {
        fill(*lc.header, o, id, now, m, gid, data.size(), lease);
        if (!data.empty()) std::memcpy(lc.payload(), data.data(), data.size());
        if (log != nullptr) {  // one record per member copy (recovery puts each back on its own)
          const detail::Log::Pending pm{slot, id, self_, m, m, gid};
          if (!log->append_message(*lc.header, data, slot != Tracker::no_slot ? &pm : nullptr)) {
            w.abort(lc);
            st = Status::log_failed;
          } else if (slot != Tracker::no_slot) {
            // Release: as in commit_logged.
            s_->tracker.entry(slot).flags.fetch_or(
                static_cast<std::uint16_t>(tracker_flag::committed | (o.priority << tracker_flag::priority_shift)),
                std::memory_order_release);
          }
        }
        if (st == Status::sent) {
          if (w.commit(lc)) {
            if (log != nullptr && slot != Tracker::no_slot)  // release: as in commit_logged (after the commit)
              s_->tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_release);
            inbox_notify(in, o.priority);
            count_sent();
          } else {
            st = Status::revoked;
            if (log != nullptr) log->append_settle(logfmt::Kind::expired, logfmt::SettleBody{id, self_, m, fast_realtime_ns()});
          }
        }
      }
    }
    if (st == Status::sent) {
      ++accepted;
    } else {
      if (first_error == Status::sent) first_error = st;
      // seq_cst: against a member's receiver counting its delivery at the same time (settle_total).
      if (total != Tracker::no_slot) s_->tracker.entry(total).failed.fetch_add(1, std::memory_order_seq_cst);
    }
    if (log == nullptr || st != Status::sent) settle(slot, id, m, gid, st);  // logged: `sent` comes with the batch
  }
  Status overall = accepted > 0 ? Status::sent : first_error;
  if (log != nullptr && overall == Status::sent) {
    if (total != Tracker::no_slot) {
      s_->tracker.entry(total).flags.fetch_or(tracker_flag::committed, std::memory_order_release);  // release: as in commit_logged
      log->add_pending(detail::Log::Pending{total, id, self_, no_endpoint, no_endpoint, gid});
    }
    overall = log->sync() == Sync::always ? (log->flush() ? Status::sent : Status::log_failed) : Status::outbox;
  } else {
    settle(total, id, no_endpoint, gid, overall);
  }
  // Members that took their copy may all have reported before the failures
  // above were counted: then it is up to us to complete the total.
  if (total != Tracker::no_slot && accepted > 0 && accepted < n)
    s_->settle_total(self_, id, gid, total, first_error, fast_realtime_ns());
  return {overall, id, false, n, accepted};
}


// ------------------------------------------------------------ statuses

void detail::BusState::post(EndpointId sender, const StatusEvent& e) noexcept {
  const std::uint32_t slot = endpoint_slot(sender);
  if (sender == no_endpoint || slot >= seg.geometry().max_endpoints) return;
  // Acquire: the sender endpoint still exists (a removed one gets no events).
  if (seg.slot(slot).id.load(std::memory_order_acquire) != sender) return;
  if (!post_status(seg.status_lane(slot), sender, e))
    seg.inbox(slot).status_dropped.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

void detail::BusState::durable(std::span<const Log::Pending> batch, Status st) noexcept {
  const std::uint64_t now = fast_realtime_ns();
  for (const Log::Pending& p : batch) {
    // The slot may have retired and been reused since the send: check the key.
    if (!tracker.holds(p.slot, TrackerKey{p.sender, p.id, p.key_recipient})) continue;
    if (tracker.advance(p.slot, st, now)) post(p.sender, StatusEvent{p.id, p.recipient, p.group, st, now});
  }
}

bool detail::BusState::report(const RecordHeader& h, EndpointId recipient, Status status) noexcept {
  if (h.id == 0) return false;
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t slot = tracker.find(TrackerKey{h.from, h.id, h.group != 0 ? recipient : no_endpoint});
  // Unknown, retired, made by another send of this id, or already there.
  if (slot == Tracker::no_slot || !same_send(tracker.entry(slot), h) || !tracker.advance(slot, status, now)) return false;
  if (logged(h)) {
    // delivered / read, or settled without delivery (expired, destination removed, ...): no longer owed.
    const logfmt::Kind k = status == Status::delivered ? logfmt::Kind::delivered
                           : status == Status::read    ? logfmt::Kind::read
                                                       : logfmt::Kind::expired;
    log->append_settle(k, logfmt::SettleBody{h.id, h.from, recipient, now});
  }
  post(h.from, StatusEvent{h.id, recipient, h.group, status, now});
  if (h.group == 0) return true;
  // The group total: count this member, and move the total when every member got there.
  const TrackerKey total_key{h.from, h.id, no_endpoint};
  // Relaxed: the member entry was published (and acquired by find) before.
  const std::uint64_t hint = tracker.entry(slot).dest.load(std::memory_order_relaxed);
  const std::uint64_t total = tracker.holds(hint, total_key) ? hint : tracker.find(total_key);
  if (total == Tracker::no_slot || !same_send(tracker.entry(total), h)) return true;
  TrackerEntry& t = tracker.entry(total);
  // seq_cst: two members settling at once bump different counters, then read
  // them all (settle_total): store->load on both sides, so at least one of
  // them sees both counts.
  if (status == Status::read) {
    t.read.fetch_add(1, std::memory_order_seq_cst);
  } else if (status == Status::delivered) {
    t.delivered.fetch_add(1, std::memory_order_seq_cst);
  } else {
    t.failed.fetch_add(1, std::memory_order_seq_cst);
  }
  settle_total(h.from, h.id, h.group, total, status, now);
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
    if (status_rank(last) >= 4 && tracker.advance(total, last, now))
      post(sender, StatusEvent{id, no_endpoint, group, last, now});
    return;
  }
  if (delivered > 0 && delivered + failed >= n && tracker.advance(total, Status::delivered, now))
    post(sender, StatusEvent{id, no_endpoint, group, Status::delivered, now});
  if (read > 0 && read + failed >= n && tracker.advance(total, Status::read, now))
    post(sender, StatusEvent{id, no_endpoint, group, Status::read, now});
}

Result<StatusReport> Bus::status_of(const detail::BusState& s, EndpointId sender, std::uint64_t id) {
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
  if (e.role.load(std::memory_order_relaxed) == tracker_role::group) {
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
    r.failed = status_rank(r.status) >= 4;
  }
  return r;
}

Result<StatusReport> Bus::status(std::string_view sender, std::uint64_t id) const {
  auto from = s_->dir.find(sender);
  if (!from) return std::move(from).error();
  return status_of(*s_, *from, id);
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
  std::size_t n = 0;
  StatusEvent e;
  while (status_->reader.next(e)) {
    ++n;
    if (f) f(e);
    else if (on_status_) on_status_(e);
  }
  return n;
}

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
  if (s_->log) st->forwarder = std::make_unique<Receiver::Forwarder>();
  st->reader.on_drop(
      [](void* ctx, const RecordHeader& h, Status why) {
        static_cast<detail::BusState*>(ctx)->report(h, h.to, why);
      },
      s_.get());
  return Receiver(std::move(st));
}

Result<void> Bus::add_member(std::string_view group, std::string_view endpoint) {
  const std::string where = "adding '" + std::string(endpoint) + "' to group '" + std::string(group) + "'";
  auto g = s_->dir.find_group(group);
  if (!g) return std::move(g).error().with_context(where);
  auto e = s_->dir.add(endpoint, true);
  if (!e) return std::move(e).error().with_context(where);
  auto r = s_->dir.add_member(*g, *e);
  if (!r) return std::move(r).error().with_context(where);
  return {};
}

Result<void> Bus::remove_member(std::string_view group, std::string_view endpoint) {
  const std::string where = "removing '" + std::string(endpoint) + "' from group '" + std::string(group) + "'";
  auto g = s_->dir.find_group(group);
  if (!g) return std::move(g).error().with_context(where);
  auto e = s_->dir.find(endpoint);
  if (!e) return std::move(e).error().with_context(where);
  auto r = s_->dir.remove_member(*g, *e);
  if (!r) return std::move(r).error().with_context(where);
  return {};
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

// Visit the committed records waiting in a lane, read-only (no lease needed):
// f(header copy). Every field is read with relaxed atomic loads and the frame
// is re-checked afterwards, so a record consumed and overwritten meanwhile is
// not reported.
template <class F>
void walk_lane(const LaneView& v, F&& f) noexcept {
  // Acquire: partner of the receiver's release of head and producers' commits.
  std::uint64_t h = v.ctl->head.load(std::memory_order_acquire);
  const std::uint64_t t = v.ctl->tail.load(std::memory_order_acquire);
  if (t < h || t - h > v.capacity || h % record_unit != 0) return;
  while (h < t) {
    const std::uint64_t f0 = v.frame_at(h).load(std::memory_order_acquire);
    const std::uint64_t units = frame::units(f0);
    if (!frame::belongs_to(f0, h) || units == 0 || (h & v.mask()) + units * record_unit > v.capacity) {
      h += record_unit;
      continue;
    }
    if (frame::state(f0) == frame::committed) {
      RecordHeader c{};
      auto* raw = reinterpret_cast<std::uint64_t*>(v.header_at(h));
      auto* out = reinterpret_cast<std::uint64_t*>(&c);
      for (unsigned i = 1; i < sizeof(RecordHeader) / 8; ++i)
        out[i] = std::atomic_ref<std::uint64_t>(raw[i]).load(std::memory_order_relaxed);  // relaxed: checked below
      // Acquire: the record is still the one we read (not consumed and reused).
      if (v.frame_at(h).load(std::memory_order_acquire) == f0 && v.ctl->head.load(std::memory_order_acquire) <= h) f(c);
    }
    h += units * record_unit;
  }
}

}  // namespace

Result<void> Bus::remove_endpoint(std::string_view name) {
  auto id = s_->dir.find(name);
  auto r = s_->dir.remove(name);
  if (!r) return r;
  if (id) {
    const std::uint32_t slot = endpoint_slot(*id);
    for (unsigned p = 0; p < priority_levels; ++p)
      walk_lane(s_->seg.lane(slot, p), [&](const RecordHeader& h) {
        if (h.id != 0 && h.to == *id) s_->report(h, *id, Status::invalid_destination);
      });
  }
  return {};
}

SweepResult Bus::sweep() { return sweep_state(*s_); }

SweepResult Bus::sweep_state(detail::BusState& st) {
  SweepResult r;
  const std::uint64_t now = realtime_ns();
  for (const EndpointEntry& e : st.dir.list()) {
    const std::uint32_t slot = endpoint_slot(e.id);
    for (unsigned p = 0; p < priority_levels; ++p)
      walk_lane(st.seg.lane(slot, p), [&](const RecordHeader& h) {
        if (h.id == 0 || h.expires_ns == 0 || now < h.expires_ns) return;
        // Counted when it changed the status: not when delivered already (a
        // receiver holds it), settled, retired, or the id was sent again since.
        if (st.report(h, h.to, Status::expired)) ++r.expired;
      });
  }
  if (st.log) r.expired_stored = detail::sweep_spilled(st, now);
  r.retired = st.tracker.sweep(now);
  return r;
}

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
    es.delivered = in.delivered.load(std::memory_order_relaxed);
    es.read = in.read.load(std::memory_order_relaxed);
    es.sent = in.sent.load(std::memory_order_relaxed);
    es.duplicates = in.duplicates.load(std::memory_order_relaxed);
    es.tracker_full = in.tracker_full.load(std::memory_order_relaxed);
    es.status_dropped = in.status_dropped.load(std::memory_order_relaxed);
    s.endpoints.push_back(std::move(es));
  }
  s.groups = s_->dir.list_groups();
  s.tracker = s_->tracker.usage();
  s.in_process = s_->in_process;
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

bool Receiver::acknowledged_before(const RecordHeader& lane_header) const noexcept {
  RecordHeader h;
  std::memcpy(&h, &lane_header, sizeof h);  // the record is ours while in hand; a copy keeps the checks on one value
  const detail::BusState& s = *st_->bus;
  const std::uint64_t slot = s.tracker.find(TrackerKey{h.from, h.id, h.group != 0 ? st_->self : no_endpoint});
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
