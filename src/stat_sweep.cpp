// What a bus says about itself (stat, settings), the sweep of expired
// messages, and the benchmark hooks.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include "courier/bus.hpp"
#include "courier/detail/lane_inspect.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/detail/spill.hpp"

namespace courier {

// A removed bus is not swept: its statuses and journal records are the
// removed memory's (docs/design.md, "Safe removal": what keeps answering).
SweepResult Bus::sweep() { return s_->removed() ? SweepResult{} : detail::sweep(*s_); }

SweepResult detail::sweep(BusState& st) {
  SweepResult r;
  const std::uint64_t now = realtime_ns();
  for (const EndpointEntry& e : st.dir.list()) {
    const std::uint32_t slot = endpoint_slot(e.id);
    if (slot >= st.seg.geometry().max_endpoints) continue;  // list() gives none such; the segment is shared
    for (unsigned p = 0; p < priority_levels; ++p)
      detail::walk_lane(st.seg.lane(slot, p), [&](const RecordHeader& h) {
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
  s.fixed_bytes = detail::fixed_bytes(s_->seg.geometry());
  if (s_->seg.file() >= 0) {
    if (auto fs = detail::fs_space(s_->seg.file()); fs) {
      s.shm_total_bytes = fs->total;
      s.shm_free_bytes = fs->free;
    }
  }
  s.created_ns = s_->seg.header().created_ns;
  // Relaxed: a snapshot, as the counters below (the remover stores it seq_cst).
  s.removed_ns = s_->seg.header().removed.load(std::memory_order_relaxed);
  s.removed = s.removed_ns != 0;
  for (const EndpointEntry& e : s_->dir.list()) {
    EndpointStats es;
    es.name = e.name;
    es.id = e.id;
    const std::uint32_t slot = endpoint_slot(e.id);
    if (slot >= s_->seg.geometry().max_endpoints) continue;  // list() gives none such; the segment is shared
    const InboxData& in = s_->seg.inbox(slot);
    // Relaxed loads below: a snapshot of statistics, not a synchronisation.
    const std::uint64_t lease = in.lease.load(std::memory_order_relaxed);
    es.receiver_attached = lease != 0 && lease_holder_alive(lease);
    es.receiver_pid = es.receiver_attached ? lease_pid(lease) : 0;
    es.stale_lease_pid = lease != 0 && !es.receiver_attached ? lease_pid(lease) : 0;
    for (unsigned p = 0; p < priority_levels; ++p) {
      es.waiting[p] = detail::lane_waiting(s_->seg.lane(slot, p));
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

namespace {
// The waiting record at `h` (frame word f0) with up to `head_bytes` of its
// payload, or nothing when its length is impossible or it was consumed while
// we copied it. Every word is read with a relaxed atomic load; the frame and
// head are checked afterwards.
std::optional<WaitingMessage> copy_waiting(const LaneView& v, std::uint64_t h, std::uint64_t f0,
                                           std::size_t head_bytes) {
  const std::uint64_t room = frame::units(f0) * record_unit - sizeof(RecordHeader);  // for_each_committed checked it
  auto* raw = reinterpret_cast<std::uint64_t*>(v.header_at(h));
  std::uint64_t words[sizeof(RecordHeader) / 8];
  for (unsigned i = 0; i < sizeof(RecordHeader) / 8; ++i)
    words[i] = std::atomic_ref<std::uint64_t>(raw[i]).load(std::memory_order_relaxed);  // relaxed: checked below
  RecordHeader c{};
  std::memcpy(&c, words, sizeof c);
  if (c.payload_len > room) return std::nullopt;
  const std::size_t head = std::min<std::size_t>(c.payload_len, head_bytes);
  std::string bytes((head + 7) / 8 * 8, '\0');  // whole words: the record is 64-byte aligned and holds them
  for (std::size_t i = 0; i < bytes.size() / 8; ++i) {
    const std::uint64_t w = std::atomic_ref<std::uint64_t>(raw[sizeof(RecordHeader) / 8 + i])
                                .load(std::memory_order_relaxed);  // relaxed: checked below
    std::memcpy(bytes.data() + i * 8, &w, 8);
  }
  // Acquire: the record is still the one we read (not consumed and reused).
  if (v.frame_at(h).load(std::memory_order_acquire) != f0 || v.ctl->head.load(std::memory_order_acquire) > h)
    return std::nullopt;
  bytes.resize(head);
  return WaitingMessage{c.id,   c.from,         c.group,      c.priority,    c.flags,
                        c.type, c.timestamp_ns, c.expires_ns, c.payload_len, std::move(bytes)};
}
}  // namespace

Result<std::vector<WaitingMessage>> Bus::peek(std::string_view endpoint, std::size_t limit,
                                              std::size_t head_bytes) const {
  auto id = find_endpoint(endpoint);
  if (!id) return id.error();
  const std::uint32_t slot = endpoint_slot(*id);
  if (slot >= s_->seg.geometry().max_endpoints) return Error(Errc::corrupt, "endpoint slot out of range");
  std::vector<WaitingMessage> out;
  for (unsigned p = 0; p < priority_levels && out.size() < limit; ++p) {
    const LaneView lane = s_->seg.lane(slot, p);
    detail::for_each_committed(lane, [&](std::uint64_t h, std::uint64_t f0) {
      if (out.size() >= limit) return;
      if (auto m = copy_waiting(lane, h, f0, head_bytes)) out.push_back(std::move(*m));
    });
  }
  return out;
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
  const SegmentLogSettings& log = s_->seg.log_settings();
  b.log_dir = log.dir;
  b.sync = log.sync;
  b.group_commit_interval = std::chrono::nanoseconds(log.group_commit_interval_ns);
  b.group_commit_bytes = log.group_commit_bytes;
  return b;
}

void Bus::prefault_lane(EndpointId to, std::uint8_t priority, std::uint64_t bytes) const noexcept {
  const std::uint32_t slot = endpoint_slot(to);
  if (to == no_endpoint || slot >= s_->seg.geometry().max_endpoints || priority >= priority_levels) return;
  const LaneView lane = s_->seg.lane(slot, priority);
  const std::uint64_t n = std::min<std::uint64_t>(lane.capacity, bytes);
  // Reserved as a lane that has run that far is (a writer's claims up to
  // there then reserve nothing more; a claim wants the unit after its record
  // too: LaneWriter::room_limit), then populated.
  if (lane.space != nullptr)
    (void)detail::reserve_lane(*lane.space, lane.capacity, std::min<std::uint64_t>(lane.capacity, n + record_unit));
  detail::populate(lane.data, n);
}

void Bus::prefault_status_ring(EndpointId sender, std::uint64_t bytes) const noexcept {
  const std::uint32_t slot = endpoint_slot(sender);
  if (sender == no_endpoint || slot >= s_->seg.geometry().max_endpoints) return;
  const LaneView ring = s_->seg.status_lane(slot);
  detail::populate(ring.data, std::min<std::uint64_t>(ring.capacity, bytes));
}

void Bus::retire_all_tracked_for_benchmark() noexcept { s_->tracker.sweep(~0ull); }

}  // namespace courier
