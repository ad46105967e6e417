// courier/layout.hpp — every structure of a bus's shared-memory segment, with
// static_asserts on every offset and size. docs/layout.md draws the same; a test
// (tests/layout_test.cpp) pins the binary layout. Bump layout_version when any
// of it changes.
//
// One segment per bus ("/dev/shm/courier.NAME"):
//
//   0                      SegmentHeader (512 bytes)
//   dir_offset             EndpointSlot[max_endpoints]        (128 bytes each)
//   inbox_offset           Inbox[max_endpoints], inbox_stride bytes each, page aligned:
//                            InboxData (256 bytes)
//                            16 x { LaneData (128 bytes), record space (lane_capacity bytes) }
//
// Shared memory holds offsets and indices, never pointers. Everything an
// attacher reads from the header is checked (check_geometry) before any offset
// derived from it is used.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/lane_data.hpp"
#include "courier/message.hpp"

namespace courier {

inline constexpr std::uint64_t segment_magic = 0x3152454952554F43ull;  // "COURIER1" little-endian
inline constexpr std::uint32_t layout_version = 1;
inline constexpr std::size_t max_name_len = 63;  // endpoint names: [A-Za-z0-9._@:-]{1,63}
inline constexpr std::uint32_t max_endpoints_limit = 4096;
inline constexpr std::uint64_t page_size = 4096;

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
  std::uint32_t mode;                     // permission bits the segment was created with
  std::uint64_t dir_offset;
  std::uint64_t inbox_offset;
  std::uint64_t inbox_stride;
  std::uint64_t claim_timeout_ns;
  std::uint64_t created_ns;               // CLOCK_REALTIME at creation
  std::uint64_t reserved1[3];
  // line 2: identifier blocks (ids are handed out in blocks to processes)
  std::atomic<std::uint64_t> next_id;     // starts at the creation time in ns: a recreated bus never reuses ids
  std::uint8_t pad2[cache_line - 8];
  // lines 3..: the directory lock (robust, process-shared) and its change count
  pthread_mutex_t dir_mutex;
  std::uint8_t pad3[128 - sizeof(pthread_mutex_t)];
  std::atomic<std::uint64_t> dir_changes;  // bumped on every directory change (cache invalidation)
  std::uint8_t pad4[cache_line - 8];
  std::uint8_t reserved_tail[512 - 5 * cache_line - 64];
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
static_assert(offsetof(SegmentHeader, next_id) == 128);
static_assert(offsetof(SegmentHeader, dir_mutex) == 192);
static_assert(offsetof(SegmentHeader, dir_changes) == 320);
static_assert(sizeof(SegmentHeader) == 512);

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
  char name[max_name_len + 1];    // NUL-padded
  std::uint64_t created_ns;
  std::uint8_t reserved1[128 - 88];
};
static_assert(offsetof(EndpointSlot, id) == 0);
static_assert(offsetof(EndpointSlot, generation) == 4);
static_assert(offsetof(EndpointSlot, name_len) == 8);
static_assert(offsetof(EndpointSlot, name) == 16);
static_assert(offsetof(EndpointSlot, created_ns) == 80);
static_assert(sizeof(EndpointSlot) == 128);

// ---------------------------------------------------------------- inbox
// An endpoint's receiving side: the signal line (non-empty bitmap and the
// futex word producers look at after each commit), the receiver lease, counters.
struct InboxData {
  // line 0: signal (producers: load, rarely fetch_or; receiver: load, fetch_and)
  std::atomic<std::uint32_t> nonempty;  // bit p set => lane p may hold records (never clear while it does)
  std::atomic<std::uint32_t> parked;    // futex word: 1 while the receiver sleeps or is about to
  std::uint8_t pad0[cache_line - 8];
  // line 1: receiver lease
  std::atomic<std::uint64_t> lease;       // 0 = no receiver; else lease_word(pid, start time)
  std::atomic<std::uint64_t> lease_since_ns;  // CLOCK_REALTIME when the current lease was taken
  std::atomic<std::uint64_t> attaches;    // number of leases ever taken
  std::uint8_t pad1[cache_line - 24];
  // line 2: receiver counters (written by the lease holder only; relaxed)
  std::atomic<std::uint64_t> received;
  std::atomic<std::uint64_t> expired;      // dropped unseen: deadline passed while waiting
  std::atomic<std::uint64_t> stale;        // dropped: addressed to an earlier endpoint in this slot, or real-time for an earlier receiver
  std::atomic<std::uint64_t> revoked;      // claims stepped over after the claim timeout
  std::atomic<std::uint64_t> corrupt;      // records that failed validation
  std::atomic<std::uint64_t> redelivered;  // handed out again after a receiver died holding them
  std::uint8_t pad2[cache_line - 48];
  // line 3: producer counters (rare paths only; fetch_add relaxed)
  std::atomic<std::uint64_t> full;
  std::atomic<std::uint64_t> offline;
  std::uint8_t pad3[cache_line - 16];
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
static_assert(sizeof(InboxData) == 256);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// ---------------------------------------------------------------- geometry
struct Geometry {
  std::uint32_t max_endpoints = 0;
  std::uint64_t lane_capacity = 0;
  std::uint32_t max_payload = 0;

  std::uint64_t lane_stride() const noexcept { return sizeof(LaneData) + lane_capacity; }
  std::uint64_t inbox_stride() const noexcept {
    return (sizeof(InboxData) + priority_levels * lane_stride() + page_size - 1) & ~(page_size - 1);
  }
  std::uint64_t dir_offset() const noexcept { return sizeof(SegmentHeader); }
  std::uint64_t inbox_offset() const noexcept {
    return (dir_offset() + std::uint64_t(max_endpoints) * sizeof(EndpointSlot) + page_size - 1) & ~(page_size - 1);
  }
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
  return nullptr;
}

// A hash of the layout as this build sees it: sizes and offsets of every
// shared structure and of the record header. Two builds that disagree on any
// of them refuse each other's segments.
constexpr std::uint64_t layout_hash() noexcept {
  const std::uint64_t parts[] = {
      layout_version,           sizeof(SegmentHeader),          offsetof(SegmentHeader, next_id),
      offsetof(SegmentHeader, dir_mutex), sizeof(pthread_mutex_t), offsetof(SegmentHeader, dir_changes),
      sizeof(EndpointSlot),     offsetof(EndpointSlot, name),   offsetof(EndpointSlot, created_ns),
      sizeof(InboxData),        offsetof(InboxData, lease),     offsetof(InboxData, received),
      offsetof(InboxData, full), sizeof(LaneData),              offsetof(LaneData, head),
      offsetof(LaneData, handed), sizeof(RecordHeader),         offsetof(RecordHeader, payload_len),
      offsetof(RecordHeader, priority), offsetof(RecordHeader, lease), frame::tag_shift,
      frame::units_bits,        record_unit,                    priority_levels,
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
