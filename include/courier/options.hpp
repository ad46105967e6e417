/// @file
/// How a bus is opened and how a receiver waits: every setting with its
/// default and its limits. Every field has a default member initialiser, so
/// designated initialisers name only what they change:
///
///     courier::Bus::open("orders", {.log_dir = dir, .sync = courier::Sync::group});
///     bus->attach("bob", {.idle = {.spin_ns = 0}, .auto_ack = false});
///
/// Plain structs: copy them freely; nothing here blocks or allocates (beyond
/// the std::string or std::function a field holds).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "courier/defaults.hpp"

namespace courier {

using namespace std::chrono_literals;

/// When `sent` is said for a message with expiry > 0 on a bus with a log.
enum class Sync : std::uint8_t {
  always,  ///< written and fdatasync'ed before send() returns sent (survives power loss); send waits for the disk
  group,   ///< group commit: sent when the batch holding it is fdatasync'ed (survives power loss)
  os,      ///< sent when the batch is written to the page cache (survives process crashes, not power loss)
};
/// "always", "group" or "os"; "unknown" for a value outside the enum.
constexpr std::string_view sync_name(Sync s) noexcept {
  switch (s) {
    case Sync::always: return "always";
    case Sync::group: return "group";
    case Sync::os: return "os";
  }
  return "unknown";
}
/// The Sync named `n` into `out`: false, and `out` unchanged, when `n` names none.
constexpr bool sync_from_name(std::string_view n, Sync& out) noexcept {
  for (Sync s : {Sync::always, Sync::group, Sync::os})
    if (sync_name(s) == n) {
      out = s;
      return true;
    }
  return false;
}

/// How far a recovery has come (Options::on_recovery_progress, Bus::recover).
struct RecoveryProgress {
  /// The read of the journals, 1 to `passes`; the last puts back what is
  /// owed. A rebuild after a reboot reads twice (1: names, messages and
  /// settlements; 2: put back); Bus::recover on a live bus first counts what
  /// it will track (1), then loads (2), then puts back (3).
  unsigned pass = 0;
  unsigned passes = 3;            ///< passes in all (2 or 3, above)
  std::uint64_t bytes_done = 0;   ///< read so far in this pass
  std::uint64_t bytes_total = 0;  ///< to read in this pass
};

template <class T>
class Setting;
/// A value that names a Setting<T>: one that converts to T and is not a Setting<T> (those are copied).
template <class U, class T>
concept setting_value = std::is_convertible_v<U, T> && !std::is_same_v<std::remove_cvref_t<U>, Setting<T>>;

/// A setting the bus owns (its geometry, its log): a value, and whether the
/// caller named it. Assigning a value names it (`o.lane_capacity = 1 << 20`,
/// `{.sync = Sync::always}`); the defaults of Options are not named. Reads as
/// its value (a T), so code that reads Options stays as it was.
///
/// Bus::open compares only what is named: a named value that differs from the
/// bus's fails the open (Errc::incompatible, both values in the message); an
/// unnamed one takes the bus's value. The creator of a bus uses the value,
/// named or not (docs/design.md, "Settings belong to the bus").
template <class T>
class Setting {
 public:
  /// T{}, not named.
  constexpr Setting() noexcept(std::is_nothrow_default_constructible_v<T>) = default;
  /// `v`, named (implicit: `o.sync = Sync::always` names the setting).
  template <setting_value<T> U>
  constexpr Setting(U&& v) : value_(std::forward<U>(v)), named_(true) {}  // NOLINT: implicit on purpose
  /// A default: the value used when the bus does not exist, not named.
  static constexpr Setting unnamed(T v) {
    Setting s;
    s.value_ = std::move(v);
    return s;
  }
  /// The value (implicit: a Setting<T> reads as a T).
  constexpr operator const T&() const noexcept { return value_; }  // NOLINT: implicit on purpose
  /// The value.
  constexpr const T& value() const noexcept { return value_; }
  /// Whether the caller named it (assigned a value) rather than leaving the default.
  constexpr bool named() const noexcept { return named_; }

 private:
  T value_{};
  bool named_ = false;
};

/// Options of Bus::open. The settings of type Setting belong to the bus: the
/// process that creates it records them in its shared memory (and, with a log,
/// in LOG_DIR/BUS/bus.settings); later openers adopt them, and one that names
/// a different value is refused. A value outside its bounds (limits.hpp)
/// fails the open with Errc::invalid_argument.
struct Options {
  /// 1..4096 endpoints on this bus.
  Setting<std::uint32_t> max_endpoints = Setting<std::uint32_t>::unnamed(defaults::max_endpoints);
  /// Bytes per lane, power of two, 4 KiB..1 GiB (16 lanes per endpoint).
  Setting<std::uint64_t> lane_capacity = Setting<std::uint64_t>::unnamed(defaults::lane_capacity);
  /// Largest payload; must fit in half a lane. Not named and too large for the
  /// lanes named: the largest that fits.
  Setting<std::uint32_t> max_payload = Setting<std::uint32_t>::unnamed(defaults::max_payload);
  /// A claim unfinished this long is stepped over (dead producer): 1 ms .. 1 h.
  /// Also the longest a parked receiver sleeps before it looks at its lanes
  /// again by itself (a producer that died after committing never wakes it).
  Setting<std::chrono::nanoseconds> claim_timeout = Setting<std::chrono::nanoseconds>::unnamed(defaults::claim_timeout);
  /// Wait this long for a segment another process is creating (and for a
  /// directory lock held by a stopped process) before Errc::timeout.
  std::chrono::nanoseconds open_timeout = defaults::open_timeout;
  bool create = true;         ///< create the bus when it does not exist (false: Errc::not_found instead)
  bool group_access = false;  ///< mode 0660 instead of 0600
  /// 0..4096 groups.
  Setting<std::uint32_t> max_groups = Setting<std::uint32_t>::unnamed(defaults::max_groups);
  /// 1..4096 members per group.
  Setting<std::uint32_t> max_group_members = Setting<std::uint32_t>::unnamed(defaults::max_group_members);
  /// Tracked messages in flight (entries, power of two, 64..2^26).
  Setting<std::uint64_t> tracker_capacity = Setting<std::uint64_t>::unnamed(defaults::tracker_capacity);
  /// Bytes of each endpoint's status ring (64 bytes per event), power of two, 4 KiB..64 MiB.
  /// Size it to the events that wait between two polls, not far beyond: in a
  /// ring much larger than the cache each event lands on a line untouched for
  /// a whole wrap (the log's `sent` events took 2x as long with 64 MiB as
  /// with 1 MiB, docs/benchmarks.md).
  Setting<std::uint64_t> status_capacity = Setting<std::uint64_t>::unnamed(defaults::status_capacity);
  /// A tracked message's status is kept this long past its expiry (0..30 days).
  Setting<std::chrono::nanoseconds> status_retention =
      Setting<std::chrono::nanoseconds>::unnamed(defaults::status_retention);
  /// Populate this process's mapping of the tracker when it opens the bus (one
  /// madvise(MADV_POPULATE_WRITE), Linux 5.14+): the tracker is hashed, so
  /// without it the first touch of each of its pages is a page fault in the
  /// middle of a send or a receive, ~10 us apiece on a VM, for as long as the
  /// table has untouched pages (a 2^21-entry tracker: 37,000 pages; the round
  /// trip of stored messages between two processes in courier-bench: 90-160
  /// us without, 5.4-6.6 us with, on the VM of docs/benchmarks.md). Costs ~1.4 us per 4 KiB
  /// at open (default tracker: ~1.6 ms) and allocates the whole table at once.
  /// false: pages come on first use (short-lived tools, a large table used sparsely).
  bool prefault_tracker = true;
  /// In-process mode: the bus lives in this process's memory (no /dev/shm), for
  /// threads of one process; same API and semantics. Opening the same name again
  /// in this process returns the same bus. No log: log_dir must be empty.
  bool in_process = false;

  /// The durable log. Empty: not named (a new bus has no log; an existing bus
  /// is opened with the log it was created with, if any). Otherwise the bus's
  /// journals go to LOG_DIR/BUS (created with mode 0700), every message with
  /// expiry > 0 is written there, and `sent` is said only when `sync` holds
  /// (log.hpp). Compared with the bus's as an absolute, canonical path. A bus
  /// created with a log and rebuilt after a reboot takes the settings its
  /// creator wrote in LOG_DIR/BUS/bus.settings where this open names none.
  std::string log_dir{};
  /// When `sent` is said for a stored message (a bus with a log only).
  Setting<Sync> sync = Setting<Sync>::unnamed(Sync::group);
  /// Sync::group/os: longest wait before a batch is written (1 us .. 10 s).
  /// Batches start at least this far apart; a message that finds no batch
  /// started in the last interval is written at once.
  Setting<std::chrono::microseconds> group_commit_interval =
      Setting<std::chrono::microseconds>::unnamed(defaults::group_commit_interval);
  /// ... or as soon as this many bytes are waiting (4 KiB .. 1 GiB).
  Setting<std::uint64_t> group_commit_bytes = Setting<std::uint64_t>::unnamed(defaults::group_commit_bytes);
  /// Journal files this process writes roll at about this size (4 KiB .. 1
  /// GiB), after the batch that reaches it; a file never holds more than
  /// twice it (nor more than the 1 GiB a recovery reads). A property of each
  /// writer, not of the bus: not recorded, not compared.
  std::uint64_t log_segment_size = defaults::log_file_size;
  /// When this open creates the shared memory (first open, or after a reboot)
  /// and the log holds records: rebuild the tracker and put back what is owed
  /// before open() returns (Bus::recovery() says what was found).
  bool recover = true;
  /// When another live process is rebuilding the bus from its log as this
  /// open attaches: true, wait for the rebuild to end (up to 10 minutes);
  /// false, fail at once with Errc::busy naming that process. The CLI's
  /// commands that only look (ls, stat, peek, doctor, top) say false.
  bool wait_for_rebuild = true;
  /// Called during that recovery (and by Bus::recover) about every 64 MiB
  /// read, on the thread that recovers.
  std::function<void(const RecoveryProgress&)> on_recovery_progress{};
  /// With a log: run Bus::housekeep this often on a thread the bus starts
  /// (0: never; call it yourself).
  std::chrono::milliseconds housekeeping_interval = defaults::housekeeping_interval;
  /// With a log: the CPUs (indices as taskset(1) numbers them) that the log's
  /// threads of this process (the flusher and the housekeeper) run on, so they
  /// do not preempt a thread pinned elsewhere. Each must be a CPU this process
  /// may use (its cpuset, online), or open() fails naming it. Empty (default):
  /// they inherit the placement of the thread that opens the bus. A property of
  /// this process, not of the bus: not recorded, not compared. Errors at open: Errc::invalid_argument.
  std::vector<unsigned> log_cpus = {};
  /// With a log and Sync::group or Sync::always: this process writes its
  /// journal batches with O_DIRECT (whole 4 KiB blocks from an aligned copy),
  /// so a batch's bytes skip the page cache and its fdatasync has no dirty
  /// pages to write back: a shorter write + sync, hence a lower send -> `sent`
  /// latency under load. The cost: what it wrote is not in the page cache, so
  /// a recovery or the housekeeper's compaction reads it from the disk. A file
  /// system that refuses O_DIRECT is written through the page cache. false:
  /// always through the page cache. Sync::os never uses it. A property of this
  /// process, not of the bus: not recorded, not compared.
  bool log_direct_io = true;
};

/// Options of Bus::remove.
struct RemoveOptions {
  /// Remove the bus even while receivers are attached. Without it, removal is
  /// refused (busy) while a living process holds a receiver's lease on any of
  /// its endpoints, and the error names them.
  bool force = false;
};

/// How an idle receiver waits: spin (lowest latency, burns a core) for spin_ns,
/// then park on the futex (a producer then pays one wake syscall). With park
/// set, the spin yields the CPU (sched_yield) every 64 polls, so that a sender
/// sharing the CPU runs at once; with park false it is a pure busy-spin.
struct IdleStrategy {
  std::uint64_t spin_ns = defaults::idle_spin_ns;  ///< 0: park at once
  bool park = true;                                ///< false: never sleep (busy-spin until the timeout)
};

/// Options of Bus::attach.
struct ReceiverOptions {
  IdleStrategy idle{};   ///< how Receiver::receive waits
  bool auto_ack = true;  ///< acknowledge (status delivered) as each message is taken; false: call Receiver::ack()
};

}  // namespace courier
