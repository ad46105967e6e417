/// @file
/// Read a bus's durable log as it is on disk (LogInspector).
///
/// A LogInspector opens the journals of one bus (LOG_DIR/BUS, see Options::log_dir)
/// and yields every valid record in file order: messages (header fields and
/// payload), settle records (delivered, read, expired: which message, sender,
/// recipient, when), name records (the name of an endpoint or group id) and
/// membership records (a group's creation or removal, a member joining or
/// leaving, by names, and when).
/// It only reads: the bus need not exist, and nothing is written or locked, so a
/// log being written may show a torn tail (a record not finished yet).
///
/// Endpoint and group ids in a record mean something only with the name records
/// of the same segment file; name_of() answers from the segment being read.
/// Bytes that are not valid records are skipped and listed by damage(); the cut
/// ends of files whose last write did not finish by torn_tails(). A whole file
/// that is not read is damage too (offset 0, length 0, the reason): one that is
/// not a regular file (a FIFO is never waited on), is owned by another uid than
/// the directory, or cannot be opened or read. The directory itself may not be
/// a symbolic link.
///
///     auto log = courier::LogInspector::open("/var/lib/app/log/orders");
///     courier::LogRecord r;
///     while (auto more = log->next(r)) { if (!*more) break; ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "courier/ids.hpp"
#include "courier/result.hpp"

namespace courier {

/// The kind of a journal record.
enum class LogRecordKind : std::uint8_t {
  message = 1,     ///< a message sent with an expiry (the bus owes it to its recipient)
  delivered = 2,   ///< its recipient took it
  read = 3,        ///< its recipient marked it read
  expired = 4,     ///< its deadline passed (recipient 0: every recipient still owed)
  name = 5,        ///< the name of an endpoint or group id, for the records of its segment
  membership = 6,  ///< a group created or removed, a member joined or left (by names)
};
/// Every LogRecordKind, in order.
inline constexpr LogRecordKind log_record_kinds[] = {LogRecordKind::message, LogRecordKind::delivered,
                                                     LogRecordKind::read,    LogRecordKind::expired,
                                                     LogRecordKind::name,    LogRecordKind::membership};
/// "message", "delivered", "read", "expired", "name", "membership" (compiled; never blocks or allocates).
std::string_view log_record_kind_name(LogRecordKind kind) noexcept;

/// One record. Only the fields of its kind are set (the others are zero);
/// `file` and `payload` are valid until the next call of next().
struct LogRecord {
  LogRecordKind kind = LogRecordKind::message;  ///< which fields below are set
  std::string_view file{};                      ///< the segment file
  std::uint64_t offset = 0;                     ///< of the record in its file
  std::uint64_t length = 0;                     ///< bytes of its body
  std::string error{};  ///< not empty: the body could not be decoded (why); no field below is set
  /// message: its id; delivered, read, expired: the id of the message settled;
  /// name: the endpoint or group id named.
  std::uint64_t id = 0;
  EndpointId from = 0;                   ///< message: its sender
  EndpointId to = 0;                     ///< message: its recipient
  GroupId group = 0;                     ///< message: its group (0: not a group message)
  std::uint8_t priority = 0;             ///< message: its priority
  std::uint8_t flags = 0;                ///< message: the record's flags (redelivered, read, forwarded bits)
  std::uint32_t type = 0;                ///< message: its type
  std::uint32_t payload_len = 0;         ///< message: its payload's length
  std::uint64_t timestamp_ns = 0;        ///< message: when the bus accepted it (CLOCK_REALTIME)
  std::uint64_t expires_ns = 0;          ///< message: its deadline (CLOCK_REALTIME)
  std::span<const std::byte> payload{};  ///< message: its payload
  EndpointId sender = 0;                 ///< delivered, read, expired: the settled message's sender
  EndpointId recipient = 0;              ///< delivered, read, expired: the recipient (expired: 0 for every one)
  std::uint64_t at_ns = 0;               ///< delivered, read, expired, membership: when (CLOCK_REALTIME)
  bool names_group = false;              ///< name: a group id (else an endpoint id)
  std::string name{};                    ///< name: the name
  /// membership: one of "joined", "left", "group_created", "group_removed".
  std::string_view change{};
  std::string group_name{};  ///< membership: the group
  std::string member{};      ///< membership: the member (empty for group_created, group_removed)
};

/// A stretch of a file: damage (bytes that are no valid record, with a reason)
/// or a torn tail (a write that did not finish; reason empty).
struct LogRegion {
  std::string file{};        ///< the journal file
  std::uint64_t offset = 0;  ///< its first byte
  std::uint64_t length = 0;  ///< its length (0 with offset 0: the whole file was not read)
  std::string reason{};      ///< damage: why; a torn tail: empty
};

/// Reads the journals of one bus, record by record, without writing or
/// locking anything (see the file's description). A move-only handle that
/// owns the file it reads and a read buffer.
///
/// @threads One thread at a time per inspector; several inspectors (in any
/// processes) may read the same log, also while it is written.
class LogInspector {
 public:
  /// The journals in `bus_log_dir` (LOG_DIR/BUS): lists the directory and
  /// allocates. @errors Errc::not_found when the directory does not exist;
  /// Errc::invalid_argument when it is a symbolic link or not a directory;
  /// Errc::system when it cannot be read.
  static Result<LogInspector> open(const std::string& bus_log_dir);
  /// Moves the reading position and the files with it.
  LogInspector(LogInspector&&) noexcept;
  /// Moves the reading position and the files with it.
  LogInspector& operator=(LogInspector&&) noexcept;
  /// Closes the file being read.
  ~LogInspector();

  /// The next valid record into `out`: true, or false after the last one.
  /// Reads files (blocking disk I/O) and may allocate; damage and torn tails
  /// are skipped and recorded, not errors. @errors only when the process
  /// cannot go on (out of descriptors or memory): Errc::system.
  Result<bool> next(LogRecord& out);

  /// The name the current segment gives endpoint (or group) `id`, or nullptr.
  const std::string* name_of(std::uint32_t id, bool group = false) const;

  const std::vector<std::string>& files() const;  ///< the segment files, in read order
  std::uint64_t bytes() const;                    ///< their sizes (those still there)
  /// The bytes the writers wrote in the files read to their end so far (all
  /// of them once next() returned false): each file's header, records, damage
  /// and torn tail, without the zeros a writer preallocates after its last
  /// record (journal files grow in 8 MiB steps; see docs/log-format.md), so
  /// less than bytes() while a writer lives or after one was killed.
  std::uint64_t record_bytes() const;
  /// Damage found so far (all of it once next() returned false).
  std::vector<LogRegion> damage() const;
  /// Torn tails found so far (all of them once next() returned false).
  std::vector<LogRegion> torn_tails() const;

 private:
  struct Impl;
  explicit LogInspector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace courier
