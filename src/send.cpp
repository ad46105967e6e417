// Sends that leave the inline path: waiting for room, tracked sends (the
// tracker entry, its settlement), a logged commit, and group fan-out.
#include <ctime>

#include "courier/bus.hpp"
#include "courier/detail/log.hpp"
#include "courier/detail/spill.hpp"

namespace courier {

namespace {
// A send waiting for room spins this many times, then looks every room_poll_ns
// (room comes when the receiver drains).
constexpr unsigned room_spins = 64;
constexpr long room_poll_ns = 20'000;  // 20 us

// The pause points (tests: COURIER_TEST_PAUSE_AT) of a stored copy's commit;
// nullptr: none there.
struct HeldPoints {
  const char* appended;
  const char* committed;
  const char* lane_committed;
};

// A stored copy's commit under one hold of the log's mutex (docs/design.md,
// "A logged send locks the log once"): its record buffered (h and payload:
// the claimed record's), its tracker entry (`slot`; none: untracked) marked
// committed with its priority, the lane commit, in_lane, the receiver's
// wake-up and its pending `p`, so the batch that takes the record takes the
// pending, after the lane took the message. log_failed: the log did not take
// the record (the claim is still open: the caller aborts it); revoked: the
// lane's reader stepped over the claim (its record is in the log: the caller
// settles it there). The hold is released when this returns; the pause
// points run outside it, so a stopped sender's flusher writes batches.
Status commit_held(detail::Log& log, Tracker& tracker, LaneWriter& w, const LaneClaim& lc, const RecordHeader& h,
                   std::span<const std::byte> payload, std::uint64_t slot, unsigned priority, InboxData& in,
                   const detail::Log::Pending& p, const HeldPoints& at) noexcept {
  const auto pause = [](detail::Log::Hold& hold, const char* point) {
    if (point != nullptr && detail::pause_at != nullptr) [[unlikely]]
      hold.unlocked([point] { detail::pause_here(point); });
  };
  detail::Log::Hold hold(log);
  if (!hold.append_message(h, payload)) return Status::log_failed;
  pause(hold, at.appended);
  // Release: partner of Tracker::replaceable's acquire (a resend after our
  // death must not replace a message that reached the lane or the log).
  if (slot != Tracker::no_slot)
    tracker.entry(slot).flags.fetch_or(
        static_cast<std::uint16_t>(tracker_flag::committed | (priority << tracker_flag::priority_shift)),
        std::memory_order_release);
  pause(hold, at.committed);
  if (!w.commit(lc)) return Status::revoked;
  // in_lane after the commit: a sender killed before it leaves an outbox
  // entry, never said sent (its message is in the lane, or was stepped over
  // and a reboot's recovery brings it back from the log); set before, the
  // message of a claim stepped over would be lost for good.
  if (slot != Tracker::no_slot)  // release: as above
    tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_release);
  // The wake-up first: a sender killed between its commit and inbox_notify
  // leaves a record that only the receiver's next tidy finds, so the window
  // stays a few instructions.
  pause(hold, at.lane_committed);
  inbox_notify(in, priority);
  if (slot != Tracker::no_slot) hold.add_pending(p);
  return Status::sent;
}
}  // namespace

ClaimResult Endpoint::wait_for_room(LaneWriter& w, std::uint64_t bytes, LaneClaim& lc,
                                    std::chrono::nanoseconds timeout) noexcept {
  ClaimResult cr = ClaimResult::full;
  const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(timeout.count());
  for (unsigned spins = 0; cr == ClaimResult::full && monotonic_ns() < deadline; ++spins) {
    if (spins < room_spins) {
      cpu_relax();
    } else {
      timespec ts{0, room_poll_ns};
      nanosleep(&ts, nullptr);
    }
    cr = w.try_claim(bytes, lc);
  }
  return cr;
}

bool Endpoint::track(const TrackerKey& key, std::uint8_t role, std::uint32_t dest, std::uint16_t recipients,
                     std::uint64_t now, std::uint64_t expires, std::uint64_t& slot, SendResult& r, bool note,
                     EndpointId member, bool new_key) noexcept {
  // BusState::same_send recognises the records of this send by this deadline. A following handle marks its
  // entries with its token (detail/status_follow.hpp: how its poll knows them).
  const EntryInit init{role,    dest,       Status::outbox,
                       0,       recipients, s_->deadline(expires, now),
                       expires, now,        follow_ ? follow_->token() : std::uint16_t{0},
                       member};
  // The placement warm_entry saw for this key (a hint: Tracker::Placement), else none.
  const std::uint64_t k = key.id - warm_.at_id;  // wraps to a huge value below at_id
  const Tracker::Placement at = k < warm_batch && warm_.at_id != 0 && key.recipient == no_endpoint
                                    ? warm_.at[k]
                                    : Tracker::Placement{Tracker::hash(key), 0};
  const auto fill = [&](TrackerEntry& e) { init_entry(e, init); };
  Tracker::InsertResult ins =
      new_key ? s_->tracker.insert_new(key, at, now, fill) : s_->tracker.insert(key, at, now, fill);
  if (ins.result == Tracker::Insert::inserted) {
    slot = ins.slot;
    if (follow_ && note) follow_->note_tracked(slot, key, role, dest, member);  // status following (status_follow.hpp)
    // Ids in sequence (bus-assigned, or explicit ones each the last one + 1):
    // this handle's next tracked sends are likely key.id + 1, + 2, ... Their
    // lines are warmed a batch ahead (warm_ahead), while this batch's sends
    // run. A group member's next keys are warmed one send ahead
    // (warm_member); only a message's (recipient 0: one endpoint, or a
    // group's total) are kept: a group send makes many. Ids out of sequence
    // (random explicit ones) cost a compare and warm nothing.
    if (key.recipient == no_endpoint) [[likely]] {
      in_sequence_ = key.id + 1 == id_next_ || key.id == last_tracked_ + 1;
      last_tracked_ = key.id;
      if (in_sequence_ && (key.id + 1 - warm_.at_id >= warm_batch || warm_.at_id == 0)) warm_ahead(key.id + 1);
    } else if (in_sequence_ && key.id == last_tracked_) {
      warm_member(key.recipient, key.id + 1);
    }
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

// The next warm_batch ids (`first` on) get their placements, from the tag
// lines asked for a batch ago when those were theirs (warm_entry reads the
// tags and asks for the entry line each insert will claim), and the batch
// after them has its tag lines asked for. Each key's hash is made once. The
// prefetches of a batch are issued together: on this project's benchmark
// machine a prefetch that misses the TLB holds up the instructions after it
// until its page walk ends, so prefetches spread over a send's work would
// walk one at a time (docs/design.md, "Recovery asks for its tracker lines a
// batch at a time"; "A tracked send warms its next keys a batch at a time").
// The placements are hints (a key's hash is that of {self_, id}, whatever
// block the id comes from), so no id bound is needed.
void Endpoint::warm_ahead(std::uint64_t first) noexcept {
  if (warm_.tags_id == first) {
    for (unsigned i = 0; i < warm_batch; ++i) warm_.at[i] = s_->tracker.warm_entry(warm_.hv[i]);
  } else {
    for (unsigned i = 0; i < warm_batch; ++i)
      warm_.at[i] = Tracker::Placement{Tracker::hash(TrackerKey{self_, first + i, no_endpoint}), 0};
  }
  warm_.at_id = first;
  warm_.tags_id = first + warm_batch;
  for (unsigned i = 0; i < warm_batch; ++i)
    warm_.hv[i] = Tracker::hash(TrackerKey{self_, warm_.tags_id + i, no_endpoint});
  for (unsigned i = 0; i < warm_batch; ++i) s_->tracker.warm_tags(warm_.hv[i]);
}

void Endpoint::warm_member(EndpointId m, std::uint64_t next) noexcept {
  (void)s_->tracker.warm_entry(Tracker::hash(TrackerKey{self_, next, m}));
  s_->tracker.warm_tags(Tracker::hash(TrackerKey{self_, next + 1, m}));
}

SendResult Endpoint::commit_logged(Claim& c, std::size_t len) noexcept {
  const RecordHeader& h = *c.lc_.header;
  const EndpointId to = h.to;
  const std::uint64_t slot = c.track_;
  detail::Log& log = *s_->log;
  // The record goes to the log from the lane's bytes while the claim is still
  // ours; `sent` is reported with the first batch written after the lane took
  // it: a claim stepped over meanwhile is revoked, never said sent
  // (docs/design.md, "The crash matrix's drain").
  const Status st = commit_held(log, s_->tracker, *c.writer_, c.lc_, h, {c.lc_.payload(), len}, slot, c.lane_,
                                *c.inbox_, detail::Log::Pending{slot, c.id_, self_, no_endpoint, to, 0},
                                {"logged-appended", "logged-committed", "logged-lane-committed"});
  if (st == Status::log_failed) {
    // The log could not take the record: the claim is given up (the message
    // is never delivered) and the entry kept, settled log_failed, which frees
    // the id for a resend (docs/design.md, "No wedged ids").
    c.track_ = Tracker::no_slot;  // abort() would free the entry: it stays, as log_failed
    abort(c);
    settle(slot, c.id_, to, 0, Status::log_failed);
    return {Status::log_failed, c.id_};
  }
  c.lc_ = {};
  c.track_ = Tracker::no_slot;
  if (st == Status::revoked) {
    // Stepped over before the commit: settle it in the log too, or a recovery would bring it back.
    // A failure is kept in the log's last error; the send's own record failing is what reports log_failed.
    (void)log.append_settle(logfmt::Kind::expired, logfmt::SettleBody{c.id_, self_, to, fast_realtime_ns()});
    settle(slot, c.id_, to, 0, Status::revoked);
    return {Status::revoked, c.id_};
  }
  count_sent();
  // Sync::always: a failed sync leaves it outbox, in its lane: delivered, not
  // durable (log_error() says why); log_failed is only for a message never delivered.
  if (log.sync() == Sync::always) return {s_->after_sync(static_cast<bool>(log.flush())), c.id_};
  return {Status::outbox, c.id_};
}

// The send-time outcome of a tracked message (per recipient for groups).
void Endpoint::settle_tracked(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st,
                              std::uint64_t now, bool first) noexcept {
  if (now == 0) now = fast_realtime_ns();  // one read: the change and its event have one time
  s_->tracker.advance(slot, st, now);
  tell_settled(slot, id, recipient, group, st, now, first);
}

void Endpoint::tell_settled(std::uint64_t slot, std::uint64_t id, EndpointId recipient, GroupId group, Status st,
                            std::uint64_t now, bool first) noexcept {
  const bool told = static_cast<bool>(on_status_);  // the callback is given it (read once: it may replace itself)
  if (told) on_status_(StatusEvent{id, recipient, group, st, now});
  if (!follow_) return;
  if (first)  // tracked without a note (claim() for send()): one to one, group 0, dest `recipient`
    follow_->note_sent(slot, id, recipient, st, told);
  else
    follow_->note_outcome(slot, id, st, told);
}

SendResult Endpoint::send_group(const SendOptions& o, std::span<const std::byte> data) noexcept {
  if (o.priority >= priority_levels || o.expiry.count() < 0 || o.timeout.count() < 0)
    return {Status::invalid_argument, o.id};
  if (data.size() > s_->seg.geometry().max_payload) return {Status::too_large, o.id};
  if (s_->removed()) return {Status::removed, o.id};  // docs/design.md, "Safe removal"
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
  // One member, tracked, not stored: one tracker entry (docs/design.md, "A
  // 1-member group in one tracker entry"). A stored one keeps its member
  // entry: its record, spill and recovery are the member's.
  if (tracked && n == 1 && (o.expiry.count() == 0 || !s_->log))
    return send_group_one(o, data, gid, members_[0], id, now, expires);
  std::uint64_t total = Tracker::no_slot;
  if (tracked) {
    SendResult r;
    // n <= max_group_members <= max_group_members_limit (check_geometry; Directory::members clamps): fits 16 bits.
    if (!track(TrackerKey{self_, id, no_endpoint}, tracker_role::group, gid, static_cast<std::uint16_t>(n), now,
               expires, total, r, true, no_endpoint, o.id == 0)) {
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
                 slot, r, true, no_endpoint, o.id == 0)) {
        if (r.duplicate)
          had_it = true;
        else
          st = Status::tracker_full;
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
      bool spill_it = log != nullptr && detail::spill_waits(*s_, in, m, o.priority);
      if (o.expiry.count() == 0 && lease == 0) {
        in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        st = Status::offline;
      } else if (spill_it ||
                 ((cr = w.try_claim(record_bytes(data.size()), lc)) == ClaimResult::full && log != nullptr)) {
        RecordHeader h{};
        fill(h, o, id, now, m, gid, data.size(), 0);
        st = spill(h, data, slot, m);
      } else if (cr != ClaimResult::ok) {
        if (cr != ClaimResult::revoked) in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        st = cr == ClaimResult::revoked ? Status::revoked : Status::full;
      } else {
        fill(*lc.header, o, id, now, m, gid, data.size(), lease);
        if (!data.empty()) std::memcpy(lc.payload(), data.data(), data.size());
        if (log != nullptr) {
          // One record per member copy (recovery puts each back on its own);
          // its `sent` as in commit_logged: with the batch that takes the
          // record, after its lane commit (a claim stepped over is never said sent).
          st = commit_held(*log, s_->tracker, w, lc, *lc.header, data, slot, o.priority, in,
                           detail::Log::Pending{slot, id, self_, m, m, gid},
                           {nullptr, "group-committed", "group-lane-committed"});
          if (st == Status::log_failed)
            w.abort(lc);
          else if (st == Status::revoked)
            (void)log->append_settle(logfmt::Kind::expired, logfmt::SettleBody{id, self_, m, fast_realtime_ns()});
          else
            count_sent();
        } else if (w.commit(lc)) {
          inbox_notify(in, o.priority);
          count_sent();
        } else {
          st = Status::revoked;
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
    if (log == nullptr || st != Status::sent) settle(slot, id, m, gid, st, now);  // logged: `sent` comes with the batch
  }
  Status overall = accepted > 0 ? Status::sent : first_error;
  if (log != nullptr && overall == Status::sent) {
    if (total != Tracker::no_slot) {
      s_->tracker.entry(total).flags.fetch_or(tracker_flag::committed,
                                              std::memory_order_release);  // release: as in commit_logged
      log->add_pending(detail::Log::Pending{total, id, self_, no_endpoint, no_endpoint, gid});
    }
    // Its copies are in their lanes: a failed sync leaves it outbox (delivered, not durable; log_error() says why).
    overall = log->sync() == Sync::always ? s_->after_sync(static_cast<bool>(log->flush())) : Status::outbox;
  } else {
    settle(total, id, no_endpoint, gid, overall, now);
  }
  // Members that took their copy may all have reported before the failures
  // above were counted: then it is up to us to complete the total.
  if (total != Tracker::no_slot && accepted > 0 && accepted < n)
    s_->settle_total(self_, id, gid, total, first_error, fast_realtime_ns());
  return {overall, id, false, n, accepted};
}

SendResult Endpoint::send_group_one(const SendOptions& o, std::span<const std::byte> data, GroupId gid, EndpointId m,
                                    std::uint64_t id, std::uint64_t now, std::uint64_t expires) noexcept {
  std::uint64_t slot = Tracker::no_slot;
  SendResult r;
  if (!track(TrackerKey{self_, id, no_endpoint}, tracker_role::group_one, gid, 1, now, expires, slot, r, true, m,
             o.id == 0)) {
    r.recipients = 1;
    return r;
  }
  Status st = Status::sent;
  Target* t = target_by_id(m);
  if (t == nullptr) {
    st = Status::invalid_destination;
  } else {
    InboxData& in = s_->seg.inbox(endpoint_slot(m));
    // Acquire: as in claim() (real-time messages carry the receiver's lease word).
    const std::uint64_t lease = o.expiry.count() == 0 ? in.lease.load(std::memory_order_acquire) : 0;
    LaneWriter& w = t->lanes[o.priority];
    LaneClaim lc;
    ClaimResult cr = ClaimResult::full;
    if (o.expiry.count() == 0 && lease == 0) {
      in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      st = Status::offline;
    } else if ((cr = w.try_claim(record_bytes(data.size()), lc)) != ClaimResult::ok) {
      if (cr != ClaimResult::revoked) in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      st = cr == ClaimResult::revoked ? Status::revoked : Status::full;
    } else {
      fill(*lc.header, o, id, now, m, gid, data.size(), lease);
      lc.header->flags = record_flag::one_member;  // its receiver reports to this entry (key_of)
      if (!data.empty()) std::memcpy(lc.payload(), data.data(), data.size());
      // A bus-assigned id: `sent` before the commit, no CAS after it (sent_before_commit).
      if (o.id == 0) sent_before_commit(s_->tracker.entry(slot), now);
      if (w.commit(lc)) {
        inbox_notify(in, o.priority);
        count_sent();
      } else {
        st = Status::revoked;
      }
    }
  }
  // The member's outcome and the total's, which is the same for one member
  // (a bus-assigned id's `sent` is in the entry already).
  if (o.id != 0 || st != Status::sent) s_->tracker.advance(slot, st, now);
  const bool told = static_cast<bool>(on_status_);  // read once: the callback may replace itself
  if (told) {
    on_status_(StatusEvent{id, m, gid, st, now});
    if (on_status_) on_status_(StatusEvent{id, no_endpoint, gid, st, now});
  }
  if (follow_) follow_->note_outcome(slot, id, st, told);
  return {st, id, false, 1, st == Status::sent ? 1u : 0u};
}

}  // namespace courier
