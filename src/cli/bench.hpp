// cli/bench.hpp — `courier bench`: latency and throughput between two
// processes on a bus the user names, through the public API only.
//
// The parent process (the CLI) opens or creates the bus, registers two
// endpoints of its own ("bench.<pid>.ping", "bench.<pid>.pong"), and forks a
// peer before it opens anything (fork of a process with one thread). The two
// talk about the run over pipes (ready, warmed up, done, errors) and exchange
// the measured messages over the bus:
//   pingpong  the parent sends to pong, the peer echoes back to ping; one
//             sample per round trip (steady_clock, i.e. CLOCK_MONOTONIC)
//   stream    the parent sends `count` messages as fast as the lane takes
//             them; the peer stamps the last one's arrival (the same clock,
//             shared by the processes of a host): one-way msgs/s and MB/s
// Files: bench.cpp (options, the bus, the run), bench_peer.cpp (both sides'
// loops and the pipe protocol), bench_report.cpp (percentiles, table, JSON,
// gnuplot).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"

namespace courier::cli::bench {

enum class Mode { pingpong, stream };

// What the command line asked for.
struct Config {
  std::string bus;
  Mode mode = Mode::pingpong;
  std::vector<std::uint32_t> sizes;  // payload bytes, one run each
  std::uint64_t count = 0;           // measured messages (round trips) per size
  std::uint64_t warmup = 0;          // unmeasured ones before them, per size
  std::uint8_t priority = 8;
  bool tracked = false;      // expiry 60 s and an id: tracked (and logged on a bus with a log)
  ReceiverOptions receiver;  // --idle: how both receivers wait (default: the library's)
  std::string idle = "default";
  bool json = false;
  std::string plot;          // PNG to write, or empty
  std::string ping, pong;    // the two endpoints
  std::string log_dir;       // the bus's log (LOG_DIR), or empty
  std::optional<Sync> sync;  // the bus's policy when it has a log
  bool bus_created = false;  // this run made the bus (and removes it)
};

// The expiry of tracked messages: long enough that none expires while a side
// waits for its CPU; tracker entries live this long plus the bus's retention.
inline constexpr auto tracked_expiry = std::chrono::seconds(60);
// How long one side waits for a live other side before it gives up (a peer
// that died is seen at once, on its pipe): a peer that stalled. Long enough
// for a slow start (a sanitizer build, a loaded host), not a measurement.
inline constexpr auto patience = std::chrono::seconds(60);

// One payload size's results.
struct SizeResult {
  std::uint32_t size = 0;
  std::uint64_t sent = 0;              // measured messages the parent sent
  std::uint64_t received = 0;          // pingpong: replies the parent received; stream: messages the peer received
  std::uint64_t peer_received = 0;     // every message the peer took, warm-up included
  std::uint64_t delivered = 0;         // --tracked: `delivered` statuses the parent saw (its own messages)
  std::uint64_t elapsed_ns = 0;        // measured part: first send to last reply (pingpong) or last arrival (stream)
  std::vector<std::uint64_t> samples;  // pingpong: round trips in ns
};

// The pipe between the parent and its peer (bench_peer.cpp).
struct PeerLink {
  int pid = -1;
  int to_peer = -1;    // parent -> peer: "go", then nothing
  int from_peer = -1;  // peer -> parent: reports
};

// Fork the peer; it waits for go(). Call before anything starts a thread.
PeerLink fork_peer(const Config& c);
// Tell the peer the bus is ready (its endpoints exist, ping's receiver is attached).
void go(const PeerLink& link);
// Wait for the peer's "ready" (its receiver is attached).
void await_ready(PeerLink& link);
// The parent's side of one size (bench_peer.cpp).
SizeResult run_size(const Config& c, Bus& bus, Receiver& rx, Endpoint& tx, PeerLink& link, std::uint32_t size);
// Stop and reap the peer (SIGTERM when it still runs). Its exit status, or -1.
int reap_peer(PeerLink& link, bool kill_it);

// Bring in the pages of both endpoints' lanes (and status rings, --tracked)
// in this process, so that no first pass of a run pays page faults.
void prefault(const Config& c, const Bus& bus);

// Set by SIGINT / SIGTERM: every loop stops and the run cleans up.
bool interrupted() noexcept;
void catch_interrupts();

// Reports (bench_report.cpp).
std::string results_text(const Config& c, const std::vector<SizeResult>& r);
Json results_json(const Config& c, const std::vector<SizeResult>& r);
bool gnuplot_present();
// Write the round-trip distributions of `r` as a PNG; the reason when it could not.
std::optional<std::string> write_plot(const Config& c, const std::vector<SizeResult>& r);

}  // namespace courier::cli::bench
