// courier/detail/layout.hpp — every structure of a bus's shared-memory segment, with
// static_asserts on every offset and size. docs/layout.md draws the same; a test
// (tests/layout_test.cpp) pins the binary layout. Bump layout_version when any
// of it changes.
//
// One segment per bus ("/dev/shm/courier.NAME"):
//
//   0                      SegmentHeader (4096 bytes: 512 of geometry and leases,
//                            then the bus's log settings and log directory)
//   dir_offset             EndpointSlot[max_endpoints]        (128 bytes each)
//   group_offset           GroupSlot[max_groups], group_stride bytes each (page aligned start):
//                            128-byte slot + u32 members[max_group_members] (64-byte rounded)
//   tracker_offset         Tracker (page aligned): TrackerHeader (128 bytes),
//                            u64 tags[tracker_capacity], TrackerEntry[tracker_capacity] (64 bytes each,
//                            in 8 planes: slot k of bucket b at k * buckets + b)
//   inbox_offset           Inbox[max_endpoints], inbox_stride bytes each, page aligned:
//                            InboxData (576 bytes)
//                            16 x { LaneData (128 bytes), record space (lane_capacity bytes) }
//                            status ring: LaneData (128 bytes), record space (status_capacity bytes)
//
// Shared memory holds offsets and indices, never pointers. Everything an
// attacher reads from the header is checked (check_geometry) before any offset
// derived from it is used.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/detail/lane_data.hpp"
#include "courier/detail/record.hpp"
#include "courier/limits.hpp"
#include "courier/stats.hpp"
#include "courier/status.hpp"

namespace courier {

inline constexpr std::uint64_t segment_magic = 0x3152454952554F43ull;  // "COURIER1" little-endian
inline constexpr std::uint32_t layout_version = 8;
inline constexpr unsigned tracker_bucket_slots = 8;  // one cache line of tags per bucket
inline constexpr std::uint64_t page_size = 4096;
// Bytes of SegmentHeader::log_dir: an absolute path of at most this minus one
// bytes, NUL-terminated.
inline constexpr std::size_t header_log_dir_bytes = 3520;

// ---------------------------------------------------------------- header
struct SegmentHeader {
  // line 0: identity and publication
  std::atomic<std::uint64_t> magic;       // 0 until the segment is fully initialised (release store)
  std::atomic<std::uint64_t> init_owner;  // lease word of the process initialising it
  std::uint32_t layout_version;
  std::uint32_t header_size;
  std::uint64_t layout_hash;
  std::uint64_t total_size;
  std::uint32_t max_endpoints;
  std::uint32_t lane_count;
  std::uint64_t lane_capacity;
  // line 1: geometry and policy
  std::uint32_t max_payload;
  std::uint32_t mode;  // permission bits the segment was created with
  std::uint64_t dir_offset;
  std::uint64_t inbox_offset;
  std::uint64_t inbox_stride;
  std::uint64_t claim_timeout_ns;
  std::uint64_t created_ns;  // CLOCK_REALTIME at creation
  std::uint64_t group_offset;
  std::uint64_t tracker_offset;
  std::uint32_t max_groups;
  std::uint32_t max_group_members;
  // line 2: identifier blocks (ids are handed out in blocks to processes)
  std::atomic<std::uint64_t> next_id;  // starts at the creation time in ns: a recreated bus never reuses ids
  // Lease word of the process rebuilding this bus from its log (0: none).
  // Set by the creator before publication when a recovery will follow; other
  // openers wait while it lives and take the recovery over when it died.
  std::atomic<std::uint64_t> recovery_owner;
  // Lease word of the process that sweeps stored messages and compacts the
  // log (Bus::housekeep); taken over when its holder died.
  std::atomic<std::uint64_t> housekeeper;
  // Non-zero once Bus::remove(force) removed this segment (set before the
  // unlink; the CLOCK_REALTIME of the removal): every attached process's next
  // call answers Errc::removed / Status::removed (docs/design.md, "Safe removal").
  std::atomic<std::uint64_t> removed;
  std::uint8_t pad2[cache_line - 32];
  // lines 3..: the directory lock (robust, process-shared) and its change count
  pthread_mutex_t dir_mutex;
  std::uint8_t pad3[128 - sizeof(pthread_mutex_t)];
  std::atomic<std::uint64_t> dir_changes;  // bumped on every directory change (cache invalidation)
  std::uint8_t pad4[cache_line - 8];
  // line 6: geometry of groups, tracker and status rings
  std::uint64_t group_stride;
  std::uint64_t tracker_capacity;     // entries (power of two)
  std::uint64_t status_capacity;      // bytes of each endpoint's status ring (power of two)
  std::uint64_t status_retention_ns;  // a settled tracker entry is kept this long past its deadline
  std::uint8_t reserved_tail[512 - 6 * cache_line - 32];
  // line 8: the bus's log settings, written by the creator before publication
  // and never changed (docs/design.md, "Settings belong to the bus").
  std::uint8_t sync;                       // Sync of the bus's log (0 always, 1 group, 2 os)
  std::uint8_t reserved_log0;              // 0
  std::uint16_t log_dir_len;               // bytes of log_dir before its NUL; 0: the bus has no log
  std::uint32_t reserved_log1;             // 0
  std::uint64_t group_commit_interval_ns;  // Sync::group/os: longest wait before a batch is written
  std::uint64_t group_commit_bytes;        // ... or as soon as this many bytes are waiting
  std::uint8_t reserved_log2[cache_line - 24];
  // lines 9..63: the log directory (absolute, canonical; the journals are in LOG_DIR/BUS)
  char log_dir[header_log_dir_bytes];
};
static_assert(sizeof(pthread_mutex_t) <= 128);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, init_owner) == 8);
static_assert(offsetof(SegmentHeader, layout_version) == 16);
static_assert(offsetof(SegmentHeader, header_size) == 20);
static_assert(offsetof(SegmentHeader, layout_hash) == 24);
static_assert(offsetof(SegmentHeader, total_size) == 32);
static_assert(offsetof(SegmentHeader, max_endpoints) == 40);
static_assert(offsetof(SegmentHeader, lane_count) == 44);
static_assert(offsetof(SegmentHeader, lane_capacity) == 48);
static_assert(offsetof(SegmentHeader, max_payload) == 56);
static_assert(offsetof(SegmentHeader, mode) == 60);
static_assert(offsetof(SegmentHeader, dir_offset) == 64);
static_assert(offsetof(SegmentHeader, inbox_offset) == 72);
static_assert(offsetof(SegmentHeader, inbox_stride) == 80);
static_assert(offsetof(SegmentHeader, claim_timeout_ns) == 88);
static_assert(offsetof(SegmentHeader, created_ns) == 96);
static_assert(offsetof(SegmentHeader, group_offset) == 104);
static_assert(offsetof(SegmentHeader, tracker_offset) == 112);
static_assert(offsetof(SegmentHeader, max_groups) == 120);
static_assert(offsetof(SegmentHeader, max_group_members) == 124);
static_assert(offsetof(SegmentHeader, group_stride) == 384);
static_assert(offsetof(SegmentHeader, tracker_capacity) == 392);
static_assert(offsetof(SegmentHeader, status_capacity) == 400);
static_assert(offsetof(SegmentHeader, status_retention_ns) == 408);
static_assert(offsetof(SegmentHeader, next_id) == 128);
static_assert(offsetof(SegmentHeader, recovery_owner) == 136);
static_assert(offsetof(SegmentHeader, housekeeper) == 144);
static_assert(offsetof(SegmentHeader, removed) == 152);
static_assert(offsetof(SegmentHeader, dir_mutex) == 192);
static_assert(offsetof(SegmentHeader, dir_changes) == 320);
static_assert(offsetof(SegmentHeader, reserved_tail) == 416);
static_assert(offsetof(SegmentHeader, sync) == 512);
static_assert(offsetof(SegmentHeader, log_dir_len) == 514);
static_assert(offsetof(SegmentHeader, group_commit_interval_ns) == 520);
static_assert(offsetof(SegmentHeader, group_commit_bytes) == 528);
static_assert(offsetof(SegmentHeader, log_dir) == 576);
static_assert(sizeof(SegmentHeader) == 4096);

// ---------------------------------------------------------------- directory
// One slot per endpoint. Changed only under SegmentHeader::dir_mutex, and each
// change becomes visible through one final store to `id`, so a process killed
// mid-change leaves the slot as it was (the next locker sees EOWNERDEAD and
// only has to mark the mutex consistent).
struct EndpointSlot {
  std::atomic<std::uint32_t> id;  // 0 = free; else make_endpoint_id(slot, generation). Senders read it (acquire).
  std::uint32_t generation;       // generation of the last endpoint in this slot (1..65535, wraps to 1)
  std::uint32_t name_len;
  std::uint32_t reserved0;
  char name[max_name_len + 1];  // NUL-padded
  std::uint64_t created_ns;
  std::uint8_t reserved1[128 - 88];
};
static_assert(offsetof(EndpointSlot, id) == 0);
static_assert(offsetof(EndpointSlot, generation) == 4);
static_assert(offsetof(EndpointSlot, name_len) == 8);
static_assert(offsetof(EndpointSlot, name) == 16);
static_assert(offsetof(EndpointSlot, created_ns) == 80);
static_assert(sizeof(EndpointSlot) == 128);

// One slot per group, same publication rules as EndpointSlot (id is the one
// final store of a create or remove). Followed by max_group_members u32 member
// words: 0 = empty, else an endpoint id. Adding or removing a member is one
// store to one word, so a process killed mid-change leaves a valid list;
// senders read the words without the lock (acquire) and skip zeros and
// duplicates.
struct GroupSlot {
  std::atomic<std::uint32_t> id;
  std::uint32_t generation;
  std::uint32_t name_len;
  std::atomic<std::uint32_t> used_words;  // member words [0, used_words) may be non-zero (senders scan only those)
  char name[max_name_len + 1];
  std::uint64_t created_ns;
  std::uint8_t reserved1[128 - 88];
  // followed by std::atomic<std::uint32_t> members[max_group_members]
};
static_assert(offsetof(GroupSlot, id) == 0);
static_assert(offsetof(GroupSlot, generation) == 4);
static_assert(offsetof(GroupSlot, name_len) == 8);
static_assert(offsetof(GroupSlot, used_words) == 12);
static_assert(offsetof(GroupSlot, name) == 16);
static_assert(offsetof(GroupSlot, created_ns) == 80);
static_assert(sizeof(GroupSlot) == 128);

// ---------------------------------------------------------------- tracker
// A bounded hash table of tracked messages (tracker.hpp has the protocol).
// tags[i] is slot i's state word: 0 free, else
//   bits 0..1 state (1 claiming, 2 ready, 3 killed) | bits 2..23 owner pid | bits 24..63 key hash (40 bits)
// entries[i] holds the key and the status; written by its owner while claiming,
// read by others only after they see the tag ready (acquire).
struct TrackerHeader {
  std::uint64_t capacity;  // entries (power of two; buckets of 8)
  std::uint64_t reserved0[7];
  std::atomic<std::uint64_t> full_events;  // tracked sends refused: both buckets full (relaxed)
  std::atomic<std::uint64_t> retired;      // entries retired past their deadline (relaxed)
  std::uint8_t pad1[cache_line - 16];
};
static_assert(offsetof(TrackerHeader, capacity) == 0);
static_assert(offsetof(TrackerHeader, full_events) == 64);
static_assert(offsetof(TrackerHeader, retired) == 72);
static_assert(sizeof(TrackerHeader) == 128);

namespace tracker_role {
inline constexpr std::uint8_t endpoint = 1;  // a message to one endpoint
inline constexpr std::uint8_t group = 2;     // the total of a group send (recipients, counts)
inline constexpr std::uint8_t member = 3;    // one recipient of a group send
// A tracked send to a group of one member that is not stored: one entry is
// both the member and the total (key {sender, id, 0}, dest the group, the
// member in `delivered`; its counts follow from its status). Its record
// carries record_flag::one_member. docs/design.md, "A 1-member group in one
// tracker entry".
inline constexpr std::uint8_t group_one = 4;
}  // namespace tracker_role

namespace tracker_flag {
// The message reached a lane or the log: a resend never replaces the entry,
// even while its status is still outbox (waiting for the log's sync) and its
// sender has died.
inline constexpr std::uint16_t committed = 1u << 0;
// A copy of the message was put into the destination's lane (by its send, or
// by a recovery). Recovery puts back only owed messages without it.
inline constexpr std::uint16_t in_lane = 1u << 1;
// The message was spilled: it waits in the log alone until the receiver
// forwards it (or a sweep finds it expired); both then set in_lane.
inline constexpr std::uint16_t spilled = 1u << 2;
// The spilled message was counted in spilled[priority] of its destination
// (once, on this flag's transition: by the spiller once its record is in the
// file, or by whoever finds it uncounted: the forwarder, the housekeeper).
inline constexpr std::uint16_t counted = 1u << 3;
// A copy of the message may be in its lane already: a forwarder put one there
// (set just before its lane commit), or the housekeeper adopted it from the
// log while its lane copy may exist. Every copy forwarded from then on is
// flagged redelivered (docs/design.md, "No wedged ids": second copies).
inline constexpr std::uint16_t copied = 1u << 4;
// Bits 8..11: the message's priority (set with spilled: the sweeper counts a
// spilled message it settles in forwarded[priority] without its record).
inline constexpr unsigned priority_shift = 8;
inline constexpr std::uint16_t priority_mask = 0xfu << priority_shift;
}  // namespace tracker_flag

// Every field is atomic: a slot may be freed and claimed again while another
// process is still comparing its key; such a reader re-checks the tag, and
// relaxed atomics keep the overlap well defined. Ordering comes from the tag.
struct TrackerEntry {
  std::atomic<std::uint64_t> id;           // key: message identifier
  std::atomic<std::uint32_t> sender;       // key: sending endpoint id
  std::atomic<std::uint32_t> recipient;    // key: 0 for endpoint/group entries, the member's id for member entries
  std::atomic<std::uint32_t> dest;         // endpoint id (endpoint), group id (group), slot of the group total (member)
  std::atomic<std::uint8_t> role;          // tracker_role
  std::atomic<std::uint8_t> status;        // Status; only moves forward (CAS; a send's own `sent`: sent_before_commit)
  std::atomic<std::uint16_t> flags;        // tracker_flag bits (set only, never cleared while the entry lives)
  std::atomic<std::uint16_t> recipients;   // group: members addressed (<= max_group_members_limit); else 1
  std::atomic<std::uint16_t> follower;     // the sending handle's follow token, or 0 (written once, at insert)
  std::atomic<std::uint32_t> delivered;    // group: members that acknowledged; group_one: the member (EndpointId)
  std::atomic<std::uint32_t> read;         // group: members that marked it read
  std::atomic<std::uint32_t> failed;       // group: members that got an error (full, offline, expired, ...)
  std::atomic<std::uint64_t> deadline_ns;  // CLOCK_REALTIME after which the entry may retire (expiry + retention)
  std::atomic<std::uint64_t> expires_ns;   // the message's own deadline (0 = real-time)
  std::atomic<std::uint64_t> updated_ns;   // last status change (relaxed)
};
static_assert(offsetof(TrackerEntry, id) == 0);
static_assert(offsetof(TrackerEntry, sender) == 8);
static_assert(offsetof(TrackerEntry, recipient) == 12);
static_assert(offsetof(TrackerEntry, dest) == 16);
static_assert(offsetof(TrackerEntry, role) == 20);
static_assert(offsetof(TrackerEntry, status) == 21);
static_assert(offsetof(TrackerEntry, flags) == 22);
static_assert(offsetof(TrackerEntry, recipients) == 24);
static_assert(offsetof(TrackerEntry, follower) == 26);
static_assert(max_group_members_limit <= 0xffff, "TrackerEntry::recipients is 16 bits");
static_assert(offsetof(TrackerEntry, delivered) == 28);
static_assert(offsetof(TrackerEntry, read) == 32);
static_assert(offsetof(TrackerEntry, failed) == 36);
static_assert(offsetof(TrackerEntry, deadline_ns) == 40);
static_assert(offsetof(TrackerEntry, expires_ns) == 48);
static_assert(offsetof(TrackerEntry, updated_ns) == 56);
static_assert(sizeof(TrackerEntry) == 64);
static_assert(std::atomic<std::uint8_t>::is_always_lock_free);

// ---------------------------------------------------------------- inbox
// An endpoint's receiving side: the signal line (non-empty bitmap and the
// futex word producers look at after each commit), the receiver lease, counters.
struct InboxData {
  // line 0: signal (producers: load, rarely fetch_or; receiver: load, fetch_and)
  std::atomic<std::uint32_t> nonempty;  // bit p set => lane p may hold records (never clear while it does)
  std::atomic<std::uint32_t> parked;    // futex word: 1 while the receiver sleeps or is about to
  std::uint8_t pad0[cache_line - 8];
  // line 1: receiver lease
  std::atomic<std::uint64_t> lease;           // 0 = no receiver; else lease_word(pid, start time)
  std::atomic<std::uint64_t> lease_since_ns;  // CLOCK_REALTIME when the current lease was taken
  std::atomic<std::uint64_t> attaches;        // number of leases ever taken
  std::uint8_t pad1[cache_line - 24];
  // line 2: receiver counters (written by the lease holder only; relaxed)
  std::atomic<std::uint64_t> received;
  std::atomic<std::uint64_t> expired;  // dropped unseen: deadline passed while waiting
  std::atomic<std::uint64_t>
      stale;  // dropped: addressed to an earlier endpoint in this slot, or real-time for an earlier receiver
  std::atomic<std::uint64_t> revoked;      // claims stepped over after the claim timeout
  std::atomic<std::uint64_t> corrupt;      // records that failed validation
  std::atomic<std::uint64_t> redelivered;  // handed out again after a receiver died holding them
  std::uint8_t pad2[cache_line - 48];
  // line 3: producer counters (rare paths only; fetch_add relaxed)
  std::atomic<std::uint64_t> full;
  std::atomic<std::uint64_t> offline;
  std::uint8_t pad3[cache_line - 16];
  // line 4: this endpoint as a sender (fetch_add relaxed by processes sending
  // as it; nobody else writes this line, so it stays in the sender's cache)
  std::atomic<std::uint64_t> sent;            // messages accepted onto a lane (a group send counts each member)
  std::atomic<std::uint64_t> duplicates;      // tracked resends not enqueued again
  std::atomic<std::uint64_t> tracker_full;    // tracked sends refused: tracker full
  std::atomic<std::uint64_t> status_dropped;  // status events not posted: this endpoint's status ring was full
  std::atomic<std::uint64_t> status_lease;    // lease word of the process consuming this endpoint's status ring
  std::atomic<std::uint64_t> delivered;       // receiver counter (lease holder only): messages acknowledged
  std::atomic<std::uint64_t> read;            // receiver counter (lease holder only): messages marked read
  std::uint8_t pad4[cache_line - 56];
  // lines 5-8: spill (a bus with a log). A stored message that finds its lane
  // full (or behind earlier spilled ones) stays in the log; spilled[p] counts
  // them (senders, fetch_add), forwarded[p] counts those forwarded into lane p
  // or settled while waiting (the receiver or a sweeper, once per message: on
  // the transition of its tracker entry's in_lane flag). While spilled[p] >
  // forwarded[p], stored sends to lane p spill too, so they keep their order.
  std::atomic<std::uint64_t> spilled[priority_levels];
  std::atomic<std::uint64_t> forwarded[priority_levels];
};
static_assert(offsetof(InboxData, nonempty) == 0);
static_assert(offsetof(InboxData, parked) == 4);
static_assert(offsetof(InboxData, lease) == 64);
static_assert(offsetof(InboxData, lease_since_ns) == 72);
static_assert(offsetof(InboxData, attaches) == 80);
static_assert(offsetof(InboxData, received) == 128);
static_assert(offsetof(InboxData, expired) == 136);
static_assert(offsetof(InboxData, stale) == 144);
static_assert(offsetof(InboxData, revoked) == 152);
static_assert(offsetof(InboxData, corrupt) == 160);
static_assert(offsetof(InboxData, redelivered) == 168);
static_assert(offsetof(InboxData, full) == 192);
static_assert(offsetof(InboxData, offline) == 200);
static_assert(offsetof(InboxData, sent) == 256);
static_assert(offsetof(InboxData, duplicates) == 264);
static_assert(offsetof(InboxData, tracker_full) == 272);
static_assert(offsetof(InboxData, status_dropped) == 280);
static_assert(offsetof(InboxData, status_lease) == 288);
static_assert(offsetof(InboxData, delivered) == 296);
static_assert(offsetof(InboxData, read) == 304);
static_assert(offsetof(InboxData, spilled) == 320);
static_assert(offsetof(InboxData, forwarded) == 448);
static_assert(sizeof(InboxData) == 576);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// ---------------------------------------------------------------- geometry
// The bus's sizes (BusGeometry, public) and where each part of the segment
// lies, computed from them.
struct Geometry : BusGeometry {
  static constexpr std::uint64_t page_up(std::uint64_t v) noexcept { return (v + page_size - 1) & ~(page_size - 1); }
  std::uint64_t lane_stride() const noexcept { return sizeof(LaneData) + lane_capacity; }
  std::uint64_t status_offset_in_inbox() const noexcept { return sizeof(InboxData) + priority_levels * lane_stride(); }
  std::uint64_t inbox_stride() const noexcept {
    return page_up(status_offset_in_inbox() + sizeof(LaneData) + status_capacity);
  }
  std::uint64_t dir_offset() const noexcept { return sizeof(SegmentHeader); }
  std::uint64_t group_stride() const noexcept {
    return sizeof(GroupSlot) +
           ((std::uint64_t(max_group_members) * 4 + cache_line - 1) & ~std::uint64_t(cache_line - 1));
  }
  std::uint64_t group_offset() const noexcept {
    return page_up(dir_offset() + std::uint64_t(max_endpoints) * sizeof(EndpointSlot));
  }
  std::uint64_t tracker_offset() const noexcept {
    return page_up(group_offset() + std::uint64_t(max_groups) * group_stride());
  }
  std::uint64_t tracker_bytes() const noexcept {
    return sizeof(TrackerHeader) + tracker_capacity * 8 + tracker_capacity * sizeof(TrackerEntry);
  }
  std::uint64_t inbox_offset() const noexcept { return page_up(tracker_offset() + tracker_bytes()); }
  std::uint64_t total_size() const noexcept { return inbox_offset() + std::uint64_t(max_endpoints) * inbox_stride(); }
};

// Why a geometry is unusable, or nullptr when it is fine. Used on the options of
// a creator and on the header of an attached segment (untrusted).
inline const char* check_geometry(const Geometry& g) noexcept {
  if (g.max_endpoints == 0 || g.max_endpoints > max_endpoints_limit) return "max_endpoints must be 1..4096";
  if (g.lane_capacity < min_lane_capacity || g.lane_capacity > max_lane_capacity ||
      (g.lane_capacity & (g.lane_capacity - 1)) != 0)
    return "lane_capacity must be a power of two from 4 KiB to 1 GiB";
  if (record_bytes(g.max_payload) > g.lane_capacity / 2)
    return "max_payload must fit in half a lane (max_payload + 64 <= lane_capacity / 2)";
  if (g.max_groups > max_groups_limit) return "max_groups must be 0..4096";
  if (g.max_group_members == 0 || g.max_group_members > max_group_members_limit)
    return "max_group_members must be 1..4096";
  if (g.tracker_capacity < min_tracker_capacity || g.tracker_capacity > max_tracker_capacity ||
      (g.tracker_capacity & (g.tracker_capacity - 1)) != 0)
    return "tracker_capacity must be a power of two from 64 to 2^26 entries";
  if (g.status_capacity < min_status_capacity || g.status_capacity > max_status_capacity ||
      (g.status_capacity & (g.status_capacity - 1)) != 0)
    return "status_capacity must be a power of two from 4 KiB to 64 MiB";
  return nullptr;
}

// A hash of the layout as this build sees it: sizes and offsets of every
// shared structure and of the record header. Two builds that disagree on any
// of them refuse each other's segments.
constexpr std::uint64_t layout_hash() noexcept {
  const std::uint64_t parts[] = {
      layout_version,
      sizeof(SegmentHeader),
      offsetof(SegmentHeader, next_id),
      offsetof(SegmentHeader, recovery_owner),
      offsetof(SegmentHeader, housekeeper),
      offsetof(SegmentHeader, dir_mutex),
      sizeof(pthread_mutex_t),
      offsetof(SegmentHeader, dir_changes),
      sizeof(EndpointSlot),
      offsetof(EndpointSlot, name),
      offsetof(EndpointSlot, created_ns),
      sizeof(InboxData),
      offsetof(InboxData, lease),
      offsetof(InboxData, received),
      offsetof(InboxData, full),
      offsetof(InboxData, sent),
      offsetof(InboxData, status_lease),
      sizeof(GroupSlot),
      sizeof(TrackerHeader),
      sizeof(TrackerEntry),
      offsetof(TrackerEntry, status),
      offsetof(TrackerEntry, flags),
      offsetof(TrackerEntry, recipients),
      offsetof(TrackerEntry, follower),
      offsetof(TrackerEntry, deadline_ns),
      tracker_bucket_slots,
      offsetof(SegmentHeader, group_offset),
      offsetof(SegmentHeader, group_stride),
      offsetof(SegmentHeader, sync),
      offsetof(SegmentHeader, log_dir_len),
      offsetof(SegmentHeader, group_commit_interval_ns),
      offsetof(SegmentHeader, log_dir),
      sizeof(LaneData),
      offsetof(LaneData, head),
      offsetof(LaneData, handed),
      sizeof(RecordHeader),
      offsetof(RecordHeader, payload_len),
      offsetof(RecordHeader, priority),
      offsetof(RecordHeader, lease),
      frame::tag_shift,
      frame::units_bits,
      record_unit,
      priority_levels,
  };
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the 8-byte values
  for (std::uint64_t p : parts) {
    for (int i = 0; i < 8; ++i) {
      h ^= (p >> (8 * i)) & 0xffu;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

}  // namespace courier
