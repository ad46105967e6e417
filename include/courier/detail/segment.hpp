// courier/detail/segment.hpp — a bus's shared-memory object: create it (published
// only once fully initialised), attach to it (every header field checked),
// remove it. Compiled in src/segment.cpp.
//
// Why POSIX shm_open/mmap and not Boost.Interprocess here: we need O_EXCL
// creation, fchmod to the exact mode whatever the umask, fstat of the size an
// attacher is about to trust, and a takeover when a creator died mid-way; the
// raw calls say all of that in a few lines (see docs/design.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "courier/defaults.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier/options.hpp"
#include "courier/result.hpp"

namespace courier {

struct SegmentOptions {
  Geometry geometry{};
  std::uint64_t claim_timeout_ns = 0;
  std::uint64_t status_retention_ns = static_cast<std::uint64_t>(defaults::status_retention.count());
  mode_t mode = 0600;
  bool create = true;  // create when missing
  // The creator allocates the tracker with the other fixed parts (Options::
  // prefault_tracker); false: its pages come on first use (docs/design.md,
  // "Memory faults").
  bool reserve_tracker = true;
  std::uint64_t open_timeout_ns =
      static_cast<std::uint64_t>(defaults::open_timeout.count());  // wait this long for a segment being created
  // The creator will rebuild the bus from its log: it is published with
  // recovery_owner set to the creator's lease word (cleared when done).
  bool recovery_pending = false;
  // The bus's log, recorded in the header by the creator: the directory
  // (absolute, canonical; empty: no log; at most header_log_dir_bytes - 1
  // bytes) and its policy.
  std::string log_dir;
  Sync sync = Sync::group;
  std::uint64_t group_commit_interval_ns =
      static_cast<std::uint64_t>(std::chrono::nanoseconds(defaults::group_commit_interval).count());
  std::uint64_t group_commit_bytes = defaults::group_commit_bytes;
};

struct SegmentLogSettings {
  std::string dir;
  Sync sync = Sync::group;
  std::uint64_t group_commit_interval_ns = 0;
  std::uint64_t group_commit_bytes = 0;
};

class Segment {
 public:
  Segment() = default;
  Segment(Segment&& o) noexcept { swap(o); }
  Segment& operator=(Segment&& o) noexcept {
    Segment tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  // Create or attach the segment of bus `name`.
  static Result<Segment> open(std::string_view name, const SegmentOptions& options);
  // Unlink the bus's shared-memory object (processes that have it mapped keep
  // it). Only an object of this process's uid holding a courier segment (or one
  // not yet published); `not_courier_too`: whatever it holds.
  static Result<void> remove(std::string_view name, bool not_courier_too = false);
  static bool exists(std::string_view name);
  // A segment in this process's private memory (in-process mode: no /dev/shm).
  static Result<Segment> open_private(const SegmentOptions& options);
  static std::string shm_name(std::string_view bus_name) { return "/courier." + std::string(bus_name); }

  SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base_); }
  // The log settings recorded in the header, as read (and checked) when this
  // process created or attached the segment: the log directory (empty: none),
  // the sync policy, the group-commit interval and bytes.
  const SegmentLogSettings& log_settings() const noexcept { return log_; }
  const Geometry& geometry() const noexcept { return geometry_; }
  bool created() const noexcept { return created_; }
  // The longest a directory call waits for the directory lock: the open
  // timeout this process opened the bus with (no call waits longer).
  std::uint64_t lock_timeout_ns() const noexcept { return lock_timeout_ns_; }
  std::uint64_t size() const noexcept { return size_; }
  // Allocate inbox i's pages before an endpoint takes the slot (no_space when
  // /dev/shm has no room; nothing to do in private memory).
  Result<void> reserve_inbox(std::uint32_t i) const;
  // The shared-memory object's descriptor (-1: private memory).
  int file() const noexcept { return fd_; }
  // Whether the fault guard replaced pages of this mapping (truncated under us).
  bool lost() const noexcept;
  std::byte* base() const noexcept { return base_; }

  EndpointSlot& slot(std::uint32_t i) const noexcept {
    return reinterpret_cast<EndpointSlot*>(base_ + geometry_.dir_offset())[i];
  }
  GroupSlot& group(std::uint32_t i) const noexcept {
    return *reinterpret_cast<GroupSlot*>(base_ + geometry_.group_offset() +
                                         std::uint64_t(i) * geometry_.group_stride());
  }
  std::atomic<std::uint32_t>* group_members(std::uint32_t i) const noexcept {
    return reinterpret_cast<std::atomic<std::uint32_t>*>(reinterpret_cast<std::byte*>(&group(i)) + sizeof(GroupSlot));
  }
  TrackerHeader* tracker() const noexcept {
    return reinterpret_cast<TrackerHeader*>(base_ + geometry_.tracker_offset());
  }
  LaneView status_lane(std::uint32_t i) const noexcept {
    std::byte* l = base_ + inbox_offset_ + std::uint64_t(i) * inbox_stride_ + geometry_.status_offset_in_inbox();
    return LaneView::over(l, geometry_.status_capacity);
  }
  InboxData& inbox(std::uint32_t i) const noexcept {
    return *reinterpret_cast<InboxData*>(base_ + inbox_offset_ + std::uint64_t(i) * inbox_stride_);
  }
  LaneView lane(std::uint32_t i, unsigned priority) const noexcept {
    std::byte* l = base_ + inbox_offset_ + std::uint64_t(i) * inbox_stride_ + sizeof(InboxData) +
                   std::uint64_t(priority) * geometry_.lane_stride();
    return LaneView::over(l, geometry_.lane_capacity, fd_ >= 0 ? lane_space(i, priority) : nullptr);
  }

 private:
  // The derived offsets are computed once: inbox() is on the send path.
  void set_geometry(const Geometry& g) noexcept {
    geometry_ = g;
    inbox_offset_ = g.inbox_offset();
    inbox_stride_ = g.inbox_stride();
  }
  // Snapshot of the header's log settings (after initialise or validate).
  void take_log_settings();
  // Keep the object's descriptor: lanes reserve their pages through it, and
  // the fault guard (fault_guard.hpp) watches the mapping.
  void keep_file(int fd);
  void swap(Segment& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(size_, o.size_);
    std::swap(geometry_, o.geometry_);
    std::swap(inbox_offset_, o.inbox_offset_);
    std::swap(inbox_stride_, o.inbox_stride_);
    std::swap(created_, o.created_);
    std::swap(lock_timeout_ns_, o.lock_timeout_ns_);
    std::swap(log_, o.log_);
    std::swap(fd_, o.fd_);
    std::swap(guard_, o.guard_);
    std::swap(spaces_, o.spaces_);
  }
  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
  Geometry geometry_{};
  std::uint64_t inbox_offset_ = 0;
  std::uint64_t inbox_stride_ = 0;
  bool created_ = false;
  std::uint64_t lock_timeout_ns_ = static_cast<std::uint64_t>(defaults::open_timeout.count());
  SegmentLogSettings log_;
  int fd_ = -1;     // the shared-memory object (-1: private memory)
  int guard_ = -1;  // this mapping's slot in the fault guard (-1: none)
  // Per endpoint slot, its 16 lanes' reservations in this process: made at
  // the first lane() of the slot (a table for every lane cost 4-8 ms at open
  // with 4096 endpoints, in page faults), freed with the segment.
  std::unique_ptr<std::atomic<LaneSpace*>[]> spaces_;
  LaneSpace* lane_space(std::uint32_t i, unsigned priority) const;
};

}  // namespace courier
