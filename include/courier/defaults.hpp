/// @file
/// The default of every setting, in one place. Options (options.hpp) starts
/// from these; so do the internal parts that take the same settings (the
/// segment's geometry, the log, the journal writer).
#pragma once

#include <chrono>
#include <cstdint>

/// The default of every setting of Options, ReceiverOptions and IdleStrategy.
namespace courier::defaults {

// The bus's geometry (fixed by its creator).
inline constexpr std::uint32_t max_endpoints = 64;           ///< Options::max_endpoints
inline constexpr std::uint64_t lane_capacity = 4ull << 20;   ///< Options::lane_capacity: bytes per lane (4 MiB)
inline constexpr std::uint32_t max_payload = 1u << 20;       ///< Options::max_payload: bytes (1 MiB)
inline constexpr std::uint32_t max_groups = 16;              ///< Options::max_groups
inline constexpr std::uint32_t max_group_members = 64;       ///< Options::max_group_members
inline constexpr std::uint64_t tracker_capacity = 1u << 16;  ///< Options::tracker_capacity: entries
inline constexpr std::uint64_t status_capacity = 64u << 10;  ///< Options::status_capacity: bytes (1,024 events)

// Timing.
inline constexpr std::chrono::nanoseconds claim_timeout = std::chrono::milliseconds(200);  ///< Options::claim_timeout
inline constexpr std::chrono::nanoseconds open_timeout = std::chrono::seconds(2);          ///< Options::open_timeout
inline constexpr std::chrono::nanoseconds status_retention = std::chrono::seconds(10);  ///< Options::status_retention

// The durable log.
inline constexpr std::chrono::microseconds group_commit_interval{250};  ///< Options::group_commit_interval
inline constexpr std::uint64_t group_commit_bytes = 1u << 20;           ///< Options::group_commit_bytes
inline constexpr std::uint64_t log_file_size = 64ull << 20;  ///< Options::log_segment_size: a journal file rolls here
inline constexpr std::chrono::milliseconds housekeeping_interval{1000};  ///< Options::housekeeping_interval

// A receiver's idle strategy.
inline constexpr std::uint64_t idle_spin_ns = 50'000;  ///< IdleStrategy::spin_ns (50 us)

}  // namespace courier::defaults
