// courier/detail/log_defaults.hpp — the bounds of a bus's log settings and the
// log side's timeouts; the defaults themselves are courier/defaults.hpp's
// (Options takes them from there), repeated here under the log's names.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "courier/defaults.hpp"

namespace courier::detail::log_defaults {

// Group commit: the longest wait before a batch is written, and the bytes
// that start one sooner (Options::group_commit_interval / group_commit_bytes).
inline constexpr std::chrono::microseconds group_commit_interval = defaults::group_commit_interval;
inline constexpr std::chrono::seconds max_group_commit_interval{10};
inline constexpr std::uint64_t group_commit_bytes = defaults::group_commit_bytes;
inline constexpr std::uint64_t min_group_commit_bytes = 4096;
inline constexpr std::uint64_t max_group_commit_bytes = 1ull << 30;

// A journal file rolls at about this size (Options::log_segment_size,
// JournalOptions::segment_size), within these bounds.
inline constexpr std::uint64_t journal_file_size = defaults::log_file_size;
inline constexpr std::uint64_t min_journal_file_size = 4096;
inline constexpr std::uint64_t max_journal_file_size = 1ull << 30;

// The log's journal writer allocates its file this many bytes at a time
// (fallocate), so that a batch's fdatasync need not also log a new file size;
// a clean close or a roll cuts the file back to its records.
inline constexpr std::uint64_t journal_preallocate = 8ull << 20;

// A journal writer flushes by itself once this many bytes are buffered.
inline constexpr std::size_t journal_buffer_limit = 1u << 20;
// A reader holds one whole journal file in memory: larger ones are damage.
inline constexpr std::uint64_t max_read_file_size = 1ull << 30;
// The housekeeper first reads this much of a larger journal file: a file
// whose messages nobody has received yet is kept by one of its first
// records, found without reading the whole file (docs/design.md, "The
// housekeeper reads a file's first megabyte first").
inline constexpr std::uint64_t settle_peek_bytes = 1ull << 20;

// A producer faster than the disk waits while the log buffers more than
// 4 batches and this much.
inline constexpr std::uint64_t backlog_slack_bytes = 64u << 20;

// Timeouts and steps.
// The housekeeper (lease, sweep, compaction) runs this often (Options::housekeeping_interval).
inline constexpr std::chrono::milliseconds housekeeping_interval = defaults::housekeeping_interval;
// A receiver with spilled messages it could not forward looks again after this.
inline constexpr std::uint64_t spill_rescan_ns = 1'000'000;
// Recovery reports its progress every this many bytes read.
inline constexpr std::uint64_t recovery_progress_bytes = 64ull << 20;
// Opening a journal writer retries the next epoch this many times when its
// first file's name is taken (two writers opened in the same nanosecond).
inline constexpr int writer_open_attempts = 64;

}  // namespace courier::detail::log_defaults
