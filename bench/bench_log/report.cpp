// bench/bench_log/report.cpp — the markdown table of a bench_log run and the
// targets of issue 4, as ratios against the floors of the same run.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench_log.hpp"
#include "journal_rates.hpp"

namespace blog {

const std::uint64_t journal_record_bytes = journal_rates::record_bytes(payload_size);  // 144

struct Target {
  std::string what, limit, measured, how;
  int met = -1;  // 1 met, 0 missed, -1 informational / not measured
};

std::string met_text(int m) { return m == 1 ? "met" : m == 0 ? "**missed**" : "–"; }

// Per round a / b (rounds where both ran), the median.
template <class A, class B>
double paired(const std::vector<A>& a, double A::*fa, const std::vector<B>& b, double B::*fb) {
  std::vector<double> q;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (b[i].*fb > 0) q.push_back(a[i].*fa / (b[i].*fb));
  return q.empty() ? NAN : cbench::median(std::move(q));
}

std::vector<BusRound> good_rounds(const std::vector<BusRound>& v) {
  std::vector<BusRound> out;
  for (const BusRound& r : v)
    if (r.error[0] == '\0') out.push_back(r);
  return out;
}

// A policy's rounds that ran; with none, its table row says why (`columns` cells in all) and is empty.
std::vector<BusRound> rounds_or_failed_row(std::ostream& md, Sync sync, const std::vector<BusRound>& all,
                                           unsigned columns) {
  std::vector<BusRound> v = good_rounds(all);
  if (v.empty()) {
    md << "| " << courier::sync_name(sync) << " | 0 of " << all.size()
       << " | failed: " << (all.empty() ? "" : all.front().error);
    for (unsigned k = 3; k < columns; ++k) md << " |";
    md << " |\n";
  }
  return v;
}

// What a message waits for at the bus part's rate: half a batch period (at
// least a batch's write + sync) for the batch in flight, then its own batch's
// write + sync: 1.5x a batch's write + sync is a floor of the p50 at that
// batch size (docs/design.md, "Tried, not kept: spare journal files").
void flusher_batches_table(std::ostream& md, const Results& res) {
  bool header = false;
  for (const auto& [sync, all] : res.bus) {
    std::vector<BusRound> v;
    for (const BusRound& r : good_rounds(all))
      if (r.batches > 0) v.push_back(r);
    if (v.empty()) continue;
    if (!header) {
      md << "The flusher's batches in those runs: *write + sync*: from a batch's start to the end of its "
            "fdatasync, mean; *events*: from there to the end of its `sent` events (and a roll), mean; "
            "*p50 floor*: 1.5 × write + sync (a message waits for the batch in flight and its own), "
            "and / floor (a) p50 per round, median.\n\n";
      md << "| policy | batches | records per batch | write + sync µs | events µs | p50 floor µs | / floor (a) |\n";
      md << "|---|---:|---:|---:|---:|---:|---:|\n";
      header = true;
    }
    std::vector<double> per_batch;
    for (const BusRound& r : v) per_batch.push_back(r.messages / r.batches);
    const double ws = med(v, &BusRound::batch_write_sync_us);
    const double ratio = 1.5 * paired(v, &BusRound::batch_write_sync_us, pick(res.floors, &FloorRound::one),
                                      &Synced::p50_us);
    md << "| " << courier::sync_name(sync) << " | " << num(med(v, &BusRound::batches)) << " | "
       << num(cbench::median(per_batch)) << " | " << fix(ws) << " | " << fix(med(v, &BusRound::batch_post_us))
       << " | " << fix(1.5 * ws) << " | " << (std::isfinite(ratio) ? fix(ratio, 2) + "×" : std::string("–"))
       << " |\n";
  }
  if (header) md << "\n";
}

std::string render(const Config& c, const Results& res, const std::string& machine, const std::string& filesystem,
                   const std::string& started) {
  std::ostringstream md;
  double load_end = -1;
  if (std::ifstream la("/proc/loadavg"); la) la >> load_end;
  md << "## bench_log " << started << "\n\n" << machine << ", " << fix(load_end, 2) << " at the end\n\n";
  md << "disk: " << c.dir << " on " << filesystem << "\n\n";
  md << "settings: " << c.rounds << " round(s), medians over rounds (range lo–hi where more than one); payload "
     << payload_size << " B (journal record " << journal_record_bytes
     << " B: 16 frame + 64 header + 64 payload); floors " << num(static_cast<double>(c.sync_ops)) << " / "
     << num(static_cast<double>(c.batch_ops)) << " synced ops and " << num(static_cast<double>(c.naive_writes))
     << " writes per round (a synced part stops after " << fix(c.cap_s, 1) << " s); bus: group/os "
     << num(static_cast<double>(c.messages)) << " msgs per round, always "
     << num(static_cast<double>(c.always_messages)) << " (or " << fix(c.cap_s, 1)
     << " s), expiry 30 s, no receiver, lane " << mib(static_cast<double>(c.lane_capacity)) << ", status ring "
     << mib(static_cast<double>(status_ring_for(c))) << ", group_commit_interval " << c.interval.count()
     << " us, group_commit_bytes " << num(static_cast<double>(c.group_bytes)) << ", status ring drained every "
     << c.poll_every << " sends, "
     << (c.prefault ? "the run's tracker / lane / status-ring pages populated first (MADV_POPULATE_WRITE)"
                    : "a fresh bus (no pages populated first)")
     << (c.log_cpu >= 0 ? ", log threads on CPU " + std::to_string(c.log_cpu) : std::string())
     << (c.producer_cpu >= 0 ? ", producer on CPU " + std::to_string(c.producer_cpu) : std::string()) << "; recovery "
     << num(static_cast<double>(c.records)) << " records over " << c.lanes << " lane(s), " << c.recovery_rounds
     << " warm round(s)" << (c.cold ? " + 1 with the log evicted" : "") << (c.quick ? "; --quick" : "") << "\n\n";

  const auto& F = res.floors;
  if (!F.empty()) {
    md << "### Floors (the same disk, this run)\n\n";
    md << "| floor | ops/s | range | mean µs/op | p50 µs | p99 µs | MB/s | as 64 B records/s | as 144 B journal "
          "records/s |\n";
    md << "|---|---:|---|---:|---:|---:|---:|---:|---:|\n";
    auto row = [&](const std::string& what, Synced FloorRound::*k, std::uint64_t bytes) {
      const std::vector<Synced> v = pick(F, k);
      const double ops = med(v, &Synced::ops), b = static_cast<double>(bytes);
      md << "| " << what << " | " << num(ops) << " | " << spread(v, &Synced::ops) << " | "
         << fix(med(v, &Synced::mean_us)) << " | " << fix(med(v, &Synced::p50_us)) << " | "
         << fix(med(v, &Synced::p99_us)) << " | " << fix(ops * b / 1e6, bytes < batch_bytes ? 3 : 1) << " | "
         << num(ops * std::max(1.0, b / payload_size)) << " | "
         << num(ops * std::max(1.0, b / static_cast<double>(journal_record_bytes))) << " |\n";
    };
    row("(a) write() + fdatasync() of one 64 B record, appended", &FloorRound::one, payload_size);
    if (F.front().one_after.ops > 0)
      row("(a) again, right after the `always` run", &FloorRound::one_after, payload_size);
    row("(b) write() + fdatasync() of a 64 KiB batch, appended", &FloorRound::batch, batch_bytes);
    row("(b) into fallocate'd space (the log's journal files)", &FloorRound::batch_allocated, batch_bytes);
    row("(b) over blocks written before (no allocation in the sync)", &FloorRound::batch_written, batch_bytes);
    row("(b') write() + fdatasync() of a " + mib(static_cast<double>(c.group_bytes)) +
            " batch (group_commit_bytes), appended",
        &FloorRound::group, c.group_bytes);
    const double n = med(F, &FloorRound::naive_per_s);
    md << "| (c) write() of one 64 B record per call, no sync (naive) | " << num(n) << " | "
       << spread(F, &FloorRound::naive_per_s) << " | " << fix(1e6 / n, 2) << " | | | " << fix(n * payload_size / 1e6)
       << " | " << num(n) << " | |\n\n";
  }

  const auto& J = res.journal;
  if (!J.empty()) {
    md << "### JournalWriter alone (64 B payload: 144 B records; no bus)\n\n";
    md << "| what | records/s | range | ns/record | MB/s |\n|---|---:|---|---:|---:|\n";
    auto row = [&](const char* what, double JournalRound::*f) {
      const double v = med(J, f);
      md << "| " << what << " | " << num(v) << " | " << spread(J, f) << " | " << fix(1e9 / v) << " | "
         << fix(v * static_cast<double>(journal_record_bytes) / 1e6) << " |\n";
    };
    row("encode_journal_record alone (frame + CRC32C + copy, buffer reused every 64 KiB)", &JournalRound::encode);
    row("append_message(), default 1 MiB buffer (one write() per MiB, no sync)", &JournalRound::append);
    row("append_message() + flush() every 64 KiB (one write() per 64 KiB)", &JournalRound::flush64);
    row("append_message() + sync() every 64 KiB (write() + fdatasync() per 64 KiB)", &JournalRound::sync64);
    md << "\n";
  }

  for (const auto& [sync, all] : res.bus) {
    if (&all == &res.bus.front().second) {
      md << "### Reliable send through the Bus, one producer (64 B, expiry 30 s, no receiver)\n\n";
      md << "send→sent: from just before send() to the moment the producer saw `sent` (always: send() returned "
            "sent; group / os: the event drained from its status ring, so up to one poll interval late). "
            "*stamp*: to the time stamp carried by the event. *sent msgs/s*: messages that became `sent` / (first "
            "send → last `sent` seen). *preempted*: involuntary context switches of the run's process (producer and "
            "flusher threads), a measure of the noise.\n\n";
      md << "| policy | rounds | send() msgs/s | sent msgs/s | range | µs/send() | send→sent p50 µs | p90 | p99 | "
            "p99.9 "
            "| max | stamp p50 µs | stamp p99 | send() returned | events missing | ring drops | preempted |\n";
      md << "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
    }
    const std::vector<BusRound> v = rounds_or_failed_row(md, sync, all, 17);
    if (v.empty()) continue;
    const std::string pol(courier::sync_name(sync));
    const BusRound& last = v.back();
    md << "| " << pol << " | " << v.size()
       << (v.size() < all.size() ? " (" + std::to_string(all.size() - v.size()) + " failed)" : "") << " | "
       << num(med(v, &BusRound::send_per_s)) << " | " << num(med(v, &BusRound::sent_per_s)) << " | "
       << spread(v, &BusRound::sent_per_s) << " | " << fix(med(v, &BusRound::per_msg_us), 3) << " | "
       << fix(med(v, &BusRound::p50_us)) << " | " << fix(med(v, &BusRound::p90_us)) << " | "
       << fix(med(v, &BusRound::p99_us)) << " | " << fix(med(v, &BusRound::p999_us)) << " | "
       << fix(med(v, &BusRound::max_us)) << " | " << fix(med(v, &BusRound::stamp_p50_us)) << " | "
       << fix(med(v, &BusRound::stamp_p99_us)) << " | " << returned_text(last) << " (last round) | "
       << num(med(v, &BusRound::missing))
       << (med(v, &BusRound::missing) > 0 ? " (tracker says sent: " + num(med(v, &BusRound::missing_sent)) + ")" : "")
       << " | " << num(med(v, &BusRound::dropped)) << " | " << num(med(v, &BusRound::preempted)) << " |\n";
    if (med(v, &BusRound::flush_forced) > 0)
      md << "\n(" << pol << ": flush_log() was needed to finish in most rounds)\n";
  }
  if (!res.bus.empty()) md << "\n";
  flusher_batches_table(md, res);

  if (!res.lone.empty()) {
    md << "### One message at a time (64 B, expiry 30 s, no receiver; the next send() once the last is `sent`"
       << (c.lone_gap_us != 0 ? " and " + std::to_string(c.lone_gap_us) + " µs more" : std::string()) << ")\n\n";
    md << "A producer that waits for each message's `sent` (draining its status ring until it comes) before "
          "sending the next: each message finds the log idle. send→sent and *stamp* as above. */ floor (a)*: the "
          "send→sent p50 divided by floor (a)'s p50 (one record + fdatasync), per round, median.\n\n";
    md << "| policy | rounds | messages | send→sent p50 µs | p90 | p99 | max | stamp p50 µs | / floor (a) | preempted "
          "|\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    const std::vector<Synced> one = pick(F, &FloorRound::one);
    for (const auto& [sync, all] : res.lone) {
      const std::vector<BusRound> v = rounds_or_failed_row(md, sync, all, 10);
      if (v.empty()) continue;
      const std::string pol(courier::sync_name(sync));
      md << "| " << pol << " | " << v.size() << " | " << num(med(v, &BusRound::messages)) << " | "
         << fix(med(v, &BusRound::p50_us)) << " | " << fix(med(v, &BusRound::p90_us)) << " | "
         << fix(med(v, &BusRound::p99_us)) << " | " << fix(med(v, &BusRound::max_us)) << " | "
         << fix(med(v, &BusRound::stamp_p50_us)) << " | "
         << (one.empty() ? std::string("–") : fix(paired(v, &BusRound::p50_us, one, &Synced::p50_us), 2) + "×")
         << " | " << num(med(v, &BusRound::preempted)) << " |\n";
    }
    md << "\n";
  }

  if (!res.producers.empty()) {
    md << "### Several producers on one bus (64 B, expiry 30 s, no receiver; " << num(static_cast<double>(c.messages))
       << " messages per run, split evenly; lanes the smallest power of two that holds them with a quarter to spare)\n\n";
    md << "*threads*: N producer threads of one process (one Bus, endpoints src0..srcN-1); *processes*: N processes, "
          "each opening the bus and its own endpoint (the bus made first by another child). Each producer drains its "
          "own status ring every "
       << c.poll_every
       << " sends and waits for all its `sent`. *send() msgs/s*: all messages / (first send() started → last "
          "send() returned, any producer); *sent msgs/s*: `sent` seen / (first send → last `sent` seen, any "
          "producer; CLOCK_REALTIME across processes); percentiles over every message. */ floor (b')*: sent msgs/s divided by "
          "the "
       << mib(static_cast<double>(c.group_bytes))
       << " batch floor in 144 B journal records/s, per round, median (issue 15's `group` target is ≥ 0.5×). "
          "*failures*: sends that returned neither sent nor outbox, `sent` never seen, other errors.\n\n";
    md << "| policy | shape | N | rounds | send() msgs/s | sent msgs/s | range | send→sent p50 µs | p99 µs | / floor "
          "(b') | ring drops | flush_log() needed | preempted | failures |\n";
    md << "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n";
    const std::vector<Synced> big = pick(F, &FloorRound::group);
    const double records_per_batch = static_cast<double>(c.group_bytes) / static_cast<double>(journal_record_bytes);
    for (const ProducersCase& p : res.producers) {
      std::vector<AggRound> v;
      std::vector<double> ratio;
      std::string failures;
      for (std::size_t i = 0; i < p.rounds.size(); ++i) {
        const AggRound& r = p.rounds[i];
        if (!r.error.empty()) failures += (failures.empty() ? "round " : "; round ") + std::to_string(i + 1) + ": " + r.error;
        if (r.messages == 0) continue;
        v.push_back(r);
        if (i < big.size() && big[i].ops > 0) ratio.push_back(r.sent_per_s / (big[i].ops * records_per_batch));
      }
      md << "| " << courier::sync_name(p.sync) << " | " << shape_name(p.shape) << " | " << p.n << " | " << v.size()
         << " of " << p.rounds.size() << " | " << num(med(v, &AggRound::send_per_s)) << " | "
         << num(med(v, &AggRound::sent_per_s)) << " | " << spread(v, &AggRound::sent_per_s) << " | "
         << fix(med(v, &AggRound::p50_us)) << " | " << fix(med(v, &AggRound::p99_us)) << " | "
         << (ratio.empty() ? std::string("–") : fix(cbench::median(ratio), 2) + "×") << " | "
         << num(med(v, &AggRound::dropped)) << " | " << num(med(v, &AggRound::flush_forced)) << " of " << p.n
         << " | " << num(med(v, &AggRound::preempted)) << " | " << (failures.empty() ? "none" : failures) << " |\n";
    }
    md << "\n";
  }

  const RecoveryPart& R = res.recovery;
  if (R.ran) {
    md << "### Recovery and memory (" << num(static_cast<double>(c.records)) << " records, Sync::os, expiry 1 h, "
       << c.lanes << " lane(s) of " << mib(static_cast<double>(c.lane_capacity)) << ")\n\n";
    if (!R.error.empty()) {
      md << "failed: " << R.error << "\n\n";
    } else {
      const StoreResult& s = R.store;
      md << "- producer: " << num(s.records) << " sends in " << fix(s.seconds, 2) << " s (" << num(s.per_s)
         << " msgs/s, flush_log() included); send() returned: ";
      for (unsigned k = 0; k < courier::status_count; ++k)
        if (s.returned[k] > 0) md << courier::status_name(static_cast<Status>(k)) << " " << num(s.returned[k]) << "; ";
      md << "`sent` events " << num(s.events) << "\n";
      const double full = s.returned[static_cast<unsigned>(Status::full)];
      md << "- stored: " << num(s.waiting) << " waiting in the destination's " << c.lanes << " lane(s)"
         << (full > 0 ? "; **" + num(full) +
                            " sends returned `full`: not stored (the lane was full and nothing spilled "
                            "to the log)**"
             : s.records > s.waiting ? "; the rest only in the log (spilled)"
                                     : "")
         << "; log " << mib(s.log_bytes) << " in " << num(s.log_files) << " file(s); tracker " << num(s.tracker_used)
         << " of " << num(s.tracker_capacity) << " entries used\n";
      md << "- RSS of the producer with them stored: " << rss_text(s.rss) << "; ru_maxrss "
         << mib(static_cast<double>(R.store_maxrss) * 1024) << "\n";
      md << "- RSS of another process that opens the bus and an endpoint: "
         << (R.attach.error[0] != '\0' ? std::string("failed: ") + R.attach.error : rss_text(R.attach.rss)) << "\n";
      md << "- the tracker lives in the bus's **shared memory** (/dev/shm), not in any process's heap: "
         << num(s.tracker_capacity) << " entries x 72 B = " << mib(s.tracker_bytes) << " of a " << mib(s.segment_bytes)
         << " segment (lanes are sparse: only pages written count). Its touched pages show as *shmem* in the RSS of "
            "each process that touches them (and count once in the machine's memory, in /dev/shm).\n\n";
      md << "| recovery (Bus::open after Bus::remove) | records/s | records | MB/s | recovery s | load s | put back s "
            "| open() s | segments | owed | injected | left in log | expired | damaged | torn | peak RSS (ru_maxrss) | "
            "RSS after open |\n";
      md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
      auto row = [&](const std::string& label, const RecoverResult& r, long maxrss) {
        if (r.error[0] != '\0') {
          md << "| " << label << " | failed: " << r.error << " | | | | | | | | | | | | | | | |\n";
          return;
        }
        const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
        md << "| " << label << " | " << num(r.per_s) << " | " << num(d(r.n.records)) << " | "
           << fix(d(r.n.bytes) / d(r.n.elapsed_ns) * 1e3) << " | " << fix(d(r.n.elapsed_ns) / 1e9, 2) << " | "
           << fix(d(r.n.load_ns) / 1e9, 2) << " | " << fix(d(r.n.put_back_ns) / 1e9, 2) << " | " << fix(r.open_s, 2)
           << " | " << num(d(r.n.segments)) << " | " << num(d(r.n.owed)) << " | " << num(d(r.n.injected)) << " | "
           << num(d(r.n.left)) << " | " << num(d(r.n.expired)) << " | " << num(d(r.n.damaged)) << " | "
           << num(d(r.n.torn)) << " | " << mib(static_cast<double>(maxrss) * 1024) << " | " << rss_text(r.rss)
           << " |\n";
      };
      for (std::size_t k = 0; k < R.warm.size(); ++k)
        row("page cache warm, round " + std::to_string(k + 1), R.warm[k], R.warm_maxrss[k]);
      if (R.cold_ran) row("log evicted from the page cache first", R.cold, R.cold_maxrss);
      md << "\n";
      md << "- load s: the reads that count and track the messages (the tracker populated first); put back s: the read "
            "that puts back what is owed (the rest of the lanes populated first); the remainder of recovery s: "
            "groups, totals, ids (RecoveryReport::load_ns, put_back_ns)\n";
      if (!R.raw_error.empty())
        md << "- raw journal read: failed: " << R.raw_error << "\n";
      else if (R.raw_read_per_s > 0)
        md << "- **raw journal read** of the same log (JournalReader alone: each file read whole, every CRC checked, "
              "as bench_journal's BM_Journal_Read; page cache warm, median of 3): **"
           << num(R.raw_read_per_s) << " records/s** (" << num(static_cast<double>(R.raw_records)) << " records)\n";
      md << "\n";
      const MemoryFloor& m = R.memory;
      if (m.error[0] != '\0') {
        md << "- memory floor (d): failed: " << m.error << "\n\n";
      } else if (m.bytes > 0) {
        md << "- **memory floor (d)** of this recovery: a fresh shared-memory object the size of the recovering "
              "bus's tracker ("
           << mib(m.bytes) << ") populated and each page read once on two threads, as recovery does, in "
           << fix(m.populate_s, 2) << " s (" << fix(m.populate_s * 1e6 / (m.bytes / 4096), 2)
           << " µs per 4 KiB page, the best window's run); " << num(m.writes)
           << " random 64 B line writes into it, one per record (each window in an object of its own, populated "
              "anew), N lines at a time (their prefetches together, then their writes):";
        for (std::size_t k = 0; k < std::size(MemoryFloor::windows); ++k)
          md << (k ? "," : "") << " " << num(m.writes_per_s[k]) << "/s with N = " << MemoryFloor::windows[k];
        md << ". A recovery that did nothing but populate and one such write per record: **"
           << num(m.records_per_s) << " records/s**.\n\n";
      }
    }
  }

  // Targets.
  std::vector<Target> t;
  auto find_bus = [&](Sync s) -> std::vector<BusRound> {
    for (const auto& [k, v] : res.bus)
      if (k == s) return good_rounds(v);
    return {};
  };
  const std::vector<BusRound> always = find_bus(Sync::always), group = find_bus(Sync::group), os = find_bus(Sync::os);
  if (!always.empty() && !F.empty()) {
    const std::vector<Synced> ref = pick(F, &FloorRound::one_ref);
    const double q = paired(always, &BusRound::per_msg_us, ref, &Synced::mean_us);
    unsigned moved = 0;
    for (const FloorRound& f : F) moved += f.moved > 1.5 || (f.moved > 0 && f.moved < 1 / 1.5);
    const std::string note = moved == 0 ? ""
                                        : "; in " + std::to_string(moved) + " of " + std::to_string(F.size()) +
                                              " rounds floor (a) moved more than 1.5x between the runs around it";
    t.push_back({"`always`: time per message / floor (a) time per op (1 / throughput)", "≤ 1.20×", fix(q, 2) + "×",
                 "per round: (send() loop time / messages) / (floor (a) time / ops, geometric mean of the (a) runs "
                 "just before and after it), median of rounds" +
                     note,
                 q <= 1.2 ? 1 : 0});
    const double q50 = paired(always, &BusRound::p50_us, ref, &Synced::p50_us);
    t.push_back({"`always`: send→sent p50 / floor (a) p50", "(shown)", fix(q50, 2) + "×",
                 "per round, the same floor, median", -1});
  }
  if (!group.empty()) {
    const double r = med(group, &BusRound::sent_per_s);
    t.push_back({"`group`: 64 B messages/s from one producer (to `sent`)", "≥ 2,000,000", num(r),
                 "sent msgs/s (first send → last `sent`), median of rounds; send() alone: " +
                     num(med(group, &BusRound::send_per_s)),
                 r >= 2e6 ? 1 : 0});
    const double p = med(group, &BusRound::p50_us);
    t.push_back({"`group`: p50 send → `sent`", "< 1,500 µs", fix(p) + " µs",
                 "as seen by the producer (status ring drained every " + std::to_string(c.poll_every) +
                     " sends); by the event's stamp: " + fix(med(group, &BusRound::stamp_p50_us)) + " µs",
                 p < 1500 ? 1 : 0});
    if (!F.empty()) {
      const std::vector<Synced> one = pick(F, &FloorRound::one), big = pick(F, &FloorRound::group);
      const double q50 = paired(group, &BusRound::p50_us, one, &Synced::p50_us);
      t.push_back({"`group`: p50 send → `sent` / floor (a) p50 (one record + fdatasync; issue 15)", "≤ 5.00×",
                   fix(q50, 2) + "×",
                   "per round, median; floor (a) p50 " + fix(med(one, &Synced::p50_us)) + " µs, floor (b') p50 " +
                       fix(med(big, &Synced::p50_us)) + " µs",
                   q50 <= 5 ? 1 : 0});
      // Floor (b') in journal records/s: its batches' ops/s x the records a batch holds.
      std::vector<Synced> big_records = big;
      for (Synced& s : big_records) s.ops *= static_cast<double>(c.group_bytes) / journal_record_bytes;
      const double qb = paired(group, &BusRound::sent_per_s, big_records, &Synced::ops);
      t.push_back({"`group`: sent msgs/s / floor (b') as 144 B journal records/s (issue 15)", "≥ 0.50×",
                   fix(qb, 2) + "×",
                   "per round, median; floor (b'): one write() + fdatasync() of group_commit_bytes, " +
                       num(med(big_records, &Synced::ops)) + " records/s (median of rounds)",
                   qb >= 0.5 ? 1 : 0});
    }
  }
  if (!F.empty()) {
    const double n = med(F, &FloorRound::naive_per_s);
    t.push_back({"naive write() per record (floor c), for comparison", "≈ 500,000/s (the issue's figure)",
                 num(n) + "/s", "median of rounds", -1});
    if (!group.empty())
      t.push_back({"`group` sent msgs/s / naive write() per record", "(shown)",
                   fix(paired(group, &BusRound::sent_per_s, F, &FloorRound::naive_per_s), 2) + "×", "per round, median",
                   -1});
    if (!os.empty())
      t.push_back({"`os` sent msgs/s / naive write() per record", "(shown)",
                   fix(paired(os, &BusRound::sent_per_s, F, &FloorRound::naive_per_s), 2) + "×", "per round, median",
                   -1});
  }
  if (R.ran && R.error.empty()) {
    std::vector<RecoverResult> ok;
    for (const RecoverResult& r : R.warm)
      if (r.error[0] == '\0') ok.push_back(r);
    if (!ok.empty()) {
      const double v = med(ok, &RecoverResult::per_s);
      const double recs = static_cast<double>(ok.front().n.records);
      const std::string scope = recs >= 1e7 ? "" : " (" + num(recs) + " records in the log, not 10 M)";
      t.push_back({"recovery of 10 M records: records/s" + scope, "≥ 2,000,000", num(v),
                   "RecoveryReport records / elapsed_ns, page cache warm, median of " + std::to_string(ok.size()) +
                       (R.cold_ran && R.cold.error[0] == '\0' ? "; log evicted first: " + num(R.cold.per_s) : ""),
                   v >= 2e6 ? 1 : 0});
      t.push_back({"recovery: records/s (issue 15)" + scope, "≥ 3,000,000", num(v),
                   "as the row above; issue 15's target, page cache warm", v >= 3e6 ? 1 : 0});
      if (R.raw_error.empty() && R.raw_read_per_s > 0)
        t.push_back({"recovery records/s / raw journal read records/s (issue 15)" + scope, "≥ 0.15×",
                     fix(v / R.raw_read_per_s, 3) + "×",
                     "median recovery rate above / JournalReader alone over the same log (" + num(R.raw_read_per_s) +
                         "/s), page cache warm",
                     v / R.raw_read_per_s >= 0.15 ? 1 : 0});
      if (R.memory.error[0] == '\0' && R.memory.records_per_s > 0)
        t.push_back({"recovery records/s / memory floor (d) records/s", "(shown)", fix(v / R.memory.records_per_s, 2) + "×",
                     "floor (d): populate + one random line write per record (" + num(R.memory.records_per_s) +
                         "/s); a recovery cannot pass it",
                     -1});
    }
  }
  if (!t.empty()) {
    md << "### Targets (issues 4 and 15; ratios against the floors of this run, never asserted)\n\n";
    md << "| target | limit | measured | result | how |\n|---|---|---:|---|---|\n";
    for (const Target& x : t)
      md << "| " << x.what << " | " << x.limit << " | " << x.measured << " | " << met_text(x.met) << " | " << x.how
         << " |\n";
    md << "\n";
  }
  return md.str();
}

}  // namespace blog
