// courier/detail/log.hpp — a bus's durable log as the bus uses it: the sync policy,
// group commit, recovery reports. The format and the files are journal.hpp's;
// this part knows which records a bus writes and when `sent` may be said.
//
// Each process that opens a bus with a log has one JournalWriter for it (its
// own journal files in LOG_DIR/BUS/, no lock shared with other processes).
// Threads of the process share it through a process-local mutex held only to
// encode a record into the writer's buffer. With Sync::group a flusher thread
// takes the buffer out, writes it in one pwrite() and fdatasync()s it, both
// outside the mutex, one group_commit_interval after its last batch started
// (at once when that one took longer; sooner at group_commit_bytes); the messages of the
// batch then move from outbox to sent. With nothing to write it sleeps until an
// append gives it work (no timer: an idle log never wakes it). Sync::os is the same without the
// fdatasync. Sync::always writes and fdatasyncs on the sender's thread before
// send() returns sent. The journal layer's errors come back as Result, and the
// last one is kept (last_error()) so that a `log_failed` can say why.
// Compiled in src/log.cpp, src/log_threads.cpp (its threads) and src/recovery.cpp.
#pragma once

#include <sched.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "courier/detail/journal_reader.hpp"
#include "courier/detail/journal_writer.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/detail/record.hpp"
#include "courier/options.hpp"
#include "courier/result.hpp"
#include "courier/stats.hpp"
#include "courier/status.hpp"

namespace courier {

// The directory of a bus's journals: LOG_DIR/BUS.
std::string bus_log_directory(const std::string& log_dir, std::string_view bus);
// Opens the directory of a bus's journals (LOG_DIR/BUS) to check it, creating
// it first when `create` (only the last component, mode 0700 whatever the
// umask: a missing LOG_DIR is an error naming it). Refused with a one-line
// error naming the directory: a symbolic link at its last component (not
// followed), not a directory, owned by another uid than this process's
// effective uid, or writable by group or others. True when it exists (false
// only without `create`).
Result<bool> check_bus_log_directory(const std::string& bus_log_dir, bool create);
// Delete a bus's journals (every journal file of LOG_DIR/BUS, then the
// directory when nothing else is in it). Ok when there is nothing to delete.
Result<void> remove_bus_log(const std::string& log_dir, std::string_view bus);

namespace detail {

// One process's journal writer for one bus (see the top of this file).
class Log {
 public:
  // A tracked message whose `sent` waits for the batch holding its record:
  // its tracker slot and key, and the event its sender is told.
  struct Pending {
    std::uint64_t slot = 0;
    std::uint64_t id = 0;
    std::uint32_t sender = 0;
    std::uint32_t key_recipient = 0;  // the tracker key's recipient (0 unless a group member entry)
    std::uint32_t recipient = 0;      // the event's recipient (0 for a group total)
    std::uint32_t group = 0;
  };
  struct Settings {
    std::string dir;  // the bus's journal directory (LOG_DIR/BUS)
    Sync sync = Sync::group;
    std::chrono::microseconds interval = log_defaults::group_commit_interval;
    std::uint64_t batch_bytes = log_defaults::group_commit_bytes;
    std::uint64_t segment_size = log_defaults::journal_file_size;  // a journal file rolls at about this size
    std::vector<unsigned> cpus;  // Options::log_cpus: the CPUs of the log's threads (empty: inherited)
    bool direct_io = true;       // Options::log_direct_io: JournalOptions::direct unless Sync::os
  };
  // A spilled message (docs/design.md, "Spill written in the log's
  // batches"): append_spill buffers its record; a batch writes it, then hands
  // it to SpillWritten (before the batch's sync, outside the lock), which
  // marks and counts it, and reports its pending (when `tracked`) with that
  // batch. A failed write hands it over with written == false (SpillWritten
  // settles it log_failed).
  struct Spill {
    Pending pending;  // recipient: the endpoint whose lane it waits for
    std::uint8_t priority = 0;
    bool tracked = false;  // pending.slot is its tracker entry (else it is only counted in the inbox)
  };
  using SpillWritten = std::function<void(std::span<const Spill>, bool written)>;
  // The name of endpoint (group == false) or group `id`, "" when unknown.
  using NameOf = std::function<std::string(std::uint32_t id, bool group)>;
  // The records holding these messages are durable (sent) or failed (log_failed).
  using Durable = std::function<void(std::span<const Pending>, Status)>;

  static Result<std::unique_ptr<Log>> open(const Settings& settings, NameOf name_of, Durable durable,
                                           SpillWritten spill_written = {});
  ~Log();  // writes (and, unless Sync::os, syncs) what is buffered, and reports it
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  Sync sync() const noexcept { return settings_.sync; }
  const std::string& directory() const noexcept { return settings_.dir; }

  // Buffer a spilled message's record (after name records for its ids when
  // the current journal file has none yet) and `s` with it:
  // the flusher writes it at once, not one interval later (Sync::always: the
  // caller's flush()).
  Result<void> append_spill(const RecordHeader& h, std::span<const std::byte> payload, const Spill& s);
  // Buffer a delivered / read / expired record. With Sync::always it is
  // written and synced before this returns.
  Result<void> append_settle(logfmt::Kind kind, const logfmt::SettleBody& body);
  // Write membership records (logfmt::membership_change; `endpoint` empty
  // for a group's creation or removal) and flush them as flush() does:
  // durable (unless Sync::os) when this returns ok. Membership changes are
  // rare; the caller made each change before and took its at_ns after it.
  Result<void> append_membership(std::span<const JournalMembership> changes);
  // Report `p` with the batch that holds what is buffered now.
  void add_pending(const Pending& p);
  // One hold of the log's mutex for a sender's stored copy (commit_held in
  // src/send.cpp, for one endpoint and for a group's members): its record
  // buffered, its lane commit made and its pending added under it, so the
  // batch that takes the record takes the pending too, and the sender locks
  // once where two calls locked twice. Its destructor releases it and wakes
  // the flusher as add_pending does.
  // Nothing that locks the log may run while it is held (append_settle,
  // flush, a settle that writes a record).
  class Hold {
   public:
    explicit Hold(Log& log) : log_(log), lk_(log.mu_, std::defer_lock) { lock_spinning(lk_); }
    ~Hold() { log_.wake_flusher(lk_); }  // unlocked() locks again: always held here
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    // A message's record (and the name records before it), buffered.
    Result<void> append_message(const RecordHeader& h, std::span<const std::byte> payload) {
      return log_.append_locked(lk_, h, payload);
    }
    void add_pending(const Pending& p) { log_.pending_.push_back(p); }
    // f() without the mutex (a test's pause point: batches go on meanwhile).
    template <class F>
    void unlocked(F&& f) {
      lk_.unlock();
      f();
      lk_.lock();
    }

   private:
    Log& log_;
    std::unique_lock<std::mutex> lk_;
  };
  // Write (and sync, unless Sync::os) what is buffered now and report it,
  // on this thread. Ok when it is durable.
  Result<void> flush();
  // Hand what is buffered to the kernel now (visible to readers of the file),
  // without a sync: what it holds is synced by the next batch (Sync::group)
  // or the caller's flush() (Sync::always), and reported with that batch;
  // with Sync::os never synced.
  Result<void> write_now();
  // The journal layer's last failure (with its file and the OS's reason),
  // none while everything was written: why a batch was reported log_failed.
  std::optional<Error> last_error() const;

  // Run `f` every `interval` on a thread of the log's (until destruction),
  // on the CPUs of Settings::cpus (checked by open()).
  void start_housekeeping(std::chrono::milliseconds interval, std::function<void()> f);

 private:
  Log(const Settings& s, JournalWriter w, NameOf n, Durable d, SpillWritten sw);
  // Hold::append_message and append_spill: the record buffered, lk still held.
  Result<void> append_locked(std::unique_lock<std::mutex>& lk, const RecordHeader& h,
                             std::span<const std::byte> payload);
  Result<void> name_locked(std::uint32_t id, bool group);
  // The name records a message record needs (from, to, group), unless the last message's ids were these.
  Result<void> message_names_locked(const RecordHeader& h);
  // A new journal file: no name written in it yet.
  void forget_names_locked();
  // Called with lk held and flushing_ set by us; returns with lk held.
  Result<void> write_batch(std::unique_lock<std::mutex>& lk);
  // lk.lock(), after trying for a few microseconds: the producer and the
  // flusher each hold the log's mutex briefly and often, and a thread that
  // sleeps on it makes the holder's unlock a futex wake and itself wait for a
  // wake-up (docs/design.md, "The log's mutex is taken spinning first").
  static void lock_spinning(std::unique_lock<std::mutex>& lk) noexcept;
  // Keep `e` as the last error and return it.
  Error failed(Error e);
  // Settings::cpus as a mask, each CPU checked against those this process may use.
  static Result<cpu_set_t> cpu_set_of(const std::vector<unsigned>& cpus);
  Result<void> start_flusher();  // named, on cpus_ when pinned_
  // Under mu_: whether the flusher has work or is awake (busy_), counted for
  // await_log_flushers_idle. Set by an append that gives it work, cleared by
  // the flusher when it sleeps for want of work.
  void set_busy_locked(bool busy);
  void run();  // the group-commit thread
  // Something waits to be written, synced or reported (the flusher's work). Under mu_.
  bool has_work_locked() const noexcept {
    return w_.buffered_bytes() != 0 || !pending_.empty() || !spills_.empty() || unsynced_;
  }
  // Before buffering a record of `bytes` (and the name records it may need):
  // roll first when the current file is full. Sync::always rolls at
  // segment_size; the others roll after a batch (write_batch), and here only
  // when the record would take the file past file_cap_, so that no journal
  // file outgrows what a reader takes, however long a batch waits. A roll
  // waits for a batch being synced outside the lock (it closes that file).
  // Called with lk held; returns with it held.
  Result<void> make_room_locked(std::unique_lock<std::mutex>& lk, std::uint64_t bytes);
  // After an append under lk: wake the flusher when it sleeps for want of
  // work and now has some, when a batch is full, or when `urgent` (a first
  // spilled record: a flusher waiting out its interval writes at once).
  // Unlocks lk.
  void wake_flusher(std::unique_lock<std::mutex>& lk, bool urgent = false);

  Settings settings_;
  NameOf name_of_;
  Durable durable_;
  SpillWritten spill_written_;
  mutable std::mutex mu_;
  std::condition_variable wake_;               // the flusher: bytes waiting, or stop
  std::condition_variable done_;               // a batch finished (room in the buffer, flushing_ cleared)
  std::condition_variable housekeeping_wake_;  // the housekeeper: stop
  JournalWriter w_;
  std::vector<Pending> pending_, batch_;
  std::vector<Spill> spills_, batch_spills_;  // buffered spilled records; those of the batch being written
  std::unordered_set<std::uint64_t> named_;  // (what << 32 | id) named in the current journal file
  struct LastNamed {
    std::uint32_t from = 0, to = 0, group = 0;
    bool valid = false;  // all three are in named_
  } last_named_;
  mutable std::mutex error_mu_;              // last_error_ (set by a flusher outside mu_)
  std::optional<Error> last_error_;
  std::vector<std::byte> out_;  // the batch being written (JournalWriter::take_batch)
  // When write_batch()'s sync ended (set outside the lock by the one thread
  // flushing_ lets write; read by the flusher after its own write_batch()).
  std::chrono::steady_clock::time_point synced_at_{};
  // The bytes of records no journal file of this log passes (unless one record
  // needs more): 2 x segment_size, and at most what a reader takes
  // (log_defaults::max_read_file_size) less a preallocation step.
  std::uint64_t file_cap_ = 0;
  // write_now() handed records to the kernel that no batch has synced yet:
  // a batch's work too (not with Sync::os), so that they are durable one
  // batch later even when no pending waits for them.
  bool unsynced_ = false;
  bool flushing_ = false;
  bool writing_ = false;  // out_ is being written outside the lock: no other write to the file
  bool stop_ = false;
  bool busy_ = false;
  bool pinned_ = false;  // cpus_ holds Settings::cpus
  cpu_set_t cpus_{};
  std::thread flusher_;
  std::thread housekeeper_;
};

// Test hooks, over every Log of this process since it started: the wake-ups
// of its threads (each return of the flusher or the housekeeper from a wait)
// and the batches the flushers wrote.
struct LogThreadCounts {
  std::uint64_t flusher_wakeups = 0;
  std::uint64_t housekeeper_wakeups = 0;
  std::uint64_t flusher_batches = 0;
  // Over those batches: from each one's start to the end of its write and
  // sync, and from there to the end of its events (`sent`) and of a roll.
  std::uint64_t flusher_write_sync_ns = 0;
  std::uint64_t flusher_post_ns = 0;
};
LogThreadCounts log_thread_counts() noexcept;
// Wait until every flusher of this process sleeps with nothing to write
// (false after `guard`: a guard against a hang, not a time window).
bool await_log_flushers_idle(std::chrono::milliseconds guard);

}  // namespace detail
}  // namespace courier
