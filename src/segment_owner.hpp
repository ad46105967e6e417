// segment_owner.hpp — the checks of who owns a bus's shared-memory object
// before it is used or removed (src/segment_owner.cpp).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "courier/result.hpp"

namespace courier::detail {

// The object `shm` (its fstat) may be used by a process opening the bus with
// `bus_mode` (0600, or 0660 with group access): a regular file of this uid, or
// with group access of one of its groups, with no access beyond 0660.
Result<void> check_object_owner(const struct stat& st, const std::string& shm, mode_t bus_mode);
// ... and its mode is no wider than the one its creator recorded in the header.
Result<void> check_mode_against_header(const struct stat& st, const std::string& shm, std::uint32_t header_mode);
// The object of bus `name` may be unlinked by this process: it is of this uid
// and holds a courier segment (or one not yet published), or `not_courier_too`.
Result<void> check_removable(std::string_view name, bool not_courier_too);

}  // namespace courier::detail
