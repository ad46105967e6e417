// courier/detail/endpoint_inline.hpp — the inline bodies of Endpoint's send
// path: the destination lookup, claim() and commit(). courier/endpoint.hpp
// declares them and includes this file at its end; include that header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "courier/endpoint.hpp"

namespace courier {

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

template <Endpoint::Track T>
inline SendResult Endpoint::claim(const SendOptions& o, std::size_t len, Claim& c, SpillRoute* spill) noexcept {
  c.lc_ = {};
  c.track_ = Tracker::no_slot;
  c.logged_ = false;
  if (o.priority >= priority_levels || o.expiry.count() < 0 || o.timeout.count() < 0)
    return {Status::invalid_argument, o.id};
  if (o.to.is_group) return {Status::invalid_argument, o.id};  // zero-copy goes to one endpoint; groups use send()
  if (len > s_->seg.geometry().max_payload) return {Status::too_large, o.id};
  Target* t = target(o.to);
  if (t == nullptr) return {s_->removed() ? Status::removed : Status::invalid_destination, o.id};
  InboxData& in = s_->seg.inbox(endpoint_slot(t->id));
  // T == no: expiry 0 and id 0, so `stored` and `tracked` are false at compile time.
  const bool stored = T != Track::no && o.expiry.count() > 0;
  const bool tracked = T == Track::unknown ? stored || o.id != 0 : T == Track::yes;
  // A removed bus: a tracked send looks every time (a relaxed load beside its
  // ~180 ns); a real-time one finds the lease Bus::remove cleared (below).
  if (tracked && s_->removed()) return {Status::removed, o.id};
  const std::uint64_t now = fast_realtime_ns();
  const std::uint64_t id = T == Track::no ? 0 : o.id != 0 ? o.id : (tracked ? next_id() : 0);
  std::uint64_t slot = Tracker::no_slot;
  const bool logged = tracked && stored && s_->log != nullptr;
  // send() of a message not logged: every way out below settles it, and the
  // follower is told of it then, with its outcome (one append, no lookup).
  const bool first = T == Track::yes && !logged;
  if (tracked) {
    SendResult r;
    const std::uint64_t expires = stored ? now + static_cast<std::uint64_t>(o.expiry.count()) : 0;
    if (!track(TrackerKey{self_, id, no_endpoint}, tracker_role::endpoint, t->id, 1, now, expires, slot, r, !first,
               no_endpoint, o.id == 0))
      return r;
  }
  // Acquire: pairs with the receiver's lease CAS; real-time messages need one.
  // Real-time messages carry the lease word they were sent to: a receiver that
  // takes over from a dead one drops them (no clock involved).
  const std::uint64_t lease = !stored ? in.lease.load(std::memory_order_acquire) : 0;
  if (!stored && lease == 0) {
    const Status st = s_->removed() ? Status::removed : Status::offline;
    if (st == Status::offline) in.offline.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    settle(slot, id, t->id, 0, st, 0, first);
    return {st, id};
  }
  LaneWriter& w = t->lanes[o.priority];
  const std::uint64_t bytes = record_bytes(len);
  const bool spillable = spill != nullptr && stored;
  // Behind spilled messages of this lane: spill too, to keep the order.
  if (spillable && detail::spill_waits(*s_, in, t->id, o.priority))
    return route_to_log(*spill, c, slot, id, in, o.priority, t->id, now);
  ClaimResult cr = w.try_claim(bytes, c.lc_);
  if (cr == ClaimResult::full && o.timeout.count() > 0 && !spillable) cr = wait_for_room(w, bytes, c.lc_, o.timeout);
  if (cr == ClaimResult::full && spillable) return route_to_log(*spill, c, slot, id, in, o.priority, t->id, now);
  if (cr != ClaimResult::ok) {
    const Status st = cr == ClaimResult::revoked ? Status::revoked : s_->removed() ? Status::removed : Status::full;
    if (st == Status::full) in.full.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    settle(slot, id, t->id, 0, st, 0, first);
    return {st, id};
  }
  fill(*c.lc_.header, o, id, now, t->id, 0, len, lease);
  c.writer_ = &w;
  c.inbox_ = &in;
  c.capacity_ = len;
  c.id_ = id;
  c.lane_ = o.priority;
  c.track_ = slot;
  c.logged_ = logged;
  return {Status::sent, id};
}

template <Endpoint::Track T>
inline SendResult Endpoint::commit(Claim& c, std::size_t len, bool stamped, bool new_id) noexcept {
  if (!c.active()) return {Status::invalid_argument, c.id_};
  if (len > c.capacity_) {
    abort(c);
    return {Status::too_large, c.id_};
  }
  c.lc_.header->payload_len = static_cast<std::uint32_t>(len);
  if (T != Track::no && c.logged_) return commit_logged(c, len);
  const EndpointId to = c.lc_.header->to;
  // Read while the record is still ours (before the commit): untracked sends skip it.
  // T == yes: claim() tracked it (c.track_ is its slot).
  const std::uint64_t sent_ns =
      T != Track::no && stamped && (T == Track::yes || c.track_ != Tracker::no_slot) ? c.lc_.header->timestamp_ns : 0;
  // send() of a bus-assigned id (its claim held for one copy; the id known to
  // no one, so no resend of it after a crash here can meet this entry): the
  // entry says `sent` before the commit, with no CAS (sent_before_commit).
  const bool sent_before = T == Track::yes && new_id;
  if (sent_before) sent_before_commit(s_->tracker.entry(c.track_), sent_ns);
  const bool ok = c.writer_->commit(c.lc_);
  c.lc_ = {};
  const std::uint64_t slot = T == Track::no ? Tracker::no_slot : c.track_;
  c.track_ = Tracker::no_slot;
  // T == yes: claim() tracked it with note = false (a logged claim went to commit_logged above).
  if (!ok) {
    settle(slot, c.id_, to, 0, Status::revoked, 0, T == Track::yes);
    return {Status::revoked, c.id_};
  }
  inbox_notify(*c.inbox_, c.lane_);
  count_sent();
  if (sent_before)
    tell_settled(slot, c.id_, to, 0, Status::sent, sent_ns, true);
  else if (T == Track::yes)
    settle_tracked(slot, c.id_, to, 0, Status::sent, sent_ns, true);
  else
    settle(slot, c.id_, to, 0, Status::sent, sent_ns);
  return {Status::sent, c.id_};
}

}  // namespace courier
