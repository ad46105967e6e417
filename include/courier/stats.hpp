// courier/stats.hpp — what a bus can tell about itself: its settings, the
// endpoints and groups it has, counters, and what a sweep, a housekeeping
// pass or a recovery found.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "courier/defaults.hpp"
#include "courier/ids.hpp"
#include "courier/options.hpp"

namespace courier {

// The size of a bus, fixed by its creator (Options).
struct BusGeometry {
  std::uint32_t max_endpoints = 0;
  std::uint64_t lane_capacity = 0;
  std::uint32_t max_payload = 0;
  std::uint32_t max_groups = defaults::max_groups;
  std::uint32_t max_group_members = defaults::max_group_members;
  std::uint64_t tracker_capacity = defaults::tracker_capacity;
  std::uint64_t status_capacity = defaults::status_capacity;
};

// The settings a bus was created with: every opener sees the same.
struct BusSettings {
  std::uint32_t max_endpoints = 0;
  std::uint64_t lane_capacity = 0;
  std::uint32_t max_payload = 0;
  std::uint32_t max_groups = 0;
  std::uint32_t max_group_members = 0;
  std::uint64_t tracker_capacity = 0;
  std::uint64_t status_capacity = 0;
  std::chrono::nanoseconds claim_timeout{0};
  std::chrono::nanoseconds status_retention{0};
  std::uint64_t created_ns = 0;     // CLOCK_REALTIME when the shared memory was made
  std::uint64_t segment_bytes = 0;  // size of the shared-memory object
  // The bus's log: LOG_DIR (absolute, canonical; the journals are in
  // LOG_DIR/BUS), empty when the bus has none; and its policy (meaningful
  // only with a log).
  std::string log_dir;
  Sync sync = Sync::group;
  std::chrono::nanoseconds group_commit_interval{0};
  std::uint64_t group_commit_bytes = 0;
};
struct EndpointEntry {
  std::string name;
  EndpointId id = no_endpoint;
  std::uint64_t created_ns = 0;
};

struct GroupEntry {
  std::string name;
  GroupId id = 0;
  std::uint64_t created_ns = 0;
  std::vector<EndpointId> members;  // live members, in slot order
};

// The tracker's fill: entries in use of capacity, tracked sends refused for
// want of room, entries retired past their deadline.
struct TrackerUsage {
  std::uint64_t used = 0, capacity = 0, full_events = 0, retired = 0;
};

struct EndpointStats {
  std::string name;
  EndpointId id = no_endpoint;
  bool receiver_attached = false;  // a live process holds the lease
  int receiver_pid = 0;
  int stale_lease_pid = 0;  // a lease left by a process that died (taken over by the next attach), else 0
  std::uint64_t waiting[priority_levels] = {};  // committed records waiting per lane
  std::uint64_t waiting_total = 0;
  std::uint64_t received = 0, expired = 0, stale = 0, revoked = 0, corrupt = 0, redelivered = 0, full = 0, offline = 0;
  // as a receiver: acknowledged, marked read
  std::uint64_t delivered = 0, read = 0;
  // as a sender
  std::uint64_t sent = 0, duplicates = 0, tracker_full = 0, status_dropped = 0;
};

// A message waiting in an endpoint's lane, as Bus::peek copied it (not taken).
struct WaitingMessage {
  std::uint64_t id = 0;  // 0: untracked
  EndpointId from = no_endpoint;
  GroupId group = 0;  // 0: sent to the endpoint, not to a group
  std::uint8_t priority = 0;
  std::uint8_t flags = 0;  // record flags: redelivered (1), read (2), forwarded from the log (4)
  std::uint32_t type = 0;
  std::uint64_t timestamp_ns = 0;  // CLOCK_REALTIME when sent
  std::uint64_t expires_ns = 0;    // absolute CLOCK_REALTIME; 0: real-time
  std::uint32_t payload_len = 0;
  std::string head;  // the first bytes of the payload (at most the head_bytes asked for)
};

struct BusStats {
  std::string name;
  BusGeometry geometry{};
  std::uint64_t segment_bytes = 0;
  std::uint64_t created_ns = 0;
  bool in_process = false;
  std::vector<EndpointStats> endpoints;
  std::vector<GroupEntry> groups;
  TrackerUsage tracker{};
};

struct SweepResult {
  std::uint64_t expired = 0;         // tracked messages found past their deadline in a lane (senders told `expired`)
  std::uint64_t retired = 0;         // tracker entries retired past their deadline
  std::uint64_t expired_stored = 0;  // spilled messages (in the log alone) found past their deadline
};

struct HousekeepResult {
  bool holder = false;  // this process holds the housekeeping lease (else nothing was done)
  SweepResult sweep;
  std::uint64_t segments_deleted = 0;  // journal segments whose every record was settled
  std::uint64_t bytes_deleted = 0;
  std::uint64_t segments_kept = 0;     // still holding something owed (or being written)
  std::uint64_t segments_checked = 0;  // segments read this pass (every record decoded)
  // Segments found unsettled before and not read this pass (counted in
  // segments_kept too): their next look is not due yet (back-off), or the
  // record that kept them is still owed (a tracker lookup, no read).
  std::uint64_t segments_deferred = 0;
};

struct JournalDamage {
  std::string file;
  std::uint64_t offset = 0;  // the first damaged byte (a record start, or 0 for a bad header)
  std::uint64_t length = 0;  // bytes skipped up to the next valid record (or the end of the file)
  std::string reason;
};

// What a recovery found and did.
struct RecoveryReport {
  bool ran = false;
  std::uint64_t segments = 0;                          // journal files read
  std::uint64_t bytes = 0;                             // bytes of those files
  std::uint64_t records = 0;                           // valid records
  std::uint64_t messages = 0, settles = 0, names = 0;  // records by kind (settles: delivered + read + expired)
  std::uint64_t settled = 0;                           // messages found delivered, read or expired
  std::uint64_t owed = 0;                              // messages owed to a recipient and not expired
  std::uint64_t injected = 0;                          // of those, put back into their destination's lane now
  std::uint64_t in_lane = 0;                           // of those, already waiting in a lane (a live bus)
  std::uint64_t left = 0;                              // of those, not put back (lane full): they stay in the log
  std::uint64_t expired = 0;       // owed but past their deadline: reported expired to their senders now
  std::uint64_t retired = 0;       // past their expiry + status retention: settled by age, nothing to do
  std::uint64_t unnamed = 0;       // records naming an id with no name record in their journal file (skipped)
  std::uint64_t tracker_full = 0;  // always 0, kept for compatibility: a tracker too small fails the recovery
  std::uint64_t damaged = 0;       // damaged regions (details in `damage`)
  std::uint64_t torn = 0;          // torn tails cut
  std::uint64_t max_id = 0;        // the largest message id seen (the bus's id counter is raised past it)
  std::vector<JournalDamage> damage;
  std::uint64_t elapsed_ns = 0;
};

}  // namespace courier
