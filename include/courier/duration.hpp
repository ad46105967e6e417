// courier/duration.hpp — durations as people write them on a command line or in
// a config file, and back.
//
//   parse_duration("250ms")  -> 250 ms         format_duration(90s)    -> "1m30s"
//   parse_duration("1h30m")  -> 5400 s         format_duration(1500us) -> "1ms500us"
//   parse_duration("10")     -> error: missing unit
//
// Grammar: one or more <digits><unit> parts, summed; no sign, spaces or
// fractions ("1.5s" is written "1s500ms").
//   unit: ns | us (or µs) | ms | s | m (minute) | h | d (24 h)
// "0" alone means zero; any other number needs a unit, so that "10" is not
// silently read as 10 ns or 10 s. The total must fit in std::chrono::nanoseconds
// (about 292 years).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "courier/result.hpp"

namespace courier {

namespace detail {

struct DurationUnit {
  std::string_view suffix;
  std::int64_t ns;
};

// Largest first: format_duration walks it in this order.
inline constexpr DurationUnit duration_units[] = {
    {"d", 86'400'000'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
    {"us", 1'000},
    {"ns", 1},
};

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace detail

// The duration `text` spells, or an Error (invalid_argument) saying why not.
// The message quotes the text but not where it came from: callers prepend that
// ("--expiry: ...").
inline Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using detail::is_digit;
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument, "bad duration '" + std::string(text) + "': " + why);
  };
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::nanoseconds{0};
  if (text[0] == '-') return bad("negative durations are not allowed");

  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) return bad("expected a number at '" + std::string(text.substr(i)) + "'");
    const std::size_t number_start = i;
    std::int64_t n = 0;
    bool overflow = false;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      const int digit = text[i] - '0';
      if (n > (max - digit) / 10)
        overflow = true;
      else
        n = n * 10 + digit;
    }
    const std::size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty())
      return bad("missing unit after '" + std::string(text.substr(number_start)) + "' (ns, us, ms, s, m, h or d)");
    if (unit[0] == '.') return bad("fractions are not supported (write 1s500ms, not 1.5s)");
    std::int64_t scale = 0;
    for (const detail::DurationUnit& u : detail::duration_units)
      if (unit == u.suffix) scale = u.ns;
    if (unit == "\xC2\xB5s") scale = 1'000;  // µs, U+00B5 in UTF-8
    if (scale == 0) return bad("unknown unit '" + std::string(unit) + "' (ns, us, ms, s, m, h or d)");
    if (overflow || n > max / scale || n * scale > max - total) return bad("too long (at most about 292 years)");
    total += n * scale;
  }
  return std::chrono::nanoseconds{total};
}

// The shortest exact spelling of `d` that parse_duration reads back as `d`:
// "0s", "250ms", "1m30s", "1d2h", "1s500us". Negative durations get a leading
// '-' (which parse_duration refuses).
inline std::string format_duration(std::chrono::nanoseconds d) {
  if (d.count() == 0) return "0s";
  std::string out;
  // Work on the magnitude as unsigned: -min() does not fit in int64.
  std::uint64_t rest = static_cast<std::uint64_t>(d.count());
  if (d.count() < 0) {
    out += '-';
    rest = ~rest + 1;
  }
  for (const detail::DurationUnit& u : detail::duration_units) {
    const std::uint64_t scale = static_cast<std::uint64_t>(u.ns);
    if (rest >= scale) {
      out += std::to_string(rest / scale);
      out += u.suffix;
      rest %= scale;
    }
  }
  return out;
}

}  // namespace courier
