// bench/courier_bench/options.cpp — courier-bench's command line.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "runs.hpp"

namespace cbench {
namespace {

[[noreturn]] void usage(int rc) {
  std::fprintf(
      rc == 0 ? stdout : stderr,
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

}  // namespace

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
    if (a == "--help" || a == "-h")
      usage(0);
    else if (a == "--quick")
      o.quick = true;
    else if (a == "--only")
      o.only = value();
    else if (a == "--all")
      o.all = true;
    else if (a == "--rounds")
      o.rounds = static_cast<unsigned>(parse_u64(a, value()));
    else if (a == "--iterations")
      o.iterations = parse_u64(a, value());
    else if (a == "--peer-iterations")
      o.peer_iterations = parse_u64(a, value());
    else if (a == "--warmup")
      o.warmup = o.peer_warmup = parse_u64(a, value());
    else if (a == "--stream-messages")
      o.stream_messages = parse_u64(a, value());
    else if (a == "--peer-stream-messages")
      o.peer_stream_messages = parse_u64(a, value());
    else if (a == "--log-iterations")
      o.log_iterations = parse_u64(a, value());
    else if (a == "--log-stream-messages")
      o.log_stream_messages = parse_u64(a, value());
    else if (a == "--disk-dir")
      o.disk_dir = value();
    else if (a == "--no-scale")
      o.scale = false;
    else if (a == "--json")
      o.json = value();
    else if (a == "--plot")
      o.plot = value();
    else if (a == "--plot-payload")
      o.plot_payload = parse_u64(a, value());
    else if (a == "--timeout")
      o.timeout_s = std::atof(value().c_str());
    else if (a == "--results-dir")
      o.results_dir = value();
    else if (a == "--no-save")
      o.save = false;
    else if (a == "--list")
      o.list = true;
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
  if (o.disk_dir.empty()) o.disk_dir.assign(1, '.');  // (= "." trips GCC 12's -Wrestrict, a false positive)
  return o;
}

}  // namespace cbench
