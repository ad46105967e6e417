// courier/detail/journal.hpp — the durable log: a directory of append-only segment
// files (format: docs/log-format.md, constants: log_format.hpp).
//
//   JournalWriter  one per process (or per thread that wants its own files):
//                  owns its segment files alone, so appending takes no lock
//                  shared with anyone. append() encodes into a memory buffer,
//                  flush() hands the whole batch to the kernel in one write(),
//                  sync() adds fdatasync(). Segments roll at a size.
//   JournalReader  reads one segment file, or every segment of a directory in
//                  name order (writer epoch, pid, sequence). Every length and
//                  offset read from disk is checked; a damaged record is
//                  reported with its file and offset and reading resumes at the
//                  next valid record; a torn tail (a writer that died in the
//                  middle of a write) is cut silently.
//
// Not here yet (next issues): group commit, the sync policy of the bus,
// recovery, spill, compaction. Nothing here knows shared memory.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/log_format.hpp"
#include "courier/detail/record.hpp"
#include "courier/status.hpp"
#include "courier/defaults.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"

namespace courier {

// Who wrote a segment: the process (pid + start time, process.hpp) and the
// moment its writer opened, which tells apart writers of one process and
// writers of processes with the same pid and start time across reboots.
struct JournalWriterId {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
  std::uint64_t epoch_ns = 0;
};

struct JournalOptions {
  // Roll to a new segment before a record would take the current one past this
  // many bytes (header included). A record larger than a whole segment goes
  // alone into a segment of its own. At least 4096.
  std::uint64_t segment_size = defaults::log_file_size;
  // append() flushes by itself once this many bytes are buffered (bounds memory).
  std::size_t buffer_limit = 1u << 20;
};

// Where a record went: its segment (sequence of this writer) and byte offset.
struct JournalPosition {
  std::uint64_t sequence = 0;
  std::uint64_t offset = 0;
};

class JournalWriter {
 public:
  // Creates the directory (and missing parents) with mode 0700 if needed, and
  // the writer's first segment (mode 0600). The directory entry is fsync'ed.
  static Result<JournalWriter> open(const std::string& dir, const JournalOptions& options = {});

  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  ~JournalWriter();  // flushes what is buffered (errors lost: call close() to see them); no sync

  // Buffers one record (body = head followed by tail, so a message needs no
  // copy into one buffer first). Refuses (invalid_argument) an unknown kind or
  // a length the kind cannot have; a message whose payload_len disagrees.
  // May flush (buffer_limit) or roll (segment_size, with fdatasync of the old
  // segment): then it can fail like flush().
  Result<JournalPosition> append(logfmt::Kind kind, std::span<const std::byte> head,
                                 std::span<const std::byte> tail = {});
  // A message record: the header (its frame word written as 0) and payload.
  Result<JournalPosition> append_message(const RecordHeader& header, std::span<const std::byte> payload);
  // A delivered / read / expired record.
  Result<JournalPosition> append_settle(logfmt::Kind kind, const logfmt::SettleBody& body);
  // A name record: the name of endpoint (or group) `id`.
  Result<JournalPosition> append_name(std::uint32_t id, bool group, std::string_view name);

  // The buffered records, in one write(). On failure the file is cut back to
  // its last complete batch and the batch stays buffered for a retry.
  Result<void> flush();
  // flush(), then fdatasync() of the current segment (earlier segments were
  // synced when they were rolled).
  Result<void> sync();
  // flush() and close the files. The writer is unusable afterwards.
  Result<void> close();
  // flush(), fdatasync() the current segment and start the next one now.
  Result<void> roll();
  // The current segment's file descriptor (for an fdatasync() made outside
  // the writer's lock; valid until the next roll() or close()).
  int fd() const noexcept { return fd_; }

  const std::string& directory() const noexcept { return dir_; }
  std::string segment_path() const;                            // the current segment file
  std::uint64_t sequence() const noexcept { return sequence_; }  // of the current segment
  std::uint64_t segment_bytes() const noexcept { return file_size_ + buffer_.size(); }
  std::size_t buffered_bytes() const noexcept { return buffer_.size(); }
  const JournalWriterId& writer_id() const noexcept { return id_; }

 private:
  JournalWriter() = default;
  Result<void> create_segment(std::uint64_t sequence);
  void release() noexcept;

  std::string dir_;
  JournalOptions options_;
  JournalWriterId id_;
  int dir_fd_ = -1;
  int fd_ = -1;
  std::uint64_t sequence_ = 0;
  std::uint64_t salt_ = 0;
  std::uint64_t file_size_ = 0;  // bytes on the file (header and complete batches)
  std::vector<std::byte> buffer_;
  bool broken_ = false;  // a failed write could not be cut back: refuse further appends
  bool closed_ = false;
};

// The format as functions (the writer uses them; the tests pin their bytes).
// The header of segment `sequence` of `writer`, CRC filled in.
logfmt::SegmentHeader make_journal_segment_header(const JournalWriterId& writer, std::uint64_t sequence,
                                                  std::uint64_t salt) noexcept;
// Appends to `out` the bytes of one record (frame, body = head + tail, padding)
// as it lies at `offset` of a segment whose salt is `salt`. Checks nothing:
// JournalWriter::append checks the kind and length first.
void encode_journal_record(std::vector<std::byte>& out, std::uint64_t salt, std::uint64_t offset, logfmt::Kind kind,
                           std::span<const std::byte> head, std::span<const std::byte> tail = {});

// The name of a segment file, and its parse (false when `name` is not one).
std::string journal_segment_name(const JournalWriterId& writer, std::uint64_t sequence);
bool parse_journal_segment_name(std::string_view name, JournalWriterId& writer, std::uint64_t& sequence) noexcept;

struct JournalSegmentInfo {
  std::string path;
  JournalWriterId writer;
  std::uint64_t sequence = 0;
  std::uint64_t salt = 0;
  std::uint64_t file_size = 0;
};

struct JournalRecord {
  logfmt::Kind kind = logfmt::Kind::message;
  std::span<const std::byte> body;        // valid until the next call of next()
  std::uint64_t offset = 0;               // of the record's frame in its file
  const JournalSegmentInfo* segment = nullptr;  // valid until the next call of next()
};

// Bytes that are not a valid record, and are not a torn tail.

// The end of a file that holds the beginning of a record never finished:
// ignored, and listed here (recovery may truncate it).
struct JournalTornTail {
  std::string file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

namespace detail {
// A byte buffer for whole segments: anonymous memory asking for huge pages
// (a 64 MiB segment read into fresh 4 KiB pages cost ~16,000 page faults, more
// than the copy itself), never zeroed by us (pread fills it at once), and kept
// across files, and across readers when one is passed in
// JournalReaderOptions::buffer (one reader at a time per buffer).
class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer();
  std::byte* data() noexcept { return p_; }
  const std::byte* data() const noexcept { return p_; }
  std::uint64_t size() const noexcept { return size_; }
  std::byte operator[](std::uint64_t i) const noexcept { return p_[i]; }
  void clear() noexcept { size_ = 0; }
  // Contents are not kept when it grows (the reader refills it). Throws bad_alloc.
  void resize(std::uint64_t n);

 private:
  std::byte* p_ = nullptr;
  std::uint64_t size_ = 0, cap_ = 0;
};
}  // namespace detail

struct JournalReaderOptions {
  // A file larger than this is reported as damage and not read (a reader holds
  // one whole segment in memory).
  std::uint64_t max_file_size = 1ull << 30;
  // Read into this buffer (kept warm across readers) instead of a new one.
  std::shared_ptr<detail::ReadBuffer> buffer;
};


class JournalReader {
 public:
  // `start`: begin at this offset (a record boundary from an earlier read of
  // the same file) instead of the first record.
  static Result<JournalReader> open_file(const std::string& path, const JournalReaderOptions& options = {},
                                         std::uint64_t start = 0);
  // Every file of `dir` named like a segment, in name order. Other files are ignored.
  static Result<JournalReader> open_directory(const std::string& dir, const JournalReaderOptions& options = {});

  // The next valid record into `out`: true, or false after the last one.
  // An error only for the OS (a file that cannot be opened or read).
  Result<bool> next(JournalRecord& out);

  const std::vector<JournalDamage>& damage() const noexcept { return damage_; }
  const std::vector<JournalTornTail>& torn_tails() const noexcept { return torn_; }
  const std::vector<std::string>& files() const noexcept { return files_; }

 private:
  JournalReader() = default;
  Result<bool> load(const std::string& path);  // false: nothing to read in it (damage or torn)
  struct Check;
  Check check(std::uint64_t pos) const noexcept;
  bool torn_at(std::uint64_t pos) const noexcept;

  JournalReaderOptions options_;
  std::vector<std::string> files_;
  std::size_t next_file_ = 0;
  bool from_directory_ = false;  // a listed file that vanished is skipped, not an error
  bool loaded_ = false;
  JournalSegmentInfo info_;
  std::shared_ptr<detail::ReadBuffer> buf_;
  std::uint64_t pos_ = 0;
  std::uint64_t start_ = 0;
  std::uint64_t zero_from_ = 0;  // all bytes from here to the end of data_ are zero
  std::vector<JournalDamage> damage_;
  std::vector<JournalTornTail> torn_;
};

// A message record's body, checked.
struct JournalMessage {
  RecordHeader header;
  std::span<const std::byte> payload;
};
Result<JournalMessage> decode_journal_message(std::span<const std::byte> body);
Result<logfmt::SettleBody> decode_journal_settle(std::span<const std::byte> body);
struct JournalName {
  std::uint32_t id = 0;
  bool group = false;
  std::string name;
};
Result<JournalName> decode_journal_name(std::span<const std::byte> body);

}  // namespace courier
