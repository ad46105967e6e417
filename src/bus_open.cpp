// Opening a bus: shared memory or the in-process registry, the log and the
// recovery that comes with a new segment, removal.
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "courier/bus.hpp"
#include "courier/detail/bus_log.hpp"
#include "courier/detail/bus_settings.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/detail/spill.hpp"
#include "courier/names.hpp"

namespace courier {

namespace {
// In-process buses by name: a second open of the same name in this process
// gets the same bus while the first is alive.
struct InProcessRegistry {
  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<detail::BusState>> buses;
};
InProcessRegistry& in_process_registry() {
  static InProcessRegistry r;
  return r;
}
}  // namespace

namespace {
// Options::prefault_tracker: the tracker region (page aligned) in one call
// instead of a page fault at each first touch. A hint: errors are ignored
// (an older kernel without MADV_POPULATE_WRITE faults pages in as before).
void populate_tracker(const Segment& seg) noexcept { detail::populate(seg.tracker(), seg.geometry().tracker_bytes()); }
}  // namespace

Result<Bus> Bus::open(std::string_view name, const Options& options) {
  const std::string where = "opening bus '" + std::string(name) + "'";
  if (options.claim_timeout.value().count() <= 0)
    return Error(Errc::invalid_argument, "claim_timeout must be positive").with_context(where);
  if (options.open_timeout.count() < 0)
    return Error(Errc::invalid_argument, "open_timeout must not be negative").with_context(where);
  if (options.housekeeping_interval.count() < 0)
    return Error(Errc::invalid_argument, "housekeeping_interval must not be negative").with_context(where);
  if (options.status_retention.value().count() < 0 ||
      static_cast<std::uint64_t>(options.status_retention.value().count()) > max_status_retention_ns)
    return Error(Errc::invalid_argument, "status_retention must be 0..30 days").with_context(where);
  if (options.in_process && !options.log_dir.empty())
    return Error(Errc::invalid_argument, "an in-process bus has no log (log_dir must be empty)").with_context(where);
  auto creator = detail::creator_options(name, options);
  if (!creator) return std::move(creator).error().with_context(where);
  Options& o = *creator;  // what this open uses: as a creator, then adopted from an existing bus
  const SegmentOptions so = detail::segment_options(o);
  if (o.in_process) {
    if (auto why = bus_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why).with_context(where);
    InProcessRegistry& reg = in_process_registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    auto it = reg.buses.find(std::string(name));
    if (it != reg.buses.end()) {
      if (auto live = it->second.lock()) {
        if (auto r = detail::adopt_settings(name, live->seg, o); !r) return std::move(r).error().with_context(where);
        return Bus(std::move(live));
      }
    }
    if (!o.create)
      return Error(Errc::not_found, "no in-process bus named '" + std::string(name) + "'").with_context(where);
    auto seg = Segment::open_private(so);
    if (!seg) return std::move(seg).error().with_context(where);
    if (o.prefault_tracker) populate_tracker(*seg);
    auto st = std::make_shared<detail::BusState>(std::move(*seg), std::string(name));
    st->in_process = true;
    reg.buses[std::string(name)] = st;
    return Bus(std::move(st));
  }
  auto seg = Segment::open(name, so);
  if (!seg) {
    Error e = std::move(seg).error();
    if (e.message.rfind("opening", 0) != 0 && e.message.rfind("attaching", 0) != 0 &&
        e.message.rfind("creating", 0) != 0)
      e.with_context(where);
    return e;
  }
  const bool created = seg->created();
  if (!created) {
    auto adopted = detail::adopt_settings(name, *seg, o);
    if (!adopted) return std::move(adopted).error().with_context(where);
    o = std::move(*adopted);
  }
  if (o.prefault_tracker) populate_tracker(*seg);
  auto st = std::make_shared<detail::BusState>(std::move(*seg), std::string(name));
  if (auto r = detail::open_log(*st, o, created); !r) {
    // The new shared memory holds a bus not (fully) rebuilt: unlink it so that
    // the next opener creates it again and recovers from the untouched
    // journals, and mark it failed for those already attached and waiting.
    if (created) {
      (void)Segment::remove(name);
      st->seg.header().recovery_owner.store(detail::failed_rebuild, std::memory_order_release);  // release: as below
    }
    return std::move(r).error().with_context(where);
  }
  if (auto r = detail::await_recovery(*st, o, created); !r) return std::move(r).error().with_context(where);
  // Only once the bus is rebuilt: compaction judges segments by the tracker and the directory.
  if (st->log && o.housekeeping_interval.count() > 0) {
    detail::BusState* sp = st.get();
    st->log->start_housekeeping(o.housekeeping_interval, [sp] { (void)detail::housekeep(*sp); });
  }
  return Bus(std::move(st));
}

// A bus being rebuilt from its log is not used before the rebuild is done:
// wait while the rebuilding process lives, take the rebuild over when it died.
namespace {
// An opener waits this long at most for another process's live rebuild.
constexpr std::uint64_t rebuild_wait_limit_ns = 600'000'000'000ull;  // 10 minutes
// ... looking at the rebuilder's lease this often.
constexpr long rebuild_poll_ns = 1'000'000;  // 1 ms
}  // namespace

Result<void> detail::await_recovery(BusState& st, const Options& o, bool created) {
  std::atomic<std::uint64_t>& owner = st.seg.header().recovery_owner;
  if (created) {
    // Release: the rebuilt tracker and lanes before the openers waiting below.
    owner.store(0, std::memory_order_release);
    return {};
  }
  const std::uint64_t give_up = monotonic_ns() + rebuild_wait_limit_ns;
  for (;;) {
    // Acquire: partner of the release store above.
    std::uint64_t cur = owner.load(std::memory_order_acquire);
    if (cur == 0) return {};
    if (cur == failed_rebuild)
      return Error(Errc::busy, "the rebuild of this bus from its log failed and it was removed: open the bus again");
    if (lease_holder_alive(cur)) {
      if (!o.wait_for_rebuild)
        return Error(Errc::busy, "pid " + std::to_string(lease_pid(cur)) +
                                     " is rebuilding the bus from its log: try again when it is done");
      if (monotonic_ns() > give_up)
        return Error(Errc::timeout, "pid " + std::to_string(lease_pid(cur)) +
                                        " has been rebuilding the bus from its log for 10 minutes");
      timespec ts{0, rebuild_poll_ns};
      nanosleep(&ts, nullptr);
      continue;
    }
    if (!st.log || !o.recover)
      return Error(Errc::busy, "pid " + std::to_string(lease_pid(cur)) +
                                   " died rebuilding the bus from its log: open it with its log directory to finish");
    const std::uint64_t me = lease_word(self_identity());
    // acq_rel: one opener takes the rebuild over; acquire what the dead one left.
    if (!owner.compare_exchange_strong(cur, me, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    auto r = recover(st, o.on_recovery_progress);
    if (!r) {
      // Not rebuilt: no one may use it (the journals are untouched; a next
      // opener with a fitting tracker creates the bus anew and recovers).
      (void)Segment::remove(st.name);
      owner.store(failed_rebuild, std::memory_order_release);  // release: as above
      return std::move(r).error();
    }
    owner.store(0, std::memory_order_release);  // release: as above
    st.recovery = std::move(*r);
    return {};
  }
}

Result<void> detail::open_log(BusState& st, const Options& o, bool created) {
  if (o.log_dir.empty()) return {};
  detail::Log::Settings ls;
  ls.dir = bus_log_directory(o.log_dir, st.name);
  ls.sync = o.sync;
  ls.interval = o.group_commit_interval;
  ls.batch_bytes = o.group_commit_bytes;
  ls.segment_size = o.log_segment_size;
  ls.cpus = o.log_cpus;
  ls.direct_io = o.log_direct_io;
  // Before the log's flusher starts: its batches count them down.
  st.unwritten_spills = std::make_unique<std::atomic<std::uint32_t>[]>(
      std::size_t{st.seg.geometry().max_endpoints} * priority_levels);
  detail::BusState* sp = &st;
  auto log = detail::Log::open(
      ls, [sp](std::uint32_t id, bool group) { return group ? sp->dir.group_name_of(id) : sp->dir.name_of(id); },
      [sp](std::span<const detail::Log::Pending> batch, Status s) { detail::durable(*sp, batch, s); },
      [sp](std::span<const detail::Log::Spill> spills, bool written) { detail::spills_written(*sp, spills, written); });
  if (!log) return std::move(log).error();
  st.log = std::move(*log);
  // The creator records the bus's settings beside its journals before anyone
  // writes to them (openers wait for recovery_owner), for a rebuild after a reboot.
  if (created) {
    if (auto r = write_manifest(ls.dir, manifest_of(st.seg)); !r) return std::move(r).error();
  }
  // Recover what the journals hold before the new writer adds to them (its
  // first segment holds nothing yet, so reading it is harmless).
  if (created && o.recover) {
    auto r = recover(st, o.on_recovery_progress, true);
    if (!r) return std::move(r).error();
    st.recovery = std::move(*r);
  }
  return {};
}

namespace {
// The receivers attached to the bus in `seg` by living processes, as
// "bob (pid 123), carol (pid 456)"; empty when none. What it reads is
// untrusted: ids are checked before they index.
std::string attached_receivers(const Segment& seg) {
  const Directory dir(seg);
  std::string who;
  for (const EndpointEntry& e : dir.list()) {
    const std::uint32_t slot = endpoint_slot(e.id);
    if (e.id == no_endpoint || slot >= seg.geometry().max_endpoints) continue;
    // Relaxed: a snapshot of who holds the lease, not a synchronisation.
    const std::uint64_t lease = seg.inbox(slot).lease.load(std::memory_order_relaxed);
    if (lease == 0 || !lease_holder_alive(lease)) continue;
    if (!who.empty()) who += ", ";
    who += e.name + " (pid " + std::to_string(lease_pid(lease)) + ")";
  }
  return who;
}

// Tell every process still attached to `seg` that the bus is gone: the
// removed word first, then each inbox's receiver lease is cleared (a
// real-time send then takes its slow offline path, which answers removed)
// and its sleepers woken (a parked receiver, a notifier thread).
void mark_removed(const Segment& seg) noexcept {
  // seq_cst: before the wake-ups below (a woken receiver sees it), and the
  // partner of BusState::removed_now() after a journal write.
  seg.header().removed.store(realtime_ns() | 1, std::memory_order_seq_cst);
  for (std::uint32_t slot = 0; slot < seg.geometry().max_endpoints; ++slot) {
    InboxData& in = seg.inbox(slot);
    // Relaxed: the receiver's own release CAS then fails harmlessly; nothing is published through it.
    in.lease.store(0, std::memory_order_relaxed);
    // A producer's wake-up (a bit of lane 0 and the futex): park() returns,
    // the receiver polls, finds the removed word (a stray bit costs one tidy).
    inbox_notify(in, 0);
  }
}
}  // namespace

Result<void> Bus::remove(std::string_view name, const RemoveOptions& options) {
  if (auto why = bus_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  SegmentOptions so;
  so.create = false;
  // A segment of ours that cannot be read is removed with force (nobody can
  // use it); one of another user never (Segment::remove checks).
  if (auto seg = Segment::open(name, so)) {
    if (!options.force) {
      if (std::string who = attached_receivers(*seg); !who.empty())
        return Error(Errc::busy, "bus '" + std::string(name) + "' has receivers attached: " + who +
                                     "; detach them, or remove with force");
    }
    mark_removed(*seg);
  }
  return Segment::remove(name, options.force);
}

bool Bus::exists(std::string_view name) {
  {
    InProcessRegistry& reg = in_process_registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    auto it = reg.buses.find(std::string(name));
    if (it != reg.buses.end() && !it->second.expired()) return true;
  }
  return Segment::exists(name);
}

}  // namespace courier
