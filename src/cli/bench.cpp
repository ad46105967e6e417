// cli/bench.cpp — `courier bench BUS`: its options, the bus it runs on
// (created when missing, removed at the end only then), and the run: the peer
// forked first, then the bus, the endpoints, one run per payload size, the
// report, and the cleanup (also after an error or SIGINT). See bench.hpp.
#include "bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace courier::cli::bench {
namespace {

std::vector<std::uint32_t> parse_sizes(std::string_view list) {
  std::vector<std::uint32_t> sizes;
  std::size_t at = 0;
  for (;;) {
    const std::size_t comma = list.find(',', at);
    const std::string_view item = list.substr(at, comma == std::string_view::npos ? list.npos : comma - at);
    if (item.empty()) throw UsageError("--size: an empty size in '" + std::string(list) + "'");
    const std::uint64_t n = Args::parse_bytes(item, "--size");
    if (n > max_lane_capacity / 2 - message_header_bytes)
      throw UsageError("--size: " + std::string(item) + " is larger than any bus's largest payload");
    if (std::find(sizes.begin(), sizes.end(), n) == sizes.end()) sizes.push_back(static_cast<std::uint32_t>(n));
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return sizes;
}

Config read_config(const Invocation& inv) {
  const Args& a = inv.args;
  Config c;
  c.bus = bus_operand(inv);
  if (auto m = a.value("mode")) {
    if (*m == "pingpong" || *m == "ping-pong")
      c.mode = Mode::pingpong;
    else if (*m == "stream")
      c.mode = Mode::stream;
    else
      throw UsageError("--mode: must be pingpong or stream, got " + single_quoted(*m));
  }
  c.sizes = parse_sizes(a.value("size").value_or("64"));
  c.count = a.uint<std::uint64_t>("count", 1, 1'000'000'000).value_or(c.mode == Mode::pingpong ? 10'000 : 100'000);
  c.warmup = a.uint<std::uint64_t>("warmup", 0, 1'000'000'000).value_or(1'000);
  c.priority = a.uint<std::uint8_t>("priority", 0, priority_levels - 1).value_or(default_priority);
  c.tracked = a.flag("tracked");
  if (auto idle = a.value("idle")) {
    if (*idle == "spin")
      c.receiver.idle = IdleStrategy{.spin_ns = ~0ull, .park = false};  // busy-spin, never sleep
    else if (*idle == "park")
      c.receiver.idle = IdleStrategy{.spin_ns = 0, .park = true};  // sleep on the futex at once
    else if (*idle != "default")
      throw UsageError("--idle: must be default, spin or park, got " + single_quoted(*idle));
    c.idle = std::string(*idle);
  }
  c.json = a.flag("json");
  if (auto p = a.value("plot")) {
    if (p->empty()) throw UsageError("--plot: empty (give the PNG file to write)");
    if (c.mode != Mode::pingpong)
      throw UsageError("--plot: needs --mode pingpong (a stream measures throughput, not latency)");
    c.plot = std::string(*p);
  }
  const std::string pid = std::to_string(::getpid());
  c.ping = "bench." + pid + ".ping";
  c.pong = "bench." + pid + ".pong";
  return c;
}

// Tracker entries a run needs: every tracked message lives there for its
// expiry plus the bus's retention, longer than any run.
std::uint64_t tracker_need(const Config& c) {
  if (!c.tracked) return 0;
  return c.sizes.size() * (c.warmup + c.count) * (c.mode == Mode::pingpong ? 2 : 1);
}

// The bus's options: the user's, and a tracker large enough for a --tracked run on a bus we create.
Options creation_options(const Invocation& inv, const Config& c) {
  Options o = bus_options(inv.args, true);
  o.prefault_tracker = c.tracked;  // a tracker page's first touch would be a page fault inside a sample
  const std::uint64_t need = tracker_need(c);
  if (need > 0 && !inv.args.value("tracker-capacity")) {
    if (need > max_tracker_capacity / 2)
      throw UsageError("--count: too many tracked messages for a bus's tracker (" + std::to_string(need) +
                       " with --warmup and every --size; at most " + std::to_string(max_tracker_capacity / 2) + ")");
    std::uint64_t cap = std::max<std::uint64_t>(o.tracker_capacity, 1);
    while (cap < 2 * need) cap *= 2;
    o.tracker_capacity = Setting<std::uint64_t>::unnamed(cap);  // unnamed: an existing bus keeps its own
  }
  return o;
}

void check_bus(const Config& c, const Bus& bus) {
  const BusSettings s = bus.settings();
  for (std::uint32_t size : c.sizes)
    if (size > s.max_payload)
      throw Failure("bench: --size " + std::to_string(size) + " is larger than bus " + single_quoted(c.bus) +
                    "'s max_payload (" + std::to_string(s.max_payload) +
                    " bytes; a bus made with a larger --max-payload and --lane-capacity takes it)");
  const std::uint64_t need = tracker_need(c);
  if (need > 0) {
    const TrackerUsage t = bus.stat().tracker;
    if (t.capacity - std::min(t.used, t.capacity) < need)
      throw Failure("bench: bus " + single_quoted(c.bus) + "'s tracker has room for " +
                    std::to_string(t.capacity - std::min(t.used, t.capacity)) + " tracked messages, the run needs " +
                    std::to_string(need) + " (fewer --count, or a bus with a larger --tracker-capacity)");
  }
}

// Everything the run made, undone in reverse order whatever happened.
struct Run {
  Config c;
  PeerLink peer;
  std::optional<Bus> bus;
  std::optional<Receiver> rx;
  std::optional<Endpoint> tx;
  bool log_dir_existed = true;

  ~Run() {
    (void)reap_peer(peer, true);
    tx.reset();
    rx.reset();
    if (!bus) return;
    if (c.bus_created) {
      bus.reset();
      if (auto r = Bus::remove(c.bus); !r) note("bench: the bus it created was not removed: " + r.error().message);
      if (!c.log_dir.empty() && !log_dir_existed) (void)Bus::remove_log(c.log_dir, c.bus);
      return;
    }
    (void)bus->remove_endpoint(c.ping);
    (void)bus->remove_endpoint(c.pong);
  }
};

}  // namespace

int run(const Invocation& inv) {
  Run run;
  run.c = read_config(inv);
  Config& c = run.c;
  const Options o = creation_options(inv, c);
  if (!c.plot.empty() && !gnuplot_present())
    throw Failure("bench: --plot: gnuplot is not installed (Debian: apt-get install gnuplot-nox); nothing was run");
  const bool existed = Bus::exists(c.bus);
  if (!o.log_dir.empty()) run.log_dir_existed = path_exists(Bus::log_directory_for(o.log_dir, c.bus));
  catch_interrupts();
  run.peer = fork_peer(c);  // before the bus: its threads (housekeeping, log) are not copied
  auto opened = Bus::open(c.bus, o);
  if (!opened) throw Failure(opened.error().message);
  run.bus.emplace(std::move(*opened));
  Bus& bus = *run.bus;
  c.bus_created = !existed && bus.created();
  const BusSettings s = bus.settings();
  if (!s.log_dir.empty()) {
    c.log_dir = s.log_dir;
    c.sync = s.sync;
  }
  check_bus(c, bus);
  run.rx.emplace(or_fail(bus.attach(c.ping, c.receiver)));
  or_fail(bus.add_endpoint(c.pong));
  run.tx.emplace(or_fail(bus.endpoint(c.ping)));
  prefault(c, bus);
  if (c.tracked) or_fail(run.tx->poll_status([](const StatusEvent&) {}));  // follow statuses from the first send
  go(run.peer);
  await_ready(run.peer);
  std::vector<SizeResult> results;
  for (std::uint32_t size : c.sizes) results.push_back(run_size(c, bus, *run.rx, *run.tx, run.peer, size));
  flush_log(bus);
  if (const int st = reap_peer(run.peer, false); st != 0)
    throw Failure("bench: the other process exited with status " + std::to_string(st));
  std::optional<std::string> plot_problem;
  if (!c.plot.empty()) plot_problem = write_plot(c, results);
  write_out(c.json ? json_line(results_json(c, results)) : results_text(c, results));
  if (plot_problem) throw Failure("bench: --plot: " + *plot_problem);
  return 0;
}

}  // namespace courier::cli::bench

namespace courier::cli {
int run_bench(const Invocation& inv) { return bench::run(inv); }
}  // namespace courier::cli
