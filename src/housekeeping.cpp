// Housekeeping of a bus with a log: the lease, the sweep of spilled messages
// whose endpoint never drains them, and compaction of settled journal files
// (docs/design.md, "Housekeeping and compaction").
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "courier/detail/bus_log.hpp"
#include "courier/detail/compaction_memory.hpp"
#include "courier/detail/journal_ids.hpp"
#include "courier/detail/journal_membership.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/detail/lane_orphans.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/spill.hpp"

namespace courier {

namespace detail {

std::uint64_t sweep_spilled(BusState& st, std::uint64_t now) noexcept {
  std::uint64_t n = 0;
  std::vector<LaneOrphan> orphans;  // judged after the walk (src/housekeeping_lanes.cpp)
  st.tracker.for_each_ready([&](std::uint64_t slot, TrackerEntry& e, const auto& inserter_alive) {
    // Relaxed loads: a snapshot; report() re-checks the entry by key and deadline.
    std::uint16_t flags = e.flags.load(std::memory_order_acquire);  // acquire: partner of the spiller's release
    if ((flags & tracker_flag::in_lane) != 0) return;
    const std::uint64_t expires = e.expires_ns.load(std::memory_order_relaxed);
    const std::uint8_t role = e.role.load(std::memory_order_relaxed);
    if (expires == 0 || (role != tracker_role::endpoint && role != tracker_role::member)) return;
    // Orphans: stored, in no lane, not counted, and the process that was
    // putting it in a lane (or counting its spill) died on the way. Its record
    // is in the log once `sent` was said of it (on a bus with a log every
    // stored message is logged), or once it was marked spilled (the spiller
    // marks only after the write): adopt it as spilled, so its receiver
    // forwards it (a copy that did reach the lane is dropped by the receiver
    // once acknowledged). docs/design.md, "No wedged ids".
    const auto status = static_cast<Status>(e.status.load(std::memory_order_acquire));  // acquire: as the flags
    // Marked committed, then its sender died before its lane commit (or after
    // it, before in_lane): whether it is in its lane is for the lane to say.
    constexpr std::uint16_t settled_bits = tracker_flag::committed | tracker_flag::spilled | tracker_flag::counted;
    if (status == Status::outbox && (flags & settled_bits) == tracker_flag::committed && !inserter_alive()) {
      LaneOrphan o;
      o.slot = slot;
      o.key = TrackerKey{e.sender.load(std::memory_order_relaxed), e.id.load(std::memory_order_relaxed),
                         e.recipient.load(std::memory_order_relaxed)};
      o.to = role == tracker_role::member ? o.key.recipient : e.dest.load(std::memory_order_relaxed);
      o.priority = (flags & tracker_flag::priority_mask) >> tracker_flag::priority_shift;
      o.expires = expires;
      o.deadline = e.deadline_ns.load(std::memory_order_relaxed);
      o.pid = st.tracker.inserter_pid(slot);
      try {
        if (o.pid != 0) orphans.push_back(o);
      } catch (...) {  // out of memory: the next pass looks again
      }
      return;
    }
    const bool in_log = status == Status::sent || (status == Status::outbox && (flags & tracker_flag::spilled) != 0);
    if ((flags & tracker_flag::counted) == 0 && now < expires && in_log && !inserter_alive()) {
      // Not marked spilled: its message may be in its lane too (e.g. a
      // recovery put it back and died before marking in_lane), so the copy the
      // forwarder makes is flagged redelivered (`copied`).
      const std::uint16_t add =
          (flags & tracker_flag::spilled) != 0 ? tracker_flag::spilled : tracker_flag::spilled | tracker_flag::copied;
      // Release: as detail::spills_written.
      flags = e.flags.fetch_or(add, std::memory_order_acq_rel) | add;
      const EndpointId to = role == tracker_role::member ? e.recipient.load(std::memory_order_relaxed)
                                                         : e.dest.load(std::memory_order_relaxed);
      const unsigned prio = (flags & tracker_flag::priority_mask) >> tracker_flag::priority_shift;
      if (endpoint_slot(to) < st.seg.geometry().max_endpoints) count_spilled(st, slot, to, prio);
      return;
    }
    if ((flags & tracker_flag::spilled) == 0 || now < expires) return;
    RecordHeader h{};
    h.id = e.id.load(std::memory_order_relaxed);
    h.from = e.sender.load(std::memory_order_relaxed);
    const EndpointId recipient = e.recipient.load(std::memory_order_relaxed);
    if (role == tracker_role::member) {
      h.to = recipient;
      const std::uint64_t total = st.total_of(slot, h.from, h.id);
      h.group = total != Tracker::no_slot ? st.tracker.entry(total).dest.load(std::memory_order_relaxed) : 0;
      if (h.group == 0) return;
    } else {
      h.to = e.dest.load(std::memory_order_relaxed);
    }
    // same_send() compares the deadline with max(expires, timestamp) + retention.
    h.expires_ns = expires;
    h.timestamp_ns = 0;
    h.priority = static_cast<std::uint8_t>((flags & tracker_flag::priority_mask) >> tracker_flag::priority_shift);
    if (!st.tracker.holds(slot, TrackerKey{h.from, h.id, role == tracker_role::member ? recipient : no_endpoint}))
      return;
    const bool changed = st.report(h, h.to, Status::expired);
    if (account_spilled(st, slot, h.to, h.priority) && changed) ++n;
  });
  settle_lane_orphans(st, orphans, now);
  return n;
}

namespace {

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

using Blocker = CompactionMemory::Blocker;

// Whether every record of a journal file is settled for good: each message
// delivered, read, expired or retired, and each settle record's message
// retired (until then a recovery may still need it to know the message was
// settled). Damage keeps the file (it is evidence, and its records unknown).
// When it is not, `blocker` says which record kept it (known == false when
// the file or a record could not be read).
// `groups` gets the (group, member) pairs its membership records mention:
// they do not keep a file, but are restated before it goes.
// `limit` (not 0): a first look at the file's first `limit` bytes. Its false
// is final: the record that keeps the file is the one a whole read stops at
// (every record before it settled). Its true (nothing found that keeps it,
// damage, a record that cannot be read: a limit may cut a record, and what
// follows the cut is not looked at) only says to read the whole file.
// `read` counts the bytes read.
bool file_settled_in(BusState& st, const std::string& path, const std::shared_ptr<ReadBuffer>& buffer,
                     std::uint64_t limit, Blocker& blocker, MembershipKeys& groups, std::uint64_t& read) {
  blocker = Blocker{};
  groups.clear();
  const bool peek = limit != 0;
  JournalReaderOptions ro;
  ro.buffer = buffer;
  ro.read_limit = limit;
  auto rd = JournalReader::open_file(path, ro);
  if (!rd) return peek;
  struct CountRead {
    const JournalReader& rd;
    std::uint64_t& read;
    ~CountRead() { read += rd.read_bytes(); }
  } count{*rd, read};
  JournalIds ids;
  ids.start(path);
  const JournalIds::Resolve resolve = resolve_in(st.dir, false);
  JournalRecord rec;
  for (;;) {
    auto more = rd->next(rec);
    if (!more) return peek;
    if (!*more) break;
    if (rec.kind == logfmt::Kind::name) {
      ids.learn(rec.body, resolve);
      continue;
    }
    if (rec.kind == logfmt::Kind::membership) {
      auto m = decode_journal_membership(rec.body);
      if (!m) return peek;
      groups.emplace(m->group, m->endpoint);
      continue;
    }
    if (rec.kind == logfmt::Kind::message) {
      auto m = decode_journal_message(rec.body);
      if (!m) return peek;
      RecordHeader h = m->header;
      if (h.id == 0 || h.expires_ns == 0) continue;  // nothing to recover from it
      const std::uint64_t young_until = st.deadline(h.expires_ns, h.timestamp_ns);
      const bool young = young_until > realtime_ns();
      blocker.known = true;
      blocker.message = true;
      blocker.young_until_ns = young_until;
      // Unnamed here (an endpoint removed, or a bus not rebuilt yet): a
      // recovery could still bring it back, so it is kept until it is too old.
      if (!ids.map(h)) {
        if (young) return false;
        continue;
      }
      blocker.keyed = true;
      blocker.key = key_of(h, h.to);
      const std::uint64_t slot = st.tracker.find(blocker.key);
      if (slot == Tracker::no_slot) {
        // Retired (past expiry + retention), or its tracker entry was never made.
        if (young) return false;
        continue;
      }
      // Acquire: the status published by whoever advanced it.
      if (is_owed(static_cast<Status>(st.tracker.entry(slot).status.load(std::memory_order_acquire)))) return false;
      continue;
    }
    blocker = Blocker{};
    auto b = decode_journal_settle(rec.body);
    if (!b) return peek;
    const EndpointId sender = ids.endpoint(b->sender);
    if (sender == no_endpoint) continue;  // the sender is gone: its messages are unrecoverable anyway
    blocker.known = true;
    blocker.keyed = true;
    blocker.key = TrackerKey{sender, b->id, no_endpoint};
    if (st.tracker.find(blocker.key) != Tracker::no_slot) return false;
  }
  blocker = Blocker{};
  return peek || rd->damage().empty();
}

// file_settled_in, a larger file's first settle_peek_bytes first: a file
// that nobody has received from yet is kept by one of its first records.
bool file_settled(BusState& st, const std::string& path, std::uint64_t size, const std::shared_ptr<ReadBuffer>& buffer,
                  Blocker& blocker, MembershipKeys& groups, std::uint64_t& read) {
  constexpr std::uint64_t peek = log_defaults::settle_peek_bytes;
  if (size > peek && !file_settled_in(st, path, buffer, peek, blocker, groups, read)) return false;
  return file_settled_in(st, path, buffer, 0, blocker, groups, read);
}

// Whether the record that kept a journal file is still owed, judged as
// file_settled() judged it (with the ids mapped then). If so the file is
// still unsettled and need not be read. A name mapping that changed since can
// only make this keep the file longer, until that tracker entry retires and
// the record is too old: never delete it.
bool still_owed(BusState& st, const Blocker& b) {
  if (!b.known) return false;  // nothing to judge by: read the file
  if (b.keyed) {
    const std::uint64_t slot = st.tracker.find(b.key);
    if (slot != Tracker::no_slot) {
      if (!b.message) return true;  // a settle record whose message has not retired
      // Acquire: as in file_settled().
      return is_owed(static_cast<Status>(st.tracker.entry(slot).status.load(std::memory_order_acquire)));
    }
  }
  return b.young_until_ns > realtime_ns();
}

}  // namespace

}  // namespace detail

Result<HousekeepResult> detail::housekeep(BusState& st) {
  if (!st.log) return Error(Errc::invalid_argument, "bus '" + st.name + "' has no log to keep");
  if (st.removed()) return removed_error(st.name);  // the next opener's bus keeps the journals now
  HousekeepResult r;
  std::atomic<std::uint64_t>& lease = st.seg.header().housekeeper;
  const std::uint64_t me = lease_word(self_identity());
  // Acquire: partner of the previous holder's CAS (release).
  std::uint64_t cur = lease.load(std::memory_order_acquire);
  if (cur != me) {
    if (cur != 0 && lease_holder_alive(cur)) return r;  // another live process keeps this bus
    // acq_rel: one process takes the lease; release publishes who holds it.
    if (!lease.compare_exchange_strong(cur, me, std::memory_order_acq_rel, std::memory_order_acquire)) return r;
  }
  r.holder = true;
  r.sweep = sweep(st);
  // Compaction. A writer's newest journal file is left alone while the
  // writer's process lives (it may still append); our own writer flushes
  // first (a failure is kept in the log's last error; what it did not write
  // is simply not read now).
  (void)st.log->write_now();
  auto rd = JournalReader::open_directory(st.log->directory());
  if (!rd) return std::move(rd).error().with_context("housekeeping");
  std::map<std::pair<std::uint64_t, pid_t>, std::uint64_t> newest;  // (epoch, pid) -> highest sequence
  auto buffer = std::make_shared<detail::ReadBuffer>();
  for (const std::string& path : rd->files()) {
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (!parse_journal_file_path(path, w, seq)) continue;
    auto& n = newest[{w.epoch_ns, w.pid}];
    if (seq > n) n = seq;
  }
  // The memory of journal files found unsettled: a file is read when it is
  // new to this process (or another file, or grown), else only when its
  // back-off is due and the record that kept it is no longer owed.
  detail::CompactionMemory& mem = *st.compaction;
  std::lock_guard<std::mutex> lk(mem.mutex);
  const std::uint64_t pass = ++mem.pass;
  for (const std::string& path : rd->files()) {
    JournalWriterId w;
    std::uint64_t seq = 0;
    if (!parse_journal_file_path(path, w, seq)) continue;
    if (seq == newest[{w.epoch_ns, w.pid}] && detail::process_alive(w.pid)) {
      ++r.segments_kept;
      continue;
    }
    struct stat sb {};
    if (::lstat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    const auto inode = static_cast<std::uint64_t>(sb.st_ino);
    const auto size = static_cast<std::uint64_t>(sb.st_size);
    auto it = mem.segments.find(path);
    if (it != mem.segments.end() && (it->second.inode != inode || it->second.size != size)) {
      mem.segments.erase(it);  // not the file we read: look at it as new
      it = mem.segments.end();
    }
    if (it != mem.segments.end()) {
      detail::CompactionMemory::Entry& e = it->second;
      e.seen_pass = pass;
      const bool due = pass >= e.due_pass;
      if (!due || detail::still_owed(st, e.blocker)) {
        if (due) {
          e.backoff = std::min(e.backoff * 2, detail::CompactionMemory::max_backoff_passes);
          e.due_pass = pass + e.backoff;
        }
        ++r.segments_deferred;
        ++r.segments_kept;
        continue;
      }
    }
    ++r.segments_checked;
    detail::CompactionMemory::Blocker blocker;
    detail::MembershipKeys groups;
    bool settled = detail::file_settled(st, path, size, buffer, blocker, groups, r.bytes_read);
    // Its group changes live on in our own journal, restated as the bus has
    // them now (docs/design.md, "Groups in the log"); durable before it goes.
    if (settled && !groups.empty()) {
      const std::uint64_t t0 = realtime_ns();  // before reading the directory: a change after the read is later
      auto now = detail::restate(st.dir, groups, t0);
      if (!now)
        settled = false;  // the directory could not say (its lock): kept, looked at again later
      else if (auto w = st.log->append_membership(*now); !w)
        settled = false;  // kept; the log's last error says why
    }
    if (settled && ::unlink(path.c_str()) == 0) {
      ++r.segments_deleted;
      r.bytes_deleted += size;
      if (it != mem.segments.end()) mem.segments.erase(it);
      continue;
    }
    if (settled && errno == ENOENT) {  // gone already
      if (it != mem.segments.end()) mem.segments.erase(it);
      continue;
    }
    // Unsettled (or it would not go): back off before reading it again.
    ++r.segments_kept;
    if (it == mem.segments.end()) {
      it = mem.segments.emplace(path, detail::CompactionMemory::Entry{}).first;
      it->second.backoff = 1;
    } else {
      it->second.backoff = std::min(it->second.backoff * 2, detail::CompactionMemory::max_backoff_passes);
    }
    detail::CompactionMemory::Entry& e = it->second;
    e.inode = inode;
    e.size = size;
    e.due_pass = pass + e.backoff;
    e.seen_pass = pass;
    e.blocker = blocker;
  }
  // Forget the journal files that are gone.
  std::erase_if(mem.segments, [pass](const auto& kv) { return kv.second.seen_pass != pass; });
  return r;
}

}  // namespace courier
