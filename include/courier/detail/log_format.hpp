// courier/detail/log_format.hpp — the on-disk format of the journal, constants only.
// The spec is docs/log-format.md; the asserts below mirror it, and
// tests/journal_test.cpp pins the bytes of real encoded records. Change
// anything here and you bump format_version, update the doc and the pinned hex.
//
// Everything is little-endian. A journal file is a FileHeader followed by
// records, each starting at an offset that is a multiple of 8.
//
// Journal file header, 64 bytes at offset 0:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------------------------------------------------------+
//  |              magic (u64, the bytes "courierJ")                | 0
//  |                                                               |
//  +---------------------------------------------------------------+
//  |              format_version (u32) = 3                         | 8
//  +---------------------------------------------------------------+
//  |              header_size (u32) = 64                           | 12
//  +---------------------------------------------------------------+
//  |              writer_pid (u32)                                 | 16
//  +---------------------------------------------------------------+
//  |              reserved (u32, 0)                                | 20
//  +---------------------------------------------------------------+
//  |   writer_start_ticks (u64, /proc/PID/stat field 22)           | 24
//  |                                                               |
//  +---------------------------------------------------------------+
//  |   writer_epoch_ns (u64, CLOCK_REALTIME when the writer opened)| 32
//  |                                                               |
//  +---------------------------------------------------------------+
//  |   sequence (u64, 0, 1, 2 ... per writer)                      | 40
//  |                                                               |
//  +---------------------------------------------------------------+
//  |   salt (u64, random per file, seeds every record CRC)         | 48
//  |                                                               |
//  +---------------------------------------------------------------+
//  |              reserved (u32, 0)                                | 56
//  +---------------------------------------------------------------+
//  |   header_crc (u32) = mask(crc32c(bytes 0 .. 59))              | 60
//  +---------------------------------------------------------------+
//
// Record frame, 16 bytes, at an offset that is a multiple of 8:
//
//  +---------------------------------------------------------------+
//  |              marker (u32) = 0xE15C4A9E                        | 0
//  +---------------------------------------------------------------+
//  |   crc (u32) = mask(crc32c(salt u64 | offset u64 | bytes 8 .. 16+length-1))
//  +---------------------------------------------------------------+
//  |              length (u32): body bytes                         | 8
//  +---------------+---------------+-------------------------------+
//  |   kind (u8)   |  flags (u8, 0)|        reserved (u16, 0)      | 12
//  +---------------+---------------+-------------------------------+
//  |              body (length bytes) ...                          | 16
//  +---------------------------------------------------------------+
//  |   padding: zero bytes up to the next multiple of 8 (not in the CRC)
//
// Bodies: message = RecordHeader (detail/record.hpp, frame word 0) + payload;
// delivered / read / expired = SettleBody (24 bytes); name = NameBody (8 bytes)
// + the name's bytes; membership = MembershipBody (16 bytes) + the group's
// name + the endpoint's name (none for a group's creation or removal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "courier/detail/record.hpp"
#include "courier/status.hpp"

namespace courier::logfmt {

// 2: record kind 5 (`name`) exists. 3: record kind 6 (`membership`) exists.
// A reader of this build reads 1 to 3 (a version-1 file is a version-2 file
// without name records, or one written by a build that added kind 5 before
// the version said so; a version-2 file is a version-3 file without
// membership records).
inline constexpr std::uint32_t format_version = 3;
inline constexpr std::uint32_t oldest_readable_format_version = 1;

// "courierJ" read as a little-endian u64.
inline constexpr std::uint64_t file_magic = 0x4A72656972756F63ull;
inline constexpr std::size_t file_header_size = 64;

inline constexpr std::uint32_t record_marker = 0xE15C4A9Eu;  // bytes 9e 4a 5c e1
inline constexpr std::size_t record_frame_size = 16;
inline constexpr std::size_t record_alignment = 8;
// The largest body the format allows; a reader refuses longer lengths unread.
inline constexpr std::uint32_t max_body = 64u << 20;

// Journal files are named WRITER_EPOCH-PID-SEQUENCE.journal in lowercase hex of
// 16, 8 and 16 digits, so that name order is (writer epoch, pid, sequence).
inline constexpr std::string_view file_suffix = ".journal";
inline constexpr std::size_t file_name_length = 16 + 1 + 8 + 1 + 16 + file_suffix.size();

enum class Kind : std::uint8_t {
  message = 1,    // body: RecordHeader + payload
  delivered = 2,  // body: SettleBody (recipient took it)
  read = 3,       // body: SettleBody (recipient marked it read)
  expired = 4,    // body: SettleBody (deadline passed; recipient 0 = every recipient still owed)
  name = 5,       // body: NameBody + name bytes (an endpoint or group id's name, for recovery after a reboot)
  membership =
      6,  // body: MembershipBody + group name + endpoint name (a group created or removed, a member joined or left)
};
inline constexpr std::uint8_t min_kind = 1;
inline constexpr std::uint8_t max_kind = 6;

constexpr std::string_view kind_name(Kind k) noexcept {
  switch (k) {
    case Kind::message: return "message";
    case Kind::delivered: return "delivered";
    case Kind::read: return "read";
    case Kind::expired: return "expired";
    case Kind::name: return "name";
    case Kind::membership: return "membership";
  }
  return "unknown";
}

struct FileHeader {
  std::uint64_t magic;
  std::uint32_t format_version;
  std::uint32_t header_size;
  std::uint32_t writer_pid;
  std::uint32_t reserved0;
  std::uint64_t writer_start_ticks;
  std::uint64_t writer_epoch_ns;
  std::uint64_t sequence;
  std::uint64_t salt;
  std::uint32_t reserved1;
  std::uint32_t header_crc;
};
static_assert(sizeof(FileHeader) == file_header_size);
static_assert(offsetof(FileHeader, magic) == 0);
static_assert(offsetof(FileHeader, format_version) == 8);
static_assert(offsetof(FileHeader, header_size) == 12);
static_assert(offsetof(FileHeader, writer_pid) == 16);
static_assert(offsetof(FileHeader, reserved0) == 20);
static_assert(offsetof(FileHeader, writer_start_ticks) == 24);
static_assert(offsetof(FileHeader, writer_epoch_ns) == 32);
static_assert(offsetof(FileHeader, sequence) == 40);
static_assert(offsetof(FileHeader, salt) == 48);
static_assert(offsetof(FileHeader, reserved1) == 56);
static_assert(offsetof(FileHeader, header_crc) == 60);
static_assert(std::is_trivially_copyable_v<FileHeader>);
inline constexpr std::size_t file_header_crc_span = offsetof(FileHeader, header_crc);  // bytes 0..59
using SegmentHeader = FileHeader;  // the older name, which the tests use (not the shared-memory SegmentHeader)

struct RecordFrame {
  std::uint32_t marker;
  std::uint32_t crc;
  std::uint32_t length;
  std::uint8_t kind;
  std::uint8_t flags;
  std::uint16_t reserved;
};
static_assert(sizeof(RecordFrame) == record_frame_size);
static_assert(offsetof(RecordFrame, marker) == 0);
static_assert(offsetof(RecordFrame, crc) == 4);
static_assert(offsetof(RecordFrame, length) == 8);
static_assert(offsetof(RecordFrame, kind) == 12);
static_assert(offsetof(RecordFrame, flags) == 13);
static_assert(offsetof(RecordFrame, reserved) == 14);
static_assert(std::is_trivially_copyable_v<RecordFrame>);
// The CRC covers the frame from `length` on, then the body.
inline constexpr std::size_t record_crc_start = offsetof(RecordFrame, length);
static_assert(file_header_size % record_alignment == 0, "the first record is aligned");

// delivered / read / expired: one recipient's settlement of message (sender, id).
struct SettleBody {
  std::uint64_t id;         // the message identifier
  std::uint32_t sender;     // EndpointId of the sender (RecordHeader::from)
  std::uint32_t recipient;  // EndpointId of the recipient; 0 in `expired` = every recipient still owed
  std::uint64_t at_ns;      // CLOCK_REALTIME when it happened
};
static_assert(sizeof(SettleBody) == 24);
static_assert(offsetof(SettleBody, id) == 0);
static_assert(offsetof(SettleBody, sender) == 8);
static_assert(offsetof(SettleBody, recipient) == 12);
static_assert(offsetof(SettleBody, at_ns) == 16);
static_assert(std::is_trivially_copyable_v<SettleBody>);

// name: the name of an endpoint or group id, written by a journal writer in
// each journal file before the first record of that file that mentions the
// id, so that any one file can be recovered on its own into an empty bus.
struct NameBody {
  std::uint32_t id;        // EndpointId or GroupId
  std::uint8_t what;       // name_what
  std::uint8_t reserved;   // 0
  std::uint16_t name_len;  // 1 .. max_name_len bytes follow
};
static_assert(sizeof(NameBody) == 8);
static_assert(offsetof(NameBody, id) == 0);
static_assert(offsetof(NameBody, what) == 4);
static_assert(offsetof(NameBody, reserved) == 5);
static_assert(offsetof(NameBody, name_len) == 6);
static_assert(std::is_trivially_copyable_v<NameBody>);
namespace name_what {
inline constexpr std::uint8_t endpoint = 1;
inline constexpr std::uint8_t group = 2;
}  // namespace name_what
inline constexpr std::uint32_t max_name_len =
    64;  // bytes a name record may hold: room for every endpoint or group name (1..63, limits.hpp)

// membership: a change of a group, by names (not ids: a removed group or
// endpoint has no name left in the bus to write a name record from). Written
// after the change is made, with the time taken after it, so that a later
// record of the same group (or member) is a later change: recovery replays
// them by at_ns across all writers, the last change winning.
struct MembershipBody {
  std::uint64_t at_ns;        // CLOCK_REALTIME after the change
  std::uint8_t change;        // membership_change
  std::uint8_t reserved0;     // 0
  std::uint8_t group_len;     // 1 .. max_name_len bytes of group name follow the body
  std::uint8_t endpoint_len;  // then this many bytes of endpoint name: 1 .. max_name_len for joined / left, 0 else
  std::uint32_t reserved1;    // 0
};
static_assert(sizeof(MembershipBody) == 16);
static_assert(offsetof(MembershipBody, at_ns) == 0);
static_assert(offsetof(MembershipBody, change) == 8);
static_assert(offsetof(MembershipBody, reserved0) == 9);
static_assert(offsetof(MembershipBody, group_len) == 10);
static_assert(offsetof(MembershipBody, endpoint_len) == 11);
static_assert(offsetof(MembershipBody, reserved1) == 12);
static_assert(std::is_trivially_copyable_v<MembershipBody>);
namespace membership_change {
inline constexpr std::uint8_t joined = 1;         // endpoint became a member of group
inline constexpr std::uint8_t left = 2;           // endpoint stopped being a member of group
inline constexpr std::uint8_t group_created = 3;  // group exists (written by every add_group, and by compaction)
inline constexpr std::uint8_t group_removed = 4;  // group was removed, and its members with it
inline constexpr std::uint8_t first = joined, last = group_removed;
constexpr bool names_member(std::uint8_t c) noexcept { return c == joined || c == left; }
constexpr std::string_view name(std::uint8_t c) noexcept {
  switch (c) {
    case joined: return "joined";
    case left: return "left";
    case group_created: return "group_created";
    case group_removed: return "group_removed";
  }
  return "unknown";
}
}  // namespace membership_change

inline constexpr std::uint32_t message_min_body = sizeof(RecordHeader);  // 64
inline constexpr std::uint32_t settle_body_size = sizeof(SettleBody);    // 24
static_assert(message_min_body + (1u << 20) <= max_body, "a default 1 MiB payload fits");

// Whether a body length is possible for a kind (checked before the CRC).
constexpr bool length_fits_kind(Kind k, std::uint32_t length) noexcept {
  switch (k) {
    case Kind::message: return length >= message_min_body && length <= max_body;
    case Kind::delivered:
    case Kind::read:
    case Kind::expired: return length == settle_body_size;
    case Kind::name: return length > sizeof(NameBody) && length <= sizeof(NameBody) + max_name_len;
    case Kind::membership:
      return length > sizeof(MembershipBody) && length <= sizeof(MembershipBody) + 2 * max_name_len;
  }
  return false;
}

// The settle record of a final status: delivered and read have kinds of their
// own; any other settlement (expired, destination removed, ...) is `expired`.
constexpr Kind settle_kind(Status s) noexcept {
  return s == Status::delivered ? Kind::delivered : s == Status::read ? Kind::read : Kind::expired;
}
// The status a settle record (delivered / read / expired) says.
constexpr Status settled_status(Kind k) noexcept {
  return k == Kind::delivered ? Status::delivered : k == Kind::read ? Status::read : Status::expired;
}
static_assert(settled_status(settle_kind(Status::delivered)) == Status::delivered);
static_assert(settled_status(settle_kind(Status::read)) == Status::read);
static_assert(settled_status(settle_kind(Status::expired)) == Status::expired);

constexpr std::uint64_t align_up(std::uint64_t n) noexcept {
  return (n + record_alignment - 1) & ~std::uint64_t(record_alignment - 1);
}
// Bytes a record of `length` body bytes takes in the file, padding included
// (64 bits: a length not checked against max_record_body yet cannot wrap).
constexpr std::uint64_t record_span(std::uint64_t length) noexcept { return align_up(record_frame_size + length); }
static_assert(record_span(24) == 40);
static_assert(record_span(64) == 80);
static_assert(record_span(65) == 88);

}  // namespace courier::logfmt
