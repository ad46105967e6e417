// Tests of courier/duration.hpp: parse_duration and format_duration.
#include "courier/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace courier {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

nanoseconds parsed(std::string_view text) {
  auto d = parse_duration(text);
  EXPECT_TRUE(d) << text << ": " << (d ? "" : d.error().message);
  return d ? *d : nanoseconds{-1};
}

// The error message for `text`, which must be refused.
std::string refusal(std::string_view text) {
  auto d = parse_duration(text);
  EXPECT_FALSE(d) << text << " was accepted as " << (d ? d->count() : 0) << " ns";
  if (d) return {};
  EXPECT_EQ(d.error().code, Errc::invalid_argument);
  return d.error().message;
}

TEST(ParseDuration, readsEveryUnit) {
  EXPECT_EQ(parsed("7ns"), 7ns);
  EXPECT_EQ(parsed("7us"), 7us);
  EXPECT_EQ(parsed("7\xC2\xB5s"), 7us);  // µs
  EXPECT_EQ(parsed("250ms"), 250ms);
  EXPECT_EQ(parsed("10s"), 10s);
  EXPECT_EQ(parsed("5m"), 5min);
  EXPECT_EQ(parsed("2h"), 2h);
  EXPECT_EQ(parsed("3d"), 72h);
}

TEST(ParseDuration, zeroNeedsNoUnit) {
  EXPECT_EQ(parsed("0"), 0ns);
  EXPECT_EQ(parsed("0s"), 0ns);
  EXPECT_EQ(parsed("0ms"), 0ns);
}

TEST(ParseDuration, sumsJoinedParts) {
  EXPECT_EQ(parsed("1h30m"), 90min);
  EXPECT_EQ(parsed("1d2h3m4s5ms6us7ns"), 24h + 2h + 3min + 4s + 5ms + 6us + 7ns);
  EXPECT_EQ(parsed("1h7ns"), 1h + 7ns);  // units may be skipped
}

// Issue 13: "1h1h" and "30m1h" were summed; a typo is refused instead.
TEST(ParseDuration, refusesAUnitGivenTwice) {
  EXPECT_NE(refusal("1h1h").find("unit 'h' given twice"), std::string::npos);
  EXPECT_NE(refusal("1s1s").find("unit 's' given twice"), std::string::npos);
  refusal("1h30m1h");
  refusal("1us1\xC2\xB5s");  // us and µs are one unit
}

TEST(ParseDuration, refusesUnitsOutOfOrder) {
  const std::string why = refusal("30m1h");
  EXPECT_NE(why.find("unit 'h' after 'm' (largest unit first, each once: 1h30m)"), std::string::npos) << why;
  refusal("1ms1s");
  refusal("1ns1us");
  refusal("1s1d");
}

TEST(ParseDuration, leadingZerosAndLongNumbersAreFine) {
  EXPECT_EQ(parsed("007s"), 7s);
  EXPECT_EQ(parsed("000000000000000000000000001ns"), 1ns);
  EXPECT_EQ(parsed("3153600000000000000ns"), max_duration);
}

TEST(ParseDuration, refusesAPlainNumber) {
  EXPECT_NE(refusal("10").find("missing unit"), std::string::npos);
  EXPECT_NE(refusal("1h30").find("missing unit after '30'"), std::string::npos);
}

TEST(ParseDuration, refusesUnknownUnits) {
  const std::string why = refusal("10parsecs");
  EXPECT_NE(why.find("'10parsecs'"), std::string::npos) << why;
  EXPECT_NE(why.find("unknown unit 'parsecs'"), std::string::npos) << why;
  refusal("10S");
  refusal("10sec");
  refusal("10 s");
  refusal("10M");
}

TEST(ParseDuration, refusesMalformedInput) {
  EXPECT_NE(refusal("").find("empty"), std::string::npos);
  EXPECT_NE(refusal("-5s").find("negative"), std::string::npos);
  EXPECT_NE(refusal("1.5s").find("fractions"), std::string::npos);
  refusal("s");
  refusal("+5s");
  refusal(" 5s");
  refusal("5s ");
  refusal("ms5");
  refusal(std::string_view("5\0s", 3));
}

TEST(ParseDuration, refusesWhatDoesNotFitInNanoseconds) {
  EXPECT_NE(refusal("9223372036854775808ns").find("too long"), std::string::npos);
  refusal("99999999999999999999999999s");
  refusal("106752d");   // 106752 days > 2^63 ns
  refusal("2562048h");  // 2562048 h > 2^63 ns
}

// Issue 13: the longest duration is 36500 days, so that now + any duration is
// a deadline that still fits in a signed 64-bit count of nanoseconds.
TEST(ParseDuration, refusesMoreThanMaxDuration) {
  EXPECT_EQ(max_duration, 36500 * 24h);
  EXPECT_EQ(parsed("36500d"), max_duration);
  EXPECT_NE(refusal("36501d").find("too long (at most 36500d, about 100 years)"), std::string::npos);
  refusal("9223372036854775807ns");
  refusal("106751d");
  refusal("36500d1ns");  // each part fits, the sum does not
  refusal("876001h");
  EXPECT_EQ(parsed("36499d23h59m59s999ms999us999ns"), max_duration - 1ns);
}

TEST(FormatDuration, writesTheShortestExactForm) {
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(1ns), "1ns");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500us), "1ms500us");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(26h), "1d2h");
  EXPECT_EQ(format_duration(-1s), "-1s");
  EXPECT_EQ(format_duration(nanoseconds::min()), "-106751d23h47m16s854ms775us808ns");
}

TEST(FormatDuration, roundTripsThroughParse) {
  const nanoseconds samples[] = {
      0ns, 1ns, 999ns, 1us, 1001us, 59s, 60s, 61s, 3599s, 86'400s, 86'401s, 123'456'789'012ns, max_duration};
  for (nanoseconds d : samples) EXPECT_EQ(parsed(format_duration(d)), d) << format_duration(d);
}

}  // namespace
}  // namespace courier
