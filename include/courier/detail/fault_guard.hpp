// courier/detail/fault_guard.hpp — a SIGBUS in a bus's mapping is not a death
// (compiled in src/fault_guard.cpp; docs/design.md, "Memory faults").
//
// A shared-memory object truncated under a process that maps it (or a page
// of it that tmpfs cannot allocate when touched) makes the touching
// instruction fault with SIGBUS. The guard is a SIGBUS handler installed with
// the first guarded mapping; for a fault (BUS_ADRERR) inside a guarded mapping
// it:
//   - tries to allocate the page (fallocate): when that works the instruction
//     runs again and goes on (room was made meanwhile);
//   - otherwise maps private zero pages over what is lost (everything past the
//     object's end, or the one page), so the instruction completes on memory
//     no other process sees, and marks the bus removed (the header's removed
//     word): every later call answers Errc::removed / Status::removed, as
//     after `courier rm --force`.
// Any other SIGBUS goes to the handler that was there before (or kills the
// process as SIGBUS always did).
#pragma once

#include <cstddef>
#include <cstdint>

namespace courier::detail {

// Watch [base, base + size), a MAP_SHARED mapping of the file `fd` (kept open
// by the caller until unguard). `removed_word`: offset of the header's removed
// word. Returns the slot, or -1 when the guard is full (the mapping is then
// unguarded: SIGBUS kills as before) or cannot be installed.
int guard_mapping(std::byte* base, std::uint64_t size, int fd, std::uint64_t removed_word) noexcept;
// Stop watching (before munmap).
void unguard_mapping(int slot) noexcept;
// Whether the guard replaced any page of the mapping in `slot`.
bool mapping_lost(int slot) noexcept;

}  // namespace courier::detail
