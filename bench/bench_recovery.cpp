// bench/bench_recovery.cpp — recovery alone, for profiling (issue 15): one
// process stores N records through a bus with a log (Sync::os, expiry 1 h),
// another rebuilds the bus from that log after a simulated reboot (the shared
// memory removed, the journals kept), so `valgrind --tool=callgrind` can
// count the rebuild alone:
//   bench_recovery store   NAME LOG_DIR N [LANE_MIB [LANES]]   (LANE_MIB default 256: what does not fit spills)
//   bench_recovery recover NAME LOG_DIR N [LANE_MIB [LANES]]   (prints records/s; instructions per record: callgrind)
// LANES (default 1, at most 16): the messages go to that many priorities of
// the receiver in turn, each a lane of its own (a lane holds 1 GiB at most,
// and the bus's shared memory has 16 lanes of each endpoint: 10 M records
// fit in 5 lanes of 256 MiB).
//   bench_recovery clean   NAME LOG_DIR
//   bench_recovery pages   MIB   (what a fresh page of shared memory costs at its first touch, and a
//                                 random access once touched, with and without prefetching 16 ahead)
// bench_log --only recovery runs the same steps with RSS and more rounds.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

int store(const std::string& name, const char* dir, std::uint64_t n, std::uint64_t lane_mib, unsigned lanes) {
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
    if (lanes > 1) so.priority = static_cast<std::uint8_t>(i % lanes);  // else the default, as before LANES
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
  std::printf(
      "recovered %llu records (%llu messages, %llu injected, %llu left) in %.3f s: %.0f records/s, "
      "ru_maxrss %ld MiB\n",
      static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.messages),
      static_cast<unsigned long long>(r.injected), static_cast<unsigned long long>(r.left), s,
      s > 0 ? static_cast<double>(r.records) / s : 0.0, ru.ru_maxrss / 1024);
  return 0;
}

// Recovery writes a tracker and lanes of fresh shared memory: on some VMs the
// first touch of each 4 KiB page costs microseconds even after
// MADV_POPULATE_WRITE (bench/results/2026-12-05-recovery-s14.md). Measured
// on a mapping like the bus's (shm_open, MAP_SHARED), populated as recovery
// populates its tracker.
int pages(std::uint64_t mib) {
  const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
  const std::string name = "/courier-bench-pages-" + std::to_string(::getpid());
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return std::perror("shm_open"), 1;
  (void)::shm_unlink(name.c_str());
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return std::perror("ftruncate"), 1;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return std::perror("mmap"), 1;
#ifdef MADV_POPULATE_WRITE
  (void)::madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
  auto* a = static_cast<volatile std::uint64_t*>(p);
  // CPU time of this thread: on a shared machine the wall clock also counts the time it waited for a CPU.
  const auto cpu_ns = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  const auto ns = [&](double t0) { return cpu_ns() - t0; };
  double t0 = cpu_ns();
  for (std::size_t o = 0; o < bytes / 8; o += 512) a[o] = 1;  // one word of each 4 KiB page
  std::printf("first touch: %.0f ns (thread CPU time) per 4 KiB page (%zu pages)\n",
              ns(t0) / static_cast<double>(bytes / 4096), bytes / 4096);
  const std::size_t n = 2'000'000, lines = bytes / 64;
  std::vector<std::size_t> at(n);
  std::uint64_t x = 88172645463325252ull;
  for (auto& i : at) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    i = static_cast<std::size_t>(x % lines) * 8;
  }
  for (unsigned ahead : {0u, 16u}) {
    t0 = cpu_ns();
    for (std::size_t i = 0; i < n; ++i) {
      __builtin_prefetch(const_cast<std::uint64_t*>(&a[at[i + ahead < n ? i + ahead : i]]), 1);
      a[at[i]] = a[at[i]] + 1;
    }
    std::printf("random read-modify-write, touched pages, prefetch %2u ahead: %.1f ns (CPU) per access\n", ahead,
                ns(t0) / static_cast<double>(n));
  }
  ::munmap(p, bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (argc < 4 && std::string(argv[1]) != "pages")) {
    std::fprintf(stderr,
                 "usage: bench_recovery store|recover|clean NAME LOG_DIR [N [LANE_MIB [LANES]]], or pages MIB\n");
    return 2;
  }
  if (std::string(argv[1]) == "pages") return pages(std::strtoull(argv[2], nullptr, 10));
  const std::string what = argv[1], name = argv[2];
  const char* dir = argv[3];
  const std::uint64_t n = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000000;
  const std::uint64_t lane_mib = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 256;
  const auto lanes =
      static_cast<unsigned>(std::clamp<unsigned long long>(argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 1, 1, 16));
  if (what == "store") return store(name, dir, n, lane_mib, lanes);
  if (what == "recover") return recover(name, dir, n, lane_mib);
  if (what == "clean") {
    (void)courier::Bus::remove(name);
    (void)courier::Bus::remove_log(dir, name);
    return 0;
  }
  return 2;
}
