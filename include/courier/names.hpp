// courier/names.hpp — what a bus name and an endpoint name may be.
//   bus:      [A-Za-z0-9._-]{1,64}, not "." or ".." (it names a file in /dev/shm
//             and a log directory: nothing that escapes the directory)
//   endpoint: [A-Za-z0-9._@:-]{1,63}
#pragma once

#include <string>
#include <string_view>

namespace courier {

inline constexpr std::size_t max_bus_name_len = 64;

namespace detail {
constexpr bool name_char(char c, bool endpoint) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || (endpoint && (c == '@' || c == ':'));
}
}  // namespace detail

// Why `name` is not a valid bus name, or an empty string when it is.
inline std::string bus_name_problem(std::string_view name) {
  if (name.empty()) return "bus name is empty";
  if (name.size() > max_bus_name_len) return "bus name is longer than 64 characters";
  if (name == "." || name == "..") return "bus name may not be '.' or '..'";
  for (char c : name)
    if (!detail::name_char(c, false))
      return std::string("bus name has a character outside [A-Za-z0-9._-]: '") +
             (c == '\0' ? std::string("\\0") : std::string(1, c)) + "'";
  return {};
}

// Why `name` is not a valid endpoint name, or an empty string when it is.
inline std::string endpoint_name_problem(std::string_view name) {
  if (name.empty()) return "endpoint name is empty";
  if (name.size() > 63) return "endpoint name is longer than 63 characters";
  for (char c : name)
    if (!detail::name_char(c, true))
      return std::string("endpoint name has a character outside [A-Za-z0-9._@:-]: '") +
             (c == '\0' ? std::string("\\0") : std::string(1, c)) + "'";
  return {};
}

}  // namespace courier
