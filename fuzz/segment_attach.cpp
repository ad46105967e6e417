// fuzz/segment_attach.cpp — the input is the beginning of a bus's shared-memory
// segment as another process could have written it. The target puts it in a
// shared-memory object of its own (/dev/shm/courier.fuzz-seg-PID, unlinked at
// once) and runs what attaching processes run on it:
//
//   1. Segment::open without creation: the attach and every header check.
//   2. When that accepts it: Bus::open on the same object, then the read-only
//      walkers behind courier stat, endpoint ls, group ls (Bus::stat, the
//      directory's list, find and name lookups, group members) and the sweep
//      (Bus::sweep: walks every lane and reports expired tracked messages).
//
// The object's size is the header's total_size when that is at least the
// input's and at most 64 MiB (the rest reads as zeros, so a seed need not
// carry a whole segment), else the input's size (a size the header disagrees
// with: refused by the attach). Before step 2 the target clears three fields
// that would make Bus::open reach outside this process and so would not be
// deterministic: the log directory (opening it would create directories named
// by the input), the rebuild owner (a live pid makes the opener wait up to 10
// minutes) and the directory mutex (garbage there that looks held by a live
// thread makes each directory call wait 5 s; tests/ cover that case). Step 1
// still sees them as the input has them.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "courier/bus.hpp"
#include "courier/detail/segment.hpp"

namespace {

constexpr std::uint64_t max_object_bytes = 64ull << 20;

const std::string& bus_name() {
  static const std::string name = "fuzz-seg-" + std::to_string(::getpid());
  return name;
}

// The size the object gets for this input (above).
std::uint64_t object_size(const std::uint8_t* data, std::size_t size) {
  std::uint64_t total = 0;
  if (size >= offsetof(courier::SegmentHeader, total_size) + sizeof(total))
    std::memcpy(&total, data + offsetof(courier::SegmentHeader, total_size), sizeof(total));
  return total >= size && total <= max_object_bytes ? total : size;
}

// Create the object holding the input. A refusal of the system is no finding
// of the target, but the harness cannot run then: it says so and aborts.
void write_object(const std::uint8_t* data, std::size_t size) {
  const std::string shm = courier::Segment::shm_name(bus_name());
  int fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {  // left by an earlier process of this pid that died
    ::shm_unlink(shm.c_str());
    fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) {
    std::perror("fuzz_segment_attach: shm_open");
    std::abort();
  }
  bool ok = ::ftruncate(fd, static_cast<off_t>(object_size(data, size))) == 0;
  for (std::size_t done = 0; ok && done < size;) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    ok = n > 0;
    done += ok ? static_cast<std::size_t>(n) : 0;
  }
  ::close(fd);
  if (!ok) {
    std::perror("fuzz_segment_attach: writing the object");
    std::abort();
  }
}

// The fields Bus::open would follow outside this process (see the top).
void make_local(const courier::Segment& seg) {
  courier::SegmentHeader& h = seg.header();
  h.log_dir_len = 0;
  h.log_dir[0] = '\0';
  h.recovery_owner.store(0, std::memory_order_relaxed);  // relaxed: this process alone uses the object
  // All zeros is an unlocked mutex in glibc (PTHREAD_MUTEX_INITIALIZER): enough for this process alone.
  std::memset(static_cast<void*>(&h.dir_mutex), 0, sizeof(h.dir_mutex));
}

// What courier stat, endpoint ls [--long], group ls and sweep do on a bus.
void walk(courier::Bus& bus) {
  const courier::BusStats s = bus.stat();
  std::uint64_t sum = s.segment_bytes;
  for (const courier::EndpointEntry& e : bus.endpoints()) {
    sum += bus.endpoint_name(e.id).size();
    if (auto id = bus.find_endpoint(e.name)) sum += *id;
  }
  for (const courier::GroupEntry& g : bus.groups()) {
    sum += bus.group_name(g.id).size() + g.members.size();
    if (auto id = bus.find_group(g.name)) sum += *id;
  }
  const courier::SweepResult r = bus.sweep();
  sum += r.expired + r.retired;
  if (sum == 0x5eed) std::fputc('\0', stderr);  // keeps the reads above from being optimised away
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_object(data, size);
  courier::SegmentOptions so;
  so.create = false;
  so.open_timeout_ns = 0;  // a header without magic: refused now, not after a wait
  auto seg = courier::Segment::open(bus_name(), so);
  if (seg) {
    make_local(*seg);
    courier::Options o;
    o.create = false;
    o.open_timeout = std::chrono::nanoseconds(0);
    o.prefault_tracker = false;
    auto bus = courier::Bus::open(bus_name(), o);
    (void)courier::Segment::remove(bus_name(), /*not_courier_too=*/true);  // ours, whatever the input made it
    if (bus) walk(*bus);
  } else {
    (void)courier::Segment::remove(bus_name(), /*not_courier_too=*/true);  // ours, whatever the input made it
  }
  return 0;
}
