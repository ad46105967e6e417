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
// bench/README.md.
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
#include "scale.hpp"
#include "transports.hpp"

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace cbench {
namespace {

struct Options {
  bool quick = false;
  std::string only;
  bool all = false;  // every transport this build knows, the diagnostic ones (courier.poll) too
  unsigned rounds = 0;             // 0: default for the mode
  std::uint64_t iterations = 0;    // 0: default for the mode
  std::uint64_t peer_iterations = 0;  // round trips of the peers (kernel IPC, microseconds each); 0: default
  std::uint64_t warmup = ~0ull;    // ~0: iterations / 10, 1,000..20,000
  std::uint64_t peer_warmup = ~0ull;
  std::vector<std::size_t> sizes;  // empty: default for the mode
  std::uint64_t stream_messages = ~0ull;  // ~0: default for the mode; 0: no throughput runs
  std::uint64_t peer_stream_messages = ~0ull;  // ~0: stream_messages / 20
  std::size_t stream_payload = 64;
  std::uint64_t log_iterations = 0;       // durable block (two disk syncs per round trip); 0: default
  std::uint64_t log_warmup = ~0ull;
  std::uint64_t log_stream_messages = ~0ull;  // streams of transports that write every message to disk
  std::string disk_dir = "/var/tmp";      // their files (a disk here; /dev/shm or a tmpfs would measure memory)
  bool scale = true;               // the scale section (endpoints, lanes, tracked, groups, inproc, urgent)
  std::string json, plot;
  std::size_t plot_payload = 64;
  int cpu_parent = 0, cpu_child = 1;
  double timeout_s = 5.0;
  bool save = true;
  std::string results_dir = COURIER_BENCH_RESULTS_DIR;
  bool list = false;
};

[[noreturn]] void usage(int rc) {
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: courier-bench [options]\n"
               "  --quick              fewer rounds and iterations, 64 B only (about a minute at most)\n"
               "  --only REGEX         run the transports whose name matches (their floor always runs: it is\n"
               "                       the reference); 'scale' selects the scale section; --list shows them\n"
               "  --all                also the diagnostic transports (courier.poll)\n"
               "  --rounds N           interleaved rounds (default 5; quick 3)\n"
               "  --iterations N       measured round trips per transport, size and round (default 200000; quick 20000)\n"
               "  --peer-iterations N  the same for the peers (pipe, sockets, queues, ZeroMQ, Boost)\n"
               "                       (default: --iterations; quick 5000)\n"
               "  --warmup N           round trips before measuring (default iterations/10, 1000..20000)\n"
               "  --sizes LIST         payload sizes in bytes (default 16,64,1024,65536; quick 64)\n"
               "  --stream-messages N  messages per one-way throughput run (default 5000000; quick 1000000; 0: none)\n"
               "  --peer-stream-messages N  the same for the peers (default stream-messages / 20)\n"
               "  --log-iterations N   round trips of the durable rows (floor.fdatasync, courier.log.always: two\n"
               "                       disk syncs each; default 2000; quick 200)\n"
               "  --log-stream-messages N  messages per stream of the courier.log.* rows (default 500000;\n"
               "                       quick 200000)\n"
               "  --disk-dir DIR       where the durable rows write (default /var/tmp; must be a disk, not a tmpfs)\n"
               "  --no-scale           skip the scale section (endpoints, lanes, tracked sends, group fan-out,\n"
               "                       in-process round trip, urgent message under a flood)\n"
               "  --json FILE          write JSON lines (one object per transport and payload)\n"
               "  --plot FILE.png      plot the latency percentiles per transport (gnuplot; default: latest.png\n"
               "                       in the results directory unless --no-save)\n"
               "  --plot-payload N     payload of the plot (default 64)\n"
               "  --cpus A,B           CPUs of the parent and the child (default 0,1)\n"
               "  --timeout SEC        give up on a transport whose wait lasts longer (default 5)\n"
               "  --results-dir DIR    where results are appended by date (default %s)\n"
               "  --no-save            do not append to the results directory\n"
               "  --list               list the transports and exit\n",
               COURIER_BENCH_RESULTS_DIR);
  std::exit(rc);
}

std::uint64_t parse_u64(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || errno != 0 || *end != '\0' || v[0] == '-') {
    std::fprintf(stderr, "courier-bench: %s wants a non-negative integer, got '%s'\n", opt.c_str(), v.c_str());
    usage(2);
  }
  return x;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    const auto eq = a.find('=');
    bool has_v = false;
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_v = true;
    }
    auto value = [&]() -> std::string {
      if (has_v) return v;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "courier-bench: %s needs a value\n", a.c_str());
        usage(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") usage(0);
    else if (a == "--quick") o.quick = true;
    else if (a == "--only") o.only = value();
    else if (a == "--all") o.all = true;
    else if (a == "--rounds") o.rounds = static_cast<unsigned>(parse_u64(a, value()));
    else if (a == "--iterations") o.iterations = parse_u64(a, value());
    else if (a == "--peer-iterations") o.peer_iterations = parse_u64(a, value());
    else if (a == "--warmup") o.warmup = o.peer_warmup = parse_u64(a, value());
    else if (a == "--stream-messages") o.stream_messages = parse_u64(a, value());
    else if (a == "--peer-stream-messages") o.peer_stream_messages = parse_u64(a, value());
    else if (a == "--log-iterations") o.log_iterations = parse_u64(a, value());
    else if (a == "--log-stream-messages") o.log_stream_messages = parse_u64(a, value());
    else if (a == "--disk-dir") o.disk_dir = value();
    else if (a == "--no-scale") o.scale = false;
    else if (a == "--json") o.json = value();
    else if (a == "--plot") o.plot = value();
    else if (a == "--plot-payload") o.plot_payload = parse_u64(a, value());
    else if (a == "--timeout") o.timeout_s = std::atof(value().c_str());
    else if (a == "--results-dir") o.results_dir = value();
    else if (a == "--no-save") o.save = false;
    else if (a == "--list") o.list = true;
    else if (a == "--sizes") {
      std::stringstream ss(value());
      std::string tok;
      while (std::getline(ss, tok, ',')) o.sizes.push_back(parse_u64("--sizes", tok));
      if (o.sizes.empty()) usage(2);
    } else if (a == "--cpus") {
      const std::string c = value();
      const auto comma = c.find(',');
      if (comma == std::string::npos) usage(2);
      o.cpu_parent = static_cast<int>(parse_u64(a, c.substr(0, comma)));
      o.cpu_child = static_cast<int>(parse_u64(a, c.substr(comma + 1)));
    } else {
      std::fprintf(stderr, "courier-bench: unknown option '%s'\n", argv[i]);
      usage(2);
    }
  }
  if (o.rounds == 0) o.rounds = o.quick ? 3 : 5;
  if (o.iterations == 0) o.iterations = o.quick ? 20'000 : 200'000;
  if (o.peer_iterations == 0) o.peer_iterations = o.quick ? std::min<std::uint64_t>(o.iterations, 5'000) : o.iterations;
  if (o.warmup == ~0ull) o.warmup = std::clamp<std::uint64_t>(o.iterations / 10, 1'000, 20'000);
  if (o.peer_warmup == ~0ull) o.peer_warmup = std::clamp<std::uint64_t>(o.peer_iterations / 10, 1'000, 20'000);
  if (o.sizes.empty()) o.sizes = o.quick ? std::vector<std::size_t>{64} : std::vector<std::size_t>{16, 64, 1024, 65536};
  if (o.stream_messages == ~0ull) o.stream_messages = o.quick ? 1'000'000 : 5'000'000;
  if (o.peer_stream_messages == ~0ull) o.peer_stream_messages = o.stream_messages / 20;
  if (o.log_iterations == 0) o.log_iterations = o.quick ? 200 : 2'000;
  if (o.log_warmup == ~0ull) o.log_warmup = std::clamp<std::uint64_t>(o.log_iterations / 10, 20, 200);
  if (o.log_stream_messages == ~0ull) o.log_stream_messages = o.quick ? 200'000 : 500'000;
  if (o.timeout_s <= 0) o.timeout_s = 5.0;
  if (o.disk_dir.empty()) o.disk_dir = ".";
  return o;
}

bool pin_to(int cpu) { return pin_to_cpu(cpu); }

std::string thousands(std::uint64_t v) {
  std::string s = std::to_string(v), o;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i != 0 && (s.size() - i) % 3 == 0) o += ',';
    o += s[i];
  }
  return o;
}

// ------------------------------------------------------------ one run
struct RunOutcome {
  bool ok = false;
  std::string error;
  Percentiles pct;
  std::vector<double> curve;
  double msgs_per_s = 0;       // median over windows (robust to lost CPU)
  double msgs_per_s_wall = 0;  // all messages over the whole run
  long preemptions = -1;  // involuntary context switches of both processes during the run (-1: unknown)
};

int child_main(Transport& t, Mode mode, const RunConfig& cfg, Control* ctrl, pid_t parent, const Options& o) {
  cleanup::reset_handlers_in_child();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
  if (::getppid() != parent) return 3;
  if (!pin_to(o.cpu_child)) {
    // Not fatal: the parent said so already when it could not pin itself; go on unpinned.
  }
  std::string err;
  if (!t.child_attach(cfg, err)) {
    ctrl->fail("attach: " + err);
    return 2;
  }
  ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything attach wrote
  Watchdog wd = Watchdog::for_child(parent, static_cast<std::uint64_t>(o.timeout_s * 1e9));
  const bool ok = mode == Mode::pingpong ? t.serve_pingpong(cfg, wd, err) : t.stream_receive(cfg, wd, *ctrl, err);
  if (!ok) {
    t.child_detach();
    ctrl->fail(err.empty() ? wd.reason() : err);
    return 2;
  }
  ctrl->state.store(Control::done, std::memory_order_release);  // release: t_end_ns / received are visible
  // Stay until dismissed, so that the parent never sees us gone while it is
  // still waiting for something (an exit is a failure to its watchdog), and
  // keep our side open until then: the last echo may still be on its way
  // (ZeroMQ's I/O thread drops what it has not sent when its socket closes).
  wd.begin();
  while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {  // acquire: partner of the parent's store
    timespec ts{0, 50'000};
    ::nanosleep(&ts, nullptr);
    if (!wd.check()) break;
  }
  t.child_detach();
  return 0;
}

// Turn the samples (ping-pong) or the consumer's window stamps (stream) of a
// finished run into its outcome.
// t_sent: when the producer's stream_send returned (after finish_stream: a
// log row's last batch is on disk then); the whole run ends at the later of
// that and the consumer's last message.
void finish(RunOutcome& out, Mode mode, const RunConfig& cfg, std::vector<std::uint64_t>& ticks, std::uint64_t t0,
            std::uint64_t t_sent, Control* ctrl) {
  if (mode == Mode::pingpong) {
    out.pct = summarize(ticks, out.curve);
  } else {
    const std::uint64_t t1 = std::max(ctrl->t_end_ns.load(std::memory_order_relaxed), t_sent);
    if (t1 <= t0) {
      out.error = "no end time from the consumer";
      return;
    }
    out.msgs_per_s_wall = static_cast<double>(cfg.iterations) * 1e9 / static_cast<double>(t1 - t0);
    std::vector<double> rates;
    if (cfg.window != 0) {
      const std::uint64_t windows = std::min<std::uint64_t>((cfg.iterations - 1) / cfg.window, Control::max_windows);
      for (std::uint64_t w = 1; w < windows; ++w) {  // window 0 includes the start: skipped
        const std::uint64_t d = ctrl->window_end_ns[w] - ctrl->window_end_ns[w - 1];
        if (d > 0) rates.push_back(static_cast<double>(cfg.window) * 1e9 / static_cast<double>(d));
      }
    }
    out.msgs_per_s = rates.empty() ? out.msgs_per_s_wall : median(rates);
  }
  out.ok = true;
}

// ------------------------------------------------------------ one run, two threads
// The in-process topology: the other side is a second instance of the
// transport (`side`) on a thread pinned to CPU B, doing what a forked child
// does (child_main); `exited` tells the main thread's watchdog it is gone.
void thread_main(Transport& side, Mode mode, const RunConfig& cfg, Control* ctrl, std::atomic<std::uint32_t>* exited,
                 const Options& o) {
  (void)pin_to(o.cpu_child);  // not fatal, as for the child process
  std::string err;
  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  // The main thread is gone for us once it dismisses us (done, or gave up).
  Watchdog wd = Watchdog::for_thread(&ctrl->dismissed, "the measuring thread", nullptr, timeout_ns);
  if (!side.child_attach(cfg, err)) {
    ctrl->fail("attach: " + err);
  } else {
    ctrl->state.store(Control::ready, std::memory_order_release);  // release: after everything attach wrote
    const bool ok =
        mode == Mode::pingpong ? side.serve_pingpong(cfg, wd, err) : side.stream_receive(cfg, wd, *ctrl, err);
    if (!ok) {
      ctrl->fail(err.empty() ? wd.reason() : err);
    } else {
      ctrl->state.store(Control::done, std::memory_order_release);  // release: t_end_ns / received are visible
      wd.begin();
      // Acquire: partner of the main thread's release store.
      while (ctrl->dismissed.load(std::memory_order_acquire) == 0) {
        timespec ts{0, 50'000};
        ::nanosleep(&ts, nullptr);
        if (!wd.check()) break;
      }
    }
    side.child_detach();  // as a child process: only once dismissed (or failed)
  }
  exited->store(1, std::memory_order_release);  // release: after every store of this thread
}

RunOutcome run_threads(Transport& t, Transport& side, Mode mode, RunConfig cfg, Control* ctrl, const Options& o) {
  RunOutcome out;
  cfg.tag = unique_tag();
  struct Teardown {
    Transport& t;
    ~Teardown() { t.teardown(); }
  } teardown{t};
  std::string err;
  if (!t.setup(cfg, err)) {
    out.error = "setup: " + err;
    return out;
  }
  ctrl->reset();
  std::atomic<std::uint32_t> exited{0};
  std::thread th(thread_main, std::ref(side), mode, std::cref(cfg), ctrl, &exited, std::cref(o));
  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  Watchdog wd = Watchdog::for_thread(&exited, "the echoing thread", ctrl, timeout_ns);
  bool ok = t.parent_attach(err);
  if (!ok) err = "attach: " + err;
  if (ok) ok = await_state(*ctrl, Control::ready, wd, "waiting for the thread to attach", err);
  std::vector<std::uint64_t> ticks;
  std::uint64_t t0 = 0, t_sent = 0;
  rusage ru0{}, ru1{};
  ::getrusage(RUSAGE_SELF, &ru0);  // both threads
  if (ok) {
    if (mode == Mode::pingpong) {
      ok = t.measure_pingpong(cfg, ticks, wd, err);
    } else {
      t0 = mono_ns();
      ok = t.stream_send(cfg, wd, err);
      t_sent = mono_ns();
    }
  }
  if (ok) ok = await_state(*ctrl, Control::done, wd, "waiting for the thread to finish", err);
  ::getrusage(RUSAGE_SELF, &ru1);
  ctrl->dismissed.store(1, std::memory_order_release);  // release: the thread may leave (or give up) now
  th.join();  // bounded: the thread's every wait gives up within the timeout once dismissed
  if (!ok) {
    if (ctrl->state.load(std::memory_order_acquire) == Control::failed && err.find(ctrl->error) == std::string::npos)
      err += std::string(" [thread: ") + ctrl->error + "]";
    out.error = err;
    return out;
  }
  out.preemptions = ru1.ru_nivcsw - ru0.ru_nivcsw;
  finish(out, mode, cfg, ticks, t0, t_sent, ctrl);
  return out;
}

// ------------------------------------------------------------ one run, two processes
RunOutcome run_one(Transport& t, Transport* side, Mode mode, RunConfig cfg, Control* ctrl, const Options& o) {
  if (t.in_process()) {
    if (side == nullptr) {
      RunOutcome out;
      out.error = "in-process transport without its other side";
      return out;
    }
    return run_threads(t, *side, mode, std::move(cfg), ctrl, o);
  }
  RunOutcome out;
  cfg.tag = unique_tag();
  struct Teardown {
    Transport& t;
    ~Teardown() { t.teardown(); }
  } teardown{t};
  std::string err;
  if (!t.setup(cfg, err)) {
    out.error = "setup: " + err;
    return out;
  }
  ctrl->reset();
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    out.error = std::string("fork: ") + std::strerror(errno);
    return out;
  }
  if (pid == 0) ::_exit(child_main(t, mode, cfg, ctrl, parent, o));
  cleanup::set_child(pid);

  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  Watchdog wd = Watchdog::for_parent(pid, ctrl, timeout_ns);
  bool ok = t.parent_attach(err);
  if (!ok) err = "attach: " + err;
  if (ok) ok = await_state(*ctrl, Control::ready, wd, "waiting for the child to attach", err);
  std::vector<std::uint64_t> ticks;
  std::uint64_t t0 = 0, t_sent = 0;
  rusage ru0{};
  ::getrusage(RUSAGE_SELF, &ru0);
  if (ok) {
    if (mode == Mode::pingpong) {
      ok = t.measure_pingpong(cfg, ticks, wd, err);
    } else {
      t0 = mono_ns();
      ok = t.stream_send(cfg, wd, err);
      t_sent = mono_ns();
    }
  }
  // The child finishes its side (stream: drains the rest) and reports done.
  if (ok) ok = await_state(*ctrl, Control::done, wd, "waiting for the child to finish", err);
  rusage ru1{}, ruc{};
  ::getrusage(RUSAGE_SELF, &ru1);
  bool have_child_usage = false;
  // The child is gone at the end of a run, whatever happened.
  ctrl->dismissed.store(1, std::memory_order_release);  // release: nothing more to read from us
  if (!wd.child_reaped()) {
    if (!ok) ::kill(pid, SIGKILL);
    int st = 0;
    const std::uint64_t deadline = mono_ns() + timeout_ns;
    pid_t r = 0;
    while ((r = ::wait4(pid, &st, WNOHANG, &ruc)) == 0) {
      if (mono_ns() > deadline) {
        ::kill(pid, SIGKILL);
        r = ::wait4(pid, &st, 0, &ruc);
        if (ok) {
          ok = false;
          err = "the child did not exit after its run (killed)";
        }
        break;
      }
      timespec ts{0, 100'000};
      ::nanosleep(&ts, nullptr);
    }
    have_child_usage = r == pid;
    if (ok && r == pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      ok = false;
      err = "the child ended badly (status " + std::to_string(st) + ")";
    }
  }
  cleanup::set_child(0);
  if (!ok) {
    if (ctrl->state.load(std::memory_order_acquire) == Control::failed && err.find(ctrl->error) == std::string::npos)
      err += std::string(" [child: ") + ctrl->error + "]";
    out.error = err;
    return out;
  }
  if (have_child_usage) out.preemptions = (ru1.ru_nivcsw - ru0.ru_nivcsw) + ruc.ru_nivcsw;
  finish(out, mode, cfg, ticks, t0, t_sent, ctrl);
  return out;
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
  if (machine.cores < 2) std::fprintf(stderr, "courier-bench: warning: %u CPU online; the peers share it\n", machine.cores);
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
      it.iterations = ti.disk ? std::min(o.log_stream_messages, o.stream_messages)
                      : ti.peer ? o.peer_stream_messages : o.stream_messages;
      if (it.iterations > 0) streams.push_back(std::move(it));
      else rep.throughput.pop_back();
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
      << thousands(o.peer_iterations) << " (+" << thousands(o.peer_warmup) << "); payloads " << sizes
      << " B; one-way " << thousands(o.stream_messages) << " msgs at " << o.stream_payload << " B (peers "
      << thousands(o.peer_stream_messages) << ", courier.log.* " << thousands(std::min(o.log_stream_messages, o.stream_messages))
      << "); durable rows " << thousands(o.log_iterations) << " round trips (+" << thousands(o.log_warmup)
      << ") in " << o.disk_dir << "; CPUs " << o.cpu_parent << " (parent) and " << o.cpu_child
      << " (child); " << timer;
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
        std::fprintf(stderr, "  round %u  %-22s %6zu B  one-way FAILED: %s\n", round, it.info->name.c_str(),
                     it.payload, r.error.c_str());
        return std::nan("");
      }
      it.result->msgs_per_s.push_back(r.msgs_per_s);
      it.result->msgs_per_s_wall.push_back(r.msgs_per_s_wall);
      if (r.preemptions >= 0) it.result->preemptions.push_back(static_cast<double>(r.preemptions));
      std::fprintf(stderr, "  round %u  %-22s %6zu B  one-way %.2f M msgs/s (median window; whole run %.2f M)  (%ld preemptions)\n",
                   round, it.info->name.c_str(), it.payload, r.msgs_per_s / 1e6, r.msgs_per_s_wall / 1e6, r.preemptions);
      return r.msgs_per_s;
    };
    Item* spsc = nullptr;
    std::vector<Item*> others;
    for (Item& it : streams) {
      if (it.info->name == "floor.spsc") spsc = &it;
      else others.push_back(&it);
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
    if (plot(rep, o.plot_payload, png, why)) std::fprintf(stderr, "wrote %s\n", png.c_str());
    else std::fprintf(stderr, "courier-bench: plot skipped: %s\n", why.c_str());
  }
  ::munmap(m, 4096);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace cbench

int main(int argc, char** argv) { return cbench::run(cbench::parse(argc, argv)); }
