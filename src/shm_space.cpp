// Memory a bus can count on (courier/detail/shm_space.hpp): statvfs of
// /dev/shm, the fixed parts of a geometry, and fallocate ahead of first touch.
#include "courier/detail/shm_space.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace courier::detail {
namespace {

constexpr std::uint64_t page_down(std::uint64_t v) noexcept { return v & ~(page_size - 1); }

// Calls f(offset, length) for each range of inbox i's fixed part: its words
// with lane 0's control block and first frame, the other lanes' control blocks
// and first frames (a receiver reads the frame at head before anything was
// written there), and the status ring whole.
template <class F>
void for_each_inbox_range(const Geometry& g, std::uint64_t i, F&& f) {
  const std::uint64_t inbox = g.inbox_offset() + i * g.inbox_stride();
  f(inbox, sizeof(InboxData) + sizeof(LaneData) + record_unit);
  for (std::uint64_t p = 1; p < priority_levels; ++p)
    f(inbox + sizeof(InboxData) + p * g.lane_stride(), sizeof(LaneData) + record_unit);
  f(inbox + g.status_offset_in_inbox(), sizeof(LaneData) + g.status_capacity);
}

// ... and for each range of the fixed parts: everything before the inboxes
// (header, directory, groups, tracker), then each inbox's.
template <class F>
void for_each_fixed_range(const Geometry& g, F&& f) {
  f(std::uint64_t{0}, g.inbox_offset());
  for (std::uint64_t i = 0; i < g.max_endpoints; ++i) for_each_inbox_range(g, i, f);
}

// The error of a reservation that failed with `e` (ENOSPC: no_space, naming the numbers).
Result<void> reserve_error(int fd, int e, const std::string& what, std::uint64_t bytes) {
  if (e != ENOSPC) return Error(Errc::system, "reserving " + what + ": " + std::strerror(e));
  std::string free_text;
  if (auto fs = fs_space(fd); fs) free_text = ", " + bytes_text(fs->free) + " free";
  return Error(Errc::no_space, "/dev/shm has no room for " + what + " (" + bytes_text(bytes) + free_text + ")");
}

// fallocate, again after a signal; errno kept.
int allocate(int fd, int mode, std::uint64_t off, std::uint64_t len) noexcept {
  int rc;
  do {
    rc = ::fallocate(fd, mode, static_cast<off_t>(off), static_cast<off_t>(len));
  } while (rc != 0 && errno == EINTR);
  return rc;
}

// The filesystem cannot reserve at all (not tmpfs): nothing to gain, nothing refused.
bool unsupported(int e) noexcept { return e == EOPNOTSUPP || e == ENOSYS; }

}  // namespace

bool populate(const void* at, std::uint64_t len) noexcept {
#ifdef MADV_POPULATE_WRITE
  const auto a = reinterpret_cast<std::uintptr_t>(at) & ~std::uintptr_t{page_size - 1};
  const auto e = reinterpret_cast<std::uintptr_t>(at) + len;
  return ::madvise(reinterpret_cast<void*>(a), e - a, MADV_POPULATE_WRITE) == 0;  // best effort
#else
  (void)at;
  (void)len;
  return false;
#endif
}

void populate_and_touch(const void* at, std::uint64_t len) noexcept {
  if (!populate(at, len)) return;  // not populated (no room, an old kernel): its pages are faulted in as written
  const auto a = reinterpret_cast<std::uintptr_t>(at);
  unsigned char sink = 0;
  // One read per page. Relaxed atomic: a plain read would do (nobody writes
  // this memory meanwhile), but this one says so to a race detector too.
  for (std::uintptr_t q = page_down(a); q < a + len; q += page_size)
    sink |= __atomic_load_n(reinterpret_cast<const unsigned char*>(q < a ? a : q), __ATOMIC_RELAXED);
  asm volatile("" : : "r"(sink));  // the reads are the point: keep them
}

void populate_and_map(const void* at, std::uint64_t len) noexcept {
  const auto part = [](const void* at_part, std::uint64_t n) noexcept { populate_and_touch(at_part, n); };
  constexpr std::uint64_t split_from = 64ull << 20;  // below: a thread's start costs more than it saves
  if (len >= split_from && std::thread::hardware_concurrency() > 1) {
    const std::uint64_t half = page_down(len / 2);
    try {
      std::thread other(part, at, half);
      part(static_cast<const unsigned char*>(at) + half, len - half);
      other.join();
      return;
    } catch (...) {  // no thread to be had: all of it here (part itself throws nothing)
    }
  }
  part(at, len);
}

std::string bytes_text(std::uint64_t n) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " bytes";
  double v = static_cast<double>(n) / 1024;
  unsigned u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char b[32];
  if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
    std::snprintf(b, sizeof b, "%llu %s", static_cast<unsigned long long>(v), units[u]);
  else
    std::snprintf(b, sizeof b, "%.1f %s", v, units[u]);
  return b;
}

std::uint64_t reserve_lane(LaneSpace& s, std::uint64_t capacity, std::uint64_t end) noexcept {
  // Relaxed: the value stands for pages the kernel allocated (fallocate
  // returned before it was stored); no memory of ours is published with it.
  std::uint64_t r = s.reserved.load(std::memory_order_relaxed);
  if (r >= end || s.fd < 0) return s.fd < 0 ? capacity : r;
  const std::uint64_t exact = std::min(capacity, end);
  const std::uint64_t step = std::min(capacity, std::max({exact, 2 * r, lane_reserve_step}));
  for (std::uint64_t want : {step, exact}) {
    if (allocate(s.fd, FALLOC_FL_KEEP_SIZE, s.file_offset + r, want - r) == 0) {
      // Relaxed: as above; the larger of two racing reservations wins.
      std::uint64_t cur = s.reserved.load(std::memory_order_relaxed);
      while (cur < want && !s.reserved.compare_exchange_weak(cur, want, std::memory_order_relaxed)) {
      }
      return std::max(cur, want);
    }
    if (unsupported(errno)) {
      s.reserved.store(capacity, std::memory_order_relaxed);  // relaxed: as above
      return capacity;
    }
    if (errno != ENOSPC || want == exact) break;
  }
  return r;
}

Result<FsSpace> fs_space(const std::string& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return Error(Errc::system, "statvfs " + dir + ": " + std::strerror(errno));
  return FsSpace{std::uint64_t(v.f_blocks) * v.f_frsize, std::uint64_t(v.f_bavail) * v.f_frsize};
}

Result<FsSpace> fs_space(int fd) {
  struct statvfs v {};
  if (::fstatvfs(fd, &v) != 0) return Error(Errc::system, std::string("fstatvfs: ") + std::strerror(errno));
  return FsSpace{std::uint64_t(v.f_blocks) * v.f_frsize, std::uint64_t(v.f_bavail) * v.f_frsize};
}

std::uint64_t fixed_bytes(const Geometry& g) noexcept {
  std::uint64_t pages = 0;
  for_each_fixed_range(g, [&](std::uint64_t off, std::uint64_t len) {
    pages += (Geometry::page_up(off + len) - page_down(off)) / page_size;
  });
  return pages * page_size;
}

std::uint64_t lane_bytes(const Geometry& g) noexcept {
  return std::uint64_t(g.max_endpoints) * priority_levels * g.lane_capacity;
}

Result<void> check_space(const Geometry& g, const FsSpace& fs, const std::string& where) {
  // No product overflows: the limits (limits.hpp) keep total_size() below 2^47.
  if (fs.total != 0 && g.total_size() > fs.total)
    return Error(Errc::invalid_argument,
                 "a bus of " + std::to_string(g.max_endpoints) + " endpoints with lanes of " +
                     bytes_text(g.lane_capacity) + " is " + bytes_text(g.total_size()) + " of shared memory (" +
                     std::to_string(g.max_endpoints) + " x 16 lanes x " + bytes_text(g.lane_capacity) + " + " +
                     bytes_text(g.total_size() - lane_bytes(g)) + "), more than " + where + " can ever hold (" +
                     bytes_text(fs.total) + "): use fewer endpoints or smaller lanes");
  const std::uint64_t fixed = fixed_bytes(g);
  if (fixed > fs.free)
    return Error(Errc::no_space, "a bus of this geometry needs " + bytes_text(fixed) + " of " + where +
                                     " for its fixed parts (header, directory, tracker, an inbox and status ring per "
                                     "endpoint) and " +
                                     where + " has " + bytes_text(fs.free) + " free");
  return {};
}

Result<void> reserve_fixed(int fd, const Geometry& g, bool tracker) {
  const std::uint64_t end = tracker ? g.inbox_offset() : g.tracker_offset() + page_size;
  const int rc = allocate(fd, 0, 0, end);
  if (rc == 0 || unsupported(errno)) return {};
  return reserve_error(fd, errno, "the bus's header, directory and tracker", end);
}

Result<void> reserve_inbox(int fd, const Geometry& g, std::uint32_t i) {
  int failed = 0;
  std::uint64_t bytes = 0;
  for_each_inbox_range(g, i, [&](std::uint64_t off, std::uint64_t len) {
    bytes += len;
    if (failed == 0 && allocate(fd, 0, off, len) != 0) failed = errno;
  });
  if (failed == 0 || unsupported(failed)) return {};
  return reserve_error(fd, failed, "the endpoint's inbox and status ring", bytes);
}

}  // namespace courier::detail
