// bench/bench_lane.cpp — micro-benchmarks of the lane and of the bus in one
// process (Google Benchmark).
//
//   BM_Lane_ClaimCommitRelease/P   one thread: claim + write P bytes + commit,
//                                  then peek + release (the whole record life)
//   BM_Lane_ClaimCommit/threads:N  N producer threads claim + commit into one
//                                  lane in private memory while a consumer
//                                  thread drains it (contended tail CAS)
//   BM_Lane_Receive/lanes:K        receive cost when the waiting messages are
//                                  spread over K of the 16 lanes (1 vs 16),
//                                  via the Bus: one Endpoint, one Receiver
//   BM_Bus_SendReceive/P           send + try_receive of P bytes, one thread
//
// The machine has few cores: with N producers + 1 consumer > cores the
// threads time-share and the figures say so.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "courier_bench/spin.hpp"

namespace {

using courier::ClaimResult;
using courier::LaneClaim;
using courier::LaneData;
using courier::LaneReader;
using courier::LaneRecord;
using courier::LaneView;
using courier::LaneWriter;

constexpr std::uint64_t lane_bytes = 1 << 20;

// ------------------------------------------------------------ a lane in private memory
struct PrivateLane {
  void* mem = nullptr;
  LaneView view{};
  PrivateLane() {
    const std::size_t size =
        (sizeof(LaneData) + lane_bytes + 4095) & ~std::size_t(4095);  // a multiple of the alignment
    mem = std::aligned_alloc(4096, size);
    if (mem == nullptr) std::abort();
    std::memset(mem, 0, size);
    view = LaneView::over(static_cast<std::byte*>(mem), lane_bytes);
  }
  ~PrivateLane() { std::free(mem); }
  PrivateLane(const PrivateLane&) = delete;
  PrivateLane& operator=(const PrivateLane&) = delete;
};

void BM_Lane_ClaimCommitRelease(benchmark::State& state) {
  PrivateLane lane;
  LaneWriter w(lane.view);
  LaneReader r(lane.view, 200'000'000ull);
  const std::size_t payload = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> msg(payload, std::byte{0x5a});
  const std::uint64_t bytes = courier::record_bytes(payload);
  for (auto _ : state) {
    LaneClaim c;
    if (w.try_claim(bytes, c) != ClaimResult::ok) {
      state.SkipWithError("claim failed on an empty lane");
      break;
    }
    c.header->payload_len = static_cast<std::uint32_t>(payload);
    c.header->priority = 0;
    std::memcpy(c.payload(), msg.data(), payload);
    if (!w.commit(c)) {
      state.SkipWithError("commit failed");
      break;
    }
    LaneRecord rec = r.peek();
    benchmark::DoNotOptimize(rec.header);
    r.release(rec);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload));
}
BENCHMARK(BM_Lane_ClaimCommitRelease)->Arg(16)->Arg(64)->Arg(1024);

// N producers + one draining consumer thread (started in Setup, stopped in Teardown).
PrivateLane* g_lane = nullptr;
std::thread g_consumer;
std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_consumed{0};

void start_consumer(const benchmark::State&) {
  g_lane = new PrivateLane();
  g_stop.store(false);
  g_consumed.store(0);
  g_consumer = std::thread([] {
    LaneReader r(g_lane->view, 200'000'000ull);
    std::uint64_t n = 0;
    // Acquire: pairs with stop_consumer's release store.
    while (!g_stop.load(std::memory_order_acquire)) {
      if (LaneRecord rec = r.peek()) {
        r.release(rec);
        ++n;
      } else {
        cbench::cpu_relax();
      }
    }
    g_consumed.store(n, std::memory_order_relaxed);  // relaxed: read after join
  });
}
void stop_consumer(const benchmark::State&) {
  g_stop.store(true, std::memory_order_release);  // release: partner of the consumer's acquire load
  g_consumer.join();
  delete g_lane;
  g_lane = nullptr;
}

void BM_Lane_ClaimCommit(benchmark::State& state) {
  LaneWriter w(g_lane->view);  // one writer per thread, as one per process
  constexpr std::size_t payload = 64;
  std::byte msg[payload] = {};
  const std::uint64_t bytes = courier::record_bytes(payload);
  std::uint64_t full = 0;
  for (auto _ : state) {
    LaneClaim c;
    ClaimResult cr;
    while ((cr = w.try_claim(bytes, c)) == ClaimResult::full) {
      ++full;
      cbench::cpu_relax();
    }
    if (cr != ClaimResult::ok) {
      state.SkipWithError("claim failed");
      break;
    }
    c.header->payload_len = payload;
    c.header->priority = 0;
    std::memcpy(c.payload(), msg, payload);
    if (!w.commit(c)) {
      state.SkipWithError("commit revoked");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["full_retries"] = benchmark::Counter(static_cast<double>(full), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_Lane_ClaimCommit)->Setup(start_consumer)->Teardown(stop_consumer)->DenseThreadRange(1, 4)->UseRealTime();

// ------------------------------------------------------------ the bus in one process
// bench_support::program_bus(): "dst" attached, "src" sending to it.

void BM_Lane_Receive(benchmark::State& state) {
  bench_support::ProgramBus* const b = bench_support::program_bus(state);
  if (b == nullptr) return;
  const unsigned lanes = static_cast<unsigned>(state.range(0));
  constexpr unsigned total = 1024;  // messages waiting per iteration, spread evenly over `lanes`
  const unsigned per_lane = total / lanes;
  std::byte msg[64] = {};
  courier::SendOptions so;
  so.to = b->to;
  for (auto _ : state) {
    // Fill (not timed): the highest-priority lanes first, `per_lane` each.
    for (unsigned p = 0; p < lanes; ++p) {
      so.priority = static_cast<std::uint8_t>(lanes == 1 ? courier::default_priority : p);
      for (unsigned i = 0; i < per_lane; ++i)
        if (!b->tx->send(so, std::span<const std::byte>(msg, sizeof msg))) {
          state.SkipWithError("send failed");
          return;
        }
    }
    // Drain (timed).
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < total; ++i) {
      auto m = b->rx->try_receive();
      if (!m) {
        state.SkipWithError("message missing");
        return;
      }
      benchmark::DoNotOptimize(m->payload().data());
    }
    const auto t1 = std::chrono::steady_clock::now();
    b->rx->release();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * total);
}
BENCHMARK(BM_Lane_Receive)->ArgName("lanes")->Arg(1)->Arg(16)->UseManualTime();

void BM_Bus_SendReceive(benchmark::State& state) {
  bench_support::ProgramBus* const b = bench_support::program_bus(state);
  if (b == nullptr) return;
  const std::size_t payload = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> msg(payload, std::byte{0x42});
  courier::SendOptions so;
  so.to = b->to;
  so.priority = courier::default_priority;
  for (auto _ : state) {
    if (!b->tx->send(so, std::span<const std::byte>(msg))) {
      state.SkipWithError("send failed");
      return;
    }
    auto m = b->rx->try_receive();
    if (!m) {
      state.SkipWithError("message missing");
      return;
    }
    benchmark::DoNotOptimize(m->payload().data());
  }
  b->rx->release();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload));
}
BENCHMARK(BM_Bus_SendReceive)->Arg(16)->Arg(64)->Arg(1024);

}  // namespace

int main(int argc, char** argv) { return bench_support::run_benchmarks(argc, argv, "bench-lane"); }
