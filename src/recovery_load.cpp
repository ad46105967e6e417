// Recovery's load (src/recovery.hpp): the messages, group totals and settles
// of the journals into the tracker, in journal order (a fresh load through a
// ring of prefetches), and the tracker entries a recovery needs.
#include "recovery.hpp"

namespace courier::detail {

// The tracker entries this recovery makes at most: one per message and one
// per group total not in the tracker yet (settled and expired messages keep
// an entry too: it answers status() until their retention ends).
void Recovery::count(const RecordHeader& h) {
  if (h.group != 0) {
    const TrackerKey tk{h.from, h.id, no_endpoint};
    if (st_.tracker.find(tk) == Tracker::no_slot && counted_totals_.emplace(h.from, h.id).second) ++needed_;
  }
  if (st_.tracker.find(key_of(h, h.to)) == Tracker::no_slot) ++needed_;
}

// Insert `key` (hash `hv`); its result, and refused_ set when the tracker
// refused it or a fresh load passed the safe fill.
Tracker::InsertResult Recovery::insert(const TrackerKey& key, std::uint64_t hv, const Tracker::Rebuild::Ahead* ahead,
                                       std::uint8_t role, std::uint32_t dest, const RecordHeader& h) {
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
      fresh_ ? rebuild_.insert(key, hv, ahead, now_, fill) : st_.tracker.insert(key, now_, fill);
  if (r.result == Tracker::Insert::full) refused_ = true;
  // Fresh (no counting read): the same bound check_room sets, checked as the tracker fills.
  if (r.result == Tracker::Insert::inserted && fresh_ && ++needed_ > safe_fill(st_.tracker.capacity()))
    refused_ = true;
  return r;
}

// A fresh load's message (the bus is this open's alone): queued in a ring
// of three batches of load_batch records, and inserted two batches later,
// when its tracker lines are cached. The tracker is MiBs and every key's
// buckets random: inserted at once, each record waited for its tag and
// entry lines in turn (bench/results/2026-12-05-recovery-s14.md).
// Every other record of the load drains the ring first (drain_load), so the
// tracker sees the records in journal order as before.
void Recovery::queue_load(const JournalRecord& rec, const JournalIds& ids) {
  slots_.push_back(no_hint);  // one per message record, in journal order (the put-back's ordinal_)
  JournalMessage m;
  if (!mapped(rec, ids, true, m)) return;
  Pending& p = pending_at(pending_count_++);
  p.h = m.header;
  p.payload_size = m.payload.size();
  p.ordinal = ordinal_;
  p.hv = Tracker::hash(key_of(p.h, p.h.to));
  p.ahead = {};
  if (pending_count_ % load_batch == 0) advance_load();
}

// A batch is complete: its tag lines are asked for, the batch before reads
// its buckets (their tag lines asked for a batch ago: Tracker::Rebuild, which
// asks for the entry line each insert will write), and the oldest batch is
// inserted. The prefetches of a batch are issued one after the other, not
// one per record between the records' work: this CPU retires a prefetch
// that misses the TLB only once its page walk is done, so prefetches spread
// among other instructions walk one at a time, while prefetches issued
// together walk side by side (docs/design.md, "Recovery asks for its tracker
// lines a batch at a time").
void Recovery::advance_load() {
  const unsigned n = pending_count_;
  for (unsigned i = n - load_batch; i < n; ++i) {
    const Pending& p = pending_at(i);
    st_.tracker.warm_tags(p.hv);
    if (p.h.group != 0) st_.tracker.warm_tags(Tracker::hash(TrackerKey{p.h.from, p.h.id, no_endpoint}));
  }
  if (n < 2 * load_batch) return;
  for (unsigned i = n - 2 * load_batch; i < n - load_batch; ++i) {
    Pending& w = pending_at(i);
    w.ahead = rebuild_.look(w.hv);
  }
  for (unsigned i = n - 2 * load_batch; i < n - load_batch; ++i) rebuild_.warm(pending_at(i).ahead);
  if (n < pending_size) return;
  for (unsigned i = 0; i < load_batch; ++i) load_oldest();
}
void Recovery::load_oldest() {
  const Pending& p = pending_[pending_head_];
  pending_head_ = (pending_head_ + 1) % pending_size;
  --pending_count_;
  load(p.h, p.payload_size, p.hv, p.ordinal, &p.ahead);
}
void Recovery::drain_load() {
  while (pending_count_ != 0) load_oldest();
}

// Track the message of header `h` (its key's hash `hv`); `ordinal`: its
// place among the message records of the load (fresh), where the put-back
// finds the slot, or no_slot; `ahead`: what the ring saw of its buckets, or nullptr.
void Recovery::load(const RecordHeader& h, std::size_t payload_size, std::uint64_t hv, std::uint64_t ordinal,
                    const Tracker::Rebuild::Ahead* ahead) {
  if (refused_) {  // a fresh load past what fits: only count (the error names the total)
    count(h);
    return;
  }
  std::uint64_t total = Tracker::no_slot;
  if (h.group != 0) {
    const TrackerKey tk{h.from, h.id, no_endpoint};
    const Tracker::InsertResult r = insert(tk, Tracker::hash(tk), nullptr, tracker_role::group, h.group, h);
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
      insert(key_of(h, h.to), hv, ahead, h.group != 0 ? tracker_role::member : tracker_role::endpoint, dest, h);
  // The slot of its key (ours, or the original's): the put-back checks it with holds() before use.
  if (ordinal < slots_.size() && r.result != Tracker::Insert::full)
    slots_[ordinal] = static_cast<std::uint32_t>(r.slot);
  if (r.result == Tracker::Insert::inserted && !refused_) {
    const std::uint64_t lane = std::uint64_t(endpoint_slot(h.to)) * priority_levels + h.priority % priority_levels;
    if (lane != last_lane_ || last_lane_bytes_ == nullptr) {  // map nodes stay put: the pointer stays valid
      last_lane_ = lane;
      last_lane_bytes_ = &lane_bytes_[lane];
    }
    LaneLoad& l = *last_lane_bytes_;
    l.bytes += record_bytes(payload_size);
    if (l.bytes >= l.warm_at) {
      if (warmer_) warmer_->want(lane, l.bytes);
      l.warm_at = warmer_ ? l.bytes + lane_warm_step : ~std::uint64_t{0};
    }
  }
}

void Recovery::settle(const JournalRecord& rec, const JournalIds& ids) {
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
bool Recovery::apply_settle(EndpointId sender, std::uint64_t id, EndpointId recipient, Status s, bool keep) {
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

}  // namespace courier::detail
