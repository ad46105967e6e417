// The housekeeper's proof for a stored send whose sender died between marking
// its tracker entry committed and its lane commit: the message is in no lane,
// so it is adopted from the journal when its record is there, and its id is
// freed when it is not (docs/design.md, "No wedged ids").
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_ids.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/detail/lane_claims.hpp"
#include "courier/detail/lane_orphans.hpp"
#include "courier/detail/log.hpp"
#include "courier/detail/spill.hpp"

namespace courier::detail {

namespace {

constexpr std::uint64_t tag_pid_mask = (1ull << 22) - 1;  // the pid bits a tracker tag keeps

// The journal file of the orphan's dead writer (found by the pid bits of its
// tag) that holds its message record, or nullopt. The writer is dead, so its
// files are final. `unreadable`: a file could not be read (nothing is decided).
std::optional<std::string> journal_file_of(BusState& st, const LaneOrphan& o, bool& unreadable) {
  unreadable = true;
  auto dir = JournalReader::open_directory(st.log->directory());
  if (!dir) return std::nullopt;
  const JournalIds::Resolve resolve = resolve_in(st.dir, false);
  JournalReaderOptions ro;
  ro.buffer = std::make_shared<ReadBuffer>();
  for (const std::string& path : dir->files()) {
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (!parse_journal_file_path(path, w, seq) || (static_cast<std::uint64_t>(w.pid) & tag_pid_mask) != o.pid) continue;
    auto rd = JournalReader::open_file(path, ro);
    if (!rd) return std::nullopt;
    JournalIds ids;
    ids.start(path);
    JournalRecord rec;
    for (;;) {
      auto more = rd->next(rec);
      if (!more) return std::nullopt;
      if (!*more) break;
      if (rec.kind == logfmt::Kind::name) {
        (void)ids.learn(rec.body, resolve);
        continue;
      }
      if (rec.kind != logfmt::Kind::message) continue;
      auto m = decode_journal_message(rec.body);
      if (!m) continue;  // a record recovery could not read either
      RecordHeader h = m->header;
      if (ids.map(h) && key_of(h, h.to) == o.key && st.deadline(h.expires_ns, h.timestamp_ns) == o.deadline) {
        unreadable = false;
        return path;
      }
    }
  }
  unreadable = false;
  return std::nullopt;
}

// The claim was stepped over and its record is in no journal: the send ends
// `revoked` (a status that frees its id), as a send whose claim the receiver
// revoked does. No settle record: there is no message record to settle, and
// one would settle a resend of the id at the next recovery.
void free_orphan(BusState& st, const LaneOrphan& o, std::uint64_t now) noexcept {
  if (!st.tracker.advance(o.slot, Status::revoked, now)) return;
  const bool member = o.key.recipient != no_endpoint;
  GroupId group = 0;
  std::uint64_t total = Tracker::no_slot;
  if (member) {
    total = st.total_of(o.slot, o.key.sender, o.key.id);
    // Relaxed: the total's fields were written before its tag was published (total_of acquired it).
    if (total != Tracker::no_slot && st.tracker.entry(total).deadline_ns.load(std::memory_order_relaxed) == o.deadline)
      group = st.tracker.entry(total).dest.load(std::memory_order_relaxed);
    else
      total = Tracker::no_slot;
  }
  st.post(o.key.sender, StatusEvent{o.key.id, o.to, group, Status::revoked, now}, o.slot);
  if (total != Tracker::no_slot) st.count_in_total(o.key.sender, o.key.id, group, total, Status::revoked, now);
}

}  // namespace

void settle_lane_orphans(BusState& st, std::span<const LaneOrphan> orphans, std::uint64_t now) noexcept {
  if (!st.log) return;  // only a logged send marks its entry before its lane commit
  for (const LaneOrphan& o : orphans) {
    const std::uint32_t eslot = endpoint_slot(o.to);
    if (o.priority >= priority_levels || eslot >= st.seg.geometry().max_endpoints) continue;
    // Acquire: the lane is the destination's own (not a slot reused by another endpoint).
    if (st.seg.slot(eslot).id.load(std::memory_order_acquire) != o.to) continue;
    const bool member = o.key.recipient != no_endpoint;
    const ClaimVerdict v = find_claim(st.seg.lane(eslot, o.priority), [&](const RecordHeader& h) {
      return h.id == o.key.id && h.from == o.key.sender && h.to == o.to && (h.group != 0) == member &&
             h.expires_ns == o.expires && st.deadline(h.expires_ns, h.timestamp_ns) == o.deadline;
    });
    if (v != ClaimVerdict::never_committed) continue;  // in its lane, consumed, or not known yet
    // Still the entry the walk saw, still unsettled.
    TrackerEntry& e = st.tracker.entry(o.slot);
    // Acquire: the flags and status its last writer published.
    const std::uint16_t flags = e.flags.load(std::memory_order_acquire);
    if (!st.tracker.holds(o.slot, o.key) || e.deadline_ns.load(std::memory_order_relaxed) != o.deadline ||
        (flags & (tracker_flag::committed | tracker_flag::in_lane | tracker_flag::spilled | tracker_flag::counted)) !=
            tracker_flag::committed ||
        static_cast<Status>(e.status.load(std::memory_order_acquire)) != Status::outbox)
      continue;
    bool unreadable = true;
    std::optional<std::string> file;
    try {
      file = journal_file_of(st, o, unreadable);
    } catch (...) {
      continue;  // out of memory: decide at a later pass
    }
    if (unreadable) continue;
    if (!file) {
      free_orphan(st, o, now);
      continue;
    }
    // Its record is in the dead writer's file: make it durable (the writer may
    // have died before its sync) and adopt it as spilled, so that its receiver
    // forwards it from the log, as the sweep adopts a `sent` one.
    if (const int fd = ::open(file->c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      (void)::fdatasync(fd);  // a failure leaves it delivered, not durable, as a failed group sync does
      ::close(fd);
    }
    // acq_rel: as sweep_spilled's adoption.
    e.flags.fetch_or(tracker_flag::spilled, std::memory_order_acq_rel);
    count_spilled(st, o.slot, o.to, o.priority);
  }
}

}  // namespace courier::detail
