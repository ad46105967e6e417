/// @file
/// Durations as people write them on a command line or in a config file, and back.
///
///     parse_duration("250ms")  -> 250 ms         format_duration(90s)    -> "1m30s"
///     parse_duration("1h30m")  -> 5400 s         format_duration(1500us) -> "1ms500us"
///     parse_duration("10")     -> error: missing unit
///
/// Grammar: one or more `<digits><unit>` parts, summed; no sign, spaces or
/// fractions ("1.5s" is written "1s500ms"). Each unit at most once, largest
/// first ("1h30m", not "30m1h" nor "1h1h": a typo is refused, not summed).
///
///     unit: ns | us (or µs) | ms | s | m (minute) | h | d (24 h)
///
/// "0" alone means zero; any other number needs a unit, so that "10" is not
/// silently read as 10 ns or 10 s. The total may be at most max_duration
/// (36500d, about 100 years): a deadline of now + any duration still fits in
/// a signed 64-bit count of nanoseconds since 1970, with room to spare.
/// Both functions are pure: safe from any thread; they allocate only their
/// result (and an error's message).
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

/// The longest duration parse_duration reads: 36500 days.
inline constexpr std::chrono::nanoseconds max_duration{36500 * detail::duration_units[0].ns};

/// The duration `text` spells, or an Error (Errc::invalid_argument, the only
/// code) saying why not. The message quotes the text but not where it came
/// from: callers prepend that ("--expiry: ...").
inline Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using detail::is_digit;
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument, "bad duration '" + std::string(text) + "': " + why);
  };
  constexpr std::int64_t max = max_duration.count();
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::nanoseconds{0};
  if (text[0] == '-') return bad("negative durations are not allowed");

  std::int64_t total = 0;
  std::int64_t last_scale = 0;  // of the part before: each part's unit is smaller
  std::string_view last_unit;
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
    if (scale == last_scale) return bad("unit '" + std::string(unit) + "' given twice");
    if (last_scale != 0 && scale > last_scale)
      return bad("unit '" + std::string(unit) + "' after '" + std::string(last_unit) +
                 "' (largest unit first, each once: 1h30m)");
    last_scale = scale;
    last_unit = unit;
    if (overflow || n > max / scale || n * scale > max - total)
      return bad("too long (at most 36500d, about 100 years)");
    total += n * scale;
  }
  return std::chrono::nanoseconds{total};
}

/// The shortest exact spelling of `d` that parse_duration reads back as `d`
/// (when 0 <= d <= max_duration):
/// "0s", "250ms", "1m30s", "1d2h", "1s500us". Negative durations get a leading
/// '-' (which parse_duration refuses).
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
