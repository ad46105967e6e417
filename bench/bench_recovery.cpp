// bench/bench_recovery.cpp — recovery alone, for profiling (issue 15): one
// process stores N records through a bus with a log (Sync::os, expiry 1 h),
// another rebuilds the bus from that log after a simulated reboot (the shared
// memory removed, the journals kept), so `valgrind --tool=callgrind` can
// count the rebuild alone:
//   bench_recovery store   NAME LOG_DIR N [LANE_MIB]   (LANE_MIB default 256: what does not fit spills)
//   bench_recovery recover NAME LOG_DIR N [LANE_MIB]   (prints records/s, instructions per record are callgrind's)
//   bench_recovery clean   NAME LOG_DIR
// bench_log --only recovery runs the same steps with RSS and more rounds.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "courier/bus.hpp"
#include "courier/endpoint.hpp"

namespace {

using namespace std::chrono_literals;

courier::Options options(const char* dir, std::uint64_t n, std::uint64_t lane_mib) {
  courier::Options o;
  o.max_endpoints = 2;
  o.max_groups = 1;
  o.lane_capacity = lane_mib << 20;
  o.max_payload = 4096;
  // Recovery needs the records at half the tracker at most (src/recovery.cpp, safe fill).
  o.tracker_capacity = std::max<std::uint64_t>(1024, std::bit_ceil(2 * n));
  o.log_dir = dir;
  o.sync = courier::Sync::os;
  return o;
}

int store(const std::string& name, const char* dir, std::uint64_t n, std::uint64_t lane_mib) {
  auto bus = courier::Bus::open(name, options(dir, n, lane_mib));
  if (!bus) return std::fprintf(stderr, "open: %s\n", bus.error().message.c_str()), 1;
  auto ep = bus->endpoint("src");
  auto dst = bus->endpoint("dst");
  if (!ep || !dst) return std::fprintf(stderr, "endpoint failed\n"), 1;
  std::array<std::byte, 64> payload{};
  courier::SendOptions so{.to = courier::peer("dst"), .expiry = 1h, .type = 1};
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    so.id = i + 1;
    bad += !ep->send(so, payload).ok();
    if ((i + 1) % 4096 == 0) (void)ep->poll_status([](const courier::StatusEvent&) {});
  }
  if (auto r = bus->flush_log(); !r) return std::fprintf(stderr, "flush: %s\n", r.error().message.c_str()), 1;
  std::printf("stored %llu records (%llu refused)\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(bad));
  return 0;
}

int recover(const std::string& name, const char* dir, std::uint64_t n, std::uint64_t lane_mib) {
  (void)courier::Bus::remove(name);  // the reboot
  courier::Options o = options(dir, n, lane_mib);
  o.recover = true;
  auto bus = courier::Bus::open(name, o);
  if (!bus) return std::fprintf(stderr, "recover: %s\n", bus.error().message.c_str()), 1;
  const courier::RecoveryReport& r = bus->recovery();
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double s = static_cast<double>(r.elapsed_ns) / 1e9;
  std::printf("recovered %llu records (%llu messages, %llu injected, %llu left) in %.3f s: %.0f records/s, "
              "ru_maxrss %ld MiB\n",
              static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.messages),
              static_cast<unsigned long long>(r.injected), static_cast<unsigned long long>(r.left), s,
              s > 0 ? static_cast<double>(r.records) / s : 0.0, ru.ru_maxrss / 1024);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_recovery store|recover|clean NAME LOG_DIR [N [LANE_MIB]]\n");
    return 2;
  }
  const std::string what = argv[1], name = argv[2];
  const char* dir = argv[3];
  const std::uint64_t n = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000000;
  const std::uint64_t lane_mib = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 256;
  if (what == "store") return store(name, dir, n, lane_mib);
  if (what == "recover") return recover(name, dir, n, lane_mib);
  if (what == "clean") {
    (void)courier::Bus::remove(name);
    (void)courier::Bus::remove_log(dir, name);
    return 0;
  }
  return 2;
}
