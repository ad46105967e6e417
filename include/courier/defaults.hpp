// courier/defaults.hpp — the default of every setting, in one place. Options
// (options.hpp) starts from these; so do the internal parts that take the
// same settings (the segment's geometry, the log, the journal writer).
#pragma once

#include <chrono>
#include <cstdint>

namespace courier::defaults {

// The bus's geometry (fixed by its creator).
inline constexpr std::uint32_t max_endpoints = 64;
inline constexpr std::uint64_t lane_capacity = 4ull << 20;  // bytes per lane
inline constexpr std::uint32_t max_payload = 1u << 20;      // bytes
inline constexpr std::uint32_t max_groups = 16;
inline constexpr std::uint32_t max_group_members = 64;
inline constexpr std::uint64_t tracker_capacity = 1u << 16;  // entries
inline constexpr std::uint64_t status_capacity = 64u << 10;  // bytes of each status ring (1,024 events)

// Timing.
inline constexpr std::chrono::nanoseconds claim_timeout = std::chrono::milliseconds(200);
inline constexpr std::chrono::nanoseconds open_timeout = std::chrono::seconds(2);
inline constexpr std::chrono::nanoseconds status_retention = std::chrono::seconds(10);

// The durable log.
inline constexpr std::chrono::microseconds group_commit_interval{500};
inline constexpr std::uint64_t group_commit_bytes = 1u << 20;
inline constexpr std::uint64_t log_file_size = 64ull << 20;  // a journal file rolls at about this size
inline constexpr std::chrono::milliseconds housekeeping_interval{1000};

// A receiver's idle strategy.
inline constexpr std::uint64_t idle_spin_ns = 50'000;

}  // namespace courier::defaults
