// courier/detail/shm_space.hpp — memory a bus can count on: what /dev/shm holds,
// what a bus touches, and pages reserved before they are touched (compiled in
// src/shm_space.cpp). tmpfs allocates a page when it is first touched; when it
// cannot (the filesystem is full), the touching process gets SIGBUS. A page
// reserved with fallocate is allocated already: the reservation is what fails,
// with ENOSPC, and courier turns that into an error (docs/design.md, "Memory
// faults").
//
//   creation   header, directory, groups and tracker are reserved; a bus whose
//              fixed parts (those and an inbox per endpoint) do not fit in
//              what is free is refused (Errc::no_space), one larger than the
//              filesystem could ever hold too (Errc::invalid_argument).
//   endpoint   add_endpoint reserves the inbox of the slot it takes (its
//              words, lane control blocks, status ring): no_space if it cannot.
//   a lane     a writer reserves the lane's record space ahead of its tail, in
//              growing steps, on its slow path only (LaneWriter::try_claim):
//              a lane whose next pages cannot be had is full.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "courier/detail/layout.hpp"
#include "courier/result.hpp"

namespace courier {

// One lane's reservation in one process (process-local, never in shared
// memory): bytes [0, reserved) of the lane's record space are allocated in
// the file `fd`. Shared by every writer of the lane in this process.
struct LaneSpace {
  int fd = -1;
  std::uint64_t file_offset = 0;  // of the record space's byte 0
  std::atomic<std::uint64_t> reserved{0};
};

namespace detail {

// The first reservation of a lane, and the least step after it.
inline constexpr std::uint64_t lane_reserve_step = 64 * 1024;

// Make bytes [0, end) of a lane's record space (`capacity` bytes) allocated.
// Returns the bytes now reserved: >= end on success, less when /dev/shm has no
// room. Steps double (at least lane_reserve_step), so a lane costs a handful of
// calls in its life; a reservation that fails is retried at exactly `end`.
std::uint64_t reserve_lane(LaneSpace& s, std::uint64_t capacity, std::uint64_t end) noexcept;

// What a filesystem holds (statvfs): its size, and what an unprivileged
// process may still allocate there.
struct FsSpace {
  std::uint64_t total = 0;
  std::uint64_t free = 0;
};
Result<FsSpace> fs_space(const std::string& dir);
Result<FsSpace> fs_space(int fd);

// Bytes of the pages a bus of geometry `g` touches whatever its traffic (its
// fixed parts, reserved at creation); the rest of total_size() is lane record
// space, reserved as lanes are used.
std::uint64_t fixed_bytes(const Geometry& g) noexcept;
std::uint64_t lane_bytes(const Geometry& g) noexcept;

// Whether a bus of geometry `g` can be created on a filesystem with `fs`: an
// error naming the numbers when its whole size is more than the filesystem's
// (invalid_argument) or its fixed parts more than what is free (no_space).
Result<void> check_space(const Geometry& g, const FsSpace& fs, const std::string& where);

// Allocate the fixed parts of a new segment (fd sized to g.total_size()) but
// the inboxes: header, directory, groups, tracker. no_space when /dev/shm
// cannot hold them (ENOSPC), naming the numbers.
// Without `tracker`, only the tracker's first page (its header) of the table.
Result<void> reserve_fixed(int fd, const Geometry& g, bool tracker);
// Allocate inbox i's fixed part (its words, lane control blocks, status ring)
// when an endpoint takes the slot: memory in use grows with the endpoints
// registered, not with max_endpoints.
Result<void> reserve_inbox(int fd, const Geometry& g, std::uint32_t i);

// Populate [at, at + len) of this process's mapping in one call (the pages
// around it rounded out) instead of a page fault at each first touch
// (MADV_POPULATE_WRITE, Linux 5.14+). A hint: errors are ignored, and an
// older kernel faults the pages in as before. True when the kernel populated
// the range (false: not supported, or no memory for it).
bool populate(const void* at, std::uint64_t len) noexcept;

// populate, then read one byte of each page, with the range split between
// this thread and one more (when the machine has two CPUs or more and the
// range is large): for a rebuild that will touch every page. On some hosts
// the first access of a page by a process costs as much as its population
// again, after it too (a hypervisor filling the guest's page table entry: 4.5
// µs a page on the PVM guest of docs/benchmarks.md); the second thread halves
// what both cost. The reads are relaxed atomic loads of a byte: they change
// nothing and race with nothing. Best effort: without a thread, all of it on
// this one.
void populate_and_map(const void* at, std::uint64_t len) noexcept;
// The same on the calling thread alone (a helper thread's share). Either
// reads only after the range was populated: a read of a page /dev/shm has
// no room for would be a SIGBUS.
void populate_and_touch(const void* at, std::uint64_t len) noexcept;

// "64 GiB" / "13.2 MiB" / "511 bytes": sizes in the library's messages.
std::string bytes_text(std::uint64_t n);

}  // namespace detail
}  // namespace courier
