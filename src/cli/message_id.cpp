// cli/message_id.cpp — message ids (64-bit) in the JSON `courier` prints
// (strings) and on its command line (as printed, or as JSON gave them).
#include <charconv>
#include <string>

#include "common.hpp"

namespace courier::cli {

Json id_json(std::uint64_t id) { return std::to_string(id); }

std::uint64_t parse_message_id(std::string_view text, std::string_view what, bool zero_ok) {
  std::string_view digits = text;
  if (digits.size() >= 2 && digits.front() == '"' && digits.back() == '"') digits = digits.substr(1, digits.size() - 2);
  std::uint64_t n = 0;
  const char* end = digits.data() + digits.size();
  auto [p, ec] = std::from_chars(digits.data(), end, n);
  const std::string kind = zero_ok ? "a non-negative integer" : "a positive integer";
  if (digits.empty() || p != end || ec == std::errc::invalid_argument || (n == 0 && !zero_ok) || digits[0] == '+')
    throw UsageError(std::string(what) + ": not " + kind + ": " + single_quoted(text) + " (123 or \"123\")");
  if (ec == std::errc::result_out_of_range)
    throw UsageError(std::string(what) + ": must be at most 18446744073709551615, got " + single_quoted(text));
  return n;
}

}  // namespace courier::cli
