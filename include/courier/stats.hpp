/// @file
/// What a bus can tell about itself: its settings, the endpoints and groups it
/// has, counters, and what a sweep, a housekeeping pass or a recovery found.
/// Plain structs, filled by Bus::stat, Bus::settings, Bus::sweep,
/// Bus::housekeep and Bus::recover: values, not live views. Counters are read
/// one by one with relaxed loads while other processes run: each is exact for
/// the moment it was read, the set is not one instant.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "courier/defaults.hpp"
#include "courier/ids.hpp"
#include "courier/options.hpp"

namespace courier {

/// The size of a bus, fixed by its creator (Options).
struct BusGeometry {
  std::uint32_t max_endpoints = 0;                                ///< endpoints the bus can hold
  std::uint64_t lane_capacity = 0;                                ///< bytes of each lane
  std::uint32_t max_payload = 0;                                  ///< largest payload, bytes
  std::uint32_t max_groups = defaults::max_groups;                ///< groups the bus can hold
  std::uint32_t max_group_members = defaults::max_group_members;  ///< members per group
  std::uint64_t tracker_capacity = defaults::tracker_capacity;    ///< tracker entries
  std::uint64_t status_capacity = defaults::status_capacity;      ///< bytes of each status ring
};

/// The settings a bus was created with: every opener sees the same (Bus::settings).
struct BusSettings {
  std::uint32_t max_endpoints = 0;               ///< Options::max_endpoints
  std::uint64_t lane_capacity = 0;               ///< Options::lane_capacity
  std::uint32_t max_payload = 0;                 ///< Options::max_payload
  std::uint32_t max_groups = 0;                  ///< Options::max_groups
  std::uint32_t max_group_members = 0;           ///< Options::max_group_members
  std::uint64_t tracker_capacity = 0;            ///< Options::tracker_capacity
  std::uint64_t status_capacity = 0;             ///< Options::status_capacity
  std::chrono::nanoseconds claim_timeout{0};     ///< Options::claim_timeout
  std::chrono::nanoseconds status_retention{0};  ///< Options::status_retention
  std::uint64_t created_ns = 0;                  ///< CLOCK_REALTIME when the shared memory was made
  std::uint64_t segment_bytes = 0;               ///< size of the shared-memory object (reserved, not resident)
  /// The bus's log: LOG_DIR (absolute, canonical; the journals are in
  /// LOG_DIR/BUS), empty when the bus has none.
  std::string log_dir{};
  Sync sync = Sync::group;                            ///< the log's policy (meaningful only with a log)
  std::chrono::nanoseconds group_commit_interval{0};  ///< Options::group_commit_interval (with a log)
  std::uint64_t group_commit_bytes = 0;               ///< Options::group_commit_bytes (with a log)
};
/// One endpoint of a bus (Bus::endpoints).
struct EndpointEntry {
  std::string name{};            ///< its name
  EndpointId id = no_endpoint;   ///< its id
  std::uint64_t created_ns = 0;  ///< CLOCK_REALTIME of its registration
};

/// One group of a bus (Bus::groups).
struct GroupEntry {
  std::string name{};                 ///< its name
  GroupId id = 0;                     ///< its id
  std::uint64_t created_ns = 0;       ///< CLOCK_REALTIME of its creation
  std::vector<EndpointId> members{};  ///< live members, in slot order
};

/// The tracker's fill (BusStats::tracker).
struct TrackerUsage {
  std::uint64_t used = 0;         ///< entries in use
  std::uint64_t capacity = 0;     ///< entries in all
  std::uint64_t full_events = 0;  ///< tracked sends refused for want of room (Status::tracker_full)
  std::uint64_t retired = 0;      ///< entries retired past their deadline
};

/// One endpoint's counters (BusStats::endpoints). Counters count since the
/// bus was created; those of a receiver are published as it works (and when
/// it detaches).
struct EndpointStats {
  std::string name{};                           ///< its name
  EndpointId id = no_endpoint;                  ///< its id
  bool receiver_attached = false;               ///< a live process holds the receiver lease
  int receiver_pid = 0;                         ///< that process (0 when none)
  int stale_lease_pid = 0;  ///< a lease left by a process that died (taken over by the next attach), else 0
  std::uint64_t waiting[priority_levels] = {};  ///< committed records waiting per lane
  std::uint64_t waiting_total = 0;              ///< their sum
  std::uint64_t received = 0;                   ///< messages handed to its receivers
  std::uint64_t expired = 0;                    ///< dropped by its receiver: past their deadline
  std::uint64_t stale = 0;    ///< dropped: meant for an earlier receiver (real time) or an earlier endpoint of the slot
  std::uint64_t revoked = 0;  ///< claims stepped over after claim_timeout in its lanes
  std::uint64_t corrupt = 0;  ///< records in its lanes that failed validation (skipped)
  std::uint64_t redelivered = 0;     ///< messages handed out again (taken, not acknowledged, by a receiver that died)
  std::uint64_t full = 0;            ///< sends to it refused: lane full
  std::uint64_t offline = 0;         ///< real-time sends to it refused: no receiver attached
  std::uint64_t delivered = 0;       ///< as a receiver: acknowledged
  std::uint64_t read = 0;            ///< as a receiver: marked read
  std::uint64_t sent = 0;            ///< as a sender: messages accepted
  std::uint64_t duplicates = 0;      ///< as a sender: resends of a tracked id, not enqueued again
  std::uint64_t tracker_full = 0;    ///< as a sender: tracked sends refused, tracker full
  std::uint64_t status_dropped = 0;  ///< status events its full status ring could not take (poll_status catches up)
};

/// What Bus::stat found.

/// A message waiting in an endpoint's lane, as Bus::peek copied it (not taken).
struct WaitingMessage {
  std::uint64_t id = 0;               ///< its id; 0: untracked
  EndpointId from = no_endpoint;      ///< its sender
  GroupId group = 0;                  ///< 0: sent to the endpoint, not to a group
  std::uint8_t priority = 0;          ///< its lane, 0 the most urgent
  std::uint8_t flags = 0;             ///< record flags: redelivered (1), read (2), forwarded from the log (4)
  std::uint32_t type = 0;             ///< the application's type tag
  std::uint64_t timestamp_ns = 0;     ///< CLOCK_REALTIME when sent
  std::uint64_t expires_ns = 0;       ///< absolute CLOCK_REALTIME; 0: real-time
  std::uint32_t payload_len = 0;      ///< the payload's full length
  std::string head{};                 ///< the first bytes of the payload (at most the head_bytes asked for)
};

/// What Bus::stat found.
struct BusStats {
  std::string name{};               ///< the bus
  BusGeometry geometry{};           ///< its size
  std::uint64_t segment_bytes = 0;  ///< size of the shared-memory object (reserved, not resident)
  /// Of segment_bytes: what the bus holds whatever its traffic (header,
  /// directory, tracker, reserved at creation; an inbox and status ring per
  /// endpoint, reserved as endpoints are added); the rest is lane space,
  /// reserved as lanes fill.
  std::uint64_t fixed_bytes = 0;
  std::uint64_t shm_total_bytes = 0;  ///< /dev/shm now (statvfs): its size; 0 for an in-process bus
  std::uint64_t shm_free_bytes = 0;   ///< /dev/shm now (statvfs): what is free; 0 for an in-process bus
  std::uint64_t created_ns = 0;       ///< CLOCK_REALTIME of its creation
  bool in_process = false;            ///< an in-process bus (Options::in_process)
  /// Bus::remove (courier rm) removed this bus since this process opened it:
  /// what follows is read from the removed memory (docs/design.md, "Safe
  /// removal").
  bool removed = false;
  std::uint64_t removed_ns = 0;            ///< CLOCK_REALTIME of the removal, 0 while in use
  std::vector<EndpointStats> endpoints{};  ///< every endpoint, in slot order
  std::vector<GroupEntry> groups{};        ///< every group
  TrackerUsage tracker{};                  ///< the tracker's fill
};

/// What Bus::sweep (or the sweep of a housekeeping pass) found.
struct SweepResult {
  std::uint64_t expired = 0;         ///< tracked messages found past their deadline in a lane (senders told `expired`)
  std::uint64_t retired = 0;         ///< tracker entries retired past their deadline
  std::uint64_t expired_stored = 0;  ///< spilled messages (in the log alone) found past their deadline
};

/// What a housekeeping pass (Bus::housekeep) did.
struct HousekeepResult {
  bool holder = false;                 ///< this process holds the housekeeping lease (else nothing was done)
  SweepResult sweep{};                 ///< what its sweep found
  std::uint64_t segments_deleted = 0;  ///< journal segments whose every record was settled
  std::uint64_t bytes_deleted = 0;     ///< their bytes
  std::uint64_t segments_kept = 0;     ///< still holding something owed (or being written)
  std::uint64_t segments_checked = 0;  ///< segments read this pass (every record decoded)
  /// Segments found unsettled before and not read this pass (counted in
  /// segments_kept too): their next look is not due yet (back-off), or the
  /// record that kept them is still owed (a tracker lookup, no read).
  std::uint64_t segments_deferred = 0;
  /// Bytes of journal files read this pass to judge them (a file whose
  /// first megabyte holds a record still owed is not read further).
  std::uint64_t bytes_read = 0;
};

/// A damaged stretch of a journal file that a recovery skipped.
struct JournalDamage {
  std::string file{};        ///< the journal file
  std::uint64_t offset = 0;  ///< the first damaged byte (a record start, or 0 for a bad header)
  std::uint64_t length = 0;  ///< bytes skipped up to the next valid record (or the end of the file)
  std::string reason{};      ///< why it is not a valid record
};

/// What a recovery found and did (Bus::recovery, Bus::recover).
struct RecoveryReport {
  bool ran = false;                     ///< a recovery ran (false: open() did not need one)
  std::uint64_t segments = 0;           ///< journal files read
  std::uint64_t bytes = 0;              ///< bytes of those files
  std::uint64_t records = 0;            ///< valid records
  std::uint64_t messages = 0;           ///< message records
  std::uint64_t settles = 0;            ///< settle records (delivered + read + expired)
  std::uint64_t names = 0;              ///< name records
  std::uint64_t settled = 0;            ///< messages found delivered, read or expired
  std::uint64_t owed = 0;               ///< messages owed to a recipient and not expired
  std::uint64_t injected = 0;           ///< of those, put back into their destination's lane now
  std::uint64_t in_lane = 0;            ///< of those, already waiting in a lane (a live bus)
  std::uint64_t left = 0;               ///< of those, not put back (lane full): they stay in the log
  std::uint64_t expired = 0;            ///< owed but past their deadline: reported expired to their senders now
  std::uint64_t retired = 0;            ///< past their expiry + status retention: settled by age, nothing to do
  std::uint64_t unnamed = 0;            ///< records naming an id with no name record in their journal file (skipped)
  std::uint64_t tracker_full = 0;       ///< always 0, kept for compatibility: a tracker too small fails the recovery
  std::uint64_t damaged = 0;            ///< damaged regions (details in `damage`)
  std::uint64_t torn = 0;               ///< torn tails cut
  std::uint64_t max_id = 0;             ///< the largest message id seen (the bus's id counter is raised past it)
  std::vector<JournalDamage> damage{};  ///< each damaged region
  std::uint64_t elapsed_ns = 0;         ///< how long it took
  /// Of elapsed_ns: the reads that count the messages and track them (the
  /// tracker's pages populated first; settles applied as they are read).
  std::uint64_t load_ns = 0;
  /// Of elapsed_ns: the read that puts back what is owed (the rest of the
  /// lanes' pages populated first). The remainder: groups, totals, ids.
  std::uint64_t put_back_ns = 0;
};

}  // namespace courier
