// courier/detail/compaction_memory.hpp — what one process's housekeeper
// remembers between compaction passes (process-local, never shared).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "courier/detail/tracker.hpp"

namespace courier::detail {

// What this process's housekeeper remembers of each journal segment it found
// unsettled (docs/design.md, "Compaction"), so a pass reads only what may
// have changed. Process-local and only a hint: a segment is deleted only
// after a full read finds it settled; this memory can only delay that read.
// A process without it (a new lease holder) reads every segment once.
struct CompactionMemory {
  // A segment found unsettled is looked at again after 1 pass, then 2, 4, ...
  // up to this many passes (64 s at the default 1 s interval).
  static constexpr std::uint64_t max_backoff_passes = 64;
  // The first record that kept the segment, as segment_settled() judged it:
  // while it is still owed the segment is unsettled, so it is not read.
  struct Blocker {
    bool known = false;    // false: damage, an undecodable record, an unreadable file: read it when due
    bool message = false;  // a message record (else a settle record)
    bool keyed = false;    // its ids were mapped: `key` is its tracker entry
    TrackerKey key{};
    std::uint64_t young_until_ns = 0;  // without a tracker entry, owed until then (expiry + retention)
  };
  struct Entry {
    std::uint64_t inode = 0, size = 0;  // the file as last read (another file, or one that grew: read at once)
    std::uint64_t due_pass = 0;         // looked at again from this pass on
    std::uint64_t backoff = 1;          // passes until the next look; doubles up to max_backoff_passes
    std::uint64_t seen_pass = 0;        // the last pass that listed it (entries of vanished files are dropped)
    Blocker blocker;
  };
  std::mutex mutex;                                 // Bus::housekeep on a caller's thread and the housekeeping thread
  std::uint64_t pass = 0;                           // compaction passes run while holding the lease
  std::unordered_map<std::string, Entry> segments;  // by path
};

}  // namespace courier::detail
