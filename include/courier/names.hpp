/// @file
/// What a bus name and an endpoint name may be.
///
///     bus:      [A-Za-z0-9._-]{1,64}, not "." or ".." (it names a file in /dev/shm
///               and a log directory: nothing that escapes the directory)
///     endpoint: [A-Za-z0-9._@:-]{1,63}, not "." or ".." (a name may end up in a
///               path or a file name: nothing that means a directory)
///
/// Group names follow the endpoint rule. Errors quote a refused name with
/// escape_controls: a control character never reaches a terminal raw. The
/// functions here are pure (no shared state): safe from any thread; they
/// allocate only the string they return.
#pragma once

#include <string>
#include <string_view>

namespace courier {

inline constexpr std::size_t max_bus_name_len = 64;  ///< the longest bus name, in bytes

/// `text` with every control character (below 0x20, and 0x7f) written as an
/// escape: `\n`, `\r`, `\t`, `\0`, or `\xHH`; other bytes as they are. For error
/// messages that quote something the caller typed or a file held.
inline std::string escape_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\0': out += "\\0"; break;
      default: {
        const char* hex = "0123456789abcdef";
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 0xf];
      }
    }
  }
  return out;
}

namespace detail {
constexpr bool name_char(char c, bool endpoint) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || (endpoint && (c == '@' || c == ':'));
}
}  // namespace detail

/// Why `name` is not a valid bus name (one line, for an error message), or
/// an empty string when it is.
inline std::string bus_name_problem(std::string_view name) {
  if (name.empty()) return "bus name is empty";
  if (name.size() > max_bus_name_len) return "bus name is longer than 64 characters";
  if (name == "." || name == "..") return "bus name may not be '.' or '..'";
  for (char c : name)
    if (!detail::name_char(c, false))
      return "bus name has a character outside [A-Za-z0-9._-]: '" + escape_controls(std::string_view(&c, 1)) + "'";
  return {};
}

/// Why `name` is not a valid endpoint (or group) name, or an empty string
/// when it is.
inline std::string endpoint_name_problem(std::string_view name) {
  if (name.empty()) return "endpoint name is empty";
  if (name.size() > 63) return "endpoint name is longer than 63 characters";
  if (name == "." || name == "..") return "endpoint name may not be '.' or '..'";
  for (char c : name)
    if (!detail::name_char(c, true))
      return "endpoint name has a character outside [A-Za-z0-9._@:-]: '" + escape_controls(std::string_view(&c, 1)) +
             "'";
  return {};
}

}  // namespace courier
