// bench/bench_id.cpp — micro-benchmarks of message identifiers (Google Benchmark).
//
//   BM_Id_Generate/block:B/threads:N  the generator's pattern: every thread
//                                  (as every Endpoint) takes a block of B ids
//                                  with one relaxed fetch_add on a shared
//                                  counter and hands them out one by one.
//                                  Endpoint::next_id is private; this is its
//                                  body on a counter of our own (B = 4096 is
//                                  what Endpoint uses; B = 1 is one shared RMW
//                                  per id, for contrast)
//   BM_Bus_SendTracked             send of 64 B with expiry > 0 and id 0: the
//                                  bus generates the id (checked non-zero) and
//                                  stamps a deadline
//   BM_Bus_SendUntracked           send of 64 B with expiry 0 and id 0:
//                                  fire-and-forget (checked: id stays 0)
//
// The sends are timed in batches of 256 to an attached receiver that drains
// them untimed between batches (manual time), one thread. A tracked send
// inserts a tracker entry that is kept for expiry + retention (40 s), far
// longer than a benchmark sends into a 65,536-entry tracker: between batches
// (untimed, nothing in flight) the tracker is emptied as if every deadline had
// passed whenever the next batch would take it past half full. The sender's
// status events (one `delivered` per tracked message, from the receiver's
// acknowledgement) are drained untimed too. bench_tracker has the tracker's
// own costs.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>

#include "bench_support.hpp"
#include "courier/bus.hpp"

namespace {

// ------------------------------------------------------------ the generator's pattern
struct alignas(64) SharedCounter {
  std::atomic<std::uint64_t> next{1};
};
SharedCounter g_counter;

class BlockIds {
 public:
  explicit BlockIds(std::uint64_t block) : block_(block) {}
  std::uint64_t next() noexcept {
    if (next_ == end_) {
      // Relaxed: uniqueness comes from the RMW itself; nothing else is published (as Endpoint::next_id).
      next_ = g_counter.next.fetch_add(block_, std::memory_order_relaxed);
      end_ = next_ + block_;
    }
    return next_++;
  }

 private:
  std::uint64_t block_;
  std::uint64_t next_ = 0, end_ = 0;
};

void BM_Id_Generate(benchmark::State& state) {
  BlockIds ids(static_cast<std::uint64_t>(state.range(0)));
  std::uint64_t last = 0;
  for (auto _ : state) {
    const std::uint64_t id = ids.next();
    benchmark::DoNotOptimize(id);
    last = id;
  }
  benchmark::DoNotOptimize(last);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Id_Generate)->ArgName("block")->Arg(1)->Arg(4096)->ThreadRange(1, 2)->UseRealTime();

// ------------------------------------------------------------ the bus in one process
// bench_support::program_bus(): "dst" attached, "src" sending to it.
std::uint64_t g_in_tracker = 0;  // entries in that bus's tracker since it was last emptied

void send_batches(benchmark::State& state, std::chrono::nanoseconds expiry) {
  bench_support::ProgramBus* const b = bench_support::program_bus(state);
  if (b == nullptr) return;
  constexpr unsigned batch = 256;  // 256 records of 128 B: an eighth of the lane
  std::byte msg[64] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  courier::SendOptions so;
  so.to = b->to;
  so.expiry = expiry;
  const bool tracked = expiry.count() > 0;
  std::uint64_t last_id = 0;
  for (auto _ : state) {
    if (tracked && g_in_tracker + batch > b->bus->settings().tracker_capacity / 2) {
      bench_support::retire_all(*b->bus);  // untimed: manual time
      g_in_tracker = 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < batch; ++i) {
      const courier::SendResult r = b->tx->send(so, data);
      if (!r) {
        state.SkipWithError("send failed");
        return;
      }
      last_id = r.id;
    }
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (tracked != (last_id != 0)) {
      state.SkipWithError(tracked ? "a tracked send got no id" : "a fire-and-forget send got an id");
      return;
    }
    for (unsigned i = 0; i < batch; ++i)  // drain (not timed)
      if (!b->rx->try_receive()) {
        state.SkipWithError("message missing");
        return;
      }
    b->rx->release();
    if (tracked) {
      g_in_tracker += batch;
      if (auto n = b->tx->poll_status(); !n) {  // the delivered events (not timed)
        state.SkipWithError("poll_status failed");
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ns_per_send"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Bus_SendTracked(benchmark::State& state) { send_batches(state, std::chrono::seconds(30)); }
void BM_Bus_SendUntracked(benchmark::State& state) { send_batches(state, std::chrono::nanoseconds(0)); }
BENCHMARK(BM_Bus_SendTracked)->UseManualTime();
BENCHMARK(BM_Bus_SendUntracked)->UseManualTime();

}  // namespace

int main(int argc, char** argv) { return bench_support::run_benchmarks(argc, argv, "bench-id"); }
