// bench/bench_tracker.cpp — micro-benchmarks of the tracker (duplicate
// detection and statuses of tracked messages) and of what tracking and group
// fan-out cost a send (Google Benchmark, one thread).
//
//   BM_Tracker_Insert/load:L       insert + release of a new key (distinct
//                                  every time) into a Tracker over a private
//                                  buffer of 65,536 entries, L% of them taken
//                                  by other keys beforehand (0, 50, 75)
//   BM_Tracker_Find/load:L         find of a key that is there (a hit), keys
//                                  visited in a scrambled order
//   BM_Tracker_FindMiss/load:L     find of a key that is not there
//   BM_Send_FireAndForget          Endpoint::send of 64 B (expiry 0, id 0) to a
//                                  receiver drained in the same loop
//                                  (try_receive), in-process bus
//                                  (Options::in_process); one send + one
//                                  receive per iteration
//   BM_Send_Tracked                the same with expiry 30 s: the bus makes an
//                                  id, inserts a tracker entry, the receiver
//                                  acknowledges (auto_ack: status delivered),
//                                  two events per send go into the sender's
//                                  status ring (sent, delivered), and the loop
//                                  drains it (poll_status) every 64 sends
//   BM_Send_Group/members:N/tracked:T  one send to a group of N members (1, 4,
//                                  16, 64), each member's receiver drained in
//                                  the same loop; tracked: expiry 30 s (N + 1
//                                  tracker entries per send: each member and
//                                  the group's total; 2 (N + 1) status events
//                                  drained per send). items_processed = N per
//                                  send, so items_per_second is per member and
//                                  the ns_per_member counter is the time of one
//                                  iteration / N; compare with BM_Send_* (one
//                                  member = one send + one receive)
//
// Tracked messages outlive a benchmark: an entry is kept until expiry +
// retention (30 s + 10 s), so a tracker of 65,536 entries takes 1,638 tracked
// messages a second. The send benchmarks empty the tracker (Tracker::sweep at
// the end of time, with nothing in flight) with the timer paused whenever the
// next send would take it past half full.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/tracker.hpp"

namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------ a tracker in private memory
constexpr std::uint64_t capacity = 1u << 16;
constexpr std::uint64_t far_future = ~0ull >> 1;  // deadline of every entry: never retired while measuring

struct PrivateTracker {
  void* mem = nullptr;
  courier::Tracker t;
  PrivateTracker() {
    const std::size_t bytes = sizeof(courier::TrackerHeader) + capacity * 8 + capacity * sizeof(courier::TrackerEntry);
    const std::size_t size = (bytes + 4095) & ~std::size_t(4095);
    mem = std::aligned_alloc(4096, size);
    if (mem == nullptr) std::abort();
    std::memset(mem, 0, size);
    auto* h = static_cast<courier::TrackerHeader*>(mem);
    h->capacity = capacity;
    t = courier::Tracker(h, capacity);
  }
  ~PrivateTracker() { std::free(mem); }
  PrivateTracker(const PrivateTracker&) = delete;
  PrivateTracker& operator=(const PrivateTracker&) = delete;

  courier::Tracker::InsertResult insert(const courier::TrackerKey& k) {
    return t.insert(k, 1, [](courier::TrackerEntry& e) {
      e.dest.store(2, std::memory_order_relaxed);
      e.role.store(courier::tracker_role::endpoint, std::memory_order_relaxed);
      e.status.store(static_cast<std::uint8_t>(courier::Status::sent), std::memory_order_relaxed);
      e.recipients.store(1, std::memory_order_relaxed);
      e.delivered.store(0, std::memory_order_relaxed);
      e.read.store(0, std::memory_order_relaxed);
      e.failed.store(0, std::memory_order_relaxed);
      e.deadline_ns.store(far_future, std::memory_order_relaxed);
      e.expires_ns.store(far_future, std::memory_order_relaxed);
      e.updated_ns.store(1, std::memory_order_relaxed);
    });
  }
  // Fill `load` percent of the table with keys (sender 1, ids 1..n). Returns n.
  std::uint64_t fill(int load) {
    const std::uint64_t n = capacity * static_cast<std::uint64_t>(load) / 100;
    for (std::uint64_t i = 1; i <= n; ++i)
      if (insert({1, i, 0}).result != courier::Tracker::Insert::inserted) return i - 1;
    return n;
  }
};

void BM_Tracker_Insert(benchmark::State& state) {
  PrivateTracker pt;
  const std::uint64_t filled = pt.fill(static_cast<int>(state.range(0)));
  if (filled != capacity * static_cast<std::uint64_t>(state.range(0)) / 100) {
    state.SkipWithError("the table filled up before the requested load");
    return;
  }
  std::uint64_t id = 1;
  for (auto _ : state) {
    const courier::Tracker::InsertResult r = pt.insert({2, id++, 0});  // sender 2: never one of the fill's keys
    if (r.result != courier::Tracker::Insert::inserted) {
      state.SkipWithError(r.result == courier::Tracker::Insert::full ? "tracker full" : "unexpected duplicate");
      return;
    }
    pt.t.release(r.slot);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tracker_Insert)->ArgName("load")->Arg(0)->Arg(25)->Arg(50);

// A scrambled walk over 1..n (an odd multiplier modulo a power of two is a bijection).
struct Walk {
  std::uint64_t n, mask, i = 0;
  explicit Walk(std::uint64_t count) : n(count), mask(1) {
    while (mask < n) mask <<= 1;
    --mask;
  }
  std::uint64_t next() {
    for (;;) {
      const std::uint64_t v = ((i++ * 0x9e3779b97f4a7c15ull) & mask) + 1;
      if (v <= n) return v;
    }
  }
};

void BM_Tracker_Find(benchmark::State& state) {
  PrivateTracker pt;
  const std::uint64_t n = pt.fill(static_cast<int>(state.range(0)));
  if (n == 0) {
    state.SkipWithError("empty table");
    return;
  }
  Walk w(n);
  for (auto _ : state) {
    const std::uint64_t s = pt.t.find({1, w.next(), 0});
    if (s == courier::Tracker::no_slot) {
      state.SkipWithError("a key that was inserted is missing");
      return;
    }
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tracker_Find)->ArgName("load")->Arg(1)->Arg(25)->Arg(50);

void BM_Tracker_FindMiss(benchmark::State& state) {
  PrivateTracker pt;
  (void)pt.fill(static_cast<int>(state.range(0)));
  std::uint64_t id = 1;
  for (auto _ : state) {
    const std::uint64_t s = pt.t.find({3, id++, 0});  // sender 3 has no keys
    if (s != courier::Tracker::no_slot) {
      state.SkipWithError("found a key that was never inserted");
      return;
    }
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tracker_FindMiss)->ArgName("load")->Arg(0)->Arg(25)->Arg(50);

// ------------------------------------------------------------ sends on an in-process bus
// "m12", "g4": built this way because named('m', i) trips a GCC 12 -Wrestrict false positive.
std::string named(char prefix, unsigned i) {
  std::string s = std::to_string(i);
  s.insert(s.begin(), prefix);
  return s;
}

// One in-process bus per benchmark run: "src" sends; "m0".."m63" receive; the
// group "gN" has members m0..m(N-1).
struct SendBus {
  std::optional<courier::Bus> bus;
  std::optional<courier::Endpoint> tx;
  std::vector<courier::Receiver> rx;
  std::uint64_t in_tracker = 0;
  courier::SendOptions so;  // set by start()

  bool open(unsigned members, unsigned group, std::string& err) {
    static unsigned n = 0;
    courier::Options o;
    o.in_process = true;
    o.max_endpoints = members + 1;
    o.lane_capacity = 64 * 1024;
    o.max_payload = 1024;
    o.max_groups = 1;
    o.max_group_members = 64;
    o.status_capacity = 64 * 1024;  // 1,024 events: drained every 64 sends (group: every send)
    auto b = courier::Bus::open("bench-tracker-" + std::to_string(::getpid()) + "-" + std::to_string(++n), o);
    if (!b) {
      err = b.error().message;
      return false;
    }
    bus.emplace(std::move(*b));
    courier::ReceiverOptions ro;  // auto_ack
    ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
    for (unsigned i = 0; i < members; ++i) {
      auto r = bus->attach(named('m', i), ro);
      if (!r) {
        err = r.error().message;
        return false;
      }
      rx.push_back(std::move(*r));
    }
    if (group != 0) {
      const std::string g = named('g', group);
      if (auto id = bus->add_group(g); !id) {
        err = id.error().message;
        return false;
      }
      for (unsigned i = 0; i < group; ++i)
        if (auto r = bus->add_member(g, named('m', i)); !r) {
          err = r.error().message;
          return false;
        }
    }
    auto t = bus->endpoint("src");
    if (!t) {
      err = t.error().message;
      return false;
    }
    tx.emplace(std::move(*t));
    return true;
  }
  // open(), then `so` addressed to m0 (group 0) or to the group gN, tracked
  // (expiry 30 s) or not. false: the benchmark is skipped with the reason.
  bool start(benchmark::State& state, unsigned members, unsigned group, bool tracked) {
    std::string err;
    if (!open(members, group, err)) {
      state.SkipWithError(err.c_str());
      return false;
    }
    auto to = group == 0 ? tx->resolve("m0") : tx->resolve_group(named('g', group));
    if (!to) {
      state.SkipWithError(to.error().message.c_str());
      return false;
    }
    so.to = *to;
    so.expiry = tracked ? std::chrono::nanoseconds(30s) : std::chrono::nanoseconds(0);
    // A sender that polls its statuses follows them from its first poll on
    // (Endpoint::poll_status): the loops count sent + delivered per message.
    if (tracked) {
      if (auto n = tx->poll_status(); !n) {
        state.SkipWithError(n.error().message.c_str());
        return false;
      }
    }
    return true;
  }
  // Empty the tracker (timer paused) if `need` more entries would take it past half full.
  void make_room(benchmark::State& state, std::uint64_t need) {
    if (in_tracker + need <= bus->settings().tracker_capacity / 2) return;
    state.PauseTiming();
    bench_support::retire_all(*bus);
    in_tracker = 0;
    state.ResumeTiming();
  }
};

void send_one_to_one(benchmark::State& state, bool tracked) {
  SendBus b;
  if (!b.start(state, 1, 0, tracked)) return;
  const courier::SendOptions so = b.so;  // the loop's own copy
  std::byte msg[64] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  unsigned since_poll = 0;
  for (auto _ : state) {
    if (tracked) b.make_room(state, 1);
    const courier::SendResult r = b.tx->send(so, data);
    if (!r || (r.id != 0) != tracked) {
      state.SkipWithError(!r ? "send failed" : "wrong id for the kind of send");
      return;
    }
    if (!b.rx[0].try_receive()) {
      state.SkipWithError("message missing");
      return;
    }
    if (tracked) {
      ++b.in_tracker;
      if (++since_poll == 64) {
        since_poll = 0;
        auto n = b.tx->poll_status();  // sent + delivered per send
        if (!n || *n != 2 * 64) {
          const std::string why = "expected 128 status events, got " + (n ? std::to_string(*n) : n.error().message);
          state.SkipWithError(why.c_str());
          return;
        }
      }
    }
  }
  b.rx[0].release();
  state.SetItemsProcessed(state.iterations());
}

void BM_Send_FireAndForget(benchmark::State& state) { send_one_to_one(state, false); }
void BM_Send_Tracked(benchmark::State& state) { send_one_to_one(state, true); }
BENCHMARK(BM_Send_FireAndForget);
BENCHMARK(BM_Send_Tracked);

void BM_Send_Group(benchmark::State& state) {
  const auto members = static_cast<unsigned>(state.range(0));
  const bool tracked = state.range(1) != 0;
  SendBus b;
  if (!b.start(state, members, members, tracked)) return;
  const courier::SendOptions so = b.so;  // the loop's own copy
  std::byte msg[64] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  for (auto _ : state) {
    if (tracked) b.make_room(state, members + 1);
    const courier::SendResult r = b.tx->send(so, data);
    if (!r || r.accepted != members) {
      state.SkipWithError("group send failed");
      return;
    }
    for (unsigned m = 0; m < members; ++m)
      if (!b.rx[m].try_receive()) {
        state.SkipWithError("a member's copy is missing");
        return;
      }
    if (tracked) {
      b.in_tracker += members + 1;
      auto n = b.tx->poll_status();  // sent + delivered of each member and of the total
      if (!n || *n != 2 * (members + 1)) {
        const std::string why = "expected " + std::to_string(2 * (members + 1)) + " status events, got " +
                                (n ? std::to_string(*n) : n.error().message);
        state.SkipWithError(why.c_str());
        return;
      }
    }
  }
  for (courier::Receiver& r : b.rx) r.release();
  state.SetItemsProcessed(state.iterations() * members);
  state.counters["ns_per_member"] = benchmark::Counter(static_cast<double>(state.iterations() * members),
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Send_Group)->ArgNames({"members", "tracked"})->ArgsProduct({{1, 4, 16, 64}, {0, 1}});

}  // namespace

BENCHMARK_MAIN();
