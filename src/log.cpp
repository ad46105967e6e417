#include "courier/detail/log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "courier/detail/bus_manifest.hpp"
#include "courier/detail/clock.hpp"
#include "courier/names.hpp"

namespace courier {

std::string bus_log_directory(const std::string& log_dir, std::string_view bus) {
  std::string d = log_dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + "/" + std::string(bus);
}

namespace {

Error dir_error(int err, const std::string& what) { return Error(Errc::system, what + ": " + std::strerror(err)); }

// "'DIR'" with its control characters escaped.
std::string quoted(std::string_view path) {
  std::string out(1, '\'');
  out += escape_controls(path);  // appended, not "'" + ...: GCC 12 warns falsely (-Wrestrict) on that
  out += '\'';
  return out;
}

}  // namespace

Result<bool> check_bus_log_directory(const std::string& bus_log_dir, bool create) {
  std::string dir = bus_log_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::size_t slash = dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
  const std::string leaf = slash == std::string::npos ? dir : dir.substr(slash + 1);
  const int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    const int err = errno;
    if (err == ENOENT && !create) return false;
    if (err == ENOENT)
      return Error(Errc::not_found, "log directory " + quoted(parent) +
                                        " does not exist (courier creates only the bus's directory in it)");
    return dir_error(err, "log directory " + quoted(parent));
  }
  bool made = false;
  if (create) {
    if (::mkdirat(pfd, leaf.c_str(), 0700) == 0)
      made = true;
    else if (errno != EEXIST) {
      const int err = errno;
      ::close(pfd);
      return dir_error(err, "creating log directory " + quoted(dir));
    }
  }
  const int fd = ::openat(pfd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    struct stat ls {};
    const bool link = ::fstatat(pfd, leaf.c_str(), &ls, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ls.st_mode);
    ::close(pfd);
    if (err == ENOENT && !create) return false;
    if (link)
      return Error(Errc::invalid_argument, "log directory " + quoted(dir) + " is a symbolic link (not followed)");
    if (err == ENOTDIR) return Error(Errc::invalid_argument, "log directory " + quoted(dir) + " is not a directory");
    return dir_error(err, "opening log directory " + quoted(dir));
  }
  ::close(pfd);
  // The umask may have taken bits of 0700 away (a directory we cannot enter).
  if (made && ::fchmod(fd, 0700) != 0) {
    const int err = errno;
    ::close(fd);
    return dir_error(err, "log directory " + quoted(dir));
  }
  struct stat st {};
  const int rc = ::fstat(fd, &st);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return dir_error(err, "log directory " + quoted(dir));
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if (st.st_uid != ::geteuid())
    return Error(Errc::invalid_argument, "log directory " + quoted(dir) + " is owned by uid " +
                                             std::to_string(st.st_uid) + " (mode " + mode + "), not by uid " +
                                             std::to_string(::geteuid()) + ": refused");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return Error(Errc::invalid_argument, "log directory " + quoted(dir) + " has mode " + mode +
                                             " (writable by group or others, owner uid " + std::to_string(st.st_uid) +
                                             "): refused; chmod it 0700");
  return true;
}

Result<void> remove_bus_log(const std::string& log_dir, std::string_view bus) {
  if (auto why = bus_name_problem(bus); !why.empty()) return Error(Errc::invalid_argument, why);
  const std::string dir = bus_log_directory(log_dir, bus);
  auto there = check_bus_log_directory(dir, false);
  if (!there) return std::move(there).error();
  if (!*there) return {};
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return {};
    return Error(Errc::system, "opening log directory '" + dir + "': " + std::strerror(errno));
  }
  std::vector<std::string> files;
  bool others = false;
  while (dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (parse_journal_file_name(n, w, seq) || n == detail::manifest_file_name)  // the journals and the bus's settings
      files.emplace_back(n);
    else
      others = true;
  }
  ::closedir(d);
  for (const std::string& n : files) {
    const std::string p = dir + "/" + n;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      return Error(Errc::system, "deleting journal file '" + p + "': " + std::strerror(errno));
  }
  if (!others && ::rmdir(dir.c_str()) != 0 && errno != ENOENT)
    return Error(Errc::system, "removing log directory '" + dir + "': " + std::strerror(errno));
  return {};
}

namespace detail {

Result<std::unique_ptr<Log>> Log::open(const Settings& s, NameOf name_of, Durable durable,
                                       SpillWritten spill_written) {
  namespace d = log_defaults;
  static_assert(d::min_journal_file_size == 4096 && d::max_journal_file_size == (1ull << 30), "the messages below");
  static_assert(d::min_group_commit_bytes == 4096 && d::max_group_commit_bytes == (1ull << 30), "the messages below");
  static_assert(d::max_group_commit_interval == std::chrono::seconds(10), "the message below");
  if (s.segment_size < d::min_journal_file_size || s.segment_size > d::max_journal_file_size)
    return Error(Errc::invalid_argument,
                 "log_segment_size must be 4 KiB .. 1 GiB, got " + std::to_string(s.segment_size));
  if (s.interval.count() <= 0 || s.interval > d::max_group_commit_interval)
    return Error(Errc::invalid_argument, "group_commit_interval must be 1 us .. 10 s");
  if (s.batch_bytes < d::min_group_commit_bytes || s.batch_bytes > d::max_group_commit_bytes)
    return Error(Errc::invalid_argument, "group_commit_bytes must be 4 KiB .. 1 GiB");
  JournalOptions jo;
  // The log rolls and flushes by itself (only between batches: a roll closes
  // the file the flusher may be syncing); the writer never does on append.
  jo.segment_size = std::numeric_limits<std::uint64_t>::max() / 2;
  jo.buffer_limit = std::numeric_limits<std::size_t>::max();
  // Never far past the roll: a small log_segment_size keeps small files.
  jo.preallocate = std::min(d::journal_preallocate, s.segment_size);
  // Batches that are synced skip the page cache (docs/design.md, "Batches written with O_DIRECT"); Sync::os,
  // which never syncs, leaves them to the page cache.
  jo.direct = s.direct_io && s.sync != Sync::os;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (!s.cpus.empty()) {
    auto set = cpu_set_of(s.cpus);
    if (!set) return std::move(set).error();
    cpus = *set;
  }
  if (auto r = check_bus_log_directory(s.dir, true); !r) return std::move(r).error();
  auto w = JournalWriter::open(s.dir, jo);
  if (!w) return std::move(w).error().with_context("opening the log in '" + s.dir + "'");
  std::unique_ptr<Log> log(
      new Log(s, std::move(*w), std::move(name_of), std::move(durable), std::move(spill_written)));
  // Preallocated space counts in a file's size (a reader's max_file_size): the cap leaves room for one step.
  log->file_cap_ = std::min(2 * s.segment_size, d::max_read_file_size - jo.preallocate);
  log->pinned_ = !s.cpus.empty();
  log->cpus_ = cpus;
  if (s.sync != Sync::always)
    if (auto r = log->start_flusher(); !r) return std::move(r).error();  // the destructor stops the thread
  return log;
}

Log::Log(const Settings& s, JournalWriter w, NameOf n, Durable d, SpillWritten sw)
    : settings_(s), name_of_(std::move(n)), durable_(std::move(d)), spill_written_(std::move(sw)), w_(std::move(w)) {}

Log::~Log() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  housekeeping_wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (housekeeper_.joinable()) housekeeper_.join();
  (void)flush();
  (void)w_.close();
}

Error Log::failed(Error e) {
  std::lock_guard<std::mutex> lk(error_mu_);
  last_error_ = e;
  return e;
}

std::optional<Error> Log::last_error() const {
  std::lock_guard<std::mutex> lk(error_mu_);
  return last_error_;
}

Result<void> Log::name_locked(std::uint32_t id, bool group) {
  if (id == 0) return {};
  const std::uint64_t key = (std::uint64_t(group) << 32) | id;
  if (named_.count(key) != 0) return {};
  const std::string n = name_of_(id, group);
  if (n.empty()) return {};  // removed meanwhile: its records are unnamed (recovery skips them)
  if (auto r = w_.append_name(id, group, n); !r) return failed(std::move(r).error());
  named_.insert(key);
  return {};
}

Result<void> Log::message_names_locked(const RecordHeader& h) {
  // A sender's records mostly repeat the last one's ids: named then, in this file (forget_names_locked
  // clears last_named_ with named_).
  if (last_named_.valid && last_named_.from == h.from && last_named_.to == h.to && last_named_.group == h.group)
    return {};
  last_named_.valid = false;
  Result<void> r;
  for (auto [id, group] : {std::pair{h.from, false}, std::pair{h.to, false}, std::pair{h.group, true}})
    if (r) r = name_locked(id, group);
  // Kept only when each id has its name record (an id whose name was not found is looked up again).
  const auto named = [&](std::uint32_t id, bool group) {
    return id == 0 || named_.count((std::uint64_t(group) << 32) | id) != 0;
  };
  if (r && named(h.from, false) && named(h.to, false) && named(h.group, true))
    last_named_ = {h.from, h.to, h.group, true};
  return r;
}

void Log::forget_names_locked() {
  named_.clear();
  last_named_.valid = false;
}

Result<void> Log::append_spill(const RecordHeader& h, std::span<const std::byte> payload, const Spill& s) {
  std::unique_lock<std::mutex> lk(mu_);
  const Result<void> r = append_locked(lk, h, payload);
  if (r) spills_.push_back(s);  // taken by the batch that takes its record (write_batch swaps both under mu_)
  wake_flusher(lk, r && spills_.size() == 1);
  return r;
}

Result<void> Log::append_locked(std::unique_lock<std::mutex>& lk, const RecordHeader& h,
                                std::span<const std::byte> payload) {
  // Bounded memory: a producer faster than the disk waits for the flusher.
  if (settings_.sync != Sync::always)
    done_.wait(lk, [&] {
      return w_.buffered_bytes() + w_.taken_bytes() < 4 * settings_.batch_bytes + log_defaults::backlog_slack_bytes ||
             stop_;
    });
  if (auto room = make_room_locked(lk, logfmt::record_span(logfmt::message_min_body + std::uint64_t{payload.size()}));
      !room)
    return room;
  Result<void> r = message_names_locked(h);
  if (r)
    if (auto a = w_.append_message(h, payload); !a) r = failed(std::move(a).error());
  return r;
}

Result<void> Log::make_room_locked(std::unique_lock<std::mutex>& lk, std::uint64_t bytes) {
  // The name records a record may need first: its sender, recipient and group.
  constexpr std::uint64_t names = 3 * logfmt::record_span(sizeof(logfmt::NameBody) + logfmt::max_name_len);
  const auto full = [&] {
    if (settings_.sync == Sync::always) return w_.file_bytes() >= settings_.segment_size;
    // A record larger than the cap goes alone into a file of its own (a file that holds only its header).
    return w_.file_bytes() > logfmt::file_header_size && w_.file_bytes() + bytes + names > file_cap_;
  };
  if (!full()) return {};
  // Not under a batch of another thread, which syncs this file outside the lock.
  done_.wait(lk, [&] { return !flushing_; });
  if (!full()) return {};  // that batch rolled it
  if (auto r = w_.roll(); !r) return failed(std::move(r).error());
  forget_names_locked();
  return {};
}

void Log::wake_flusher(std::unique_lock<std::mutex>& lk, bool urgent) {
  // !busy_: the flusher sleeps for want of work. A busy one looks for work before it sleeps;
  // Sync::always has no flusher (its appends flush themselves).
  const bool work = settings_.sync != Sync::always && !busy_ && has_work_locked();
  if (work) set_busy_locked(true);  // the flusher's work
  const bool wake = work || urgent || w_.buffered_bytes() >= settings_.batch_bytes;
  lk.unlock();
  if (wake) wake_.notify_one();
}

Result<void> Log::append_membership(std::span<const JournalMembership> changes) {
  {
    std::unique_lock<std::mutex> lk(mu_);
    for (const JournalMembership& m : changes) {
      if (auto r = make_room_locked(lk, logfmt::record_span(sizeof(logfmt::MembershipBody) + 2 * logfmt::max_name_len));
          !r)
        return r;
      if (auto r = w_.append_membership(m.change, m.group, m.endpoint, m.at_ns); !r)
        return failed(std::move(r).error());
    }
  }
  // Written here and now; what a failure leaves buffered, the flusher retries.
  Result<void> r = flush();
  std::unique_lock<std::mutex> lk(mu_);
  wake_flusher(lk);
  return r;
}

void Log::add_pending(const Pending& p) {
  std::unique_lock<std::mutex> lk(mu_);
  pending_.push_back(p);
  wake_flusher(lk);
}

Result<void> Log::append_settle(logfmt::Kind kind, const logfmt::SettleBody& body) {
  {
    std::unique_lock<std::mutex> lk(mu_);
    // Names first: a recovery maps the ids of this journal file by its own name records.
    Result<void> r = make_room_locked(lk, logfmt::record_span(sizeof body));
    for (std::uint32_t id : {body.sender, body.recipient})
      if (r) r = name_locked(id, false);
    if (r)
      if (auto a = w_.append_settle(kind, body); !a) r = failed(std::move(a).error());
    wake_flusher(lk);
    if (!r) return r;
  }
  if (settings_.sync == Sync::always) return flush();
  return {};
}

void Log::lock_spinning(std::unique_lock<std::mutex>& lk) noexcept {
  // About 10 µs of tries (a pause is 10-140 cycles, by CPU), then the mutex's own wait.
  for (int i = 0; i < 256; ++i) {
    if (lk.try_lock()) return;
    cpu_relax();
  }
  lk.lock();
}

Result<void> Log::write_batch(std::unique_lock<std::mutex>& lk) {
  // The write and the fdatasync run without the lock: senders keep appending
  // meanwhile (their records are in the next batch, at the offsets behind this
  // one). Nobody rolls or closes the file while flushing_ is set, nor writes
  // while writing_ is.
  Result<void> result;
  // Taken together: a pending added from now on has its record behind this batch.
  batch_.swap(pending_);  // pending_ takes batch_'s (empty) storage: no allocation once warm
  batch_spills_.swap(spills_);  // their records are buffered (or written by write_now()): this batch's
  unsynced_ = false;      // what write_now() wrote before now: this batch's fdatasync covers it
  if (w_.buffered_bytes() != 0 && w_.fd() < 0) {
    result = w_.flush();  // no file (a roll failed): its error, under the lock (an append may create the file)
  } else if (w_.buffered_bytes() != 0) {
    w_.take_batch(out_);  // out_'s storage becomes the buffer: no allocation once warm
    writing_ = true;
    lk.unlock();
    result = w_.write_taken(out_);
    lock_spinning(lk);
    w_.end_taken(out_, static_cast<bool>(result));  // failed: back in the buffer, before the newer records
    writing_ = false;
    done_.notify_all();  // write_now(), and producers waiting for room
  }
  const int fd = w_.fd();
  const std::string path = result && settings_.sync != Sync::os ? w_.file_path() : std::string();
  lk.unlock();
  if (!batch_spills_.empty()) {
    // In the file now (unless the write failed): marked and counted before the
    // sync, so that a receiver forwards them without waiting for it; `sent`
    // comes with the batch, after the sync, as for any pending.
    if (spill_written_) spill_written_(batch_spills_, static_cast<bool>(result));
    if (result)
      for (const Spill& sp : batch_spills_)
        if (sp.tracked) batch_.push_back(sp.pending);
    batch_spills_.clear();
  }
  if (result && settings_.sync != Sync::os && fd >= 0) {
    int rc;
    do rc = ::fdatasync(fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) result = Error(Errc::system, "fdatasync of journal file '" + path + "': " + std::strerror(errno));
  }
  synced_at_ = std::chrono::steady_clock::now();
  if (!result) (void)failed(result.error());  // before the senders hear log_failed: they may ask why
  if (!batch_.empty()) durable_(batch_, result ? Status::sent : Status::log_failed);
  batch_.clear();
  lock_spinning(lk);
  // A failed roll is tried again after the next batch.
  if (result && w_.file_bytes() >= settings_.segment_size && w_.roll()) forget_names_locked();
  return result;
}

Result<void> Log::flush() {
  std::unique_lock<std::mutex> lk(mu_);
  done_.wait(lk, [&] { return !flushing_; });
  if (!has_work_locked()) return {};
  flushing_ = true;
  Result<void> r = write_batch(lk);
  flushing_ = false;
  lk.unlock();
  done_.notify_all();
  return r;
}

Result<void> Log::write_now() {
  std::unique_lock<std::mutex> lk(mu_);
  // After a batch being written outside the lock (its records come first in
  // the file); safe beside a flusher syncing outside the lock: it only syncs
  // the fd.
  done_.wait(lk, [&] { return !writing_; });
  const bool wrote = w_.buffered_bytes() != 0;
  if (auto r = w_.flush(); !r) return failed(std::move(r).error());
  // Synced by the next batch (the flusher's; Sync::always: the caller's flush()), even when no pending
  // waits for it. Sync::os syncs nothing.
  if (wrote && settings_.sync != Sync::os) {
    unsynced_ = true;
    wake_flusher(lk);
  }
  return {};
}

}  // namespace detail
}  // namespace courier
