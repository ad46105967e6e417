// courier/error.hpp — errors of the cold paths (open, register, attach, ...).
//
// Cold paths return Result<T> (courier/result.hpp) carrying an Error: a code a
// program can switch on and a message a person can read. Context is stacked
// onto the message as the error rises ("opening bus 'orders': segment
// '/courier.orders': layout hash mismatch ..."), as Aeron's AERON_APPEND_ERR does.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace courier {

enum class Errc {
  invalid_argument,  // a bad name, option or value given by the caller
  not_found,         // no such bus / endpoint / group
  already_exists,    // create-only open of an existing bus, duplicate name
  busy,              // the receiver lease is held by a live process
  capacity,          // the directory is full (max_endpoints reached)
  incompatible,      // segment of another layout version or hash
  corrupt,           // a segment whose header or geometry fails validation
  timeout,           // a segment still being created after open_timeout
  system,            // an OS call failed (errno is in the message)
  removed,           // the bus was removed (courier rm --force) while this process had it open
  no_space,          // /dev/shm has no room for what the bus must hold (its fixed parts at creation)
};

constexpr std::string_view errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::already_exists: return "already_exists";
    case Errc::busy: return "busy";
    case Errc::capacity: return "capacity";
    case Errc::incompatible: return "incompatible";
    case Errc::corrupt: return "corrupt";
    case Errc::timeout: return "timeout";
    case Errc::system: return "system";
    case Errc::removed: return "removed";
    case Errc::no_space: return "no_space";
  }
  return "unknown";
}

struct Error {
  Errc code;
  std::string message;

  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}

  // Prepend where the error happened: e.with_context("opening bus 'x'").
  Error& with_context(std::string_view where) & {
    message.insert(0, std::string(where) + ": ");
    return *this;
  }
  Error&& with_context(std::string_view where) && {
    message.insert(0, std::string(where) + ": ");
    return std::move(*this);
  }
};

// The error of every call on a bus removed while it was open (Errc::removed).
inline Error removed_error(std::string_view bus) {
  return Error(Errc::removed, "bus '" + std::string(bus) + "' was removed (courier rm --force); open it again");
}

}  // namespace courier
