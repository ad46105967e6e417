// Recovery: rebuild the tracker from a bus's journals and put back into their
// lanes the messages owed that are in no lane (docs/design.md, "Recovery").
// This file: the reads of the journals (run, pass) and what they share;
// the load is in recovery_load.cpp, the put-back in recovery_put_back.cpp,
// the class in recovery.hpp.
#include "recovery.hpp"

#include <string>

#include "courier/detail/log_defaults.hpp"
#include "courier/detail/shm_space.hpp"

namespace courier::detail {
namespace {

std::string with_commas(std::uint64_t n) {
  std::string d = std::to_string(n), out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i != 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

}  // namespace

Result<RecoveryReport> Recovery::run(bool fresh) {
  const std::uint64_t t0 = monotonic_ns();
  if (auto r = st_.log->flush(); !r)
    return std::move(r).error().with_context("recovery: this process's own log could not be written first");
  total_ = directory_bytes();
  fresh_ = fresh;
  passes_ = fresh ? 2 : 3;
  const std::uint64_t load_from = monotonic_ns();
  if (!fresh) {
    // Counts what needs a tracker entry; nothing is changed before it fits.
    if (auto r = pass(Phase::count); !r) return std::move(r).error();
    if (auto r = check_room(); !r) return std::move(r).error();
  }
  prefault_tracker();
  if (fresh_ && total_ >= lane_warm_from && std::thread::hardware_concurrency() > 1) {
    try {
      warmer_ = std::make_unique<LaneWarmer>(st_.seg);
    } catch (...) {  // no thread to be had: prefault_lanes does it all, as without one
    }
  }
  if (auto r = pass(Phase::load); !r) return std::move(r).error();
  rep_.load_ns = monotonic_ns() - load_from;
  // Refused by the tracker, or past the safe fill (fresh): fail rather than put back untracked copies.
  if (refused_) return room_error();
  for (const EarlySettle& e : early_settles_) apply_settle(e.sender, e.id, e.recipient, e.status, false);
  early_settles_ = {};
  // The groups and their members before any message is put back.
  if (auto r = membership_.apply(st_.dir); !r) return std::move(r).error().with_context("recovery");
  finish_totals();
  const std::uint64_t put_back_from = monotonic_ns();
  warmer_.reset();
  prefault_lanes();
  if (auto r = pass(Phase::put_back); !r) return std::move(r).error();
  rep_.put_back_ns = monotonic_ns() - put_back_from;
  membership_.remove_groups(st_.dir);  // not before: the reads register the groups their messages name
  raise_next_id();
  rep_.ran = true;
  rep_.elapsed_ns = monotonic_ns() - t0;
  return std::move(rep_);
}

Result<void> Recovery::check_room() {
  used_ = st_.tracker.usage().used;
  if (used_ + needed_ <= safe_fill(st_.tracker.capacity())) return {};
  return room_error();
}

Error Recovery::room_error() const {
  const std::uint64_t cap = st_.tracker.capacity();
  std::uint64_t want = cap;
  while (safe_fill(want) < used_ + needed_) want *= 2;
  std::string msg = "the log of bus '" + st_.name + "' holds " + with_commas(needed_) + " messages to track";
  if (used_ != 0) msg += " (and the tracker already holds " + with_commas(used_) + ")";
  msg += "; its tracker holds " + with_commas(cap) + " entries (about " + with_commas(safe_fill(cap)) +
         " at the safe fill): open it with tracker_capacity >= " + std::to_string(want) + " (--tracker-capacity " +
         std::to_string(want) + ")";
  if (want > max_tracker_capacity)
    msg += ", more than the largest tracker (" + std::to_string(max_tracker_capacity) + ")";
  return Error(Errc::capacity, msg);
}

// A rebuild touches tracker pages all over (hashing): populate them in one
// call instead of one page fault each (faults on shared memory cost ~10 us
// apiece on this VM and dominated recovery), and map each into this process
// on two threads (detail::populate_and_map: the first access after the
// population costs 4.5 us a page here). Only when the log is big enough to
// fill a good part of it; a hint (Linux 5.14+), errors ignored.
void Recovery::prefault_tracker() const {
  const Geometry& g = st_.seg.geometry();
  if (total_ / 128 >= g.tracker_capacity / 8)
    detail::populate_and_map(st_.seg.tracker(), g.tracker_bytes());  // records, guessed
}

std::uint64_t Recovery::directory_bytes() const {
  auto rd = JournalReader::open_directory(st_.log->directory());
  return rd ? rd->file_bytes() : 0;
}

Result<void> Recovery::pass(Phase ph) {
  const unsigned n = pass_number(ph);
  const bool counting = first(ph);
  JournalReaderOptions ro;
  ro.buffer = buffer_;  // one buffer for every file of every pass: its pages stay mapped
  // The next file read on a helper thread while this one's records are worked on (the copy
  // out of the page cache on the other CPU), into a second buffer kept as the first.
  ro.read_ahead = true;
  ro.ahead_buffer = ahead_buffer_;
  // The first read checks every CRC and notes what it found whole; the later ones skip those CRCs
  // in the files that did not change since (docs/design.md, "The CRC checked once").
  if (counting)
    ro.note_checked = checked_;
  else
    ro.skip_checked = checked_;
  auto rd = JournalReader::open_directory(st_.log->directory(), ro);
  if (!rd) return std::move(rd).error().with_context("recovery");
  JournalIds ids;
  JournalRecord rec;
  ordinal_ = warmed_to_ = 0;
  std::uint64_t done_files = 0, file_size = 0, next_report = 0;
  for (;;) {
    auto more = rd->next(rec);
    if (!more) return std::move(more).error().with_context("recovery, pass " + std::to_string(n));
    if (!*more) break;
    if (rec.segment->path != ids.path()) {  // the next journal file
      done_files += file_size;
      file_size = rec.segment->file_size;
      ids.start(rec.segment->path);
      if (counting) {
        ++rep_.segments;
        rep_.bytes += file_size;
      }
    }
    if (progress_ && done_files + rec.offset >= next_report) {
      progress_(RecoveryProgress{n, passes_, done_files + rec.offset, total_});
      next_report = done_files + rec.offset + detail::log_defaults::recovery_progress_bytes;
    }
    if (counting) ++rep_.records;
    switch (rec.kind) {
      case logfmt::Kind::name:
        if (ids.learn(rec.body, resolve_) && counting) ++rep_.names;
        break;
      case logfmt::Kind::membership:
        if (counting)
          if (auto m = decode_journal_membership(rec.body)) membership_.add(*m);
        break;
      case logfmt::Kind::message:
        if (counting) ++rep_.messages;
        if (fresh_ && ph == Phase::load)
          queue_load(rec, ids);
        else
          message(rec, ids, ph, counting);
        ++ordinal_;
        break;
      default:
        if (counting) ++rep_.settles;
        if (ph == Phase::load) {
          drain_load();  // the messages read before it first: the load keeps journal order
          settle(rec, ids);
        }
        break;
    }
    if (refused_ && !fresh_) return {};  // a fresh load reads on to count what the error names
  }
  drain_load();
  if (counting) {
    rep_.damage = rd->damage();
    rep_.damaged = rep_.damage.size();
    rep_.torn = rd->torn_tails().size();
  }
  if (progress_) progress_(RecoveryProgress{n, passes_, total_, total_});
  return {};
}

void Recovery::message(const JournalRecord& rec, const JournalIds& ids, Phase ph, bool counting) {
  JournalMessage m;
  if (!mapped(rec, ids, counting, m)) return;
  if (ph == Phase::count) {
    count(m.header);
    return;
  }
  if (ph == Phase::load) {
    load(m.header, m.payload.size(), Tracker::hash(key_of(m.header, m.header.to)), Tracker::no_slot, nullptr);
    return;
  }
  put_back(m);
}

// Group totals whose members settled in the load move once all of them have.
void Recovery::finish_totals() {
  for (std::uint64_t t : pending_totals_) {
    const TrackerEntry& e = st_.tracker.entry(t);
    // Relaxed: entry fields written before it was published; this thread made or found it.
    st_.settle_total(e.sender.load(std::memory_order_relaxed), e.id.load(std::memory_order_relaxed),
                     e.dest.load(std::memory_order_relaxed), t, Status::expired, now_);
  }
}

void Recovery::raise_next_id() {
  std::atomic<std::uint64_t>& c = st_.seg.header().next_id;
  // Relaxed: uniqueness comes from the RMW (as Endpoint::take_id_block).
  std::uint64_t cur = c.load(std::memory_order_relaxed);
  while (cur <= rep_.max_id &&
         !c.compare_exchange_weak(cur, rep_.max_id + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
}

}  // namespace courier::detail

namespace courier {

Result<RecoveryReport> detail::recover(BusState& st, const std::function<void(const RecoveryProgress&)>& progress,
                                       bool fresh) {
  if (!st.log) return Error(Errc::invalid_argument, "bus '" + st.name + "' has no log to recover from");
  return Recovery(st, progress).run(fresh);
}

}  // namespace courier
