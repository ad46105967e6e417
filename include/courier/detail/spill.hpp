// courier/detail/spill.hpp — the bus's side of spill (docs/design.md, "Spill"):
// a stored message whose lane is full waits in the log, counted in its
// destination's inbox, until its receiver forwards it (src/spill.cpp) or the
// housekeeper sweeps it (src/housekeeping.cpp). Also what recovery uses to put
// a message from the log back into a lane.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "courier/detail/bus_state.hpp"
#include "courier/detail/log.hpp"

namespace courier::detail {

// Test seam for the crash tests (tests/wedge_test.cpp): when the environment
// variable COURIER_TEST_PAUSE_AT names `point`, print "paused-at POINT" on
// standard output and stop forever (the test kills the process there), or,
// with COURIER_TEST_PAUSE_RESUME set, until a line comes on standard input
// (tests/spill_loss_test.cpp). Used on the logged and spill paths and in the
// forwarder only, never on the inline send path or the receive path. Unset,
// it costs a load and a branch (the logged path passes three per send; the
// spill's points after its append run where its batch is written).
extern const char* const pause_at;  // COURIER_TEST_PAUSE_AT, read when the library loads; null: unset
void pause_here(const char* point) noexcept;
inline void pause_point(const char* point) noexcept {
  if (pause_at != nullptr) [[unlikely]]
    pause_here(point);
}

// Put a message from the log into its destination's lane (ids already
// mapped), with `flag` added to its record flags. False when the lane has no
// room. With a tracker slot (the forwarder), its entry is marked `copied`
// once the lane has room, before the commit, and the copy is flagged
// redelivered when the mark was there already (a copy may exist).
bool put_back(BusState& st, const RecordHeader& h, std::span<const std::byte> payload, std::uint8_t flag,
              std::uint64_t slot = Tracker::no_slot) noexcept;

// The log wrote these spilled records (Log::Spill; `written` false: its write
// failed): each tracked one's entry is marked committed | spilled and
// counted, an untracked one counted, in that order (a receiver that sees the
// count finds the record in its file), then its receiver is notified and this
// process's unwritten count of its lane goes down. Runs on the thread that
// wrote the batch (the flusher, or a flush() caller), before the batch's sync.
void spills_written(BusState& st, std::span<const Log::Spill> spills, bool written) noexcept;

// Count a spilled tracker entry in spilled[priority] of its destination, once
// (on the transition of its `counted` flag). True on the transition.
bool count_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept;

// Mark a spilled tracker entry accounted (forwarded, or settled while it
// waited): sets in_lane and, on that transition, counts it in forwarded[p] of
// its destination. True on the transition.
bool account_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept;

// Spilled messages (in the log alone, owed, not forwarded) past their
// deadline: reported expired and accounted. Returns how many.
std::uint64_t sweep_spilled(BusState& st, std::uint64_t now) noexcept;

}  // namespace courier::detail
