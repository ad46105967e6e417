// courier/detail/record.hpp — the message on the wire: its fixed 64-byte header,
// identical in the lanes and in the log.
//
// Record header, little-endian, 64 bytes, 8-byte aligned (records start on a
// 64-byte boundary in a lane, so the header is one cache line):
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------------------------------------------------------+
//  |              frame word (lane framing, see lane_data.hpp)    | 0
//  |                                                               |
//  +---------------------------------------------------------------+
//  |                 identifier (u64, 0 = untracked)               | 8
//  |                                                               |
//  +---------------------------------------------------------------+
//  |            timestamp_ns (u64, CLOCK_REALTIME, set by bus)     | 16
//  |                                                               |
//  +---------------------------------------------------------------+
//  |       expires_ns (u64, absolute CLOCK_REALTIME; 0 = real-time)| 24
//  |                                                               |
//  +---------------------------------------------------------------+
//  |                  from (u32 endpoint id)                       | 32
//  +---------------------------------------------------------------+
//  |                  to   (u32 endpoint id)                       | 36
//  +---------------------------------------------------------------+
//  |                  group (u32 group id, 0 = none)               | 40
//  +---------------------------------------------------------------+
//  |                  type (u32, user-defined)                     | 44
//  +---------------------------------------------------------------+
//  |                  payload_len (u32)                            | 48
//  +---------------+---------------+-------------------------------+
//  |  priority u8  |   flags u8    |        reserved (u16, 0)      | 52
//  +---------------+---------------+-------------------------------+
//  |   lease (u64): real-time messages only, the receiver lease    | 56
//  |   word the sender saw; 0 for messages with an expiry          |
//  |                                                               |
//  +---------------------------------------------------------------+
//  |                  payload (payload_len bytes) ...              | 64
//
// Endpoint ids are (generation << 16) | slot: a slot reused by a new endpoint
// gets a new generation, so a stale id never reaches the wrong endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "courier/ids.hpp"
#include "courier/limits.hpp"

namespace courier {

// Fixed: not hardware_destructive_interference_size (two processes built with
// other -mtune must agree on the layout).
inline constexpr std::size_t cache_line = 64;

namespace record_flag {
inline constexpr std::uint8_t redelivered = 1u << 0;  // handed out before to a receiver that died
inline constexpr std::uint8_t read = 1u << 1;         // the receiver marked it read (survives redelivery)
inline constexpr std::uint8_t forwarded = 1u << 2;    // put into the lane from the log (spilled); a copy may exist
// Sent to a group of one member, not stored: its tracker entry is the
// total's key (tracker_role::group_one), not a member entry. Never in a journal.
inline constexpr std::uint8_t one_member = 1u << 3;
}  // namespace record_flag

struct RecordHeader {
  std::uint64_t frame;  // owned by the lane: state, length and position tag
  std::uint64_t id;
  std::uint64_t timestamp_ns;
  std::uint64_t expires_ns;
  std::uint32_t from;
  std::uint32_t to;
  std::uint32_t group;
  std::uint32_t type;
  std::uint32_t payload_len;
  std::uint8_t priority;
  std::uint8_t flags;
  std::uint16_t reserved0;
  std::uint64_t lease;  // real-time messages: the lease word of the receiver they were sent to
};
static_assert(sizeof(RecordHeader) == 64);
static_assert(sizeof(RecordHeader) == message_header_bytes);
static_assert(offsetof(RecordHeader, frame) == 0);
static_assert(offsetof(RecordHeader, id) == 8);
static_assert(offsetof(RecordHeader, timestamp_ns) == 16);
static_assert(offsetof(RecordHeader, expires_ns) == 24);
static_assert(offsetof(RecordHeader, from) == 32);
static_assert(offsetof(RecordHeader, to) == 36);
static_assert(offsetof(RecordHeader, group) == 40);
static_assert(offsetof(RecordHeader, type) == 44);
static_assert(offsetof(RecordHeader, payload_len) == 48);
static_assert(offsetof(RecordHeader, priority) == 52);
static_assert(offsetof(RecordHeader, flags) == 53);
static_assert(offsetof(RecordHeader, reserved0) == 54);
static_assert(offsetof(RecordHeader, lease) == 56);
static_assert(std::is_trivially_copyable_v<RecordHeader>);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "courier's shared-memory and log layouts are little-endian; big-endian hosts are not supported"
#endif

}  // namespace courier
