// cli/args.hpp — the command line of `courier`: options and operands, and the
// typed readers of their values. Every problem is a UsageError whose message
// names the argument and says why ("--priority: must be 0..15, got 16"); main
// prints it and exits 2.
//
// Syntax: "--name value" or "--name=value" for options that take a value,
// "--name" for flags. Options may come anywhere, before or after the command
// and its operands. "--" ends the options (for an operand that begins with
// '-'); "-" alone is an operand; "-h" is --help.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "courier/duration.hpp"

namespace courier::cli {

// A bad command line: exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure at run time (no such bus, endpoint busy, ...): exit status 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  bool takes_value;
  unsigned commands;  // bit set of the commands that accept it (see main.cpp)
};

class Args {
 public:
  // Split argv into operands and options known to `specs`. Which command may
  // use which option is checked later (allow_only), once the command is known.
  static Args parse(std::span<char* const> argv, std::span<const OptionSpec> specs) {
    Args a;
    bool options_ended = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
      std::string_view arg = argv[i];
      if (options_ended || arg.size() < 2 || arg[0] != '-') {
        a.operands_.emplace_back(arg);
        continue;
      }
      if (arg == "--") {
        options_ended = true;
        continue;
      }
      if (arg == "-h") arg = "--help";
      if (arg[1] != '-')
        throw UsageError(std::string(arg) + ": unknown option (options begin with --; see courier --help)");
      const std::size_t eq = arg.find('=');
      const std::string_view name = arg.substr(2, eq == std::string_view::npos ? std::string_view::npos : eq - 2);
      const OptionSpec* spec = find(specs, name);
      if (spec == nullptr) throw UsageError("--" + std::string(name) + ": unknown option (see courier --help)");
      if (a.find_given(name) != nullptr) throw UsageError("--" + std::string(name) + ": given more than once");
      Given g{spec, {}};
      if (!spec->takes_value) {
        if (eq != std::string_view::npos) throw UsageError("--" + std::string(name) + ": takes no value");
      } else if (eq != std::string_view::npos) {
        g.value = arg.substr(eq + 1);
      } else {
        // The next argument is the value, unless it is another option.
        if (i + 1 == argv.size() || (std::string_view(argv[i + 1]).starts_with("--") && argv[i + 1][2] != '\0'))
          throw UsageError("--" + std::string(name) + ": missing value");
        g.value = argv[++i];
      }
      a.given_.push_back(std::move(g));
    }
    return a;
  }

  const std::vector<std::string>& operands() const noexcept { return operands_; }

  // Refuse options that `command` (a bit of OptionSpec::commands) does not take.
  void allow_only(unsigned command, std::string_view command_name) const {
    for (const Given& g : given_)
      if ((g.spec->commands & command) == 0)
        throw UsageError("--" + std::string(g.spec->name) + ": not an option of '" + std::string(command_name) + "'");
  }

  bool flag(std::string_view name) const { return find_given(name) != nullptr; }
  std::optional<std::string_view> value(std::string_view name) const {
    const Given* g = find_given(name);
    if (g == nullptr) return std::nullopt;
    return std::string_view(g->value);
  }

  // --name as an unsigned integer in [min, max]; nullopt when not given.
  template <class T>
  std::optional<T> uint(std::string_view name, T min = 0, T max = std::numeric_limits<T>::max()) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    return parse_uint<T>(*v, "--" + std::string(name), min, max);
  }

  // --name as a byte count with an optional binary suffix (K, KiB, M, MiB, G, GiB).
  std::optional<std::uint64_t> bytes(std::string_view name) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    return parse_bytes(*v, "--" + std::string(name));
  }

  // --name as a duration (courier/duration.hpp).
  std::optional<std::chrono::nanoseconds> duration(std::string_view name) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    auto d = parse_duration(*v);
    if (!d) throw UsageError("--" + std::string(name) + ": " + d.error().message);
    return *d;
  }

  template <class T>
  static T parse_uint(std::string_view text, const std::string& what, T min, T max) {
    std::uint64_t n = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || p != end || ec == std::errc::invalid_argument)
      throw UsageError(what + ": not a non-negative integer: '" + std::string(text) + "'");
    if (ec == std::errc::result_out_of_range || n < min || n > max) {
      const std::string range = max != std::numeric_limits<T>::max() ? std::to_string(min) + ".." + std::to_string(max)
                                : min > 0                            ? "at least " + std::to_string(min)
                                                                     : "at most " + std::to_string(max);
      throw UsageError(what + ": must be " + range + ", got " + std::string(text));
    }
    return static_cast<T>(n);
  }

  static std::uint64_t parse_bytes(std::string_view text, const std::string& what) {
    struct Suffix {
      std::string_view text;
      unsigned shift;
    };
    static constexpr Suffix suffixes[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"K", 10},
                                          {"k", 10},   {"M", 20},   {"G", 30},   {"B", 0}};
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    const std::string_view suffix = text.substr(digits);
    unsigned shift = 0;
    bool known = suffix.empty();
    for (const Suffix& s : suffixes)
      if (suffix == s.text) shift = s.shift, known = true;
    if (digits == 0 || !known)
      throw UsageError(what + ": not a size: '" + std::string(text) + "' (bytes, or with K, KiB, M, MiB, G or GiB)");
    const auto n = parse_uint<std::uint64_t>(text.substr(0, digits), what, 0, ~0ull >> shift);
    return n << shift;
  }

 private:
  struct Given {
    const OptionSpec* spec;
    std::string value;
  };
  static const OptionSpec* find(std::span<const OptionSpec> specs, std::string_view name) {
    for (const OptionSpec& s : specs)
      if (s.name == name) return &s;
    return nullptr;
  }
  const Given* find_given(std::string_view name) const {
    for (const Given& g : given_)
      if (g.spec->name == name) return &g;
    return nullptr;
  }

  std::vector<std::string> operands_;
  std::vector<Given> given_;
};

}  // namespace courier::cli
