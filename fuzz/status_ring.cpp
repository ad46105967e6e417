// fuzz/status_ring.cpp — the input is what a sender's poll_status reads from
// shared memory: its status ring and the tracker, as any process could have
// written them. Layout of the input (missing bytes read as zeros, extra
// bytes are ignored):
//
//   [0, 128)                  the ring's control block (LaneData)
//   [128, 128 + 4096)         the ring's record space (status_capacity 4096)
//   [4224, +tracker bytes)    a tracker of 64 entries (TrackerHeader, tags, entries)
//   next 8 bytes              the ring's drop counter as the sender reads it
//
// The target plays a sender (endpoint id 0x10001) that sent eight tracked
// messages (ids 1..8 in tracker slots 0..7: one-to-one sends, a group total
// and two of its members) and polls twice, as Endpoint::poll_status does:
// StatusRingReader hands out the ring's events (slot + 1 unchecked) and
// StatusFollower applies them and, when the drop counter moved, catches up
// from the tracker.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "courier/detail/status_follow.hpp"
#include "courier/detail/status_ring.hpp"
#include "courier/detail/tracker.hpp"

namespace {

constexpr std::uint64_t ring_capacity = courier::min_status_capacity;
constexpr std::uint64_t tracker_capacity = courier::min_tracker_capacity;
constexpr std::size_t ring_bytes = sizeof(courier::LaneData) + ring_capacity;
constexpr std::size_t tracker_bytes =
    sizeof(courier::TrackerHeader) + tracker_capacity * 8 + tracker_capacity * sizeof(courier::TrackerEntry);
constexpr courier::EndpointId self = 0x10001;

struct alignas(64) Unit {
  std::byte b[64];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Shared memory is page aligned: the ring and the tracker get 64-byte aligned
  // buffers of their exact size (so that ASan sees any access past them).
  std::vector<Unit> ring(ring_bytes / sizeof(Unit));
  std::vector<Unit> tracker_mem(tracker_bytes / sizeof(Unit));
  static_assert(ring_bytes % sizeof(Unit) == 0 && tracker_bytes % sizeof(Unit) == 0);
  std::size_t at = 0;
  auto take = [&](void* to, std::size_t n) {
    const std::size_t k = at < size ? (size - at < n ? size - at : n) : 0;
    if (k > 0) std::memcpy(to, data + at, k);
    at += n;
  };
  take(ring.data(), ring_bytes);
  take(tracker_mem.data(), tracker_bytes);
  std::uint64_t drops = 0;
  take(&drops, sizeof(drops));

  auto* ctl = reinterpret_cast<courier::LaneData*>(ring.data());
  const courier::LaneView view{ctl, reinterpret_cast<std::byte*>(ring.data()) + sizeof(courier::LaneData),
                               ring_capacity};
  const courier::Tracker tracker(reinterpret_cast<courier::TrackerHeader*>(tracker_mem.data()), tracker_capacity);
  courier::StatusRingReader reader(view, 1'000'000'000ull);  // a claim stalled 1 s is revoked: never within a run
  courier::detail::StatusFollower follower(&tracker, self);

  namespace role = courier::tracker_role;
  for (std::uint64_t slot = 0; slot < 8; ++slot) {
    const std::uint64_t id = slot + 1;
    if (slot == 4) {
      follower.note_tracked(slot, courier::TrackerKey{self, id, 0}, role::group, 1);  // the group total
    } else if (slot == 5 || slot == 6) {  // members of the send in slot 4: its id, their recipient
      follower.note_tracked(slot, courier::TrackerKey{self, 5, courier::EndpointId(0x10000 + slot)}, role::member, 4);
    } else {
      follower.note_tracked(slot, courier::TrackerKey{self, id, 0}, role::endpoint, 0x10002);
    }
  }

  std::uint64_t events = 0;
  const courier::detail::StatusFollower::Sink sink = [&](const courier::StatusEvent& e) { events += 1 + (e.id & 1); };
  auto next = [&](courier::StatusEvent& e, std::uint64_t& slot_plus_one) { return reader.next(e, slot_plus_one); };
  events += follower.poll(next, drops, sink);
  events += follower.poll(next, drops + 1, sink);  // the counter moved: a catch-up from the tracker
  events += follower.unknown() + follower.outstanding() + follower.catch_ups();
  if (events == 0x5eed) std::fputc('\0', stderr);  // keeps the reads above from being optimised away
  return 0;
}
