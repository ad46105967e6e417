// courier/detail/bus_log.hpp — the bus's side of its durable log: opening
// the log and recovering from it, the group commit's verdict on a batch, and
// housekeeping. Compiled parts (src/bus_open.cpp, src/status_report.cpp,
// src/recovery.cpp, src/housekeeping.cpp); process-local.
#pragma once

#include <functional>
#include <span>

#include "courier/detail/bus_state.hpp"
#include "courier/detail/log.hpp"
#include "courier/options.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"

namespace courier::detail {

// Open this process's journal writer for the bus (Options::log_dir), and
// recover from the journals when this open created the shared memory.
Result<void> open_log(BusState& st, const Options& o, bool created);
// SegmentHeader::recovery_owner of a bus whose rebuild failed (its shared
// memory is unlinked): no process (pid 0), so no live owner; openers still
// attached to it fail instead of using it.
inline constexpr std::uint64_t failed_rebuild = 1ull << 48;
// A bus being rebuilt from its log is not used before the rebuild is done:
// wait while the rebuilding process lives, take the rebuild over when it died.
Result<void> await_recovery(BusState& st, const Options& o, bool created);
// Bus::recover: rebuild the tracker from the journals, put back what is owed.
// fresh: the shared memory was created by this open and is removed if the
// rebuild fails (open_log), so the tracker may fill before the journals are
// counted: one read fewer (docs/design.md, "Recovery in two reads").
Result<RecoveryReport> recover(BusState& st, const std::function<void(const RecoveryProgress&)>& progress,
                               bool fresh = false);
// Bus::housekeep: under the housekeeping lease, sweep and compact.
Result<HousekeepResult> housekeep(BusState& st);
// A batch of the log is durable (sent) or failed (log_failed): tell the senders.
void durable(BusState& st, std::span<const Log::Pending> batch, Status status) noexcept;

}  // namespace courier::detail
