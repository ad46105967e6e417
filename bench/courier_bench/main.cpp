// courier-bench — round-trip latency and one-way throughput between two
// processes (or two threads of one process) pinned to two CPUs, courier
// against the floors under it and against its peers; then the scale section.
//
//   courier-bench [--quick] [--only REGEX] [--rounds N] [--iterations N]
//                 [--peer-iterations N] [--sizes 16,64,1024,65536]
//                 [--stream-messages N] [--peer-stream-messages N] [--no-scale]
//                 [--log-iterations N] [--log-stream-messages N] [--disk-dir DIR]
//                 [--json FILE] [--plot FILE.png] [--plot-payload N]
//                 [--cpus A,B] [--timeout SEC] [--results-dir DIR | --no-save] [--list]
//
// The floor moves minute to minute on a shared VM, so transports run
// interleaved: floor, A, floor, B, floor, ... in every round (the order rotates
// from round to round), and each transport's ratio is its p50 over the
// geometric mean of the two floor runs around it. Two-process transports run
// against floor.cacheline, in-process ones (two threads) against
// inproc.floor.cacheline, durable ones (every message fdatasync'ed
// before its send completes) against floor.fdatasync. The table reports the median over rounds. See
// bench/README.md.//
// Files: main.cpp (rounds and blocks of runs, the outputs), options.cpp,
// runs.cpp (one run), harness.cpp, report.cpp, plot.cpp, scale*.cpp,
// *_transports.cpp.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "report.hpp"
#include "runs.hpp"
#include "scale.hpp"
#include "transports.hpp"

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace cbench {
namespace {

std::string thousands(std::uint64_t v) {
  std::string s = std::to_string(v), o;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i != 0 && (s.size() - i) % 3 == 0) o += ',';
    o += s[i];
  }
  return o;
}
std::string iso_date(bool day_only) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char b[64];
  std::strftime(b, sizeof b, day_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S%z", &tm);
  return b;
}

bool append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app);
  f << text;
  return static_cast<bool>(f);
}

// ------------------------------------------------------------ the benchmark
ItemResult new_result(const std::string& transport, std::size_t payload, Mode mode) {
  ItemResult r;
  r.transport = transport;
  r.payload = payload;
  r.mode = mode;
  return r;
}

struct Item {
  const TransportInfo* info;
  std::unique_ptr<Transport> t;
  std::unique_ptr<Transport> side;  // in-process transports: the other thread's instance
  std::size_t payload;
  Mode mode;
  ItemResult* result;
  std::uint64_t warmup = 0, iterations = 0;  // ping-pong: per item (the peers measure fewer in --quick)
};

// The transports measured against one floor: two processes against
// floor.cacheline, two threads against inproc.floor.cacheline.
struct Block {
  const TransportInfo* floor_info = nullptr;
  bool durable = false;                      // the durable block: floor.fdatasync and its rows
  std::uint64_t warmup = 0, iterations = 0;  // of the floor runs
  std::unique_ptr<Transport> floor, floor_side;
  ItemResult* floor_res = nullptr;
  std::vector<Item> items;
  bool active = false;
};

const TransportInfo* find_info(const std::string& name) {
  for (const TransportInfo& t : transports())
    if (t.name == name) return &t;
  return nullptr;
}

int run(const Options& o) {
  const Machine machine = probe_machine();
  if (o.list) {
    for (const TransportInfo& t : transports())
      std::printf("%-16s %s%s\n", t.name.c_str(), t.description.c_str(),
                  t.selected_by_default ? "" : " [--all or --only]");
    return 0;
  }
  std::regex only;
  try {
    if (!o.only.empty()) only = std::regex(o.only);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "courier-bench: --only '%s' is not a regular expression: %s\n", o.only.c_str(), e.what());
    return 2;
  }
  auto selected = [&](const TransportInfo& t) {
    if (!o.only.empty()) return std::regex_search(t.name, only);
    return o.all || t.selected_by_default;
  };

  cleanup::install_handlers();
  cleanup::sweep_stale(o.disk_dir);
  Timer::init();
  if (machine.cores < 2)
    std::fprintf(stderr, "courier-bench: warning: %u CPU online; the peers share it\n", machine.cores);
  if (!pin_to(o.cpu_parent))
    std::fprintf(stderr, "courier-bench: warning: cannot pin to CPU %d (%s); running unpinned\n", o.cpu_parent,
                 std::strerror(errno));

  // The control block, shared with every child.
  void* m = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    std::perror("courier-bench: mmap of the control block");
    return 1;
  }
  Control* ctrl = new (m) Control{};

  Report rep;
  rep.machine = machine;
  rep.date = iso_date(false);
  std::size_t max_size = 0;
  for (std::size_t s : o.sizes) max_size = std::max(max_size, s);

  // Plan: per block (processes, threads, durable) its floor, then every
  // selected transport x size (ping-pong); then the streams; then the scale section.
  Block blocks[3];
  blocks[0].floor_info = find_info("floor.cacheline");
  blocks[1].floor_info = find_info("inproc.floor.cacheline");
  blocks[2].floor_info = find_info("floor.fdatasync");
  blocks[2].durable = true;
  for (Block& bl : blocks) {
    bl.warmup = bl.durable ? o.log_warmup : o.warmup;
    bl.iterations = bl.durable ? o.log_iterations : o.iterations;
  }
  auto is_floor = [&](const TransportInfo& ti) {
    for (const Block& bl : blocks)
      if (&ti == bl.floor_info) return true;
    return false;
  };
  rep.latency.reserve(3 + transports().size() * o.sizes.size());  // Items point into it: no reallocation
  rep.throughput.reserve(transports().size());
  for (Block& bl : blocks) {
    bl.floor = bl.floor_info->make();
    if (bl.floor->in_process()) bl.floor_side = bl.floor_info->make();
    const bool threads = bl.floor->in_process();
    for (std::size_t s : o.sizes) {
      for (const TransportInfo& ti : transports()) {
        if (is_floor(ti) || !selected(ti) || ti.durable != bl.durable) continue;
        auto t = ti.make();
        if (t == nullptr || t->in_process() != threads) continue;
        if (s > t->max_payload()) {
          std::fprintf(stderr, "courier-bench: %s carries at most %zu B; skipping %zu B\n", ti.name.c_str(),
                       t->max_payload(), s);
          continue;
        }
        if (ti.payload_cap != 0 && s > ti.payload_cap) {
          std::fprintf(stderr, "courier-bench: %s writes every message to disk: measured up to %zu B; skipping %zu B\n",
                       ti.name.c_str(), ti.payload_cap, s);
          continue;
        }
        Item it{&ti, std::move(t), nullptr, s, Mode::pingpong, nullptr};
        if (threads) it.side = ti.make();
        it.warmup = bl.durable ? o.log_warmup : ti.peer ? o.peer_warmup : o.warmup;
        it.iterations = bl.durable ? o.log_iterations : ti.peer ? o.peer_iterations : o.iterations;
        bl.items.push_back(std::move(it));
      }
    }
    bl.active = !bl.items.empty() || (!o.only.empty() && selected(*bl.floor_info));
    if (!bl.active) continue;
    rep.latency.push_back(new_result(bl.floor_info->name, bl.floor->max_payload(), Mode::pingpong));
    rep.latency.back().threads = threads;
    rep.latency.back().durable = bl.durable;
    bl.floor_res = &rep.latency.back();
    for (Item& it : bl.items) {
      rep.latency.push_back(new_result(it.info->name, it.payload, Mode::pingpong));
      rep.latency.back().threads = threads;
      rep.latency.back().durable = bl.durable;
      it.result = &rep.latency.back();
    }
  }

  std::vector<Item> streams;
  if (o.stream_messages > 0) {
    for (const TransportInfo& ti : transports()) {
      if (!ti.stream_by_default || !(o.only.empty() || std::regex_search(ti.name, only))) continue;
      auto t = ti.make();
      if (t == nullptr || !t->supports_stream()) continue;
      rep.throughput.push_back(new_result(ti.name, o.stream_payload, Mode::stream));
      rep.throughput.back().threads = t->in_process();
      Item it{&ti, std::move(t), nullptr, o.stream_payload, Mode::stream, &rep.throughput.back()};
      if (it.t->in_process()) it.side = ti.make();
      it.iterations = ti.disk   ? std::min(o.log_stream_messages, o.stream_messages)
                      : ti.peer ? o.peer_stream_messages
                                : o.stream_messages;
      if (it.iterations > 0)
        streams.push_back(std::move(it));
      else
        rep.throughput.pop_back();
    }
  }
  const bool run_scale = o.scale && (o.only.empty() || std::regex_search(std::string("scale"), only));

  {
    std::ostringstream s;
    std::string sizes;
    for (std::size_t z : o.sizes) sizes += (sizes.empty() ? "" : ", ") + std::to_string(z);
    char timer[160];
    std::snprintf(timer, sizeof timer, "timer %s%s, %.0f ns per stamp (inside every sample once)", Timer::source(),
                  Timer::tsc_mhz() > 0 ? (" @ " + std::to_string(std::lround(Timer::tsc_mhz())) + " MHz").c_str() : "",
                  Timer::read_cost_ns());
    s << "settings: " << (o.quick ? "--quick, " : "") << o.rounds << " rounds x " << thousands(o.iterations)
      << " round trips (+" << thousands(o.warmup) << " warm-up) per transport and size, peers "
      << thousands(o.peer_iterations) << " (+" << thousands(o.peer_warmup) << "); payloads " << sizes << " B; one-way "
      << thousands(o.stream_messages) << " msgs at " << o.stream_payload << " B (peers "
      << thousands(o.peer_stream_messages) << ", courier.log.* "
      << thousands(std::min(o.log_stream_messages, o.stream_messages)) << "); durable rows "
      << thousands(o.log_iterations) << " round trips (+" << thousands(o.log_warmup) << ") in " << o.disk_dir
      << "; CPUs " << o.cpu_parent << " (parent) and " << o.cpu_child << " (child); " << timer;
    rep.settings = s.str();
  }
  std::fprintf(stderr, "%s\n%s\n", machine.line().c_str(), rep.settings.c_str());

  bool failures = false;
  // One run of a block's floor: its p50 and p99 (NaN when it failed).
  auto run_floor = [&](Block& bl, unsigned round) -> std::pair<double, double> {
    RunConfig cfg{bl.floor->max_payload(), bl.warmup, bl.iterations, {}, max_size, 0};
    cfg.disk_dir = o.disk_dir;
    RunOutcome r = run_one(*bl.floor, bl.floor_side.get(), Mode::pingpong, cfg, ctrl, o);
    const char* name = bl.floor_info->name.c_str();
    if (!r.ok) {
      failures = true;
      bl.floor_res->errors.push_back(r.error);
      std::fprintf(stderr, "  round %u  %-22s FAILED: %s\n", round, name, r.error.c_str());
      return {std::nan(""), std::nan("")};
    }
    bl.floor_res->rounds.push_back(r.pct);
    bl.floor_res->curves.push_back(std::move(r.curve));
    if (r.preemptions >= 0) bl.floor_res->preemptions.push_back(static_cast<double>(r.preemptions));
    std::fprintf(stderr, "  round %u  %-22s %6zu B  p50 %8.0f ns\n", round, name, bl.floor->max_payload(), r.pct.p50);
    return {r.pct.p50, r.pct.p99};
  };
  // The reference of a run: the geometric mean of the floor runs before and after it.
  auto reference = [](double before, double after) {
    if (std::isfinite(before) && std::isfinite(after)) return std::sqrt(before * after);
    if (std::isfinite(before)) return before;
    return after;  // NaN when both failed
  };

  for (unsigned round = 1; round <= o.rounds; ++round) {
    std::fprintf(stderr, "round %u/%u\n", round, o.rounds);
    for (Block& bl : blocks) {
      if (!bl.active) continue;
      auto before = run_floor(bl, round);
      const std::size_t n = bl.items.size();
      for (std::size_t k = 0; k < n; ++k) {
        Item& it = bl.items[(k + round - 1) % n];  // rotate the order from round to round
        RunConfig cfg{it.payload, it.warmup, it.iterations, {}, max_size, 0};
        cfg.disk_dir = o.disk_dir;
        RunOutcome r = run_one(*it.t, it.side.get(), it.mode, cfg, ctrl, o);
        if (!r.ok) {
          failures = true;
          it.result->errors.push_back(r.error);
          std::fprintf(stderr, "  round %u  %-22s %6zu B  FAILED: %s\n", round, it.info->name.c_str(), it.payload,
                       r.error.c_str());
        }
        const auto after = run_floor(bl, round);  // the floor after this transport (its ratio needs it)
        double ratio = std::nan("");
        if (r.ok) {
          const double ref = reference(before.first, after.first), ref99 = reference(before.second, after.second);
          it.result->rounds.push_back(r.pct);
          it.result->curves.push_back(std::move(r.curve));
          if (r.preemptions >= 0) it.result->preemptions.push_back(static_cast<double>(r.preemptions));
          if (std::isfinite(ref)) it.result->ratios.push_back(ratio = r.pct.p50 / ref);
          if (std::isfinite(ref99)) it.result->ratios_p99.push_back(r.pct.p99 / ref99);
          std::fprintf(stderr, "  round %u  %-22s %6zu B  p50 %8.0f ns  %.2fx floor  (%ld preemptions)\n", round,
                       it.info->name.c_str(), it.payload, r.pct.p50, ratio, r.preemptions);
        }
        it.result->ratio_by_round.push_back(ratio);
        before = after;
      }
    }
    // Streams: interleaved with floor.spsc as the round trips are with their
    // floor (spsc, A, spsc, B, spsc, ...; the order rotates), each ratio
    // against the geometric mean of the spsc runs around it.
    auto run_stream = [&](Item& it) -> double {
      RunConfig cfg{it.payload, 0, it.iterations, {}, max_size, std::max<std::uint64_t>(it.iterations / 100, 1)};
      cfg.disk_dir = o.disk_dir;
      RunOutcome r = run_one(*it.t, it.side.get(), it.mode, cfg, ctrl, o);
      if (!r.ok) {
        failures = true;
        it.result->errors.push_back(r.error);
        std::fprintf(stderr, "  round %u  %-22s %6zu B  one-way FAILED: %s\n", round, it.info->name.c_str(), it.payload,
                     r.error.c_str());
        return std::nan("");
      }
      it.result->msgs_per_s.push_back(r.msgs_per_s);
      it.result->msgs_per_s_wall.push_back(r.msgs_per_s_wall);
      if (r.preemptions >= 0) it.result->preemptions.push_back(static_cast<double>(r.preemptions));
      std::fprintf(
          stderr,
          "  round %u  %-22s %6zu B  one-way %.2f M msgs/s (median window; whole run %.2f M)  (%ld preemptions)\n",
          round, it.info->name.c_str(), it.payload, r.msgs_per_s / 1e6, r.msgs_per_s_wall / 1e6, r.preemptions);
      return r.msgs_per_s;
    };
    Item* spsc = nullptr;
    std::vector<Item*> others;
    for (Item& it : streams) {
      if (it.info->name == "floor.spsc")
        spsc = &it;
      else
        others.push_back(&it);
    }
    double before = spsc != nullptr ? run_stream(*spsc) : std::nan("");
    for (std::size_t k = 0; k < others.size(); ++k) {
      Item& it = *others[(k + round - 1) % others.size()];
      const double rate = run_stream(it);
      const double after = spsc != nullptr ? run_stream(*spsc) : std::nan("");
      const double ratio = rate / reference(before, after);
      if (std::isfinite(ratio)) it.result->ratios.push_back(ratio);
      it.result->ratio_by_round.push_back(ratio);
      before = after;
    }
  }

  if (run_scale) {
    ScaleOptions so;
    so.quick = o.quick;
    so.cpu_child = o.cpu_child;
    so.timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
    so.ctrl = ctrl;
    std::fprintf(stderr, "scale\n");
    ScaleOutcome sc = run_scale_section(so);
    rep.scale = std::move(sc.rows);
    rep.scale_settings = sc.settings;
    if (!sc.ok) failures = true;
  }

  const std::string md = rep.markdown();
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  const std::vector<std::string> lines = rep.json_lines();
  std::string jl;
  for (const std::string& l : lines) jl += l + "\n";
  if (!o.json.empty()) {
    std::ofstream f(o.json, std::ios::trunc);
    f << jl;
    if (!f) {
      std::fprintf(stderr, "courier-bench: cannot write %s\n", o.json.c_str());
      failures = true;
    } else {
      std::fprintf(stderr, "wrote %s\n", o.json.c_str());
    }
  }
  if (o.save) {
    ::mkdir(o.results_dir.c_str(), 0755);
    const std::string base = o.results_dir + "/" + iso_date(true);
    if (append(base + ".md", md + "\n") && append(base + ".jsonl", jl))
      std::fprintf(stderr, "appended to %s.md and %s.jsonl\n", base.c_str(), base.c_str());
    else
      std::fprintf(stderr, "courier-bench: warning: cannot append to %s.{md,jsonl}\n", base.c_str());
  }
  // The plot: where --plot says, else latest.png in the results directory.
  const std::string png = !o.plot.empty() ? o.plot : (o.save ? o.results_dir + "/latest.png" : std::string());
  if (!png.empty()) {
    std::string why;
    if (plot(rep, o.plot_payload, png, why))
      std::fprintf(stderr, "wrote %s\n", png.c_str());
    else
      std::fprintf(stderr, "courier-bench: plot skipped: %s\n", why.c_str());
  }
  ::munmap(m, 4096);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace cbench

int main(int argc, char** argv) { return cbench::run(cbench::parse(argc, argv)); }
