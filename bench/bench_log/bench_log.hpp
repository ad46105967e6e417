// bench/bench_log/bench_log.hpp — what the parts of bench_log share: the
// configuration, the results of each part (trivially copyable where a child
// process sends them back), small formatting tools. The program is described
// in main.cpp; its harness (children, cleanup, percentiles, the machine line)
// is the bench_harness library it shares with courier-bench.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "courier/bus.hpp"
#include "courier_bench/stats.hpp"
#include "courier_bench/timer.hpp"

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace blog {

using namespace std::chrono_literals;
using courier::Status;
using courier::Sync;

constexpr std::size_t payload_size = 64;
constexpr std::size_t batch_bytes = 64 * 1024;

// ------------------------------------------------------------ configuration
struct Config {
  bool quick = false;
  std::string dir_parent = "/var/tmp";
  std::string results_dir = COURIER_BENCH_RESULTS_DIR;
  bool save = true;
  unsigned rounds = 5;
  unsigned recovery_rounds = 3;
  bool cold = true;
  std::vector<Sync> policies{Sync::always, Sync::group, Sync::os};
  std::vector<std::string> only{"floors", "journal", "bus", "recovery"};
  std::vector<unsigned> producers{1, 2, 4};  // producers part: N producer threads / processes
  std::uint64_t sync_ops = 3000;         // floor (a) ops per round (or cap_s)
  std::uint64_t batch_ops = 300;         // floor (b)
  std::uint64_t naive_writes = 1000000;  // floor (c)
  std::uint64_t journal_records = 2000000;
  std::uint64_t journal_sync_records = 200000;
  std::uint64_t messages = 1000000;  // group / os messages per round
  std::uint64_t always_messages = 3000;
  std::uint64_t records = 10000000;  // recovery
  double cap_s = 3.0;                // a synced part of a round stops after this long
  std::uint64_t lane_capacity = 256ull << 20;
  std::chrono::microseconds interval = courier::defaults::group_commit_interval;
  std::uint64_t group_bytes = 1u << 20;
  std::uint64_t poll_every = 256;
  std::uint64_t status_ring = 0;  // Options::status_capacity of every bus; 0: status_ring_for() (--status-ring)
  std::uint64_t lone_gap_us = 0;  // lone part: pause between a message's `sent` and the next send()
  int log_cpu = -1;       // every bus the run opens: Options::log_cpus = {log_cpu} (-1: not pinned)
  int producer_cpu = -1;  // bus and lone parts: the producer thread pinned there (-1: not pinned)
  bool prefault = true;  // bus part: populate the pages a run writes before it starts (a bus in steady state)
  unsigned lanes = 1;    // recovery part: priority lanes the records are spread over (1: what does not fit spills)
  // filled in main
  std::string dir;      // our mkdtemp directory
  std::string log_dir;  // dir/logs
  bool runs(const char* part) const { return std::find(only.begin(), only.end(), part) != only.end(); }
};

// ------------------------------------------------------------ small tools
inline std::uint64_t now_ns() noexcept { return cbench::mono_ns(); }
// CLOCK_REALTIME, the clock of StatusEvent::time_ns.
inline std::uint64_t real_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// The send() loop's per-message stamps (bus.cpp): the CPU's time-stamp
// counter where there is one, mapped onto CLOCK_REALTIME after the loop.
// clock_gettime() per send was ~9 % of a `group` send's time here (its
// fenced counter read and conversion; bench/results/2026-12-07-log-s29.md).
inline std::uint64_t stamp_now() noexcept {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  return real_ns();
#endif
}

std::string num(double v);  // 1234567.8 -> "1,234,568"
std::string fix(double v, int prec = 1);
std::string mib(double bytes);

// The median of a field over rounds (rounds where it is not a number are left out).
template <class R>
double med(const std::vector<R>& v, double R::*f) {
  std::vector<double> x;
  for (const R& r : v)
    if (std::isfinite(r.*f)) x.push_back(r.*f);
  return x.empty() ? NAN : cbench::median(std::move(x));
}
// "lo–hi" over rounds, "" with one round.
template <class R>
std::string spread(const std::vector<R>& v, double R::*f, int prec = 0) {
  if (v.size() < 2) return "";
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const R& r : v)
    if (std::isfinite(r.*f)) lo = std::min(lo, r.*f), hi = std::max(hi, r.*f);
  if (lo > hi) return "";
  return prec == 0 ? num(lo) + "–" + num(hi) : fix(lo, prec) + "–" + fix(hi, prec);
}

[[noreturn]] void die(const std::string& what);
inline void set_error(char (&dst)[256], const std::string& what) { std::snprintf(dst, sizeof dst, "%s", what.c_str()); }

// The process's memory as /proc/self/status says (kB): VmHWM, VmRSS and its parts.
struct Rss {
  double hwm = 0, rss = 0, anon = 0, file = 0, shmem = 0;
};
Rss read_rss();
std::string rss_text(const Rss& r);

// ------------------------------------------------------------ floors (floors.cpp)
// One kind of synced write over a round.
struct Synced {
  double ops = 0, mean_us = 0, p50_us = 0, p99_us = 0;  // ops/s, time per op (elapsed / ops), percentiles
};

struct FloorRound {
  Synced one;              // (a) one 64 B record, at the start of the round
  Synced one_after;        // (a) again right after the `always` run (ops == 0: not measured)
  Synced one_ref;          // what `always` is compared with: the geometric mean of the two (a) runs around it
  Synced batch;            // (b) 64 KiB
  Synced batch_allocated;  // (b) into fallocate'd space, as the log's journal files are
  Synced batch_written;    // (b) over blocks written before (no allocation to record)
  Synced group;            // (b') group_commit_bytes, the most a group-commit batch writes before its sync
  double naive_per_s = 0;  // (c)
  double moved = 0;        // (a) after / before, time per op: the disk changed during the `always` run when far from 1
};

Synced floor_one(const Config& c, unsigned round);
// The floors after (a): (b), (b'), (c); and the reference for `always`.
void run_floors(const Config& c, unsigned round, FloorRound& f);
std::vector<Synced> pick(const std::vector<FloorRound>& f, Synced FloorRound::*k);

// ------------------------------------------------------------ JournalWriter alone (journal.cpp)
struct JournalRound {
  double encode = 0, append = 0, flush64 = 0, sync64 = 0;  // records/s
};
JournalRound run_journal(const Config& c, unsigned round);

// ------------------------------------------------------------ the bus with a log (bus.cpp)
// What one bus run reports (through the pipe: trivially copyable).
struct BusRound {
  char error[256];
  double messages = 0;
  double send_per_s = 0;  // messages / the send() loop
  double sent_per_s = 0;  // messages that became sent / (first send -> the last `sent` seen)
  double per_msg_us = 0;  // the send() loop / messages
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;  // send() -> `sent` seen by the producer
  double stamp_p50_us = 0, stamp_p99_us = 0;    // send() -> the event's own time stamp (group / os)
  double returned[courier::status_count] = {};  // send() results by status
  double events = 0;                            // `sent` events matched to a send
  double other_events = 0;                      // other events, or ids not ours
  double missing = 0;                           // returned outbox, no `sent` event seen in the end
  double missing_sent = 0;                      // of those, the tracker says sent (the event was lost)
  double dropped = 0;                           // the endpoint's status_dropped counter
  double flush_forced = 0;                      // 1 when flush_log() had to be called to finish
  double tracker_full = 0;
  double preempted = 0;  // involuntary context switches of the child (both threads): noise
  // The flusher's batches during the run (detail::log_thread_counts): how many,
  // and per batch the mean time from its start to the end of its write and
  // sync, and from there to the end of its events.
  double batches = 0, batch_write_sync_us = 0, batch_post_us = 0;
};
static_assert(std::is_trivially_copyable_v<BusRound>);

// endpoints: Options::max_endpoints ("dst" and the senders).
// Options::status_capacity of every bus the run opens (bus.cpp).
std::uint64_t status_ring_for(const Config& c);
courier::Options bus_options(const Config& c, Sync sync, std::uint64_t messages, unsigned endpoints = 2);
std::string next_bus_name();
// Protect the bus's shared memory against signals while a child uses it.
void set_current_bus(const std::string& name);
void remove_bus(const Config& c, const std::string& name);
// lone: each message sent only once the last one is `sent` (Config::always_messages of them, or cap_s):
// the latency of a message that finds the log idle.
BusRound run_bus(const Config& c, Sync sync, bool lone = false);

// A bus with the endpoint "dst" (no receiver) and a sender "src" addressed to it.
struct Producer {
  std::optional<courier::Bus> bus;
  std::optional<courier::Endpoint> ep;
  courier::Destination to;
};
// src: the sender's name (the producers part opens src0, src1, ...).
bool open_producer(const std::string& name, const courier::Options& o, Producer& p, char (&error)[256],
                   const std::string& src = "src");
// Populate the pages of lane_messages messages in the destination's lane and
// of ring_messages events in ep's status ring (Config::prefault).
void prefault(courier::Bus& bus, const courier::Endpoint& ep, const courier::Destination& to,
              std::uint64_t lane_messages, std::uint64_t ring_messages);

// One producer's sends (bus.cpp; the bus and producers parts): ids 1..n from
// ep to `to`, the status ring drained every Config::poll_every sends, then a
// wait for every `sent` (by itself, then with flush_log()). Times are
// CLOCK_REALTIME (comparable across processes); index id - 1.
struct ProducerRun {
  std::vector<std::uint64_t> t_send, t_sent, t_stamp;  // t_sent / t_stamp 0: no `sent` seen
  std::vector<Status> returned;
  std::uint64_t by_status[courier::status_count] = {};
  std::uint64_t count = 0;  // messages sent (always: stops at Config::cap_s)
  std::uint64_t awaited = 0, seen = 0, other = 0, sent_now = 0;
  std::uint64_t loop0 = 0, loop1 = 0;  // the send() loop, CLOCK_MONOTONIC
  std::uint64_t real0 = 0, real1 = 0;  // the same, CLOCK_REALTIME
  bool flush_forced = false;           // flush_log() was needed to finish
  std::uint64_t missing = 0;           // returned outbox, no `sent` seen in the end (count_missing)
  std::uint64_t missing_sent = 0;      // of the first 10,000 of those, the tracker says sent (the event was lost)
};
// error: set when flush_log() fails. lone: after each send() that returned outbox, drain the status ring
// until its `sent` is seen (the next send() waits for it; at most 1 s each).
void produce(const Config& c, Sync sync, courier::Bus& bus, courier::Endpoint& ep, const courier::Destination& to,
             std::uint64_t n, ProducerRun& r, char (&error)[256], bool lone = false);
void count_missing(const courier::Endpoint& ep, ProducerRun& r);
const courier::EndpointStats* stats_of(const courier::BusStats& s, const std::string& name);
std::string returned_text(const BusRound& r);

// ------------------------------------------------------------ several producers (producers.cpp)
enum class Shape : std::uint8_t { threads, processes };  // N threads of one process (one Bus) / N processes
const char* shape_name(Shape s);

// What one (policy, shape, N) run reports: totals over its producers.
struct AggRound {
  std::string error;          // every failure, joined ("" when none)
  double producers = 0;       // N
  double messages = 0;        // sent by all (messages / N each)
  double send_per_s = 0;      // messages / (first send() started -> last send() returned), all producers
  double sent_per_s = 0;      // `sent` seen / (first send -> last `sent` seen), all producers
  double p50_us = 0, p99_us = 0;  // send() -> `sent` seen, over every message
  double failed_sends = 0;    // send() returned neither sent nor outbox
  double missing = 0;         // returned outbox, no `sent` seen in the end
  double missing_sent = 0;    // of those asked, the tracker says sent
  double dropped = 0;         // status_dropped, all senders
  double flush_forced = 0;    // producers that needed flush_log() to finish
  double preempted = 0;       // involuntary context switches of the run's processes
};
struct ProducersCase {
  Sync sync;
  Shape shape;
  unsigned n;
  std::vector<AggRound> rounds;
};
AggRound run_producers(const Config& c, Sync sync, Shape shape, unsigned n);

// ------------------------------------------------------------ recovery and RSS (recovery.cpp)
struct StoreResult {
  char error[256];
  double records = 0, seconds = 0, per_s = 0;
  double returned[courier::status_count] = {};
  double events = 0;
  Rss rss;             // after the sends, before anything walks the tracker
  double waiting = 0;  // in the destination's lanes
  double tracker_used = 0, tracker_capacity = 0, tracker_bytes = 0, segment_bytes = 0;
  double log_bytes = 0, log_files = 0;
};
struct AttachResult {
  char error[256];
  Rss rss;
};
struct RecoverResult {
  char error[256];
  double open_s = 0;
  struct {  // RecoveryReport's counters
    std::uint64_t segments, bytes, records, messages, owed, injected, left, expired, damaged, torn, tracker_full,
        elapsed_ns, load_ns, put_back_ns;
  } n{};
  double per_s = 0;
  Rss rss;
};

// The memory floor of a recovery (floor (d), recovery.cpp): in a fresh
// shared-memory object the size of the recovering bus's tracker, the time to
// populate its pages and read each once on two threads (as recovery does:
// detail::populate_and_map) and the rate of random 64-byte line writes into
// it, one per record, 1, 16 and 32 lines at a time (their prefetches issued
// together, then their writes): what one tracker insert per record costs at
// the least on this machine, with nothing else done. Each window in an object
// of its own, populated anew.
struct MemoryFloor {
  static constexpr unsigned windows[3] = {1, 16, 32};
  char error[256];
  double bytes = 0, writes = 0;
  double writes_per_s[3] = {};  // per window, each into a fresh object
  // The best window's: writes / (its population + its writes), a recovery that
  // did only this; and that window's population time and write rate.
  double records_per_s = 0, populate_s = 0, best_per_s = 0;
};

struct RecoveryPart {
  bool ran = false;
  MemoryFloor memory{};
  std::string error;
  StoreResult store{};
  long store_maxrss = 0;
  AttachResult attach{};
  std::vector<RecoverResult> warm;
  std::vector<long> warm_maxrss;
  RecoverResult cold{};
  long cold_maxrss = 0;
  bool cold_ran = false;
  // JournalReader alone over the same log, page cache warm (journal_rates::read_rate): the
  // raw read rate issue 15 compares the recovery with.
  double raw_read_per_s = 0;
  std::uint64_t raw_records = 0;
  std::string raw_error;
};

RecoveryPart run_recovery(const Config& c);

// ------------------------------------------------------------ the report (report.cpp)
struct Results {
  std::vector<FloorRound> floors;
  std::vector<JournalRound> journal;
  std::vector<std::pair<Sync, std::vector<BusRound>>> bus;
  std::vector<std::pair<Sync, std::vector<BusRound>>> lone;  // run_bus(..., lone = true), group and os
  std::vector<ProducersCase> producers;
  RecoveryPart recovery;
};

std::string render(const Config& c, const Results& res, const std::string& machine, const std::string& filesystem,
                   const std::string& started);

}  // namespace blog
