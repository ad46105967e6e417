// bench/courier_bench/scale.hpp — the scale section of courier-bench: does a
// receive cost more when the bus is bigger, when messages sit in more lanes?
// What do tracking and group fan-out cost a send, what is the in-process round
// trip, and does an urgent message overtake a flood?
//
//   endpoints  send and receive cost (ns per 64 B message, one thread: send 16,
//              then receive 16) with 1, 100 and 1,000 endpoints registered on
//              a bus of 1,001 endpoints (4 KiB lanes); the receiving endpoint
//              is the last one registered
//   lanes      receive cost (ns per message, a timed drain of 1,024 waiting
//              messages) when they sit in 1 lane (the lowest priority: 15
//              empty lanes above it) vs spread over all 16; and in 1 lane
//              right after a 16-lane drain, while the 15 empty lanes above it
//              are still flagged non-empty in the inbox bitmap
//   tracked    send cost (ns per 64 B message, a timed batch of 64 sends) of
//              fire-and-forget (expiry 0, id 0) vs tracked (expiry 30 s: an id,
//              a tracker entry, statuses) messages, and of the whole cycle:
//              send, receive (the receiver acknowledges tracked ones:
//              delivered) and the sender's status poll
//   groups     fan-out: ns per member of a timed batch of 16 sends to a group
//              of 1, 4, 16 or 64 members, against ns per message of 16 sends
//              to one endpoint; fire-and-forget and tracked
//   inproc     round trip between two threads (CPUs A and B) through a bus
//              opened with Options::in_process, beside the cache line bounced
//              between the same threads and the same bus in /dev/shm (the
//              transports of the round-trip table, runs interleaved)
//   urgent     send -> receive latency of a priority-0 message sent every 20 us
//              by another process (CPU B; stamp: the TSC, the same clock in
//              both processes), without and with a flood of priority-15
//              messages from that process, whose receiver spends 200 ns on each
//              flood message (so a backlog builds: the flood's lane stays
//              full); and, for contrast, the urgent message sent in the flood's
//              own lane (no overtaking possible)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "report.hpp"

namespace cbench {

struct ScaleOptions {
  bool quick = false;
  int cpu_child = 1;  // the other process's CPU (urgent); this thread is pinned already
  std::uint64_t timeout_ns = 5'000'000'000ull;
  Control* ctrl = nullptr;  // the control block, mapped before any fork
};

struct ScaleOutcome {
  bool ok = true;  // false: a part failed (its row says FAILED and why)
  std::vector<ScaleRow> rows;
  std::string settings;  // one line: what was run, how many samples
};

ScaleOutcome run_scale_section(const ScaleOptions& so);

}  // namespace cbench
