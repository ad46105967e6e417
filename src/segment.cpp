#include "courier/detail/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "courier/detail/bus_manifest.hpp"
#include "courier/detail/clock.hpp"
#include "courier/detail/fault_guard.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/names.hpp"
#include "segment_owner.hpp"

namespace courier {
namespace {

// Where glibc's shm_open puts shared-memory objects.
const std::string shm_dir = "/dev/shm";

Error sys_error(const std::string& what) { return Error(Errc::system, what + ": " + std::strerror(errno)); }

// Why a creator's log settings cannot be recorded, or nullptr.
const char* check_log_settings(const SegmentOptions& o) noexcept {
  if (o.log_dir.size() >= header_log_dir_bytes) return "the log directory's absolute path is longer than 3519 bytes";
  if (!o.log_dir.empty() && o.log_dir.front() != '/') return "the log directory must be an absolute path";
  if (o.log_dir.find('\0') != std::string::npos) return "the log directory holds a NUL byte";
  if (static_cast<unsigned>(o.sync) > static_cast<unsigned>(Sync::os)) return "sync must be always, group or os";
  if (!o.log_dir.empty()) return detail::check_group_commit(o.group_commit_interval_ns, o.group_commit_bytes);
  return nullptr;
}

// Checks the creator's options.
Result<void> check_options(const SegmentOptions& o) {
  if (const char* why = check_geometry(o.geometry)) return Error(Errc::invalid_argument, why);
  if (o.claim_timeout_ns < min_claim_timeout_ns || o.claim_timeout_ns > max_claim_timeout_ns)
    return Error(Errc::invalid_argument, "claim_timeout must be between 1 ms and 1 h");
  if (const char* why = check_log_settings(o)) return Error(Errc::invalid_argument, why);
  return {};
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The bound of every wait for the directory lock: the open timeout, at least
// 10 ms (an open timeout of 0 means "do not wait for a creator", not "fail on
// any contention of the lock").
std::uint64_t lock_timeout_of(const SegmentOptions& o) noexcept {
  return o.open_timeout_ns > 10'000'000ull ? o.open_timeout_ns : 10'000'000ull;
}

void sleep_ms(int ms) {
  timespec ts{0, ms * 1'000'000L};
  nanosleep(&ts, nullptr);
}

// Zero what initialisation writes and lay the header. Lane record space is left
// alone: nothing can have been written there before the segment was published,
// and stale bytes never carry a frame of their own position anyway.
// `fresh`: the memory is known to be zero (a new shared-memory object sized by
// ftruncate, or anonymous memory): nothing to clear, and no page is touched
// that does not need to be (a 1 GiB tracker costs nothing until used; clearing
// it took seconds). A creation taken over from a dead creator clears first.
void initialise(std::byte* base, const Geometry& g, const SegmentOptions& o, bool fresh) {
  if (!fresh) std::memset(base, 0, g.inbox_offset());
  for (std::uint32_t i = 0; !fresh && i < g.max_endpoints; ++i) {
    std::byte* inbox = base + g.inbox_offset() + std::uint64_t(i) * g.inbox_stride();
    std::memset(inbox, 0, sizeof(InboxData));
    for (unsigned p = 0; p < priority_levels; ++p)
      std::memset(inbox + sizeof(InboxData) + p * g.lane_stride(), 0, sizeof(LaneData));
    std::memset(inbox + g.status_offset_in_inbox(), 0, sizeof(LaneData));
  }
  reinterpret_cast<TrackerHeader*>(base + g.tracker_offset())->capacity = g.tracker_capacity;
  auto& h = *reinterpret_cast<SegmentHeader*>(base);
  h.layout_version = layout_version;
  h.header_size = sizeof(SegmentHeader);
  h.layout_hash = layout_hash();
  h.total_size = g.total_size();
  h.max_endpoints = g.max_endpoints;
  h.lane_count = priority_levels;
  h.lane_capacity = g.lane_capacity;
  h.max_payload = g.max_payload;
  h.mode = static_cast<std::uint32_t>(o.mode);
  h.dir_offset = g.dir_offset();
  h.inbox_offset = g.inbox_offset();
  h.inbox_stride = g.inbox_stride();
  h.claim_timeout_ns = o.claim_timeout_ns;
  h.group_offset = g.group_offset();
  h.tracker_offset = g.tracker_offset();
  h.max_groups = g.max_groups;
  h.max_group_members = g.max_group_members;
  h.group_stride = g.group_stride();
  h.tracker_capacity = g.tracker_capacity;
  h.status_capacity = g.status_capacity;
  h.status_retention_ns = o.status_retention_ns;
  h.sync = static_cast<std::uint8_t>(o.sync);
  h.log_dir_len = static_cast<std::uint16_t>(o.log_dir.size());  // checked by check_log_settings
  std::memcpy(h.log_dir, o.log_dir.data(), o.log_dir.size());
  h.group_commit_interval_ns = o.group_commit_interval_ns;
  h.group_commit_bytes = o.group_commit_bytes;
  h.created_ns = realtime_ns();
  // Relaxed: published by the magic store below.
  h.next_id.store(h.created_ns, std::memory_order_relaxed);
  h.dir_changes.store(0, std::memory_order_relaxed);
  // Relaxed: published by the magic store below.
  h.recovery_owner.store(o.recovery_pending ? h.init_owner.load(std::memory_order_relaxed) : 0,
                         std::memory_order_relaxed);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h.dir_mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  // SYNC POINT WRITE: everything above, partner of the attacher's acquire load of magic.
  h.magic.store(segment_magic, std::memory_order_release);
}

// Checks a published header against this build and the file's real size.
Result<Geometry> validate(const SegmentHeader& h, std::uint64_t file_size) {
  if (h.layout_version != layout_version)
    return Error(Errc::incompatible, "segment has layout version " + std::to_string(h.layout_version) +
                                         ", this build speaks version " + std::to_string(layout_version) +
                                         " (rebuild the other side, or remove the bus)");
  if (h.layout_hash != layout_hash())
    return Error(Errc::incompatible,
                 "segment layout hash differs from this build's (built with another layout of "
                 "the same version; rebuild both sides from one source)");
  if (h.header_size != sizeof(SegmentHeader))
    return Error(Errc::corrupt, "header_size is " + std::to_string(h.header_size));
  if (h.lane_count != priority_levels) return Error(Errc::corrupt, "lane_count is " + std::to_string(h.lane_count));
  Geometry g{h.max_endpoints,     h.lane_capacity,    h.max_payload,    h.max_groups,
             h.max_group_members, h.tracker_capacity, h.status_capacity};
  if (const char* why = check_geometry(g)) return Error(Errc::corrupt, std::string("bad geometry in header: ") + why);
  if (h.dir_offset != g.dir_offset() || h.inbox_offset != g.inbox_offset() || h.inbox_stride != g.inbox_stride() ||
      h.group_offset != g.group_offset() || h.group_stride != g.group_stride() ||
      h.tracker_offset != g.tracker_offset() || h.total_size != g.total_size())
    return Error(Errc::corrupt, "header offsets disagree with its geometry");
  if (h.total_size != file_size)
    return Error(Errc::corrupt, "segment is " + std::to_string(file_size) + " bytes but its header says " +
                                    std::to_string(h.total_size) + " (truncated or overwritten)");
  if (h.mode != 0600 && h.mode != 0660) return Error(Errc::corrupt, "bad mode in header: " + std::to_string(h.mode));
  if (h.claim_timeout_ns < min_claim_timeout_ns || h.claim_timeout_ns > max_claim_timeout_ns)
    return Error(Errc::corrupt, "claim_timeout_ns out of range: " + std::to_string(h.claim_timeout_ns));
  if (h.status_retention_ns > max_status_retention_ns)
    return Error(Errc::corrupt, "status_retention_ns out of range: " + std::to_string(h.status_retention_ns));
  // The log settings: a length inside the field, a NUL right after it and none before, a known policy.
  if (h.log_dir_len >= header_log_dir_bytes || h.log_dir[h.log_dir_len] != '\0' ||
      std::memchr(h.log_dir, 0, h.log_dir_len) != nullptr || (h.log_dir_len > 0 && h.log_dir[0] != '/'))
    return Error(Errc::corrupt, "bad log directory in header (length " + std::to_string(h.log_dir_len) + ")");
  if (h.sync > static_cast<std::uint8_t>(Sync::os))
    return Error(Errc::corrupt, "bad sync policy in header: " + std::to_string(h.sync));
  if (h.log_dir_len > 0) {
    if (const char* why = detail::check_group_commit(h.group_commit_interval_ns, h.group_commit_bytes))
      return Error(Errc::corrupt, std::string("bad log settings in header: ") + why);
  }
  return g;
}

Result<std::byte*> map(int fd, std::uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return sys_error("mmap of " + std::to_string(size) + " bytes");
  return static_cast<std::byte*>(p);
}

}  // namespace

void Segment::take_log_settings() {
  const SegmentHeader& h = header();
  // Bounded by the field whatever log_dir_len says now: another process may have written over it since.
  log_.dir.assign(h.log_dir, ::strnlen(h.log_dir, header_log_dir_bytes - 1));
  log_.sync = h.sync <= static_cast<std::uint8_t>(Sync::os) ? static_cast<Sync>(h.sync) : Sync::always;
  log_.group_commit_interval_ns = h.group_commit_interval_ns;
  log_.group_commit_bytes = h.group_commit_bytes;
}

void Segment::keep_file(int fd) {
  fd_ = fd;
  spaces_ = std::make_unique<std::atomic<LaneSpace*>[]>(geometry_.max_endpoints);
  guard_ = detail::guard_mapping(base_, size_, fd, offsetof(SegmentHeader, removed));
}

Result<void> Segment::reserve_inbox(std::uint32_t i) const {
  if (fd_ < 0 || i >= geometry_.max_endpoints) return {};
  return detail::reserve_inbox(fd_, geometry_, i);
}

bool Segment::lost() const noexcept { return detail::mapping_lost(guard_); }

LaneSpace* Segment::lane_space(std::uint32_t i, unsigned priority) const {
  std::atomic<LaneSpace*>& slot = spaces_[i];
  // Acquire: the table another thread made and published below.
  LaneSpace* t = slot.load(std::memory_order_acquire);
  if (t == nullptr) {
    auto made = std::make_unique<LaneSpace[]>(priority_levels);
    for (std::uint64_t p = 0; p < priority_levels; ++p) {
      made[p].fd = fd_;
      made[p].file_offset = inbox_offset_ + std::uint64_t(i) * inbox_stride_ + sizeof(InboxData) +
                            p * geometry_.lane_stride() + sizeof(LaneData);
    }
    // acq_rel: publish ours, or take the one another thread published first.
    if (slot.compare_exchange_strong(t, made.get(), std::memory_order_acq_rel)) t = made.release();
  }
  return &t[priority];
}

Segment::~Segment() {
  detail::unguard_mapping(guard_);
  for (std::uint32_t i = 0; spaces_ && i < geometry_.max_endpoints; ++i)
    delete[] spaces_[i].load(std::memory_order_relaxed);  // relaxed: no other thread uses a segment being destroyed
  if (base_ != nullptr) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
}

bool Segment::exists(std::string_view name) {
  if (!bus_name_problem(name).empty()) return false;
  struct stat st {};
  std::string path = shm_dir + shm_name(name);
  return ::stat(path.c_str(), &st) == 0;
}

Result<void> Segment::remove(std::string_view name, bool not_courier_too) {
  if (auto why = bus_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  if (auto ok = detail::check_removable(name, not_courier_too); !ok) return ok;
  if (::shm_unlink(shm_name(name).c_str()) != 0) {
    if (errno == ENOENT) return Error(Errc::not_found, "no bus named '" + std::string(name) + "'");
    return sys_error("shm_unlink " + shm_name(name));
  }
  return {};
}

Result<Segment> Segment::open_private(const SegmentOptions& o) {
  if (auto r = check_options(o); !r) return std::move(r).error();
  const Geometry& g = o.geometry;
  // MAP_NORESERVE: like tmpfs, pages are allocated only when touched.
  void* p = ::mmap(nullptr, g.total_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return sys_error("mmap of " + std::to_string(g.total_size()) + " bytes (in-process bus)");
  Segment seg;
  seg.base_ = static_cast<std::byte*>(p);
  seg.size_ = g.total_size();
  seg.set_geometry(g);
  seg.created_ = true;
  seg.lock_timeout_ns_ = lock_timeout_of(o);
  initialise(seg.base_, g, o, true);
  seg.take_log_settings();
  return seg;
}

Result<Segment> Segment::open(std::string_view name, const SegmentOptions& o) {
  if (auto why = bus_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  if (o.create) {
    if (auto r = check_options(o); !r) return std::move(r).error();
  }
  const std::string shm = shm_name(name);
  // Whether a creator's geometry fits /dev/shm (docs/design.md, "Memory
  // faults"), known before the object exists: a refused bus leaves nothing
  // behind, and an existing bus is attached whatever this process asks for.
  Result<void> room{};
  if (o.create) {
    if (auto fs = detail::fs_space(shm_dir); fs) room = detail::check_space(o.geometry, *fs, shm_dir);
  }
  auto refused = [&]() -> Error {
    return Error(room.error()).with_context("creating bus '" + std::string(name) + "'");
  };
  const std::uint64_t deadline = monotonic_ns() + o.open_timeout_ns;
  const std::uint64_t me = lease_word(self_identity());

  for (;;) {
    Fd fd;
    bool creator = false;
    if (o.create && room) {
      fd.fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, o.mode);
      if (fd.fd >= 0)
        creator = true;
      else if (errno != EEXIST)
        return sys_error("creating shared memory " + shm);
    }
    if (!creator) {
      fd.fd = ::shm_open(shm.c_str(), O_RDWR | O_CLOEXEC, 0);
      if (fd.fd < 0) {
        if (errno == ENOENT) {
          if (o.create && !room) return refused();
          if (o.create) continue;  // removed between our two calls: try to create again
          return Error(Errc::not_found, "no bus named '" + std::string(name) + "' (" + shm + " does not exist)");
        }
        return sys_error("opening shared memory " + shm);
      }
      // Whose it is and who else can reach it, before any byte of it is trusted.
      struct stat st {};
      if (::fstat(fd.fd, &st) != 0) return sys_error("fstat " + shm);
      if (auto ok = detail::check_object_owner(st, shm, o.mode); !ok)
        return std::move(ok).error().with_context("attaching bus '" + std::string(name) + "'");
    }

    Segment seg;
    auto init_as_owner = [&](const Geometry& g) -> Result<Segment> {
      Segment seg;
      if (!room) return Error(room.error());
      if (::fchmod(fd.fd, o.mode) != 0) return sys_error("fchmod " + shm);
      // Empty until now: ftruncate fills it with zeros (initialise need not).
      struct stat before {};
      if (::fstat(fd.fd, &before) != 0) return sys_error("fstat " + shm);
      const bool fresh = before.st_size == 0;
      if (::ftruncate(fd.fd, static_cast<off_t>(g.total_size())) != 0)
        return sys_error("sizing " + shm + " to " + std::to_string(g.total_size()) + " bytes");
      // The pages every bus touches, allocated now: ENOSPC here, not SIGBUS later.
      if (auto r = detail::reserve_fixed(fd.fd, g, o.reserve_tracker); !r) return std::move(r).error();
      auto m = map(fd.fd, g.total_size());
      if (!m) return std::move(m).error();
      seg.base_ = *m;
      seg.size_ = g.total_size();
      seg.set_geometry(g);
      seg.created_ = true;
      seg.lock_timeout_ns_ = lock_timeout_of(o);
      auto& h = seg.header();
      std::uint64_t prev = h.init_owner.load(std::memory_order_acquire);
      if (h.magic.load(std::memory_order_acquire) != 0) return Error(Errc::timeout, "lost a creation race");
      // acq_rel: we own initialisation only if nobody else took it since we looked.
      if (!h.init_owner.compare_exchange_strong(prev, me, std::memory_order_acq_rel))
        return Error(Errc::timeout, "lost a creation race");
      initialise(seg.base_, g, o, fresh);
      seg.take_log_settings();
      seg.keep_file(fd.fd);
      fd.fd = -1;
      return seg;
    };

    if (creator) {
      auto r = init_as_owner(o.geometry);
      if (!r) {
        // No room: the object we made (nothing published in it) goes, with what it holds.
        if (r.error().code == Errc::no_space) ::shm_unlink(shm.c_str());
        return std::move(r).error().with_context("creating bus '" + std::string(name) + "'");
      }
      return r;
    }

    // Attach: wait until the creator has published the segment.
    for (;;) {
      struct stat st {};
      if (::fstat(fd.fd, &st) != 0) return sys_error("fstat " + shm);
      const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
      bool creator_dead = false;
      // A creator sizes the object from 0 to its whole size in one call: any
      // size between is not a segment (taking it over would grow it).
      if (size > 0 && size < sizeof(SegmentHeader))
        return Error(Errc::corrupt, "attaching bus '" + std::string(name) + "': " + shm_dir + shm + " is " +
                                        std::to_string(size) + " bytes, less than a courier segment's header (" +
                                        std::to_string(sizeof(SegmentHeader)) +
                                        "): not a courier segment; if it is yours, remove it with 'courier rm "
                                        "--force " +
                                        std::string(name) + "'");
      if (size >= sizeof(SegmentHeader)) {
        auto m = map(fd.fd, sizeof(SegmentHeader));
        if (!m) return std::move(m).error();
        const auto& h = *reinterpret_cast<const SegmentHeader*>(*m);
        // SYNC POINT READ: partner of initialise's release store of magic.
        const std::uint64_t magic = h.magic.load(std::memory_order_acquire);
        const std::uint64_t owner = h.init_owner.load(std::memory_order_acquire);
        Result<Geometry> g = Error(Errc::timeout, "");
        if (magic == segment_magic) g = validate(h, size);
        if (g) {
          if (auto ok = detail::check_mode_against_header(st, shm, h.mode); !ok) g = std::move(ok).error();
        }
        ::munmap(*m, sizeof(SegmentHeader));
        if (magic == segment_magic) {
          if (!g) return std::move(g).error().with_context("attaching bus '" + std::string(name) + "' (" + shm + ")");
          auto full = map(fd.fd, size);
          if (!full) return std::move(full).error();
          seg.base_ = *full;
          seg.size_ = size;
          seg.set_geometry(*g);
          seg.lock_timeout_ns_ = lock_timeout_of(o);
          seg.take_log_settings();
          seg.keep_file(fd.fd);
          fd.fd = -1;
          return seg;
        }
        if (magic != 0)
          return Error(
              Errc::corrupt,
              "attaching bus '" + std::string(name) + "': " + shm +
                  " is not a courier segment (bad magic); if it is yours, remove it with 'courier rm --force " +
                  std::string(name) + "'");
        creator_dead = owner != 0 && !lease_holder_alive(owner);
      }
      const bool timed_out = monotonic_ns() >= deadline;
      if (creator_dead || timed_out) {
        if (!o.create)
          return Error(Errc::timeout, "attaching bus '" + std::string(name) + "': " + shm +
                                          (creator_dead ? " was left half-created by a process that died"
                                                        : " is still being created after the open timeout") +
                                          "; open it with creation allowed, or remove it with 'courier rm'");
        // Take the creation over: the creator died (or never sized the file).
        auto r = init_as_owner(o.geometry);
        if (r) return r;
        if (r.error().code != Errc::timeout)
          return std::move(r).error().with_context((room ? "re-creating bus '" : "creating bus '") + std::string(name) +
                                                   "'");
        if (timed_out && monotonic_ns() >= deadline + o.open_timeout_ns)
          return Error(Errc::timeout, "bus '" + std::string(name) + "' could not be created or attached in time");
      }
      sleep_ms(1);
    }
  }
}

}  // namespace courier
