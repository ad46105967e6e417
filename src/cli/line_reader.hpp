// cli/line_reader.hpp — the lines of stdin, one at a time, for `courier send
// --lines`: a line is a view into the reader's buffer (no copy), a line longer
// than the limit is reported without being read whole, and a caller that has
// other work can ask without blocking.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"

namespace courier::cli {

// The lines of stdin, each a view into the buffer valid until the next call.
// A line is held whole only up to `max_line` bytes: a longer one is reported
// (too_long) once that much of it has been read, not read to its end.
class LineReader {
 public:
  enum class Got { line, not_ready, too_long, end };

  explicit LineReader(std::size_t max_line) : max_line_(max_line), buf_(2 * chunk) {}

  // The next line, without its '\n' (a last line without one counts). Unless
  // may_block, not_ready rather than wait for stdin.
  Got next(bool may_block, std::string_view& line) {
    for (;;) {
      const char* base = buf_.data();
      if (const void* nl = std::memchr(base + scan_, '\n', end_ - scan_)) {
        const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
        line = std::string_view(base + begin_, at - begin_);
        begin_ = scan_ = at + 1;
        ++number_;
        return line.size() > max_line_ ? Got::too_long : Got::line;
      }
      scan_ = end_;
      if (end_ - begin_ > max_line_) {
        ++number_;
        return Got::too_long;
      }
      if (eof_) {
        if (begin_ == end_) return Got::end;
        line = std::string_view(base + begin_, end_ - begin_);
        begin_ = scan_ = end_;
        ++number_;
        return Got::line;
      }
      if (!may_block && !readable(0)) return Got::not_ready;
      fill();
    }
  }
  // The number of the line last returned (1 is the first).
  std::uint64_t number() const noexcept { return number_; }
  bool ended() const noexcept { return eof_ && begin_ == end_; }

  // Wait up to `ns` for stdin to have something (data or its end).
  bool readable(std::uint64_t ns) const {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    constexpr std::uint64_t ms = 1'000'000;
    const int n = ::poll(&p, 1, static_cast<int>((ns + ms - 1) / ms));  // rounded up: 0 stays 0
    return n > 0;
  }

 private:
  static constexpr std::size_t chunk = 64 << 10;

  void fill() {
    // What is kept is at most max_line_ bytes (else too_long came first).
    if (buf_.size() - end_ < chunk && begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      scan_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < chunk) buf_.resize(std::max(2 * buf_.size(), end_ + chunk));
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buf_.data() + end_, buf_.size() - end_);
      if (n > 0) {
        end_ += static_cast<std::size_t>(n);
        return;
      }
      if (n == 0) {
        eof_ = true;
        return;
      }
      if (errno != EINTR) throw Failure(std::string("reading the lines from stdin: ") + std::strerror(errno));
    }
  }

  std::size_t max_line_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, scan_ = 0, end_ = 0;  // the unreturned bytes, and how far '\n' was looked for
  std::uint64_t number_ = 0;
  bool eof_ = false;
};

}  // namespace courier::cli
