// Appending records to journal files (courier/detail/journal_writer.hpp).
#include "courier/detail/journal_writer.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "courier/detail/clock.hpp"
#include "courier/detail/process.hpp"
#include "journal_codec.hpp"

namespace courier {
namespace {

using journal_codec::sys_error;
using logfmt::Kind;

std::uint64_t random_salt() noexcept {
  std::uint64_t salt = 0;
  if (::getrandom(&salt, sizeof salt, 0) == static_cast<ssize_t>(sizeof salt)) return salt;
  // No entropy source: still different per file and per writer.
  static std::uint64_t counter = 0;
  salt = realtime_ns() ^ (static_cast<std::uint64_t>(::getpid()) << 40) ^ (++counter * 0x9E3779B97F4A7C15ull);
  return salt;
}

Result<void> make_directories(const std::string& dir) {
  if (dir.empty()) return Error(Errc::invalid_argument, "journal directory: empty path");
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    if (dir[i - 1] == '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return sys_error(errno, "creating journal directory '" + prefix + "'");
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return sys_error(errno, "journal directory '" + dir + "'");
  if (!S_ISDIR(st.st_mode)) return Error(Errc::invalid_argument, "journal directory '" + dir + "': not a directory");
  return {};
}

// Byte i of the concatenation of a and b.
std::byte byte_of(std::span<const std::byte> a, std::span<const std::byte> b, std::size_t i) noexcept {
  return i < a.size() ? a[i] : b[i - a.size()];
}

}  // namespace

Result<JournalWriter> JournalWriter::open(const std::string& dir, const JournalOptions& options) {
  if (options.segment_size < detail::log_defaults::min_journal_file_size)
    return Error(Errc::invalid_argument, "journal: segment_size " + std::to_string(options.segment_size) +
                                             " is below the minimum of " +
                                             std::to_string(detail::log_defaults::min_journal_file_size));
  if (auto r = make_directories(dir); !r) return std::move(r).error();
  JournalWriter w;
  w.dir_ = dir;
  w.options_ = options;
  w.dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w.dir_fd_ < 0) return sys_error(errno, "opening journal directory '" + dir + "'");
  const ProcessIdentity self = self_identity();
  w.id_.pid = self.pid;
  w.id_.start_ticks = self.start_ticks;
  w.id_.epoch_ns = realtime_ns();
  // Two writers opened in the same nanosecond by one process: the second takes the next epoch.
  for (int attempt = 0;; ++attempt) {
    auto r = w.create_file(0);
    if (r) break;
    if (r.error().code != Errc::already_exists || attempt == detail::log_defaults::writer_open_attempts)
      return std::move(r).error();
    ++w.id_.epoch_ns;
  }
  return w;
}

JournalWriter::JournalWriter(JournalWriter&& o) noexcept
    : dir_(std::move(o.dir_)),
      options_(o.options_),
      id_(o.id_),
      dir_fd_(std::exchange(o.dir_fd_, -1)),
      fd_(std::exchange(o.fd_, -1)),
      dfd_(std::exchange(o.dfd_, -1)),
      direct_refused_(o.direct_refused_),
      staging_(std::exchange(o.staging_, nullptr)),
      staging_cap_(std::exchange(o.staging_cap_, 0)),
      sequence_(o.sequence_),
      salt_(o.salt_),
      file_size_(o.file_size_),
      allocated_(o.allocated_),
      buffer_(std::move(o.buffer_)),
      broken_(o.broken_),
      closed_(std::exchange(o.closed_, true)) {
  o.buffer_.clear();
}

JournalWriter& JournalWriter::operator=(JournalWriter&& o) noexcept {
  if (this != &o) {
    (void)close();
    dir_ = std::move(o.dir_);
    options_ = o.options_;
    id_ = o.id_;
    dir_fd_ = std::exchange(o.dir_fd_, -1);
    fd_ = std::exchange(o.fd_, -1);
    dfd_ = std::exchange(o.dfd_, -1);
    direct_refused_ = o.direct_refused_;
    std::free(staging_);
    staging_ = std::exchange(o.staging_, nullptr);
    staging_cap_ = std::exchange(o.staging_cap_, 0);
    sequence_ = o.sequence_;
    salt_ = o.salt_;
    file_size_ = o.file_size_;
    allocated_ = o.allocated_;
    buffer_ = std::move(o.buffer_);
    o.buffer_.clear();
    broken_ = o.broken_;
    closed_ = std::exchange(o.closed_, true);
  }
  return *this;
}

JournalWriter::~JournalWriter() {
  (void)close();
  std::free(staging_);
}

void JournalWriter::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  if (dfd_ >= 0) ::close(dfd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  fd_ = dfd_ = dir_fd_ = -1;
}

bool JournalWriter::reserve_staging(std::size_t bytes, std::size_t keep) noexcept {
  if (bytes <= staging_cap_) return true;
  // Whole blocks, and room to grow: a batch a little larger than the last does not reallocate.
  const std::size_t cap =
      (std::max(bytes, staging_cap_ + staging_cap_ / 2) + direct_block - 1) / direct_block * direct_block;
  auto* grown = static_cast<std::byte*>(std::aligned_alloc(direct_block, cap));
  if (grown == nullptr) return false;
  if (keep != 0) std::memcpy(grown, staging_, keep);
  std::free(staging_);
  staging_ = grown;
  staging_cap_ = cap;
  return true;
}

void JournalWriter::open_direct(const std::string& name, const logfmt::FileHeader& h) noexcept {
  if (!options_.direct || direct_refused_) return;
  // The file's header is its first partial block: the next write writes it again, from staging_.
  static_assert(sizeof h < direct_block);
  if (staging_cap_ > staging_kept_max) {  // grown by a rare big batch: not kept for every file after it
    std::free(staging_);
    staging_ = nullptr;
    staging_cap_ = 0;
  }
  if (!reserve_staging(direct_block, 0)) return;
  std::memcpy(staging_, &h, sizeof h);
  const int dfd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == EINVAL) direct_refused_ = true;  // a file system without O_DIRECT (tmpfs): buffered from now on
    return;                                       // anything else: buffered for this file
  }
  dfd_ = dfd;
}

std::string JournalWriter::file_path() const { return dir_ + "/" + journal_file_name(id_, sequence_); }

Error JournalWriter::broken_error() const {
  return Error(Errc::system, "journal file '" + file_path() + "': a failed write could not be cut back");
}

Result<void> JournalWriter::create_file(std::uint64_t sequence) {
  const std::string name = journal_file_name(id_, sequence);
  const std::string path = dir_ + "/" + name;
  const int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "creating journal file '" + path + "'");
  const logfmt::FileHeader h = make_journal_file_header(id_, sequence, random_salt());
  const ssize_t n = ::pwrite(fd, &h, sizeof h, 0);
  if (n != static_cast<ssize_t>(sizeof h)) {
    const int err = n < 0 ? errno : EIO;
    ::close(fd);
    ::unlinkat(dir_fd_, name.c_str(), 0);
    return sys_error(err, "writing the header of journal file '" + path + "'");
  }
  // The new name must survive a power loss before any record in it is promised.
  if (::fsync(dir_fd_) != 0) {
    const int err = errno;
    ::close(fd);
    return sys_error(err, "fsync of journal directory '" + dir_ + "'");
  }
  if (fd_ >= 0) ::close(fd_);
  if (dfd_ >= 0) ::close(dfd_);
  fd_ = fd;
  dfd_ = -1;
  sequence_ = sequence;
  salt_ = h.salt;
  file_size_ = sizeof h;
  allocated_ = sizeof h;
  open_direct(name, h);
  return {};
}

void JournalWriter::preallocate(std::uint64_t end) noexcept {
  const std::uint64_t step = options_.preallocate;
  if (step == 0 || end <= allocated_) return;
  const std::uint64_t to = (end / step + 1) * step;
  // Failure (no fallocate here, no space) is not an error: the write extends the file.
  if (::fallocate(fd_, 0, static_cast<off_t>(allocated_), static_cast<off_t>(to - allocated_)) == 0) allocated_ = to;
}

// Back to the records: the zeros past them are not written to the disk again.
Result<void> JournalWriter::cut_preallocation() {
  if (allocated_ <= file_size_) return {};
  if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0)
    return sys_error(errno, "cutting journal file '" + file_path() + "' back to its records");
  allocated_ = file_size_;
  return {};
}

Result<void> JournalWriter::roll() {
  if (auto r = flush(); !r) return r;
  if (auto r = cut_preallocation(); !r) return r;
  if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync of journal file '" + file_path() + "'");
  ::close(fd_);
  if (dfd_ >= 0) ::close(dfd_);
  fd_ = dfd_ = -1;
  return create_file(sequence_ + 1);  // on failure append() tries again
}

Result<JournalPosition> JournalWriter::append(Kind kind, std::span<const std::byte> head,
                                              std::span<const std::byte> tail) {
  if (closed_) return Error(Errc::invalid_argument, "journal writer is closed");
  if (broken_) return broken_error();
  if (auto r = check_body(kind, head, tail); !r) return std::move(r).error();
  return append_checked(kind, head, tail);
}

Result<void> JournalWriter::check_body(Kind kind, std::span<const std::byte> head, std::span<const std::byte> tail) {
  const auto k = static_cast<std::uint8_t>(kind);
  if (!journal_codec::kind_known(k))
    return Error(Errc::invalid_argument, "journal: unknown record kind " + std::to_string(k));
  const std::uint64_t len64 = std::uint64_t(head.size()) + tail.size();
  if (len64 > logfmt::max_body)
    return Error(Errc::invalid_argument, "journal: record body of " + std::to_string(len64) +
                                             " bytes exceeds the format's maximum of " +
                                             std::to_string(logfmt::max_body));
  const auto len = static_cast<std::uint32_t>(len64);
  if (!logfmt::length_fits_kind(kind, len))
    return Error(Errc::invalid_argument, "journal: a " + std::string(logfmt::kind_name(kind)) + " record cannot have " +
                                             std::to_string(len) + " body bytes");
  if (kind == Kind::message) {
    std::uint32_t payload_len = 0;
    for (std::size_t i = 0; i < 4; ++i)
      payload_len |= std::uint32_t(byte_of(head, tail, offsetof(RecordHeader, payload_len) + i)) << (8 * i);
    if (payload_len != len - logfmt::message_min_body)
      return Error(Errc::invalid_argument, "journal: message payload_len " + std::to_string(payload_len) +
                                               " disagrees with its " + std::to_string(len - logfmt::message_min_body) +
                                               " payload bytes");
  }
  return {};
}

Result<JournalPosition> JournalWriter::append_checked(Kind kind, std::span<const std::byte> head,
                                                      std::span<const std::byte> tail) {
  const auto len = static_cast<std::uint32_t>(head.size() + tail.size());
  if (fd_ < 0)
    if (auto r = create_file(sequence_ + 1); !r) return std::move(r).error();

  const std::uint64_t span = logfmt::record_span(len);
  if (!buffer_.empty() && buffer_.size() + span > options_.buffer_limit)
    if (auto r = flush(); !r) return std::move(r).error();
  const std::uint64_t used = file_bytes();
  if (used > logfmt::file_header_size && used + span > options_.segment_size)
    if (auto r = roll(); !r) return std::move(r).error();

  const std::uint64_t offset = file_bytes();
  encode_journal_record(buffer_, salt_, offset, kind, head, tail);
  return JournalPosition{sequence_, offset};
}

Result<JournalPosition> JournalWriter::append_message(const RecordHeader& header, std::span<const std::byte> payload) {
  const auto head = std::as_bytes(std::span(&header, 1));
  // The common case, checked on the header's field (what check_body() finds for it): a known kind, a
  // length within the format's, payload_len agreeing. Anything else gets check_body()'s refusal.
  if (!closed_ && !broken_ && header.payload_len == payload.size() &&
      payload.size() <= logfmt::max_body - logfmt::message_min_body)
    return append_checked(Kind::message, head, payload);
  return append(Kind::message, head, payload);
}

Result<JournalPosition> JournalWriter::append_settle(Kind kind, const logfmt::SettleBody& body) {
  if (kind == Kind::message || kind == Kind::name || kind == Kind::membership)
    return Error(Errc::invalid_argument,
                 "journal: append_settle of a " + std::string(logfmt::kind_name(kind)) + " kind");
  return append(kind, std::as_bytes(std::span(&body, 1)));
}

Result<JournalPosition> JournalWriter::append_name(std::uint32_t id, bool group, std::string_view name) {
  if (name.empty() || name.size() > logfmt::max_name_len)
    return Error(Errc::invalid_argument, "journal: a name of " + std::to_string(name.size()) + " bytes");
  logfmt::NameBody nb{};
  nb.id = id;
  nb.what = group ? logfmt::name_what::group : logfmt::name_what::endpoint;
  nb.name_len = static_cast<std::uint16_t>(name.size());
  return append(Kind::name, std::as_bytes(std::span(&nb, 1)),
                std::span<const std::byte>(reinterpret_cast<const std::byte*>(name.data()), name.size()));
}

Result<JournalPosition> JournalWriter::append_membership(std::uint8_t change, std::string_view group,
                                                         std::string_view endpoint, std::uint64_t at_ns) {
  if (group.size() > logfmt::max_name_len || endpoint.size() > logfmt::max_name_len)
    return Error(Errc::invalid_argument,
                 "journal: a membership name longer than " + std::to_string(logfmt::max_name_len) + " bytes");
  logfmt::MembershipBody mb{};
  mb.at_ns = at_ns;
  mb.change = change;
  mb.group_len = static_cast<std::uint8_t>(group.size());
  mb.endpoint_len = static_cast<std::uint8_t>(endpoint.size());
  std::string names;
  names.reserve(group.size() + endpoint.size());
  names.append(group).append(endpoint);
  const auto head = std::as_bytes(std::span(&mb, 1));
  const auto tail = std::as_bytes(std::span(names.data(), names.size()));
  std::vector<std::byte> body(head.begin(), head.end());
  body.insert(body.end(), tail.begin(), tail.end());
  if (const char* why = membership_problem(body))
    return Error(Errc::invalid_argument, std::string("journal: a membership record: ") + why);
  return append(Kind::membership, head, tail);
}

bool JournalWriter::write_direct(std::span<const std::byte> bytes, Result<void>& result, bool& cut_failed) {
  // From the start of the block that holds file_size_: that block's records again (staging_ keeps them), the
  // batch, zeros to the end of its last block.
  const std::uint64_t start = file_size_ / direct_block * direct_block;
  const std::size_t lead = static_cast<std::size_t>(file_size_ - start);
  const std::size_t len = lead + bytes.size();
  const std::size_t whole = (len + direct_block - 1) / direct_block * direct_block;
  if (!reserve_staging(whole, lead)) {
    ::close(dfd_);  // no memory for the copy: buffered from now on, for this file
    dfd_ = -1;
    return false;
  }
  std::memcpy(staging_ + lead, bytes.data(), bytes.size());
  std::memset(staging_ + len, 0, whole - len);
  preallocate(start + whole);
  std::size_t done = 0;
  while (done < whole) {
    const ssize_t n = ::pwrite(dfd_, staging_ + done, whole - done, static_cast<off_t>(start + done));
    // A short direct write ends on a block (the device's); anything else is taken as a failure.
    if (n > 0 && static_cast<std::size_t>(n) % 512 == 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : EIO;
    if (err == EINVAL && done == 0) {
      // Opened, but this file system does not write it so (alignment it wants otherwise): buffered from now on.
      ::close(dfd_);
      dfd_ = -1;
      direct_refused_ = true;
      return false;
    }
    // A failed direct write may have left part of the batch. The block before file_size_ holds
    // only what it held: staging_'s lead is unchanged.
    result = cut_back(err, bytes.size(), cut_failed);
    return true;
  }
  // The new last partial block's records lead the next write.
  const std::size_t keep = (file_size_ + bytes.size()) % direct_block;
  std::memmove(staging_, staging_ + (len - keep), keep);
  return true;
}

Result<void> JournalWriter::write_at_end(std::span<const std::byte> bytes, bool& cut_failed) {
  cut_failed = false;
  if (dfd_ >= 0) {
    Result<void> result;
    if (write_direct(bytes, result, cut_failed)) return result;
  }
  preallocate(file_size_ + bytes.size());
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(file_size_ + done));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return cut_back(n < 0 ? errno : EIO, bytes.size(), cut_failed);
  }
  return {};
}

Error JournalWriter::cut_back(int err, std::size_t bytes, bool& cut_failed) {
  if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) cut_failed = true;
  allocated_ = file_size_;
  return sys_error(err, "writing " + std::to_string(bytes) + " bytes to journal file '" + file_path() + "'");
}

Result<void> JournalWriter::flush() {
  if (buffer_.empty()) return {};
  if (closed_ || fd_ < 0) return Error(Errc::invalid_argument, "journal writer has no open file");
  if (broken_) return broken_error();
  if (taken_ != 0) return Error(Errc::invalid_argument, "journal writer: a batch taken out is still being written");
  bool cut_failed = false;
  if (auto r = write_at_end(buffer_, cut_failed); !r) {
    broken_ = cut_failed;
    return r;
  }
  file_size_ += buffer_.size();
  buffer_.clear();
  return {};
}

void JournalWriter::take_batch(std::vector<std::byte>& batch) {
  batch.clear();
  if (taken_ != 0) return;  // one batch at a time: the caller ends the last one first
  // `batch`'s storage becomes the buffer: as large as this one, so that appends do not regrow it.
  if (batch.capacity() < buffer_.capacity()) batch.reserve(buffer_.capacity());
  batch.swap(buffer_);
  taken_ = batch.size();
}

Result<void> JournalWriter::write_taken(std::span<const std::byte> batch) {
  taken_cut_failed_ = false;
  if (batch.empty()) return {};
  if (closed_ || fd_ < 0) return Error(Errc::invalid_argument, "journal writer has no open file");
  if (broken_) return broken_error();
  return write_at_end(batch, taken_cut_failed_);
}

void JournalWriter::end_taken(std::vector<std::byte>& batch, bool written) {
  if (written) {
    file_size_ += batch.size();
  } else {
    // Before what was appended meanwhile: those records were encoded at the offsets behind it.
    buffer_.insert(buffer_.begin(), batch.begin(), batch.end());
    if (taken_cut_failed_) broken_ = true;
  }
  taken_cut_failed_ = false;
  taken_ = 0;
  batch.clear();
}

Result<void> JournalWriter::sync() {
  if (auto r = flush(); !r) return r;
  if (fd_ < 0) return Error(Errc::invalid_argument, "journal writer has no open file");
  if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync of journal file '" + file_path() + "'");
  return {};
}

Result<void> JournalWriter::close() {
  if (closed_) return {};
  Result<void> r;
  if (fd_ >= 0) r = flush();
  if (fd_ >= 0 && r) r = cut_preallocation();
  release();
  closed_ = true;
  return r;
}

}  // namespace courier
