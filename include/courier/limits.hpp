/// @file
/// The bounds of every setting of a bus (Options), and what a message costs
/// in a lane beyond its payload. Bus::open refuses a value outside them with
/// Errc::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdint>

namespace courier {

inline constexpr std::uint64_t min_lane_capacity = 4096;           ///< bytes of a lane, at least; a power of two
inline constexpr std::uint64_t max_lane_capacity = 1ull << 30;     ///< bytes of a lane, at most (1 GiB)
inline constexpr std::uint64_t min_status_capacity = 4096;         ///< bytes of a status ring; a power of two
inline constexpr std::uint64_t max_status_capacity = 64ull << 20;  ///< bytes of a status ring, at most (64 MiB)
inline constexpr std::uint32_t max_endpoints_limit = 4096;         ///< Options::max_endpoints, at most
inline constexpr std::uint32_t max_groups_limit = 4096;            ///< Options::max_groups, at most
inline constexpr std::uint32_t max_group_members_limit = 4096;     ///< Options::max_group_members, at most
inline constexpr std::uint64_t min_tracker_capacity = 64;          ///< tracker entries, at least; a power of two
inline constexpr std::uint64_t max_tracker_capacity = 1ull << 26;  ///< tracker entries, at most
inline constexpr std::size_t max_name_len = 63;  ///< endpoint and group names: `[A-Za-z0-9._@:-]{1,63}`
inline constexpr std::uint64_t min_claim_timeout_ns = 1'000'000ull;  ///< Options::claim_timeout, at least (1 ms)
inline constexpr std::uint64_t max_claim_timeout_ns = 3'600'000'000'000ull;              ///< ... at most (1 hour)
inline constexpr std::uint64_t max_status_retention_ns = 30ull * 86'400'000'000'000ull;  ///< 30 days

/// Every message in a lane starts with a header of this many bytes (a record
/// takes header + payload, rounded up to 64 bytes).
inline constexpr std::size_t message_header_bytes = 64;

}  // namespace courier
