// courier/detail/status_ring.hpp — status events travelling back to a sender: each
// endpoint has one more lane, its status ring, into which receivers (and
// sweepers) post an event when a tracked message of that endpoint is
// delivered, read, expired or can no longer be delivered. The ring lives with
// the endpoint, not with a process, so a sender that has no receiver attached,
// or that restarted, still finds its events. The tracker holds the same
// statuses for queries by id; the ring is the feed of changes. When the ring
// is full the event is dropped and counted (InboxData::status_dropped): the
// tracker still has the status, and the sender's next poll_status catches up
// from it (detail/status_follow.hpp): the ring is a notification, not the
// record. The drop counter is incremented with release after the tracker's
// change, so a sender that acquires a moved counter finds the change there.
//
// An event is one 64-byte record of the lane: a RecordHeader whose id is the
// message id, from the recipient the event is about, to the sender, group the
// group (0 for one-to-one), type the Status, timestamp_ns when it happened,
// lease the tracker slot of the entry + 1 (0: not known), so that the sender
// finds its record without a lookup (checked against the id: untrusted).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/detail/futex.hpp"
#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/record.hpp"
#include "courier/status.hpp"

namespace courier {

// Post an event through `w`, the writer of sender `sender`'s status ring,
// about the tracker entry in `slot` (~0: none). False when the ring is full
// (the caller counts it). One writer may post several events in a row (a
// flush's run of one sender: StatusRun): it keeps its cached head, so only a
// ring that looks full is looked at again.
inline bool post_status(LaneWriter& w, EndpointId sender, const StatusEvent& e, std::uint64_t slot) noexcept {
  LaneClaim c;
  if (w.try_claim(sizeof(RecordHeader), c) != ClaimResult::ok) return false;
  RecordHeader& h = *c.header;
  h.id = e.id;
  h.timestamp_ns = e.time_ns;
  h.expires_ns = 0;
  h.from = e.recipient;
  h.to = sender;
  h.group = e.group;
  h.type = static_cast<std::uint32_t>(e.status);
  h.payload_len = 0;
  h.priority = 0;
  h.flags = 0;
  h.reserved0 = 0;
  h.lease = slot + 1;  // ~0 (no slot) wraps to 0
  return w.commit(c);
}

// The status ring's futex word, for a status fd's notifier thread
// (Endpoint::status_fd): the first four spare bytes of the ring's control
// block (LaneData::pad0, offset 8; zero from creation, unused by lanes).
// 1 while a notifier sleeps or is about to; a poster that sees 1 after its
// commit (or its drop count) clears it and wakes the futex.
inline std::atomic<std::uint32_t>& status_parked(LaneView v) noexcept {
  static_assert(sizeof(LaneData::pad0) >= sizeof(std::atomic<std::uint32_t>));
  static_assert(offsetof(LaneData, pad0) % alignof(std::atomic<std::uint32_t>) == 0);
  return *reinterpret_cast<std::atomic<std::uint32_t>*>(v.ctl->pad0);
}
inline void wake_status_notifier(LaneView v) noexcept {
  std::atomic<std::uint32_t>& parked = status_parked(v);
  // seq_cst: after the poster's seq_cst commit (or drop count), against the
  // notifier's seq_cst store of 1 then load of the ring (Dekker; the
  // notifier also looks again every 100 ms).
  if (parked.load(std::memory_order_seq_cst) == 0) return;
  parked.store(0, std::memory_order_relaxed);  // relaxed: the wake below is what the sleeper needs
  futex_wake_all(parked);
}

// Read side: one consumer (the holder of the endpoint's status lease).
class StatusRingReader {
 public:
  StatusRingReader() = default;
  StatusRingReader(LaneView v, std::uint64_t claim_timeout_ns) noexcept : r_(v, claim_timeout_ns) {}

  // The next event, if any, and the tracker slot + 1 it names (0: none;
  // unchecked). Events that fail validation are skipped.
  bool next(StatusEvent& out, std::uint64_t& slot_plus_one) noexcept {
    for (;;) {
      LaneRecord rec = r_.peek();
      if (!rec) {
        if (r_.check_stalled(monotonic_ns()) && r_.peek()) continue;
        return false;
      }
      const RecordHeader h = *rec.header;
      r_.release(rec);
      if (h.type >= status_count) continue;  // not an event any correct poster writes
      out = StatusEvent{h.id, h.from, h.group, static_cast<Status>(h.type), h.timestamp_ns};
      slot_plus_one = h.lease;
      return true;
    }
  }

 private:
  LaneReader r_;
};

}  // namespace courier
