#include "courier/detail/journal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

#include "courier/detail/clock.hpp"
#include "courier/detail/crc32c.hpp"
#include "courier/detail/process.hpp"

namespace courier {
namespace {

using logfmt::Kind;
using logfmt::RecordFrame;
using logfmt::SegmentHeader;

Error sys_error(int err, const std::string& what) {
  return Error(err == EEXIST ? Errc::already_exists : Errc::system, what + ": " + std::strerror(err));
}

bool kind_known(std::uint8_t k) noexcept { return k >= logfmt::min_kind && k <= logfmt::max_kind; }

std::uint64_t random_salt() noexcept {
  std::uint64_t salt = 0;
  if (::getrandom(&salt, sizeof salt, 0) == static_cast<ssize_t>(sizeof salt)) return salt;
  // No entropy source: still different per segment and per writer.
  static std::uint64_t counter = 0;
  salt = realtime_ns() ^ (static_cast<std::uint64_t>(::getpid()) << 40) ^ (++counter * 0x9E3779B97F4A7C15ull);
  return salt;
}

// The record CRC (docs/log-format.md): salt, the record's own offset, then the
// frame from `length` on and the body.
std::uint32_t record_crc(std::uint64_t salt, std::uint64_t offset, const std::byte* from_length,
                         std::size_t n) noexcept {
  std::uint32_t c = crc32c::extend(0, &salt, sizeof salt);
  c = crc32c::extend(c, &offset, sizeof offset);
  c = crc32c::extend(c, from_length, n);
  return crc32c::mask(c);
}

std::uint32_t header_crc(const SegmentHeader& h) noexcept {
  return crc32c::mask(crc32c::value(&h, logfmt::segment_header_crc_span));
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
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) return sys_error(errno, "journal directory '" + dir + "'");
  if (!S_ISDIR(st.st_mode)) return Error(Errc::invalid_argument, "journal directory '" + dir + "': not a directory");
  return {};
}

std::uint32_t load_u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Byte i of the concatenation of a and b.
std::byte byte_of(std::span<const std::byte> a, std::span<const std::byte> b, std::size_t i) noexcept {
  return i < a.size() ? a[i] : b[i - a.size()];
}

}  // namespace

// ---------------------------------------------------------------- names

std::string journal_segment_name(const JournalWriterId& writer, std::uint64_t sequence) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "-%08" PRIx32 "-%016" PRIx64 "%s", writer.epoch_ns,
                static_cast<std::uint32_t>(writer.pid), sequence, logfmt::segment_suffix.data());
  return buf;
}

bool parse_journal_segment_name(std::string_view name, JournalWriterId& writer, std::uint64_t& sequence) noexcept {
  if (name.size() != logfmt::segment_name_length) return false;
  if (name.substr(16 + 1 + 8 + 1 + 16) != logfmt::segment_suffix) return false;
  if (name[16] != '-' || name[25] != '-') return false;
  auto hex = [&](std::size_t from, std::size_t n, std::uint64_t& out) {
    out = 0;
    for (std::size_t i = from; i < from + n; ++i) {
      const char c = name[i];
      unsigned d;
      if (c >= '0' && c <= '9') d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
      else return false;
      out = (out << 4) | d;
    }
    return true;
  };
  std::uint64_t epoch = 0, pid = 0, seq = 0;
  if (!hex(0, 16, epoch) || !hex(17, 8, pid) || !hex(26, 16, seq)) return false;
  writer.epoch_ns = epoch;
  writer.pid = static_cast<pid_t>(pid);
  sequence = seq;
  return true;
}

// ---------------------------------------------------------------- encoding

logfmt::SegmentHeader make_journal_segment_header(const JournalWriterId& writer, std::uint64_t sequence,
                                                  std::uint64_t salt) noexcept {
  SegmentHeader h{};
  h.magic = logfmt::segment_magic;
  h.format_version = logfmt::format_version;
  h.header_size = logfmt::segment_header_size;
  h.writer_pid = static_cast<std::uint32_t>(writer.pid);
  h.writer_start_ticks = writer.start_ticks;
  h.writer_epoch_ns = writer.epoch_ns;
  h.sequence = sequence;
  h.salt = salt;
  h.header_crc = header_crc(h);
  return h;
}

void encode_journal_record(std::vector<std::byte>& out, std::uint64_t salt, std::uint64_t offset, Kind kind,
                           std::span<const std::byte> head, std::span<const std::byte> tail) {
  const auto len = static_cast<std::uint32_t>(head.size() + tail.size());
  const std::size_t at = out.size();
  out.resize(at + logfmt::record_span(len));  // value-initialised: the padding is zero
  std::byte* rec = out.data() + at;
  RecordFrame f{};
  f.marker = logfmt::record_marker;
  f.length = len;
  f.kind = static_cast<std::uint8_t>(kind);
  std::memcpy(rec, &f, sizeof f);
  if (!head.empty()) std::memcpy(rec + sizeof f, head.data(), head.size());
  if (!tail.empty()) std::memcpy(rec + sizeof f + head.size(), tail.data(), tail.size());
  // In the log a message's frame word (the lane's) is 0.
  if (kind == Kind::message && len >= sizeof(std::uint64_t))
    std::memset(rec + sizeof f + offsetof(RecordHeader, frame), 0, sizeof(std::uint64_t));
  const std::uint32_t crc = record_crc(salt, offset, rec + logfmt::record_crc_start,
                                       logfmt::record_frame_size - logfmt::record_crc_start + len);
  std::memcpy(rec + offsetof(RecordFrame, crc), &crc, sizeof crc);
}

// ---------------------------------------------------------------- writer

Result<JournalWriter> JournalWriter::open(const std::string& dir, const JournalOptions& options) {
  if (options.segment_size < 4096)
    return Error(Errc::invalid_argument, "journal: segment_size " + std::to_string(options.segment_size) +
                                             " is below the minimum of 4096");
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
    auto r = w.create_segment(0);
    if (r) break;
    if (r.error().code != Errc::already_exists || attempt == 64) return std::move(r).error();
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
      sequence_(o.sequence_),
      salt_(o.salt_),
      file_size_(o.file_size_),
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
    sequence_ = o.sequence_;
    salt_ = o.salt_;
    file_size_ = o.file_size_;
    buffer_ = std::move(o.buffer_);
    o.buffer_.clear();
    broken_ = o.broken_;
    closed_ = std::exchange(o.closed_, true);
  }
  return *this;
}

JournalWriter::~JournalWriter() { (void)close(); }

void JournalWriter::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  fd_ = dir_fd_ = -1;
}

std::string JournalWriter::segment_path() const { return dir_ + "/" + journal_segment_name(id_, sequence_); }

Result<void> JournalWriter::create_segment(std::uint64_t sequence) {
  const std::string name = journal_segment_name(id_, sequence);
  const std::string path = dir_ + "/" + name;
  const int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "creating journal segment '" + path + "'");
  const SegmentHeader h = make_journal_segment_header(id_, sequence, random_salt());
  const ssize_t n = ::pwrite(fd, &h, sizeof h, 0);
  if (n != static_cast<ssize_t>(sizeof h)) {
    const int err = n < 0 ? errno : EIO;
    ::close(fd);
    ::unlinkat(dir_fd_, name.c_str(), 0);
    return sys_error(err, "writing the header of journal segment '" + path + "'");
  }
  // The new name must survive a power loss before any record in it is promised.
  if (::fsync(dir_fd_) != 0) {
    const int err = errno;
    ::close(fd);
    return sys_error(err, "fsync of journal directory '" + dir_ + "'");
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  sequence_ = sequence;
  salt_ = h.salt;
  file_size_ = sizeof h;
  return {};
}

Result<void> JournalWriter::roll() {
  if (auto r = flush(); !r) return r;
  if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync of journal segment '" + segment_path() + "'");
  ::close(fd_);
  fd_ = -1;
  return create_segment(sequence_ + 1);  // on failure append() tries again
}

Result<JournalPosition> JournalWriter::append(Kind kind, std::span<const std::byte> head,
                                              std::span<const std::byte> tail) {
  if (closed_) return Error(Errc::invalid_argument, "journal writer is closed");
  if (broken_) return Error(Errc::system, "journal segment '" + segment_path() + "': a failed write could not be cut back");
  const auto k = static_cast<std::uint8_t>(kind);
  if (!kind_known(k)) return Error(Errc::invalid_argument, "journal: unknown record kind " + std::to_string(k));
  const std::uint64_t len64 = std::uint64_t(head.size()) + tail.size();
  if (len64 > logfmt::max_body)
    return Error(Errc::invalid_argument, "journal: record body of " + std::to_string(len64) +
                                             " bytes exceeds the format's maximum of " + std::to_string(logfmt::max_body));
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
  if (fd_ < 0)
    if (auto r = create_segment(sequence_ + 1); !r) return std::move(r).error();

  const std::uint64_t span = logfmt::record_span(len);
  if (!buffer_.empty() && buffer_.size() + span > options_.buffer_limit)
    if (auto r = flush(); !r) return std::move(r).error();
  const std::uint64_t used = file_size_ + buffer_.size();
  if (used > logfmt::segment_header_size && used + span > options_.segment_size)
    if (auto r = roll(); !r) return std::move(r).error();

  const std::uint64_t offset = file_size_ + buffer_.size();
  encode_journal_record(buffer_, salt_, offset, kind, head, tail);
  return JournalPosition{sequence_, offset};
}

Result<JournalPosition> JournalWriter::append_message(const RecordHeader& header, std::span<const std::byte> payload) {
  return append(Kind::message, std::as_bytes(std::span(&header, 1)), payload);
}

Result<JournalPosition> JournalWriter::append_settle(Kind kind, const logfmt::SettleBody& body) {
  if (kind == Kind::message || kind == Kind::name)
    return Error(Errc::invalid_argument, "journal: append_settle of a " + std::string(logfmt::kind_name(kind)) + " kind");
  return append(kind, std::as_bytes(std::span(&body, 1)));
}

Result<void> JournalWriter::flush() {
  if (buffer_.empty()) return {};
  if (closed_ || fd_ < 0) return Error(Errc::invalid_argument, "journal writer has no open segment");
  if (broken_) return Error(Errc::system, "journal segment '" + segment_path() + "': a failed write could not be cut back");
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::pwrite(fd_, buffer_.data() + done, buffer_.size() - done, static_cast<off_t>(file_size_ + done));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : EIO;
    // Cut the partial batch so that a retry writes it whole at the same offsets.
    if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) broken_ = true;
    return sys_error(err, "writing " + std::to_string(buffer_.size()) + " bytes to journal segment '" + segment_path() + "'");
  }
  file_size_ += buffer_.size();
  buffer_.clear();
  return {};
}

Result<void> JournalWriter::sync() {
  if (auto r = flush(); !r) return r;
  if (fd_ < 0) return Error(Errc::invalid_argument, "journal writer has no open segment");
  if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync of journal segment '" + segment_path() + "'");
  return {};
}

Result<void> JournalWriter::close() {
  if (closed_) return {};
  Result<void> r;
  if (fd_ >= 0) r = flush();
  release();
  closed_ = true;
  return r;
}

// ---------------------------------------------------------------- reader

detail::ReadBuffer::~ReadBuffer() {
  if (p_ != nullptr) ::munmap(p_, cap_);
}

void detail::ReadBuffer::resize(std::uint64_t n) {
  if (n > cap_) {
    constexpr std::uint64_t huge = 2ull << 20;
    const std::uint64_t cap = (n + huge - 1) / huge * huge;
    void* p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)::madvise(p, cap, MADV_HUGEPAGE);  // a hint: without it, 4 KiB pages
    if (p_ != nullptr) ::munmap(p_, cap_);
    p_ = static_cast<std::byte*>(p);
    cap_ = cap;
  }
  size_ = n;
}

struct JournalReader::Check {
  bool ok = false;
  std::uint32_t length = 0;
  const char* reason = "";
};

Result<JournalReader> JournalReader::open_file(const std::string& path, const JournalReaderOptions& options,
                                               std::uint64_t start) {
  JournalReader r;
  r.options_ = options;
  r.buf_ = options.buffer ? options.buffer : std::make_shared<detail::ReadBuffer>();
  r.files_.push_back(path);
  r.start_ = start;
  return r;
}

Result<JournalReader> JournalReader::open_directory(const std::string& dir, const JournalReaderOptions& options) {
  JournalReader r;
  r.options_ = options;
  r.buf_ = options.buffer ? options.buffer : std::make_shared<detail::ReadBuffer>();
  r.from_directory_ = true;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return sys_error(errno, "opening journal directory '" + dir + "'");
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (parse_journal_segment_name(e->d_name, w, seq)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) r.files_.push_back(dir + "/" + n);
  return r;
}

Result<bool> JournalReader::load(const std::string& path) {
  loaded_ = false;
  info_ = JournalSegmentInfo{};
  info_.path = path;
  buf_->clear();
  pos_ = 0;
  auto damaged = [&](std::uint64_t offset, std::uint64_t length, std::string reason) {
    damage_.push_back(JournalDamage{path, offset, length, std::move(reason)});
    return false;
  };

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) return damaged(0, 0, "a symbolic link: not read");
    if (err == ENOENT && from_directory_) return false;  // removed since the listing (compaction)
    return sys_error(err, "opening journal segment '" + path + "'");
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return sys_error(err, "journal segment '" + path + "'");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return damaged(0, 0, "not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > options_.max_file_size) {
    ::close(fd);
    return damaged(0, size, "file of " + std::to_string(size) + " bytes is larger than max_file_size " +
                                std::to_string(options_.max_file_size));
  }
  buf_->resize(size);
  std::uint64_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd, buf_->data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return sys_error(err, "reading journal segment '" + path + "'");
    }
    if (n == 0) break;  // shrank while we read: what is there is what counts
    got += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  buf_->resize(got);
  info_.file_size = got;
  zero_from_ = got;
  while (zero_from_ > 0 && (*buf_)[zero_from_ - 1] == std::byte{0}) --zero_from_;

  // The segment header. A file cut inside it, or zeros only, is a writer that
  // died creating the segment: torn, not damage.
  if (got < logfmt::segment_header_size || zero_from_ < logfmt::segment_header_size) {
    const std::uint64_t magic = logfmt::segment_magic;
    if (zero_from_ == 0 || std::memcmp(buf_->data(), &magic, std::min<std::uint64_t>(zero_from_, sizeof magic)) == 0) {
      torn_.push_back(JournalTornTail{path, 0, got});
      return false;
    }
    if (got < logfmt::segment_header_size)
      return damaged(0, got, "file of " + std::to_string(got) + " bytes is too short for a segment header");
  }
  SegmentHeader h;
  std::memcpy(&h, buf_->data(), sizeof h);
  if (h.magic != logfmt::segment_magic) return damaged(0, got, "bad magic: not a courier journal segment");
  if (h.format_version != logfmt::format_version)
    return damaged(0, got, "format version " + std::to_string(h.format_version) + " (this build reads " +
                               std::to_string(logfmt::format_version) + ")");
  if (h.header_size != logfmt::segment_header_size)
    return damaged(0, got, "segment header size " + std::to_string(h.header_size));
  if (h.header_crc != header_crc(h)) return damaged(0, got, "segment header CRC mismatch");
  info_.writer.pid = static_cast<pid_t>(h.writer_pid);
  info_.writer.start_ticks = h.writer_start_ticks;
  info_.writer.epoch_ns = h.writer_epoch_ns;
  info_.sequence = h.sequence;
  info_.salt = h.salt;
  // A file named like a segment must be the segment its name says.
  const auto slash = path.find_last_of('/');
  JournalWriterId named;
  std::uint64_t named_seq = 0;
  if (parse_journal_segment_name(slash == std::string::npos ? path : path.substr(slash + 1), named, named_seq) &&
      (named.epoch_ns != h.writer_epoch_ns || static_cast<std::uint32_t>(named.pid) != h.writer_pid ||
       named_seq != h.sequence))
    return damaged(0, got, "segment header does not match the file name");
  pos_ = logfmt::segment_header_size;
  // A resume point (a record boundary an earlier read returned): anything
  // else is checked like any position and resynchronised from.
  if (start_ > pos_ && start_ <= buf_->size() && start_ % logfmt::record_alignment == 0) pos_ = start_;
  start_ = 0;
  loaded_ = true;
  return true;
}

JournalReader::Check JournalReader::check(std::uint64_t pos) const noexcept {
  const std::uint64_t size = buf_->size();
  if (pos > size || size - pos < logfmt::record_frame_size) return {false, 0, "short record frame"};
  RecordFrame f;
  std::memcpy(&f, buf_->data() + pos, sizeof f);
  if (f.marker != logfmt::record_marker) return {false, 0, "no record marker"};
  if (!kind_known(f.kind)) return {false, 0, "unknown record kind"};
  if (f.flags != 0 || f.reserved != 0) return {false, 0, "reserved frame bits set"};
  if (!logfmt::length_fits_kind(static_cast<Kind>(f.kind), f.length)) return {false, 0, "impossible length for its kind"};
  if (f.length > size - pos - logfmt::record_frame_size) return {false, 0, "length runs past the end of the file"};
  const std::byte* rec = buf_->data() + pos;
  if (record_crc(info_.salt, pos, rec + logfmt::record_crc_start,
                 logfmt::record_frame_size - logfmt::record_crc_start + f.length) != f.crc)
    return {false, 0, "CRC mismatch"};
  if (static_cast<Kind>(f.kind) == Kind::message &&
      load_u32(rec + logfmt::record_frame_size + offsetof(RecordHeader, payload_len)) !=
          f.length - logfmt::message_min_body)
    return {false, 0, "message payload_len disagrees with the record length"};
  if (static_cast<Kind>(f.kind) == Kind::name) {
    logfmt::NameBody nb;
    std::memcpy(&nb, rec + logfmt::record_frame_size, sizeof nb);
    if (nb.name_len != f.length - sizeof nb) return {false, 0, "name length disagrees with the record length"};
  }
  return {true, f.length, ""};
}

// Called when no valid record starts after pos: is [pos, end) the start of a
// record whose writer died before finishing it (docs/log-format.md, "torn tail")?
bool JournalReader::torn_at(std::uint64_t pos) const noexcept {
  const std::uint64_t z = zero_from_;  // [z, end) is zero
  if (z <= pos) return true;           // zeros only
  if (z < pos + logfmt::record_frame_size) {
    // The frame itself is unfinished: what there is must begin like a frame.
    const std::uint32_t marker = logfmt::record_marker;
    return std::memcmp(buf_->data() + pos, &marker, std::min<std::uint64_t>(z - pos, sizeof marker)) == 0;
  }
  RecordFrame f;
  std::memcpy(&f, buf_->data() + pos, sizeof f);
  if (f.marker != logfmt::record_marker || !kind_known(f.kind) || f.flags != 0 || f.reserved != 0 ||
      !logfmt::length_fits_kind(static_cast<Kind>(f.kind), f.length))
    return false;
  return z < pos + logfmt::record_frame_size + f.length;  // the body was not finished
}

Result<bool> JournalReader::next(JournalRecord& out) {
  for (;;) {
    if (!loaded_) {
      if (next_file_ >= files_.size()) return false;
      auto r = load(files_[next_file_++]);
      if (!r) return std::move(r).error();
      continue;
    }
    const std::uint64_t size = buf_->size();
    if (pos_ >= size) {
      loaded_ = false;
      continue;
    }
    const Check c = check(pos_);
    if (c.ok) {
      RecordFrame f;
      std::memcpy(&f, buf_->data() + pos_, sizeof f);
      out.kind = static_cast<Kind>(f.kind);
      out.body = std::span<const std::byte>(buf_->data() + pos_ + logfmt::record_frame_size, c.length);
      out.offset = pos_;
      out.segment = &info_;
      pos_ += logfmt::record_span(c.length);
      return true;
    }
    // Resynchronise: the next aligned offset holding a valid record.
    std::uint64_t q = pos_ + logfmt::record_alignment;
    const std::uint32_t marker = logfmt::record_marker;
    for (; q + logfmt::record_frame_size <= size; q += logfmt::record_alignment)
      if (std::memcmp(buf_->data() + q, &marker, sizeof marker) == 0 && check(q).ok) break;
    if (q + logfmt::record_frame_size <= size) {
      damage_.push_back(JournalDamage{info_.path, pos_, q - pos_, c.reason});
      pos_ = q;
      continue;
    }
    if (torn_at(pos_)) torn_.push_back(JournalTornTail{info_.path, pos_, size - pos_});
    else damage_.push_back(JournalDamage{info_.path, pos_, size - pos_, std::string(c.reason) + " (at the end of the file)"});
    pos_ = size;
  }
}

// ---------------------------------------------------------------- bodies

Result<JournalMessage> decode_journal_message(std::span<const std::byte> body) {
  if (body.size() < logfmt::message_min_body || body.size() > logfmt::max_body)
    return Error(Errc::corrupt, "journal message body of " + std::to_string(body.size()) + " bytes");
  JournalMessage m;
  std::memcpy(&m.header, body.data(), sizeof m.header);
  if (m.header.payload_len != body.size() - logfmt::message_min_body)
    return Error(Errc::corrupt, "journal message payload_len " + std::to_string(m.header.payload_len) +
                                    " disagrees with its body of " + std::to_string(body.size()) + " bytes");
  m.payload = body.subspan(logfmt::message_min_body);
  return m;
}

Result<JournalName> decode_journal_name(std::span<const std::byte> body) {
  if (body.size() <= sizeof(logfmt::NameBody) || body.size() > sizeof(logfmt::NameBody) + logfmt::max_name_len)
    return Error(Errc::corrupt, "journal name body of " + std::to_string(body.size()) + " bytes");
  logfmt::NameBody nb;
  std::memcpy(&nb, body.data(), sizeof nb);
  if (nb.name_len != body.size() - sizeof nb)
    return Error(Errc::corrupt, "journal name body: name_len " + std::to_string(nb.name_len) + " disagrees with its length");
  if (nb.what != logfmt::name_what::endpoint && nb.what != logfmt::name_what::group)
    return Error(Errc::corrupt, "journal name body: unknown kind of name " + std::to_string(nb.what));
  JournalName n;
  n.id = nb.id;
  n.group = nb.what == logfmt::name_what::group;
  n.name.assign(reinterpret_cast<const char*>(body.data() + sizeof nb), nb.name_len);
  return n;
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

Result<logfmt::SettleBody> decode_journal_settle(std::span<const std::byte> body) {
  if (body.size() != logfmt::settle_body_size)
    return Error(Errc::corrupt, "journal settle body of " + std::to_string(body.size()) + " bytes (expected 24)");
  logfmt::SettleBody s;
  std::memcpy(&s, body.data(), sizeof s);
  return s;
}

}  // namespace courier
