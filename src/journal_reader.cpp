// Reading journal files back (courier/detail/journal_reader.hpp).
#include "courier/detail/journal_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <new>
#include <system_error>
#include <utility>

#include "journal_codec.hpp"

namespace courier {
namespace {

std::uint32_t load_u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint64_t load_u64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Whether an errno from looking at, opening or reading one file is about that
// file (damage: skip it) rather than about this process or the machine (out of
// descriptors or memory: an error, as skipping would lose the file's records).
// Where the run of zero bytes that ends [p, p + n) starts (n when the last byte
// is not zero). A preallocated journal file ends in megabytes of zeros: eight
// bytes at a time while the run is word-aligned.
std::uint64_t zero_run_start(const std::byte* p, std::uint64_t n) noexcept {
  std::uint64_t z = n;
  while (z % sizeof(std::uint64_t) != 0 && z > 0 && p[z - 1] == std::byte{0}) --z;
  if (z % sizeof(std::uint64_t) == 0)
    while (z >= sizeof(std::uint64_t) && load_u64(p + z - sizeof(std::uint64_t)) == 0) z -= sizeof(std::uint64_t);
  while (z > 0 && p[z - 1] == std::byte{0}) --z;
  return z;
}

bool file_level_error(int err) noexcept { return err != EMFILE && err != ENFILE && err != ENOMEM && err != EINTR; }

const char* file_type_name(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

std::string JournalReader::unusable_for(const struct stat& st, uid_t owner) {
  if (!S_ISREG(st.st_mode)) return std::string(file_type_name(st.st_mode)) + ", not a regular file: not read";
  if (st.st_uid != owner)
    return "owned by uid " + std::to_string(st.st_uid) + ", not by uid " + std::to_string(owner) + ": not read";
  return {};
}

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
  r.owner_ = options.owner ? *options.owner : ::geteuid();
  r.buf_ = options.buffer ? options.buffer : std::make_shared<detail::ReadBuffer>();
  r.files_.push_back(path);
  r.start_ = start;
  return r;
}

Result<JournalReader> JournalReader::open_directory(const std::string& dir, const JournalReaderOptions& options) {
  JournalReader r;
  r.options_ = options;
  r.owner_ = options.owner ? *options.owner : ::geteuid();
  r.buf_ = options.buffer ? options.buffer : std::make_shared<detail::ReadBuffer>();
  r.from_directory_ = true;
  // Its last component is not followed when it is a link (the directory of a
  // bus is its owner's, not wherever a link points).
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP)
      return Error(Errc::invalid_argument, "journal directory '" + dir + "' is a symbolic link: not followed");
    return journal_codec::sys_error(err, "opening journal directory '" + dir + "'");
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return journal_codec::sys_error(err, "opening journal directory '" + dir + "'");
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (parse_journal_file_name(e->d_name, w, seq)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) r.files_.push_back(dir + "/" + n);
  return r;
}

struct JournalReader::Fetched {
  enum class Outcome : std::uint8_t { read, vanished, damaged, failed };
  Outcome outcome = Outcome::failed;
  std::string why;  // damaged: the reason
  std::uint64_t damage_length = 0;
  std::optional<Error> error;  // failed: the process cannot go on
  struct stat st {};
  std::uint64_t got = 0;        // read: the bytes in the buffer
  std::uint64_t zero_from = 0;  // read: where the zeros that end them start
};

struct JournalReader::Ahead {
  std::string path;
  std::future<Fetched> fetched;  // std::async's: its destructor waits for the helper
};

JournalReader::FetchLimits JournalReader::fetch_limits() const noexcept {
  return FetchLimits{owner_, from_directory_, options_.max_file_size, options_.read_limit};
}

// Looked at before it is opened (a device is never opened), opened without
// following a link and without blocking (a FIFO would block open() until a
// writer came), then looked at again through the descriptor (it may have
// been replaced in between). A file that cannot be read is damage, not an
// error: one bad file does not stop a recovery.
JournalReader::Fetched JournalReader::fetch(const std::string& path, const FetchLimits& limits,
                                            detail::ReadBuffer& buf) {
  Fetched f;
  using Outcome = Fetched::Outcome;
  const auto damaged = [&f](std::uint64_t length, std::string why) {
    f.outcome = Outcome::damaged;
    f.damage_length = length;
    f.why = std::move(why);
  };
  const auto failed = [&f](Error e) {
    f.outcome = Outcome::failed;
    f.error = std::move(e);
  };
  buf.clear();
  struct stat& st = f.st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT && limits.from_directory) {  // removed since the listing (compaction)
      f.outcome = Outcome::vanished;
      return f;
    }
    // A file named by the caller that is not there is the caller's error.
    if (!file_level_error(err) || err == ENOENT)
      failed(journal_codec::sys_error(err, "journal file '" + path + "'"));
    else
      damaged(0, std::string("cannot be looked at (") + std::strerror(err) + "): not read");
    return f;
  }
  if (std::string why = unusable_for(st, limits.owner); !why.empty()) {
    damaged(0, std::move(why));
    return f;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && limits.from_directory)
      f.outcome = Outcome::vanished;
    else if (err == ELOOP)
      damaged(0, "a symbolic link: not read");
    else if (!file_level_error(err))
      failed(journal_codec::sys_error(err, "opening journal file '" + path + "'"));
    else
      damaged(0, std::string("cannot be opened (") + std::strerror(err) + "): not read");
    return f;
  }
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    failed(journal_codec::sys_error(err, "journal file '" + path + "'"));
    return f;
  }
  if (std::string why = unusable_for(st, limits.owner); !why.empty()) {
    ::close(fd);
    damaged(0, std::move(why));
    return f;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > limits.max_file_size) {
    ::close(fd);
    damaged(size, "file of " + std::to_string(size) + " bytes is larger than max_file_size " +
                      std::to_string(limits.max_file_size));
    return f;
  }
  const std::uint64_t want = limits.read_limit != 0 && limits.read_limit < size ? limits.read_limit : size;
  buf.resize(want);
  std::uint64_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd, buf.data() + got, want - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      buf.clear();
      if (!file_level_error(err))
        failed(journal_codec::sys_error(err, "reading journal file '" + path + "'"));
      else
        damaged(0, std::string("cannot be read (") + std::strerror(err) + "): not read");
      return f;
    }
    if (n == 0) break;  // shrank while we read: what is there is what counts
    got += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  f.outcome = Outcome::read;
  f.got = got;
  f.zero_from = zero_run_start(buf.data(), got);
  return f;
}

void JournalReader::fetch_ahead() {
  ahead_.reset();
  if (!options_.read_ahead || next_file_ >= files_.size()) return;
  // A small file is read in its turn: a thread costs more than its pread (a directory of many
  // short-lived processes' journals). A look only: fetch() looks again, and decides.
  struct stat st {};
  if (::lstat(files_[next_file_].c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) < JournalReaderOptions::read_ahead_from)
    return;
  if (!ahead_buf_) ahead_buf_ = options_.ahead_buffer ? options_.ahead_buffer : std::make_shared<detail::ReadBuffer>();
  auto a = std::make_shared<Ahead>();
  a->path = files_[next_file_];
  try {
    a->fetched = std::async(std::launch::async, [path = a->path, limits = fetch_limits(), buf = ahead_buf_] {
      return fetch(path, limits, *buf);
    });
  } catch (const std::system_error&) {  // no thread to be had: this file is read when its turn comes
    return;
  }
  ahead_ = std::move(a);
}

Result<bool> JournalReader::load(const std::string& path) {
  loaded_ = false;
  info_ = JournalFileInfo{};
  info_.path = path;
  pos_ = 0;
  checked_end_ = 0;
  noting_ = nullptr;
  auto damaged = [&](std::uint64_t offset, std::uint64_t length, std::string reason) {
    damage_.push_back(JournalDamage{path, offset, length, std::move(reason)});
    return false;
  };

  Fetched f;
  if (ahead_ && ahead_->path == path) {
    f = ahead_->fetched.get();  // rethrows what the helper threw (bad_alloc), as a fetch here would
    ahead_.reset();
    std::swap(buf_, ahead_buf_);  // its data is the helper's buffer; ours is free for the next file
  } else {
    ahead_.reset();
    f = fetch(path, fetch_limits(), *buf_);
  }
  switch (f.outcome) {
    case Fetched::Outcome::read: break;
    case Fetched::Outcome::vanished: return false;
    case Fetched::Outcome::damaged: return damaged(0, f.damage_length, std::move(f.why));
    case Fetched::Outcome::failed: return std::move(*f.error);
  }
  const struct stat& st = f.st;
  const std::uint64_t got = f.got;
  read_ += got;
  info_.file_size = got;
  const detail::CheckedFile seen{st.st_dev, st.st_ino, got, st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
                                 st.st_ctim.tv_sec * 1'000'000'000ll + st.st_ctim.tv_nsec, 0};
  zero_from_ = f.zero_from;

  // The file header. A file cut inside it, or zeros only, is a writer that
  // died creating the file: torn, not damage. A header that seals itself (its
  // CRC holds) is whole however many of its last bytes are zero: the CRC's
  // high byte is 0 in one file of 256, and a header-only file then ends in a zero.
  if (got < logfmt::file_header_size ||
      (zero_from_ < logfmt::file_header_size && !journal_codec::header_sealed(buf_->data()))) {
    const std::uint64_t magic = logfmt::file_magic;
    if (zero_from_ == 0 || std::memcmp(buf_->data(), &magic, std::min<std::uint64_t>(zero_from_, sizeof magic)) == 0) {
      torn_.push_back(JournalTornTail{path, 0, got});
      return false;
    }
    if (got < logfmt::file_header_size)
      return damaged(0, got, "file of " + std::to_string(got) + " bytes is too short for a journal file header");
  }
  logfmt::FileHeader h;
  std::memcpy(&h, buf_->data(), sizeof h);
  if (h.magic != logfmt::file_magic) return damaged(0, got, "bad magic: not a courier journal file");
  if (h.format_version < logfmt::oldest_readable_format_version || h.format_version > logfmt::format_version)
    return damaged(0, got,
                   "format version " + std::to_string(h.format_version) + " (this build reads " +
                       std::to_string(logfmt::oldest_readable_format_version) + ".." +
                       std::to_string(logfmt::format_version) + ")");
  if (h.header_size != logfmt::file_header_size)
    return damaged(0, got, "journal file header size " + std::to_string(h.header_size));
  if (h.header_crc != journal_codec::header_crc(h)) return damaged(0, got, "journal file header CRC mismatch");
  info_.writer.pid = static_cast<pid_t>(h.writer_pid);
  info_.writer.start_ticks = h.writer_start_ticks;
  info_.writer.epoch_ns = h.writer_epoch_ns;
  info_.sequence = h.sequence;
  info_.salt = h.salt;
  // A file named like a journal file must be the file its name says.
  JournalWriterId named;
  std::uint64_t named_seq = 0;
  if (parse_journal_file_path(path, named, named_seq) &&
      (named.epoch_ns != h.writer_epoch_ns || static_cast<std::uint32_t>(named.pid) != h.writer_pid ||
       named_seq != h.sequence))
    return damaged(0, got, "journal file header does not match the file name");
  pos_ = logfmt::file_header_size;
  if (options_.skip_checked)
    if (auto it = options_.skip_checked->find(path); it != options_.skip_checked->end()) {
      const detail::CheckedFile& c = it->second;
      if (c.dev == seen.dev && c.ino == seen.ino && c.size == seen.size && c.mtime_ns == seen.mtime_ns &&
          c.ctime_ns == seen.ctime_ns && c.end <= got)
        checked_end_ = c.end;
    }
  if (options_.note_checked) {
    detail::CheckedFile& n = (*options_.note_checked)[path];  // a node: stays put while the map grows
    n = seen;
    n.end = pos_;
    noting_ = &n;
  }
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
  logfmt::RecordFrame f;
  std::memcpy(&f, buf_->data() + pos, sizeof f);
  if (f.marker != logfmt::record_marker) return {false, 0, "no record marker"};
  if (!journal_codec::kind_known(f.kind)) return {false, 0, "unknown record kind"};
  if (f.flags != 0 || f.reserved != 0) return {false, 0, "reserved frame bits set"};
  if (!logfmt::length_fits_kind(static_cast<logfmt::Kind>(f.kind), f.length))
    return {false, 0, "impossible length for its kind"};
  if (f.length > size - pos - logfmt::record_frame_size) return {false, 0, "length runs past the end of the file"};
  const std::byte* rec = buf_->data() + pos;
  // Inside what an earlier read of this unchanged file found whole (options: skip_checked), the CRC held there.
  if (pos + logfmt::record_frame_size + f.length > checked_end_ &&
      journal_codec::record_crc(info_.salt, pos, rec + logfmt::record_crc_start,
                                logfmt::record_frame_size - logfmt::record_crc_start + f.length) != f.crc)
    return {false, 0, "CRC mismatch"};
  if (static_cast<logfmt::Kind>(f.kind) == logfmt::Kind::message &&
      load_u32(rec + logfmt::record_frame_size + offsetof(RecordHeader, payload_len)) !=
          f.length - logfmt::message_min_body)
    return {false, 0, "message payload_len disagrees with the record length"};
  if (static_cast<logfmt::Kind>(f.kind) == logfmt::Kind::name) {
    logfmt::NameBody nb;
    std::memcpy(&nb, rec + logfmt::record_frame_size, sizeof nb);
    if (nb.name_len != f.length - sizeof nb) return {false, 0, "name length disagrees with the record length"};
  }
  if (static_cast<logfmt::Kind>(f.kind) == logfmt::Kind::membership)
    if (const char* why = membership_problem(std::span<const std::byte>(rec + logfmt::record_frame_size, f.length)))
      return {false, 0, why};
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
  logfmt::RecordFrame f;
  std::memcpy(&f, buf_->data() + pos, sizeof f);
  if (f.marker != logfmt::record_marker || !journal_codec::kind_known(f.kind) || f.flags != 0 || f.reserved != 0 ||
      !logfmt::length_fits_kind(static_cast<logfmt::Kind>(f.kind), f.length))
    return false;
  return z < pos + logfmt::record_frame_size + f.length;  // the body was not finished
}

Result<bool> JournalReader::next(JournalRecord& out) {
  for (;;) {
    if (!loaded_) {
      if (next_file_ >= files_.size()) return false;
      auto r = load(files_[next_file_++]);
      if (!r) return std::move(r).error();
      fetch_ahead();  // read_ahead: the next file while this one's records are returned
      continue;
    }
    const std::uint64_t size = buf_->size();
    // Zeros only from a record boundary on: the end of the file's records (a
    // preallocated file's unwritten part, or a size that reached the disk
    // before the data), neither torn nor damage (docs/log-format.md).
    if (pos_ >= size || pos_ >= zero_from_) {
      written_ += std::min(pos_, size);  // header, records, damage and torn tails; not the zeros after them
      loaded_ = false;
      continue;
    }
    const Check c = check(pos_);
    if (c.ok) {
      logfmt::RecordFrame f;
      std::memcpy(&f, buf_->data() + pos_, sizeof f);
      out.kind = static_cast<logfmt::Kind>(f.kind);
      out.body = std::span<const std::byte>(buf_->data() + pos_ + logfmt::record_frame_size, c.length);
      out.offset = pos_;
      out.segment = &info_;
      pos_ += logfmt::record_span(c.length);
      if (noting_ != nullptr) noting_->end = pos_;  // whole so far: no damage before it in this file
      return true;
    }
    // A living writer's write in progress: not damage. Stop here; a later
    // read (from the last record returned) sees the bytes whole.
    noting_ = nullptr;  // the span noted ends at the first bytes that are not a record
    if (options_.live && journal_writer_alive(info_.writer)) {
      stopped_at_write_ = true;
      pos_ = size;
      loaded_ = false;
      continue;
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
    if (torn_at(pos_))
      torn_.push_back(JournalTornTail{info_.path, pos_, size - pos_});
    else
      damage_.push_back(
          JournalDamage{info_.path, pos_, size - pos_, std::string(c.reason) + " (at the end of the file)"});
    // Written: up to the zeros that end the file (a preallocated file's unwritten part).
    written_ += std::max(pos_, std::min(zero_from_, size));
    pos_ = size;
    loaded_ = false;
  }
}

std::uint64_t JournalReader::file_bytes() const noexcept {
  std::uint64_t total = 0;
  for (const std::string& f : files_) {
    struct stat st {};
    if (::lstat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += static_cast<std::uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace courier
