// fast_realtime_ns (TSC scaled against CLOCK_REALTIME) must agree with the
// real clock closely enough for timestamps and expiry.
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

TEST(Clock, FastRealtimeStaysWithinMicrosecondsOfTheRealClock) {
  // Across several re-anchor intervals (1 ms each): the bound is generous for
  // a busy VM (a preemption between the two reads), the typical error is < 100 ns.
  std::int64_t worst = 0;
  const std::uint64_t end = monotonic_ns() + 30'000'000;
  int samples = 0;
  while (monotonic_ns() < end) {
    const std::uint64_t a = realtime_ns();
    const std::uint64_t f = fast_realtime_ns();
    const std::uint64_t b = realtime_ns();
    if (b - a > 2'000) continue;  // preempted between the reads: no bound to check
    const std::int64_t err = f < a ? static_cast<std::int64_t>(a - f) : (f > b ? static_cast<std::int64_t>(f - b) : 0);
    worst = std::max(worst, err);
    ++samples;
  }
  EXPECT_GT(samples, 1000);
  EXPECT_LT(worst, 20'000) << "ns outside [before, after]";
}

TEST(Clock, FastRealtimeWorksInAFreshThread) {
  std::uint64_t f = 0, a = 0, b = 0;
  std::thread t([&] {
    a = realtime_ns();
    f = fast_realtime_ns();  // first call on this thread: not calibrated yet
    b = realtime_ns();
  });
  t.join();
  EXPECT_GE(f, a);
  EXPECT_LE(f, b);
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
