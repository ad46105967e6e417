// bench/courier_bench/cache_line.hpp — the cache-line floor's exchange, shared
// by floor.cacheline (two processes, the line in shared memory) and
// inproc.floor.cacheline (two threads, the line in the heap): one 64-byte
// line bounced between the two sides, a sequence number and up to 56 payload
// bytes; each side spins until the number moves.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "harness.hpp"

namespace cbench {

inline constexpr std::size_t cache_line_bytes = 64;

struct alignas(cache_line_bytes) CacheLine {
  std::atomic<std::uint64_t> seq{0};  // odd: a ping is in the line; even: the pong is
  std::byte payload[cache_line_bytes - 8]{};
};
static_assert(sizeof(CacheLine) == cache_line_bytes);

// One side's end of a line: ping() puts a message in and waits for its echo,
// pong() waits for a message and echoes it (copied out, then in, as a
// receive and a send would).
class LineExchange {
 public:
  void attach(CacheLine* line) noexcept {
    line_ = line;
    seq_ = 0;
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd) {
    std::memcpy(line_->payload, msg, n);
    // SYNC POINT WRITE: payload, partner of pong's acquire load of seq.
    line_->seq.store(++seq_, std::memory_order_release);
    wd.begin();
    // SYNC POINT READ: the echoed payload, partner of pong's release store.
    while (line_->seq.load(std::memory_order_acquire) != seq_ + 1) {
      cpu_relax();
      if (!wd.spin_ok()) return false;
    }
    ++seq_;
    std::memcpy(reply, line_->payload, n);
    return true;
  }

  bool pong(Watchdog& wd) {
    wd.begin();
    // Acquire: partner of ping's release store (the payload is visible).
    while (line_->seq.load(std::memory_order_acquire) != seq_ + 1) {
      cpu_relax();
      if (!wd.spin_ok()) return false;
    }
    std::byte buf[sizeof(CacheLine::payload)];
    std::memcpy(buf, line_->payload, sizeof buf);  // receive: copy out
    std::memcpy(line_->payload, buf, sizeof buf);  // send: copy in
    seq_ += 2;
    // Release: publishes the echoed payload to ping's acquire load.
    line_->seq.store(seq_, std::memory_order_release);
    return true;
  }

 private:
  CacheLine* line_ = nullptr;
  std::uint64_t seq_ = 0;
};

}  // namespace cbench
