/// @file
/// The names of things on a bus as numbers: endpoint and group ids, and the
/// priority range.
///
/// Endpoint ids are (generation << 16) | slot: a slot reused by a new endpoint
/// gets a new generation, so a stale id never reaches the wrong endpoint. Group
/// ids are built the same way; 0 is never a valid id of either. Everything
/// here is constexpr: no blocking, no allocation, safe from any thread.
#pragma once

#include <cstdint>

namespace courier {

inline constexpr unsigned priority_levels = 16;      ///< priorities 0 (highest) .. 15 (lowest): one lane each
inline constexpr std::uint8_t default_priority = 8;  ///< SendOptions::priority when not given

using EndpointId = std::uint32_t;             ///< (generation << 16) | slot; 0 is never a valid id
inline constexpr EndpointId no_endpoint = 0;  ///< "no endpoint": never the id of one
/// The slot of an endpoint id (its index in the bus's tables).
inline constexpr std::uint32_t endpoint_slot(EndpointId id) noexcept { return id & 0xffffu; }
/// The generation of an endpoint id (bumped each time its slot is reused).
inline constexpr std::uint32_t endpoint_generation(EndpointId id) noexcept { return id >> 16; }
/// The id of the endpoint in `slot` with `generation`.
inline constexpr EndpointId make_endpoint_id(std::uint32_t slot, std::uint32_t generation) noexcept {
  return (generation << 16) | (slot & 0xffffu);
}

using GroupId = std::uint32_t;  ///< (generation << 16) | slot, like endpoint ids; 0 = no group

}  // namespace courier
