// Recovery: rebuild the tracker from a bus's journals and put back into their
// lanes the messages owed that are in no lane (docs/design.md, "Recovery").
#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "courier/detail/bus_log.hpp"
#include "courier/detail/journal_ids.hpp"
#include "courier/detail/journal_membership.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/detail/spill.hpp"

namespace courier {
namespace {

using detail::JournalIds;

// The share of the tracker a recovery fills at most. The tracker puts a key
// in the less loaded of two buckets of 8 slots and never moves entries, so
// it refuses an insert well before it is full (a measurement in the tree saw
// the first refusal at 69-74 % on big tables, earlier on small ones, where a
// bucket fills by chance): half leaves a margin for small tables too.
constexpr std::uint64_t safe_fill_percent = 50;

// What one read of the journals does (docs/design.md, "Recovery in two reads"):
// count: only the tracker entries needed (a live or half-built bus: nothing is
// changed before they fit); load: names, groups, messages into the tracker,
// settles applied (those read before their message kept for the end); put_back:
// what is owed and in no lane into its lane, in journal order.
enum class Phase : std::uint8_t { count, load, put_back };

std::string with_commas(std::uint64_t n) {
  std::string d = std::to_string(n), out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i != 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

class Recovery {
 public:
  Recovery(detail::BusState& st, const std::function<void(const RecoveryProgress&)>& progress)
      : st_(st), progress_(progress), now_(realtime_ns()), resolve_(detail::resolve_in(st.dir, true)) {}

  // fresh: the bus was created by this open (a reboot): nobody else uses it
  // before the rebuild ends and a failed one is removed, so the tracker is
  // filled while the journals are counted (one read fewer).
  Result<RecoveryReport> run(bool fresh) {
    const std::uint64_t t0 = monotonic_ns();
    if (auto r = st_.log->flush(); !r)
      return std::move(r).error().with_context("recovery: this process's own log could not be written first");
    total_ = directory_bytes();
    fresh_ = fresh;
    passes_ = fresh ? 2 : 3;
    if (!fresh) {
      // Counts what needs a tracker entry; nothing is changed before it fits.
      if (auto r = pass(Phase::count); !r) return std::move(r).error();
      if (auto r = check_room(); !r) return std::move(r).error();
    }
    prefault_tracker();
    if (auto r = pass(Phase::load); !r) return std::move(r).error();
    // Refused by the tracker, or past the safe fill (fresh): fail rather than put back untracked copies.
    if (refused_) return room_error();
    for (const EarlySettle& e : early_settles_) apply_settle(e.sender, e.id, e.recipient, e.status, false);
    early_settles_ = {};
    // The groups and their members before any message is put back.
    if (auto r = membership_.apply(st_.dir); !r) return std::move(r).error().with_context("recovery");
    finish_totals();
    prefault_lanes();
    if (auto r = pass(Phase::put_back); !r) return std::move(r).error();
    membership_.remove_groups(st_.dir);  // not before: the reads register the groups their messages name
    raise_next_id();
    rep_.ran = true;
    rep_.elapsed_ns = monotonic_ns() - t0;
    return std::move(rep_);
  }

 private:
  // The tracker entries this recovery makes at most: one per message and one
  // per group total not in the tracker yet (settled and expired messages keep
  // an entry too: it answers status() until their retention ends).
  void count(const RecordHeader& h) {
    if (h.group != 0) {
      const TrackerKey tk{h.from, h.id, no_endpoint};
      if (st_.tracker.find(tk) == Tracker::no_slot && counted_totals_.emplace(h.from, h.id).second) ++needed_;
    }
    if (st_.tracker.find(key_of(h, h.to)) == Tracker::no_slot) ++needed_;
  }

  std::uint64_t safe_fill(std::uint64_t capacity) const { return capacity * safe_fill_percent / 100; }

  Result<void> check_room() {
    used_ = st_.tracker.usage().used;
    if (used_ + needed_ <= safe_fill(st_.tracker.capacity())) return {};
    return room_error();
  }

  Error room_error() const {
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
  // apiece on this VM and dominated recovery). Only when the log is big
  // enough to fill a good part of it; a hint (Linux 5.14+), errors ignored.
  void prefault_tracker() const {
    const Geometry& g = st_.seg.geometry();
    if (total_ / 128 >= g.tracker_capacity / 8)
      detail::populate(st_.seg.tracker(), g.tracker_bytes());  // records, guessed
  }

  // The lanes pass 4 will write into, as far as it may write (same reason).
  void prefault_lanes() const {
    const Geometry& g = st_.seg.geometry();
    for (const auto& [key, bytes] : lane_bytes_) {
      const auto slot = static_cast<std::uint32_t>(key / priority_levels);
      if (slot >= g.max_endpoints || bytes < (1u << 20)) continue;  // small: faults are cheaper than the call
      const LaneView v = st_.seg.lane(slot, static_cast<unsigned>(key % priority_levels));
      const std::uint64_t tail = v.ctl->tail.load(std::memory_order_relaxed) & v.mask();  // relaxed: a hint
      const std::uint64_t want = bytes < v.capacity ? bytes : v.capacity;
      const std::uint64_t first = (want < v.capacity - tail) ? want : v.capacity - tail;
      detail::populate(v.data + tail, first);
      if (first < want) detail::populate(v.data, want - first);  // wrapped to the lane's start
    }
  }

  std::uint64_t directory_bytes() const {
    auto rd = JournalReader::open_directory(st_.log->directory());
    return rd ? rd->file_bytes() : 0;
  }

  // The first read of the journals counts what they hold in the report.
  bool first(Phase ph) const noexcept { return ph == Phase::count || (fresh_ && ph == Phase::load); }
  unsigned pass_number(Phase ph) const noexcept {
    return ph == Phase::put_back ? passes_ : (ph == Phase::load && !fresh_ ? 2 : 1);
  }

  Result<void> pass(Phase ph) {
    const unsigned n = pass_number(ph);
    const bool counting = first(ph);
    JournalReaderOptions ro;
    ro.buffer = buffer_;  // one buffer for every file of every pass: its pages stay mapped
    auto rd = JournalReader::open_directory(st_.log->directory(), ro);
    if (!rd) return std::move(rd).error().with_context("recovery");
    JournalIds ids;
    JournalRecord rec;
    ordinal_ = 0;
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

  // The message of a record with the ids of the bus now; false when it is
  // not one to recover (untracked, real-time, unnamed, past its retention).
  bool mapped(const JournalRecord& rec, const JournalIds& ids, bool counting, JournalMessage& m) {
    auto d = decode_journal_message(rec.body);
    if (!d) return false;
    m = *d;
    RecordHeader& h = m.header;
    if (h.id == 0 || h.expires_ns == 0) return false;
    if (counting && h.id > rep_.max_id) rep_.max_id = h.id;
    if (!ids.map(h)) {
      if (counting) ++rep_.unnamed;
      return false;
    }
    if (st_.deadline(h.expires_ns, h.timestamp_ns) <= now_) {  // settled by age: its status would have retired too
      if (counting) ++rep_.retired;
      return false;
    }
    return true;
  }

  // Insert `key` (hash `hv`); its result, and refused_ set when the tracker
  // refused it or a fresh load passed the safe fill.
  Tracker::InsertResult insert(const TrackerKey& key, std::uint64_t hv, std::uint8_t role, std::uint32_t dest,
                               const RecordHeader& h) {
    // Same deadline as the send computed, so BusState::same_send recognises the records.
    // The priority with the mark, as a send sets them: a recovery that dies
    // before its put-back leaves a `sent` entry the housekeeper adopts and
    // counts by these bits (without them: under priority 0, docs/design.md).
    const auto flags = static_cast<std::uint16_t>(
        tracker_flag::committed | (h.priority < priority_levels ? h.priority << tracker_flag::priority_shift : 0));
    const EntryInit init{role,         dest, Status::sent, flags, 1, st_.deadline(h.expires_ns, h.timestamp_ns),
                         h.expires_ns, now_};
    const auto fill = [&](TrackerEntry& e) { init_entry(e, init); };
    // Fresh: nobody else sees the tracker before the rebuild ends (run()).
    const Tracker::InsertResult r =
        fresh_ ? st_.tracker.insert_unshared(key, hv, now_, fill) : st_.tracker.insert(key, now_, fill);
    if (r.result == Tracker::Insert::full) refused_ = true;
    // Fresh (no counting read): the same bound check_room sets, checked as the tracker fills.
    if (r.result == Tracker::Insert::inserted && fresh_ && ++needed_ > safe_fill(st_.tracker.capacity()))
      refused_ = true;
    return r;
  }

  void message(const JournalRecord& rec, const JournalIds& ids, Phase ph, bool counting) {
    JournalMessage m;
    if (!mapped(rec, ids, counting, m)) return;
    if (ph == Phase::count) {
      count(m.header);
      return;
    }
    if (ph == Phase::load) {
      load(m.header, m.payload.size(), Tracker::hash(key_of(m.header, m.header.to)), Tracker::no_slot);
      return;
    }
    put_back(m);
  }

  // A fresh load's message (the bus is this open's alone): queued in a ring
  // of pending_size records, its tracker buckets prefetched, and inserted
  // pending_size records later, when they are cached. The tracker is MiBs
  // and every key's buckets random: inserted at once, each record waited for
  // its tag and entry lines in turn (bench/results/2026-12-05-recovery-s14.md).
  // Every other record of the load drains the ring first (drain_load), so the
  // tracker sees the records in journal order as before.
  void queue_load(const JournalRecord& rec, const JournalIds& ids) {
    slots_.push_back(no_hint);  // one per message record, in journal order (the put-back's ordinal_)
    JournalMessage m;
    if (!mapped(rec, ids, true, m)) return;
    if (pending_count_ == pending_size) load_oldest();
    Pending& p = pending_[(pending_head_ + pending_count_++) % pending_size];
    p.h = m.header;
    p.payload_size = m.payload.size();
    p.ordinal = ordinal_;
    p.hv = Tracker::hash(key_of(p.h, p.h.to));
    st_.tracker.warm_tags(p.hv);
    if (p.h.group != 0) st_.tracker.warm_tags(Tracker::hash(TrackerKey{p.h.from, p.h.id, no_endpoint}));
    // Halfway through the ring its tag lines are cached: prefetch the entry line its insert will write.
    if (pending_count_ > pending_size / 2)
      (void)st_.tracker.warm_entry(pending_[(pending_head_ + pending_count_ - 1 - pending_size / 2) % pending_size].hv);
  }
  void load_oldest() {
    const Pending& p = pending_[pending_head_];
    pending_head_ = (pending_head_ + 1) % pending_size;
    --pending_count_;
    load(p.h, p.payload_size, p.hv, p.ordinal);
  }
  void drain_load() {
    while (pending_count_ != 0) load_oldest();
  }

  // Track the message of header `h` (its key's hash `hv`); `ordinal`: its
  // place among the message records of the load (fresh), where the put-back
  // finds the slot, or no_slot.
  void load(const RecordHeader& h, std::size_t payload_size, std::uint64_t hv, std::uint64_t ordinal) {
    if (refused_) {  // a fresh load past what fits: only count (the error names the total)
      count(h);
      return;
    }
    std::uint64_t total = Tracker::no_slot;
    if (h.group != 0) {
      const TrackerKey tk{h.from, h.id, no_endpoint};
      const Tracker::InsertResult r = insert(tk, Tracker::hash(tk), tracker_role::group, h.group, h);
      if (refused_) return;
      if (r.result == Tracker::Insert::inserted) {
        total = r.slot;
        totals_.insert(total);
      } else {
        total = st_.tracker.find(tk);
        // A total this recovery made counts one more member; a live one is left alone.
        // Saturated at the member limit (16 bits in the entry): a journal is untrusted; a sound one has fewer.
        if (total != Tracker::no_slot && totals_.count(total) != 0) {
          std::atomic<std::uint16_t>& members = st_.tracker.entry(total).recipients;
          // relaxed: one thread, published later by advance
          if (members.load(std::memory_order_relaxed) < max_group_members_limit)
            members.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    const std::uint32_t dest = h.group != 0 ? static_cast<std::uint32_t>(total) : h.to;
    const Tracker::InsertResult r =
        insert(key_of(h, h.to), hv, h.group != 0 ? tracker_role::member : tracker_role::endpoint, dest, h);
    // The slot of its key (ours, or the original's): the put-back checks it with holds() before use.
    if (ordinal < slots_.size() && r.result != Tracker::Insert::full)
      slots_[ordinal] = static_cast<std::uint32_t>(r.slot);
    if (r.result == Tracker::Insert::inserted && !refused_) {
      const std::uint64_t lane = std::uint64_t(endpoint_slot(h.to)) * priority_levels + h.priority % priority_levels;
      if (lane != last_lane_ || last_lane_bytes_ == nullptr) {  // map nodes stay put: the pointer stays valid
        last_lane_ = lane;
        last_lane_bytes_ = &lane_bytes_[lane];
      }
      *last_lane_bytes_ += record_bytes(payload_size);
    }
  }

  // The slot of the put-back's message record number ordinal_ (its key
  // `key`): the one the load remembered when it still holds the key (a hint:
  // untrusted journals may differ between the reads), else found by hash.
  std::uint64_t slot_of(const TrackerKey& key) const {
    if (ordinal_ < slots_.size()) {
      // The records ahead were loaded in this order: their lines come in while this one is copied.
      // (Unconditional: no_hint, or the last record's, warm what is there.)
      st_.tracker.warm_slot(slots_[std::min<std::uint64_t>(ordinal_ + hint_ahead, slots_.size() - 1)]);
      const std::uint32_t hint = slots_[ordinal_];
      if (hint != no_hint && st_.tracker.holds(hint, key)) return hint;
    }
    return st_.tracker.find(key);
  }

  // Put back what is owed and in no lane.
  void put_back(const JournalMessage& m) {
    const RecordHeader& h = m.header;
    const std::uint64_t slot = slot_of(key_of(h, h.to));
    // The load tracked every message: no entry now means a live bus settled and
    // retired it meanwhile (Bus::recover), so it is owed no more.
    if (slot == Tracker::no_slot) {
      ++rep_.settled;
      return;
    }
    {
      TrackerEntry& e = st_.tracker.entry(slot);
      // Acquire: the status and flags published by whoever advanced them.
      if (!is_owed(static_cast<Status>(e.status.load(std::memory_order_acquire)))) {
        ++rep_.settled;
        return;
      }
      ++rep_.owed;
      const std::uint16_t flags = e.flags.load(std::memory_order_acquire);
      if ((flags & tracker_flag::in_lane) != 0) {
        ++rep_.in_lane;
        return;
      }
      if ((flags & tracker_flag::spilled) != 0) {  // waiting in the log: its receiver forwards it
        ++rep_.left;
        return;
      }
      if (h.expires_ns <= now_) {
        if (st_.report(h, h.to, Status::expired)) ++rep_.expired;
        return;
      }
    }
    if (inject(m, slot)) {
      ++rep_.injected;
      return;
    }
    // No room: it stays in the log, spilled, for its receiver to forward.
    ++rep_.left;
    // Release: as Endpoint::spill (the forwarder acquires the flags).
    st_.tracker.entry(slot).flags.fetch_or(
        static_cast<std::uint16_t>(tracker_flag::spilled | (h.priority << tracker_flag::priority_shift)),
        std::memory_order_release);
    detail::count_spilled(st_, slot, h.to, h.priority);
  }

  bool inject(const JournalMessage& m, std::uint64_t slot) {
    // It may have been handed out before the crash: it comes back flagged redelivered.
    if (!detail::put_back(st_, m.header, m.payload, record_flag::redelivered)) return false;
    // After the commit: a recovery killed in between puts it back again
    // (a second copy, which the receiver drops once the first is
    // acknowledged: Receiver::try_receive), never loses it.
    // Release: as Endpoint::commit_logged.
    st_.tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_release);
    return true;
  }

  void settle(const JournalRecord& rec, const JournalIds& ids) {
    auto b = decode_journal_settle(rec.body);
    if (!b) return;
    const EndpointId sender = ids.endpoint(b->sender);
    const EndpointId recipient = b->recipient != 0 ? ids.endpoint(b->recipient) : no_endpoint;
    if (sender == no_endpoint || (b->recipient != 0 && recipient == no_endpoint)) return;
    const Status s = logfmt::settled_status(rec.kind);
    // Its message may be in a file read later (another process's journal):
    // kept and applied once every message is in the tracker.
    if (!apply_settle(sender, b->id, recipient, s, true)) early_settles_.push_back({sender, recipient, b->id, s});
  }

  // Settle the message (sender, id) for `recipient` (no_endpoint: an
  // endpoint's message). False when `keep` and its entry (or its member's) is
  // not in the tracker yet; without `keep` such a settle is dropped, as the
  // message is not one to recover (retired, unnamed) or a live bus retired it.
  bool apply_settle(EndpointId sender, std::uint64_t id, EndpointId recipient, Status s, bool keep) {
    const std::uint64_t slot = st_.tracker.find(TrackerKey{sender, id, no_endpoint});
    if (slot == Tracker::no_slot) return !keep;
    TrackerEntry& e = st_.tracker.entry(slot);
    // Relaxed: written before the entry was published (find acquired the tag).
    if (e.role.load(std::memory_order_relaxed) != tracker_role::group) {
      st_.tracker.advance(slot, s, now_);
      return true;
    }
    const std::uint64_t ms = st_.tracker.find(TrackerKey{sender, id, recipient});
    if (ms == Tracker::no_slot) return !keep;
    if (!st_.tracker.advance(ms, s, now_)) return true;
    // seq_cst: as BusState::report (a receiver may settle members of this total meanwhile).
    if (s == Status::read)
      e.read.fetch_add(1, std::memory_order_seq_cst);
    else if (s == Status::delivered)
      e.delivered.fetch_add(1, std::memory_order_seq_cst);
    else
      e.failed.fetch_add(1, std::memory_order_seq_cst);
    pending_totals_.insert(slot);
    return true;
  }

  // Group totals whose members settled in the load move once all of them have.
  void finish_totals() {
    for (std::uint64_t t : pending_totals_) {
      const TrackerEntry& e = st_.tracker.entry(t);
      // Relaxed: entry fields written before it was published; this thread made or found it.
      st_.settle_total(e.sender.load(std::memory_order_relaxed), e.id.load(std::memory_order_relaxed),
                       e.dest.load(std::memory_order_relaxed), t, Status::expired, now_);
    }
  }

  void raise_next_id() {
    std::atomic<std::uint64_t>& c = st_.seg.header().next_id;
    // Relaxed: uniqueness comes from the RMW (as Endpoint::take_id_block).
    std::uint64_t cur = c.load(std::memory_order_relaxed);
    while (cur <= rep_.max_id &&
           !c.compare_exchange_weak(cur, rep_.max_id + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
  }

  detail::BusState& st_;
  const std::function<void(const RecoveryProgress&)>& progress_;
  const std::uint64_t now_;
  const JournalIds::Resolve resolve_;  // registers the names of the journal files in the bus's directory
  std::uint64_t total_ = 0;
  std::uint64_t needed_ = 0, used_ = 0;  // tracker entries this recovery needs; entries in use before it
  bool refused_ = false;                 // the tracker refused an insert (or a fresh load passed the safe fill)
  bool fresh_ = false;                   // the bus was created by this open: no counting read (run())
  unsigned passes_ = 3;                  // reads of the journals in all
  struct EarlySettle {
    EndpointId sender, recipient;
    std::uint64_t id;
    Status status;
  };
  std::vector<EarlySettle> early_settles_;  // settles read before their message (applied after the load)
  std::set<std::pair<EndpointId, std::uint64_t>> counted_totals_;  // group totals counted
  RecoveryReport rep_;
  detail::MembershipReplay membership_;  // the groups the journals say the bus has (pass 1)
  std::shared_ptr<detail::ReadBuffer> buffer_ = std::make_shared<detail::ReadBuffer>();
  std::unordered_map<std::uint64_t, std::uint64_t> lane_bytes_;  // (endpoint slot, priority) -> bytes owed at most
  std::uint64_t last_lane_ = 0, *last_lane_bytes_ = nullptr;     // the lane of the last message loaded
  std::unordered_set<std::uint64_t> totals_;                     // group totals this recovery made
  std::unordered_set<std::uint64_t> pending_totals_;             // group totals whose members settled in pass 3
  // A fresh load's slots, per message record in journal order (no_hint: none); ordinal_: the record's number.
  static constexpr std::uint32_t no_hint = ~0u;    // tracker capacity <= max_tracker_capacity (2^26)
  static constexpr std::uint64_t hint_ahead = 16;  // the put-back prefetches the slot of the record this far ahead
  std::vector<std::uint32_t> slots_;
  std::uint64_t ordinal_ = 0;
  // A fresh load's messages waiting for their tracker lines (queue_load).
  struct Pending {
    RecordHeader h;
    std::uint64_t hv = 0, ordinal = 0;
    std::size_t payload_size = 0;
  };
  static constexpr unsigned pending_size = 16;
  std::array<Pending, pending_size> pending_{};
  unsigned pending_head_ = 0, pending_count_ = 0;
};
static_assert(max_tracker_capacity < (1ull << 32), "slots_ keeps tracker slots in 32 bits");

}  // namespace

Result<RecoveryReport> detail::recover(BusState& st, const std::function<void(const RecoveryProgress&)>& progress,
                                       bool fresh) {
  if (!st.log) return Error(Errc::invalid_argument, "bus '" + st.name + "' has no log to recover from");
  return Recovery(st, progress).run(fresh);
}

}  // namespace courier
