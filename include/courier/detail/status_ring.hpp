// courier/detail/status_ring.hpp — status events travelling back to a sender: each
// endpoint has one more lane, its status ring, into which receivers (and
// sweepers) post an event when a tracked message of that endpoint is
// delivered, read, expired or can no longer be delivered. The ring lives with
// the endpoint, not with a process, so a sender that has no receiver attached,
// or that restarted, still finds its events. The tracker holds the same
// statuses for queries by id; the ring is the feed of changes. When the ring
// is full the event is dropped and counted (InboxData::status_dropped): the
// tracker still has the status.
//
// An event is one 64-byte record of the lane: a RecordHeader whose id is the
// message id, from the recipient the event is about, to the sender, group the
// group (0 for one-to-one), type the Status, timestamp_ns when it happened.
#pragma once

#include <cstdint>

#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/record.hpp"
#include "courier/status.hpp"

namespace courier {

// Post an event into the status ring `v` of sender `sender`. False when the
// ring is full (the caller counts it).
inline bool post_status(LaneView v, EndpointId sender, const StatusEvent& e) noexcept {
  LaneWriter w(v);
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
  h.lease = 0;
  return w.commit(c);
}

// Read side: one consumer (the holder of the endpoint's status lease).
class StatusRingReader {
 public:
  StatusRingReader() = default;
  StatusRingReader(LaneView v, std::uint64_t claim_timeout_ns) noexcept : r_(v, claim_timeout_ns) {}

  // The next event, if any. Events that fail validation are skipped.
  bool next(StatusEvent& out) noexcept {
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
      return true;
    }
  }

 private:
  LaneReader r_;
};

}  // namespace courier
