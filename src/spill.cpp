// Spill: a stored message whose lane is full stays in the log and its
// receiver forwards it as the lanes drain (docs/design.md, "Spill").
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "courier/detail/bus_log.hpp"
#include "courier/detail/journal_ids.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/detail/spill.hpp"
#include "courier/endpoint.hpp"
#include "courier/receiver.hpp"
#include "spill_forwarder.hpp"

namespace courier {

namespace detail {

// Read once, before main: a test sets it before exec.
const char* const pause_at = std::getenv("COURIER_TEST_PAUSE_AT");

void pause_here(const char* point) noexcept {
  if (pause_at == nullptr || std::strcmp(pause_at, point) != 0) return;
  const std::string line = std::string("paused-at ") + point + "\n";
  (void)!::write(STDOUT_FILENO, line.data(), line.size());
  // COURIER_TEST_PAUSE_RESUME set: go on once a line (or EOF) comes on standard input.
  if (std::getenv("COURIER_TEST_PAUSE_RESUME") != nullptr) {
    char c = 0;
    while (::read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
    }
    return;
  }
  for (;;) ::pause();
}

bool put_back(BusState& st, const RecordHeader& h, std::span<const std::byte> payload, std::uint8_t flag,
              std::uint64_t slot) noexcept {
  const std::uint32_t eslot = endpoint_slot(h.to);
  if (h.priority >= priority_levels || eslot >= st.seg.geometry().max_endpoints ||
      payload.size() > st.seg.geometry().max_payload)
    return false;
  LaneWriter w(st.seg.lane(eslot, h.priority));
  LaneClaim lc;
  if (w.try_claim(record_bytes(payload.size()), lc) != ClaimResult::ok) return false;
  // Everything but the lane's frame word.
  std::memcpy(reinterpret_cast<std::byte*>(lc.header) + sizeof(std::uint64_t),
              reinterpret_cast<const std::byte*>(&h) + sizeof(std::uint64_t),
              sizeof(RecordHeader) - sizeof(std::uint64_t));
  if (slot != Tracker::no_slot) {
    // acq_rel: the mark is published before our commit; a forwarder that dies
    // between its commit and account_spilled leaves it for the next one to see.
    const std::uint16_t was = st.tracker.entry(slot).flags.fetch_or(tracker_flag::copied, std::memory_order_acq_rel);
    if ((was & tracker_flag::copied) != 0) flag = static_cast<std::uint8_t>(flag | record_flag::redelivered);
  }
  lc.header->flags = static_cast<std::uint8_t>(h.flags | flag);
  lc.header->lease = 0;
  lc.header->payload_len = static_cast<std::uint32_t>(payload.size());
  if (!payload.empty()) std::memcpy(lc.payload(), payload.data(), payload.size());
  if (!w.commit(lc)) return false;
  inbox_notify(st.seg.inbox(eslot), h.priority);
  return true;
}

bool count_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept {
  // acq_rel: once per message, whoever gets here first.
  const std::uint16_t was = st.tracker.entry(slot).flags.fetch_or(tracker_flag::counted, std::memory_order_acq_rel);
  if ((was & tracker_flag::counted) != 0) return false;
  // Release: senders and the forwarder acquire the counts (spill_backlog).
  st.seg.inbox(endpoint_slot(to)).spilled[priority].fetch_add(1, std::memory_order_release);
  return true;
}

bool account_spilled(BusState& st, std::uint64_t slot, EndpointId to, unsigned priority) noexcept {
  // Counted first, so that forwarded[p] never runs ahead of spilled[p] for it.
  count_spilled(st, slot, to, priority);
  // acq_rel: once per message, whoever gets here first (forwarder or sweeper);
  // release orders the flag before the count the senders read.
  const std::uint16_t was = st.tracker.entry(slot).flags.fetch_or(tracker_flag::in_lane, std::memory_order_acq_rel);
  if ((was & tracker_flag::in_lane) != 0) return false;
  // Release: senders acquire the counts (detail::spill_backlog, bus_state.hpp).
  st.seg.inbox(endpoint_slot(to)).forwarded[priority].fetch_add(1, std::memory_order_release);
  return true;
}

namespace {

// A spilled message whose record the log failed to write: settled log_failed,
// told to its sender through its status ring (the send returned long ago),
// and, for a group member, counted failed in its total.
void spill_failed(BusState& st, const Log::Pending& p, std::uint64_t now) noexcept {
  // The slot may have retired and been reused since the send: check the key.
  if (!st.tracker.holds(p.slot, TrackerKey{p.sender, p.id, p.key_recipient})) return;
  if (!st.tracker.advance(p.slot, Status::log_failed, now)) return;
  st.post(p.sender, StatusEvent{p.id, p.recipient, p.group, Status::log_failed, now}, p.slot);
  if (p.group == 0) return;
  const std::uint64_t total = st.total_of(p.slot, p.sender, p.id);
  if (total != Tracker::no_slot) st.count_in_total(p.sender, p.id, p.group, total, Status::log_failed, now);
}

}  // namespace

void spills_written(BusState& st, std::span<const Log::Spill> spills, bool written) noexcept {
  const std::uint64_t now = written ? 0 : fast_realtime_ns();
  for (const Log::Spill& sp : spills) {
    const EndpointId to = sp.pending.recipient;
    const unsigned p = sp.priority;
    if (written) {
      InboxData& in = st.seg.inbox(endpoint_slot(to));
      pause_point("spill-written");
      if (sp.tracked) {
        // Release: partner of the forwarder's, the housekeeper's and Tracker::replaceable's acquire.
        st.tracker.entry(sp.pending.slot)
            .flags.fetch_or(static_cast<std::uint16_t>(tracker_flag::committed | tracker_flag::spilled |
                                                       (p << tracker_flag::priority_shift)),
                            std::memory_order_release);
        pause_point("spill-marked");
        count_spilled(st, sp.pending.slot, to, p);
      } else {
        in.spilled[p].fetch_add(1, std::memory_order_release);  // release: as count_spilled
      }
      // Release, after the count: a send that reads the decrement (spill_waits) sees the count.
      st.unwritten_spill(to, p).fetch_sub(1, std::memory_order_release);
      inbox_notify(in, p);  // wakes a parked receiver: it forwards once its lanes are dry
    } else {
      // Not in the file: never counted or delivered; its sender hears log_failed (the id is free again).
      if (sp.tracked) spill_failed(st, sp.pending, now);
      st.unwritten_spill(to, p).fetch_sub(1, std::memory_order_release);  // release: as above
    }
  }
}

namespace {

// Spilled messages counted in `in`, all lanes (the forwarder's rescan test).
std::uint64_t spilled_total(const InboxData& in) noexcept {
  std::uint64_t n = 0;
  for (const auto& c : in.spilled) n += c.load(std::memory_order_acquire);  // acquire: as spill_backlog
  return n;
}

// How many of `counted` spilled messages are not accounted (forwarded or settled) yet.
std::uint64_t unaccounted(std::uint64_t counted, const InboxData& in) noexcept {
  std::uint64_t n = 0;
  for (const auto& c : in.forwarded) n += c.load(std::memory_order_acquire);  // acquire: as spill_backlog
  return counted > n ? counted - n : 0;
}

}  // namespace

}  // namespace detail

// ------------------------------------------------------------ the sender side

SendResult Endpoint::send_logged(const SendOptions& o, std::span<const std::byte> data) noexcept {
  Claim c;
  SpillRoute route;
  SendResult r = claim(o, data.size(), c, &route);
  if (route.taken) {
    RecordHeader h{};
    fill(h, o, c.id_, route.now, route.to, 0, data.size(), 0);
    const Status st = spill(h, data, c.track_, no_endpoint);
    if (st != Status::sent) {
      settle(c.track_, c.id_, route.to, 0, st);
      return {st, c.id_};
    }
    // With Sync::always its batch is this flush: a failed sync leaves it outbox
    // (its record is in the file and counted, so it is forwarded, only not
    // durable; log_error() says why); a failed write never marked it spilled
    // (detail::spills_written): log_failed, as the log reported it.
    detail::Log& log = *s_->log;
    if (log.sync() != Sync::always) return {Status::outbox, c.id_};
    const bool flushed = static_cast<bool>(log.flush());
    // Acquire: partner of spills_written's release mark (this thread's flush ran it).
    if (!flushed && c.track_ != Tracker::no_slot &&
        (s_->tracker.entry(c.track_).flags.load(std::memory_order_acquire) & tracker_flag::spilled) == 0)
      return {Status::log_failed, c.id_};
    return {s_->after_sync(flushed), c.id_};
  }
  if (!r || r.duplicate) return r;
  if (!data.empty() && c.active()) std::memcpy(c.lc_.payload(), data.data(), data.size());
  return commit(c, data.size());
}

Status Endpoint::spill(const RecordHeader& h, std::span<const std::byte> data, std::uint64_t slot,
                       EndpointId key_recipient) noexcept {
  detail::Log& log = *s_->log;
  // Buffered here; the log's next batch writes the record, and only then is
  // the entry marked (committed | spilled) and counted (detail::spills_written):
  // a sender killed before leaves an entry a resend replaces, never a marked
  // one whose record is nowhere (docs/design.md, "No wedged ids"; "Spill
  // written in the log's batches"). Until then a later send to the lane spills too.
  std::atomic<std::uint32_t>& unwritten = s_->unwritten_spill(h.to, h.priority);
  // Relaxed: the log's mutex orders it before spills_written's decrement; this thread's next send reads it.
  unwritten.fetch_add(1, std::memory_order_relaxed);
  const detail::Log::Spill sp{{slot, h.id, self_, key_recipient, h.to, h.group}, h.priority, slot != Tracker::no_slot};
  if (!log.append_spill(h, data, sp)) {
    unwritten.fetch_sub(1, std::memory_order_release);  // release: as spills_written's
    return Status::log_failed;
  }
  detail::pause_point("spill-appended");
  count_sent();
  return Status::sent;
}

// ------------------------------------------------------------ the receiver side

bool Receiver::forward_spilled() noexcept {
  InboxData& in = st_->bus->seg.inbox(st_->slot);
  bool backlog = false;
  for (unsigned p = 0; p < priority_levels && !backlog; ++p) backlog = detail::spill_backlog(in, p);
  if (!backlog) return false;
  Forwarder& fw = *st_->forwarder;
  const std::uint64_t now = monotonic_ns();
  if (now < fw.next_scan_ns) return false;
  std::uint64_t forwarded = 0;
  try {
    // Counted before the scan: each such record was in its file before it was
    // counted (a spiller writes, then counts; an adoption finds it there).
    const std::uint64_t counted = detail::spilled_total(in);
    bool complete = false;
    forwarded = fw.scan(*st_->bus, st_->self, false, complete);
    // Every file read to its end and still some counted before the scan are
    // not accounted: behind a cursor (the housekeeper adopted them after the
    // scan passed their records). Read every file again from its start.
    const std::uint64_t behind = detail::unaccounted(counted, in);
    if (complete && behind > fw.unexplained) {
      const std::uint64_t again = detail::spilled_total(in);
      forwarded += fw.scan(*st_->bus, st_->self, true, complete);
      fw.unexplained = complete ? detail::unaccounted(again, in) : 0;
    } else if (complete) {
      fw.unexplained = behind;
    }
  } catch (...) {  // allocation failure: try again later
  }
  // Nothing to forward yet (a lane still full, or records not read yet): look again soon.
  if (forwarded == 0) fw.next_scan_ns = now + detail::log_defaults::spill_rescan_ns;
  return forwarded != 0;
}

std::uint64_t Receiver::Forwarder::scan(detail::BusState& st, EndpointId self, bool from_start, bool& complete) {
  complete = false;
  auto dir = JournalReader::open_directory(st.log->directory());
  if (!dir) return 0;
  complete = true;
  std::map<std::string, File> seen;
  std::uint64_t n = 0;
  const std::uint64_t now = realtime_ns();
  const detail::JournalIds::Resolve resolve = detail::resolve_in(st.dir, false);
  // Writers whose reading stopped in this scan (a lane full, a record not
  // marked yet, a write in progress): their later files wait too, so that a
  // sender's messages are forwarded in the order it wrote them, across a roll.
  std::vector<JournalWriterId> held;
  const auto is_held = [&held](const JournalWriterId& w) {
    return std::find(held.begin(), held.end(), w) != held.end();
  };
  for (const std::string& path : dir->files()) {
    File f = !from_start && files.count(path) != 0 ? std::move(files[path]) : File{};
    JournalWriterId writer;
    std::uint64_t sequence = 0;
    const bool named = parse_journal_file_path(path, writer, sequence);
    if (named && is_held(writer)) {
      complete = false;
      seen.emplace(path, std::move(f));
      continue;
    }
    if (f.ids.path() != path) f.ids.start(path);
    JournalReaderOptions ro;
    ro.buffer = buffer;
    // Senders write these files while we read them: bytes not yet a valid
    // record in a living writer's file end this read, they are not skipped.
    ro.live = true;
    auto rd = JournalReader::open_file(path, ro, f.cursor);
    bool blocked = false;
    complete = complete && static_cast<bool>(rd);
    JournalRecord rec;
    while (rd && !blocked) {
      auto more = rd->next(rec);
      if (!more) complete = false;
      if (!more || !*more) break;
      if (rec.kind == logfmt::Kind::name) {
        f.ids.learn(rec.body, resolve);
      } else if (rec.kind == logfmt::Kind::message) {
        auto m = decode_journal_message(rec.body);
        if (m && m->header.id != 0 && f.ids.map(m->header) && m->header.to == self) {
          const RecordHeader& h = m->header;
          const std::uint64_t slot = st.tracker.find(key_of(h, h.to));
          if (slot != Tracker::no_slot && st.same_send(st.tracker.entry(slot), h)) {
            TrackerEntry& e = st.tracker.entry(slot);
            // Acquire: partner of the spiller's release of the flags.
            const std::uint16_t flags = e.flags.load(std::memory_order_acquire);
            // Its sender wrote the record and has not marked the entry yet
            // (spilled, or committed to a lane): wait for it here (order), unless
            // it died in between (then the entry is no original: a resend replaces it).
            if ((flags & tracker_flag::committed) == 0 &&
                static_cast<Status>(e.status.load(std::memory_order_acquire)) == Status::outbox &&  // acquire: as below
                st.tracker.inserter_alive(slot)) {
              blocked = true;
              break;
            }
            if ((flags & tracker_flag::spilled) != 0 && (flags & tracker_flag::in_lane) == 0) {
              // Acquire: the status published by whoever advanced it.
              const auto status = static_cast<Status>(e.status.load(std::memory_order_acquire));
              if (!is_owed(status)) {
                detail::account_spilled(st, slot, h.to, h.priority);  // settled while it waited
              } else if (h.expires_ns <= now) {
                st.report(h, h.to, Status::expired);
                detail::account_spilled(st, slot, h.to, h.priority);
              } else if (detail::put_back(st, h, m->payload, record_flag::forwarded, slot)) {
                detail::pause_point("forward-committed");  // killed here: a second copy (lane_adoption_test)
                // After the commit: a forwarder killed in between forwards it
                // again, flagged redelivered (`copied`); the receiver drops the
                // second copy once the first is acknowledged.
                if (detail::account_spilled(st, slot, h.to, h.priority)) ++n;
              } else {
                blocked = true;  // its lane is full: later records wait (order)
                break;
              }
            }
          }
        }
      }
      f.cursor = rec.offset + logfmt::record_span(rec.body.size());
    }
    // Stopped at a write in progress: the rest of this file comes in a later scan.
    if (rd && rd->stopped_at_write()) blocked = true;
    if (blocked && named) held.push_back(writer);
    complete = complete && !blocked;
    seen.emplace(path, std::move(f));
  }
  files = std::move(seen);  // journal files deleted since are forgotten
  return n;
}

}  // namespace courier
