// courier/detail/journal_writer.hpp — appends records to journal files.
//
// One JournalWriter per process (or per thread that wants its own files) owns
// its journal files alone, so appending takes no lock shared with anyone.
// append() encodes into a memory buffer, flush() hands the whole batch to the
// kernel in one write(), sync() adds fdatasync(). Files roll at a size.
// Compiled in src/journal_writer.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/result.hpp"

namespace courier {

struct JournalOptions {
  // Roll to a new journal file before a record would take the current one
  // past this many bytes (header included). A record larger than a whole file
  // goes alone into a file of its own. At least 4096.
  std::uint64_t segment_size = detail::log_defaults::journal_file_size;
  // append() flushes by itself once this many bytes are buffered (bounds memory).
  std::size_t buffer_limit = detail::log_defaults::journal_buffer_limit;
  // When not 0, a flush that would write past the allocated end first
  // allocates (fallocate, mode 0: the file's size grows) this many bytes more,
  // so the fdatasync of most batches does not change the file's size. The
  // zeros after the last record end the file for a reader (docs/log-format.md);
  // roll() and close() cut the file back to its records. A file system
  // without fallocate: no preallocation.
  std::uint64_t preallocate = 0;
  // Write batches with O_DIRECT where the file system takes it: each write
  // covers whole 4 KiB blocks (the last, partly written block of the file
  // again, from a copy, and zeros after the last record, which end the file
  // for a reader), from an aligned copy of the batch, so the batch's bytes
  // skip the page cache and its fdatasync has no dirty pages to write back
  // (docs/design.md, "Batches written with O_DIRECT"). A file system that
  // refuses it (EINVAL at open or at a write; tmpfs before Linux 6.6):
  // buffered writes, as without it. The syncs are the caller's, as without it.
  bool direct = false;
};

// Where a record went: its journal file (sequence of this writer) and byte offset.
struct JournalPosition {
  std::uint64_t sequence = 0;
  std::uint64_t offset = 0;
};

class JournalWriter {
 public:
  // Creates the directory (and missing parents) with mode 0700 if needed, and
  // the writer's first journal file (mode 0600). The directory entry is fsync'ed.
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
  // file): then it can fail like flush().
  Result<JournalPosition> append(logfmt::Kind kind, std::span<const std::byte> head,
                                 std::span<const std::byte> tail = {});
  // A message record: the header (its frame word written as 0) and payload.
  Result<JournalPosition> append_message(const RecordHeader& header, std::span<const std::byte> payload);
  // A delivered / read / expired record.
  Result<JournalPosition> append_settle(logfmt::Kind kind, const logfmt::SettleBody& body);
  // A name record: the name of endpoint (or group) `id`.
  Result<JournalPosition> append_name(std::uint32_t id, bool group, std::string_view name);
  // A membership record (logfmt::membership_change): `endpoint` empty for a
  // group's creation or removal.
  Result<JournalPosition> append_membership(std::uint8_t change, std::string_view group, std::string_view endpoint,
                                            std::uint64_t at_ns);

  // The buffered records, in one write(). On failure the file is cut back to
  // its last complete batch and the batch stays buffered for a retry.
  Result<void> flush();
  // A flush() in three steps, so that the write runs outside the caller's
  // lock (the log's group commit): take_batch() moves the buffered records
  // into `batch` (empty on entry; its storage is reused) while later appends
  // go on behind them, at the offsets they will have; write_taken(batch)
  // writes them, and may run beside append*() and the queries, never beside
  // another call; end_taken(batch, ok) takes its result: written, or back at
  // the front of the buffer for a retry (the file cut back as flush() does).
  // Until end_taken, flush(), roll() and close() refuse.
  void take_batch(std::vector<std::byte>& batch);
  Result<void> write_taken(std::span<const std::byte> batch);
  void end_taken(std::vector<std::byte>& batch, bool written);
  // Bytes taken by take_batch() and not yet ended.
  std::size_t taken_bytes() const noexcept { return taken_; }
  // flush(), then fdatasync() of the current file (earlier files were synced
  // when they were rolled).
  Result<void> sync();
  // flush() and close the files. The writer is unusable afterwards.
  Result<void> close();
  // flush(), fdatasync() the current file and start the next one now.
  Result<void> roll();
  // The current file's descriptor (for an fdatasync() made outside the
  // writer's lock; valid until the next roll() or close()).
  int fd() const noexcept { return fd_; }
  // JournalOptions::direct: bytes of the aligned copy kept for the next
  // write (it grows with the largest batch, and goes back to a block at the
  // next file when it grew past staging_kept_max).
  std::size_t staging_capacity() const noexcept { return staging_cap_; }
  static constexpr std::size_t staging_kept_max = 4u << 20;

  const std::string& directory() const noexcept { return dir_; }
  std::string file_path() const;                                 // the current journal file
  std::uint64_t sequence() const noexcept { return sequence_; }  // of the current journal file
  std::uint64_t file_bytes() const noexcept {
    return file_size_ + taken_ + buffer_.size();
  }  // of the current file, buffer (and a batch taken) included
  // The older names (the tests and bench_log use them).
  std::string segment_path() const { return file_path(); }
  std::uint64_t segment_bytes() const noexcept { return file_bytes(); }
  std::size_t buffered_bytes() const noexcept { return buffer_.size(); }
  const JournalWriterId& writer_id() const noexcept { return id_; }
  // The current file is written with O_DIRECT (JournalOptions::direct, taken by its file system).
  bool writes_direct() const noexcept { return dfd_ >= 0; }

 private:
  JournalWriter() = default;
  Result<void> create_file(std::uint64_t sequence);
  // append()'s refusals of a record's kind and body (invalid_argument).
  static Result<void> check_body(logfmt::Kind kind, std::span<const std::byte> head, std::span<const std::byte> tail);
  // append() of a body check_body() accepted, the writer open and not broken.
  Result<JournalPosition> append_checked(logfmt::Kind kind, std::span<const std::byte> head,
                                         std::span<const std::byte> tail);
  void preallocate(std::uint64_t end) noexcept;
  Result<void> cut_preallocation();
  // Write `bytes` at file_size_ (preallocating first); on failure cut the file back to file_size_
  // (`cut_failed` when that failed too).
  Result<void> write_at_end(std::span<const std::byte> bytes, bool& cut_failed);
  // write_at_end through dfd_: false (nothing written) when the file system
  // refused the direct write (EINVAL): direct writes are then off.
  bool write_direct(std::span<const std::byte> bytes, Result<void>& result, bool& cut_failed);
  // After a failed write of `bytes` (errno `err`): the file cut back to file_size_ so that a retry
  // writes the batch whole at the same offsets (`cut_failed` when that failed too); the error.
  Error cut_back(int err, std::size_t bytes, bool& cut_failed);
  // staging_ holds at least `bytes`, its first `keep` bytes kept.
  bool reserve_staging(std::size_t bytes, std::size_t keep) noexcept;
  // The current file's O_DIRECT descriptor, when options_.direct and the file system takes it.
  void open_direct(const std::string& name, const logfmt::FileHeader& h) noexcept;
  Error broken_error() const;
  void release() noexcept;

  std::string dir_;
  JournalOptions options_;
  JournalWriterId id_;
  int dir_fd_ = -1;
  int fd_ = -1;
  // JournalOptions::direct: the current file opened again with O_DIRECT (-1:
  // not direct), and an aligned copy of the next write: the bytes of the
  // file's last partial block (file_size_ % direct_block of them) at its
  // start, then the batch, then zeros to a block's end.
  static constexpr std::size_t direct_block = 4096;
  int dfd_ = -1;
  bool direct_refused_ = false;  // the file system refused O_DIRECT: not tried again
  std::byte* staging_ = nullptr;
  std::size_t staging_cap_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t salt_ = 0;
  std::uint64_t file_size_ = 0;  // bytes on the file (header and complete batches)
  std::uint64_t allocated_ = 0;  // the file's size: file_size_, or more when preallocated
  std::vector<std::byte> buffer_;
  std::size_t taken_ = 0;           // take_batch()'s bytes, between buffer_ and the file, until end_taken()
  bool taken_cut_failed_ = false;   // write_taken() failed and could not cut the file back (end_taken: broken_)
  bool broken_ = false;  // a failed write could not be cut back: refuse further appends
  bool closed_ = false;
};

}  // namespace courier
