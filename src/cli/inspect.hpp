// cli/inspect.hpp — what the commands that only look at a bus share (ls,
// stat, peek, doctor, top): its shared-memory object's reserved and resident
// size, and opening a bus without changing anything in it.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common.hpp"

namespace courier::cli {

// The size of a bus's shared-memory object: reserved (its length, st_size:
// what it may grow to use) and resident (the pages it has, st_blocks * 512).
struct ShmUse {
  std::uint64_t reserved = 0;
  std::uint64_t resident = 0;
};
ShmUse shm_use(const struct stat& st);
// "/dev/shm/courier.NAME".
std::string shm_path(std::string_view bus);
// The use of bus `name`'s object, or nothing when it has none (in-process, removed).
std::optional<ShmUse> bus_shm_use(std::string_view bus);

// Open an existing bus to look at it: nothing created, no recovery, no
// housekeeping thread, no tracker prefault.
Result<Bus> open_to_look(std::string_view name);
// The same for the BUS operand, a Failure naming the bus when it is missing.
Bus open_operand_to_look(const Invocation& inv);

// `text` (a name found on the host, untrusted) fit for a terminal and for JSON:
// control characters and bytes of invalid UTF-8 written as escapes.
std::string printable(std::string_view text);

}  // namespace courier::cli
