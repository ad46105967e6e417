// bench/courier_bench/scale_tracked.cpp — the scale section: what tracking costs a send (see scale.hpp).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "scale_parts.hpp"

namespace cbench::scale_parts {

// ------------------------------------------------------------ tracked
constexpr unsigned track_batch = 64;  // 64 records of 128 B per batch

// One batch: `track_batch` timed sends (send ns/msg), then the receives (the
// receiver acknowledges tracked ones: auto_ack) and the sender's status poll;
// the whole cycle is timed too (send + receive + ack + status ns/msg).
bool track_batches(courier::Bus& bus, Loop& l, bool tracked, TrackState& ts, unsigned batches,
                   std::vector<double>* send_keep, std::vector<double>* cycle_keep, std::string& err) {
  std::byte msg[payload] = {};
  const std::span<const std::byte> data(msg, sizeof msg);
  l.so.expiry = tracked ? std::chrono::nanoseconds(tracked_expiry) : std::chrono::nanoseconds(0);
  for (unsigned b = 0; b < batches; ++b) {
    if (tracked) ts.make_room(bus, track_batch);
    const std::uint64_t t0 = Timer::now();
    for (unsigned i = 0; i < track_batch; ++i) {
      const courier::SendResult r = l.tx->send(l.so, data);
      if (!r) {
        err = std::string("send: ") + std::string(courier::status_name(r.status));
        return false;
      }
      if ((r.id != 0) != tracked) {
        err = tracked ? "a tracked send got no id" : "a fire-and-forget send got an id";
        return false;
      }
    }
    const std::uint64_t t1 = Timer::now();
    for (unsigned i = 0; i < track_batch; ++i)
      if (!l.rx->try_receive()) {
        err = "a sent message is missing";
        return false;
      }
    l.rx->release();
    auto events = l.tx->poll_status();
    const std::uint64_t t2 = Timer::now();
    if (!events) {
      err = "poll_status: " + events.error().message;
      return false;
    }
    // Tracked: `sent` (the send's outcome: no on_status callback took it) and `delivered` per message.
    if (*events != (tracked ? 2 * track_batch : 0u)) {
      err = "expected " + std::to_string(tracked ? 2 * track_batch : 0u) + " sent + delivered events, got " +
            std::to_string(*events);
      return false;
    }
    if (tracked) ts.in_tracker += track_batch;
    if (send_keep != nullptr) send_keep->push_back(Timer::to_ns(t1 - t0) / track_batch);
    if (cycle_keep != nullptr) cycle_keep->push_back(Timer::to_ns(t2 - t0) / track_batch);
  }
  return true;
}

void tracked_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out) {
  const unsigned batches = so.quick ? 1'000 : 5'000;  // per case and round
  ScratchBus bus;
  Loop loop;
  std::string err;
  bool ok = open_loop_bus(bus, loop, "track", err);
  TrackState ts;
  std::vector<double> send_ns[2], cycle_ns[2];  // [0] fire-and-forget, [1] tracked
  for (unsigned k = 0; ok && k < 2; ++k) ok = track_batches(bus.bus(), loop, k == 1, ts, 50, nullptr, nullptr, err);
  for (unsigned i = 0; ok && i < rounds * batches; ++i)
    for (unsigned k = 0; ok && k < 2; ++k)
      ok = track_batches(bus.bus(), loop, k == 1, ts, 1, &send_ns[k], &cycle_ns[k], err);
  if (!ok) {
    out.ok = false;
    out.rows.push_back(failed_row("tracked", "tracked vs fire-and-forget", "send ns/msg", err));
    return;
  }
  const char* labels[] = {"fire-and-forget (expiry 0, id 0)", "tracked (expiry 30 s, id from the bus)"};
  char note[200];
  std::snprintf(note, sizeof note,
                "batch of %u / %u; tracker %llu entries, emptied untimed %llu times (kept <= 50%% full)", track_batch,
                track_batch, static_cast<unsigned long long>(bus.bus().settings().tracker_capacity),
                static_cast<unsigned long long>(ts.retired_runs));
  for (unsigned k = 0; k < 2; ++k) {
    out.rows.push_back(ScaleRow{"tracked", labels[k], "send ns/msg", summarize_ns(send_ns[k]),
                                k == 0 ? std::string("batch of 64 / 64; receiver attached (real-time)") : note});
    out.rows.push_back(
        ScaleRow{"tracked", labels[k], "send+receive+status ns/msg", summarize_ns(cycle_ns[k]),
                 k == 0 ? std::string("send, receive, poll_status (no events)")
                        : std::string("send, receive (auto-ack: delivered), poll_status (sent + delivered each)")});
    std::fprintf(stderr, "  %-40s send %6.1f ns/msg  send+receive+status %6.1f ns/msg (p50)\n", labels[k],
                 out.rows.end()[-2].pct.p50, out.rows.back().pct.p50);
  }
}

}  // namespace cbench::scale_parts
