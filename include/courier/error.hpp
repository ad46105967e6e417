/// @file
/// Errors of the cold paths (open, register, attach, ...).
///
/// Cold paths return Result<T> (courier/result.hpp) carrying an Error: a code a
/// program can switch on and a message a person can read. Context is stacked
/// onto the message as the error rises ("opening bus 'orders': segment
/// '/courier.orders': layout hash mismatch ..."), as Aeron's AERON_APPEND_ERR does.
/// The hot path (send, receive) does not use them: it returns a Status.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace courier {

/// What kind of failure an Error is: the code a program switches on. Each
/// function's documentation names the codes it returns and when.
enum class Errc {
  invalid_argument,  ///< a bad name, option or value given by the caller
  not_found,         ///< no such bus / endpoint / group / tracked message
  already_exists,    ///< a duplicate name where an existing one is not accepted
  busy,              ///< a lease (receiver, status events) is held by a live process, or receivers block a removal
  capacity,          ///< a table is full (max_endpoints, max_groups, max_group_members; a tracker too small to recover)
  incompatible,      ///< a segment of another layout version or hash, or a named setting the bus does not have
  corrupt,           ///< shared memory or a file whose header, geometry or contents fail validation
  timeout,           ///< a segment still being created after open_timeout, a directory lock held by a stopped process
  system,            ///< an OS call failed (the message has errno's text and the file)
  removed,           ///< the bus was removed (courier rm --force) while this process had it open
  no_space,          ///< /dev/shm has no room for what the bus must hold (its fixed parts at creation)
};

/// The enumerator's name ("invalid_argument", ...), for messages and JSON;
/// "unknown" for a value outside the enum. Never blocks, never allocates.
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

/// An error of a cold path: a code and a one-line message that says what
/// failed and where. A value type: copy and move it freely.
struct Error {
  Errc code;            ///< what kind of failure
  std::string message;  ///< for a person: what failed and where, one line, no trailing newline

  /// An error of kind `c` saying `m`.
  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}

  /// Prepend where the error happened: e.with_context("opening bus 'x'")
  /// makes "opening bus 'x': " + message. Allocates (the message grows).
  Error& with_context(std::string_view where) & {
    message.insert(0, std::string(where) + ": ");
    return *this;
  }
  /// As with_context() above, on a temporary (returns it moved).
  Error&& with_context(std::string_view where) && {
    message.insert(0, std::string(where) + ": ");
    return std::move(*this);
  }
};

/// The error of every call on a bus removed while it was open (Errc::removed),
/// naming bus `bus`.
inline Error removed_error(std::string_view bus) {
  return Error(Errc::removed, "bus '" + std::string(bus) + "' was removed (courier rm --force); open it again");
}

}  // namespace courier
