// courier/detail/journal_reader.hpp — reads journal files back.
//
// A JournalReader reads one journal file, or every journal file of a
// directory in name order (writer epoch, pid, sequence). Every length and
// offset read from disk is checked; a damaged record is reported with its
// file and offset and reading resumes at the next valid record; a torn tail
// (a writer that died in the middle of a write) is cut silently. A file that
// is not a regular file (a FIFO, a directory, a link, a device), belongs to
// another uid, or cannot be opened or read is damage too (offset 0, length 0,
// the reason): skipped, never waited on (opened O_NONBLOCK|O_NOFOLLOW).
// Compiled in src/journal_reader.cpp.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"

namespace courier {

struct JournalRecord {
  logfmt::Kind kind = logfmt::Kind::message;
  std::span<const std::byte> body;           // valid until the next call of next()
  std::uint64_t offset = 0;                  // of the record's frame in its file
  const JournalFileInfo* segment = nullptr;  // its journal file; valid until the next call of next()
};

// JournalDamage (bytes that are not a valid record, and are not a torn tail)
// is public: courier/stats.hpp, in RecoveryReport.

// The end of a file that holds the beginning of a record never finished:
// ignored, and listed here (recovery may truncate it).
struct JournalTornTail {
  std::string file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

namespace detail {
// A byte buffer for whole journal files: anonymous memory asking for huge
// pages (a 64 MiB file read into fresh 4 KiB pages cost ~16,000 page faults,
// more than the copy itself), never zeroed by us (pread fills it at once), and
// kept across files, and across readers when one is passed in
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

// What one read of journal files found whole, for a later read of the same
// files (recovery reads them two or three times): per file (by path), its
// identity as fstat gave it, and the end of its first records whose CRCs held
// (from the file header to the first bytes that were not a record).
struct CheckedFile {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;                   // bytes read
  std::int64_t mtime_ns = 0, ctime_ns = 0;  // st_mtim, st_ctim
  std::uint64_t end = 0;                    // [file header, end): records whose CRCs held
};
using CheckedFiles = std::unordered_map<std::string, CheckedFile>;
}  // namespace detail

struct JournalReaderOptions {
  // A file larger than this is reported as damage and not read (a reader holds
  // one whole journal file in memory).
  std::uint64_t max_file_size = detail::log_defaults::max_read_file_size;
  // Read into this buffer (kept warm across readers) instead of a new one.
  std::shared_ptr<detail::ReadBuffer> buffer;
  // A file owned by another uid is damage, not read (it could be a forged
  // journal). Unset: this process's effective uid.
  std::optional<uid_t> owner;
  // The files may be written while they are read (the spill forwarder reads
  // the journals of living senders). In a file whose writer is alive, the
  // first bytes that are not a valid record end the read of that file
  // (stopped_at_write()) instead of being skipped as damage: they are a write
  // in progress (a reader's pread can see a later page of a pwrite before an
  // earlier one), and the records behind them come in a later read, in order.
  // A dead writer's file is read as without this option.
  bool live = false;
  // Recovery's reads of the same files (docs/design.md, "The CRC checked
  // once"): a reader given `note_checked` notes there what it found whole; one
  // given `skip_checked` does not compute the CRC of a record inside such a
  // span of a file whose device, inode, size, mtime and ctime are unchanged
  // (every other check of the frame is made; other files and records as usual).
  std::shared_ptr<detail::CheckedFiles> note_checked;
  std::shared_ptr<const detail::CheckedFiles> skip_checked;
  // Read no more than the first `read_limit` bytes of each file (0: all of
  // it). What lies past them is not looked at: a record the limit cuts ends
  // the read as a torn tail would. For a first look that only needs early
  // records (the housekeeper's: is one of them still owed?), never for a
  // recovery.
  std::uint64_t read_limit = 0;
  // Read the next file of a directory on a helper thread (open, checks of
  // its owner and type, the whole-file pread) while the records of this one
  // are returned: the copy out of the page cache overlaps the caller's work
  // on another CPU. Into `ahead_buffer` (made when not given); what the
  // reader returns is the same with or without it. For recovery, whose
  // reads of whole directories are long; a reader of one file, or resuming
  // from `start`, reads no file ahead.
  // Files smaller than read_ahead_from are read in their turn (a thread
  // costs more than their pread).
  bool read_ahead = false;
  std::shared_ptr<detail::ReadBuffer> ahead_buffer;
  static constexpr std::uint64_t read_ahead_from = 1u << 20;
};

class JournalReader {
 public:
  // `start`: begin at this offset (a record boundary from an earlier read of
  // the same file) instead of the first record.
  static Result<JournalReader> open_file(const std::string& path, const JournalReaderOptions& options = {},
                                         std::uint64_t start = 0);
  // Every file of `dir` named like a journal file, in name order. Other files
  // are ignored. `dir` itself may not be a symbolic link (invalid_argument).
  static Result<JournalReader> open_directory(const std::string& dir, const JournalReaderOptions& options = {});

  // The next valid record into `out`: true, or false after the last one.
  // An error only when the process cannot go on (out of descriptors or
  // memory): a file that cannot be opened or read is damage.
  Result<bool> next(JournalRecord& out);

  const std::vector<JournalDamage>& damage() const noexcept { return damage_; }
  const std::vector<JournalTornTail>& torn_tails() const noexcept { return torn_; }
  const std::vector<std::string>& files() const noexcept { return files_; }
  // The sizes of those files that are regular files, summed (as the
  // filesystem has them: a living writer's preallocated space included).
  std::uint64_t file_bytes() const noexcept;
  // With JournalReaderOptions::live: the read of a file stopped at bytes its
  // living writer has not finished writing (read it again later from the
  // last record returned).
  bool stopped_at_write() const noexcept { return stopped_at_write_; }
  // The bytes of the files read to their end that writers wrote: each file's
  // header, records, damage and torn tail, without the zeros after its last
  // record (a preallocated file, docs/log-format.md). Files not read (refused,
  // or torn in their header) add nothing.
  std::uint64_t written_bytes() const noexcept { return written_; }
  // The bytes read from files so far (what read_limit bounds).
  std::uint64_t read_bytes() const noexcept { return read_; }

 private:
  JournalReader() = default;
  Result<bool> load(const std::string& path);  // false: nothing to read in it (damage or torn)
  // The file-level part of a load (look, open, read the whole file into a
  // buffer): no member of the reader is touched, so it runs on the helper
  // thread for read_ahead too.
  struct Fetched;
  struct FetchLimits {
    uid_t owner = 0;
    bool from_directory = false;
    std::uint64_t max_file_size = 0, read_limit = 0;
  };
  static Fetched fetch(const std::string& path, const FetchLimits& limits, detail::ReadBuffer& buf);
  FetchLimits fetch_limits() const noexcept;
  void fetch_ahead();  // read_ahead: start the fetch of files_[next_file_] into ahead_buf_
  struct Check;
  Check check(std::uint64_t pos) const noexcept;
  bool torn_at(std::uint64_t pos) const noexcept;
  static std::string unusable_for(const struct stat& st, uid_t owner);  // why a file is not read, or ""

  JournalReaderOptions options_;
  uid_t owner_ = 0;  // of the files read
  std::vector<std::string> files_;
  std::size_t next_file_ = 0;
  bool from_directory_ = false;  // a listed file that vanished is skipped, not an error
  bool loaded_ = false;
  bool stopped_at_write_ = false;
  JournalFileInfo info_;
  std::shared_ptr<detail::ReadBuffer> buf_;
  std::shared_ptr<detail::ReadBuffer> ahead_buf_;  // read_ahead: the next file's, filled by the helper
  struct Ahead;                                    // the helper's fetch of files_[next_file_] (src/journal_reader.cpp)
  std::shared_ptr<Ahead> ahead_;                   // read_ahead; its last owner waits for the helper
  std::uint64_t pos_ = 0;
  std::uint64_t start_ = 0;
  std::uint64_t zero_from_ = 0;  // all bytes from here to the end of data_ are zero
  std::uint64_t written_ = 0;    // written_bytes()
  std::uint64_t read_ = 0;       // read_bytes()
  std::uint64_t checked_end_ = 0;                // skip_checked: the CRC of records before this was checked
  detail::CheckedFile* noting_ = nullptr;        // note_checked: this file's entry, while its records are whole
  std::vector<JournalDamage> damage_;
  std::vector<JournalTornTail> torn_;
};

}  // namespace courier
