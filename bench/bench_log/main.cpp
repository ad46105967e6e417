// bench_log — the durable log against the disk under it (issue 4, "Performance").
//
//   bench_log [--quick] [--dir DIR] [--records N] [--policy always,group,os]
//             [--rounds N] [--messages N] [--only floors,journal,bus,recovery,producers]
//             [--producers 1,2,4]
//             [--interval US] [--group-bytes N] [--poll-every N] [--status-ring N] [--lone-gap US] [--lanes N]
//             [--no-cold]
//             [--no-prefault]
//             [--results-dir DIR | --no-save]
//
// Everything runs on one disk: a fresh directory made with mkdtemp in --dir
// (default /var/tmp, which is a disk here, unlike a tmpfs /tmp), removed at
// the end. Parts, each run --rounds times interleaved (floors, JournalWriter,
// then every policy, per round), medians quoted:
//
//   floors     (a) write() + fdatasync() of one 64-byte record appended to a
//              file, per op; (b) the same with a 64 KiB batch; (c) write() of
//              one 64-byte record per call, no sync ("naive write() per record")
//   journal    JournalWriter: encode + CRC alone (encode_journal_record),
//              append_message() (its default 1 MiB buffer: one write() per MiB),
//              append + flush() every 64 KiB, append + sync() every 64 KiB
//   bus        one producer, 64 B payload, expiry 30 s, to an endpoint with no
//              receiver, per sync policy: send() rate, the rate at which
//              messages become `sent`, and the time from send() to `sent`
//              (always: send() returns sent; group / os: the `sent` event on
//              the sender's status ring, polled every --poll-every sends)
//   producers  (only when asked for with --only) per policy other than
//              always, N producers for N in --producers, as N threads of one
//              process (one Bus, endpoints src0..srcN-1) and as N processes
//              (each opens the bus and its endpoint), --messages / N each:
//              aggregate send() and `sent` msgs/s (first send -> last `sent`
//              of any producer, CLOCK_REALTIME), send->sent p50 / p99 over
//              every message, and sent msgs/s / floor (b') in journal records/s
//   lone       (only when asked for with --only) per policy other than
//              always, one producer that sends its next message only once the
//              last one is `sent` (the always count, or 3 s): send->sent of a
//              message that finds the log idle, against floor (a)
//   recovery   N records sent with Sync::os (expiry 1 h), the shared memory
//              removed, Bus::open(recover) timed in a fresh process (page cache
//              warm, then once evicted); RSS of the producer with N stored, of
//              a process attaching to that bus, and of the recovering process
//
// Each bus lives in a child process (fork): a clean RSS per part, and no
// flusher thread of the log crosses a fork. The table goes to stdout (and is
// appended to RESULTS_DIR/YYYY-MM-DD-log.md unless --no-save), progress to
// stderr. Targets are printed as ratios, never asserted. See bench/README.md.
//
// Files: main.cpp (options, the order of the parts), floors.cpp, journal.cpp
// (bench/journal_rates.cpp measures), bus.cpp, producers.cpp, recovery.cpp,
// report.cpp.
#include <sched.h>
#include <sys/statfs.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench_log.hpp"
#include "courier_bench/harness.hpp"
#include "courier_bench/machine.hpp"

namespace blog {
namespace {

namespace fs = std::filesystem;

// --help: the options, one a line.
constexpr const char* help_text[][2] = {
    {"--quick", "small counts, 1 round (a smoke run: about 20 s)"},
    {"--dir DIR", "make the scratch directory in DIR (default /var/tmp; not a tmpfs)"},
    {"--records N", "records of the recovery part (default 10M, --quick 1M; k and M suffixes)"},
    {"--policy LIST", "sync policies of the bus part (default always,group,os)"},
    {"--rounds N", "rounds of floors, journal and bus (default 5, --quick 1)"},
    {"--messages N", "group / os messages per round (default 1M, --quick 100k)"},
    {"--only LIST", "parts to run: floors,journal,bus,recovery (the default), producers, lone"},
    {"--producers LIST", "producers part: N threads / processes for each N (default 1,2,4; at most 64)"},
    {"--interval US", "Options::group_commit_interval (default: the library's, 250)"},
    {"--group-bytes N", "Options::group_commit_bytes (default 1M)"},
    {"--poll-every N", "the producer drains its status ring every N sends (default 256)"},
    {"--status-ring N", "Options::status_capacity in bytes (default: two batches' events + one poll's, >= 64 KiB)"},
    {"--lone-gap US", "lone part: pause US between a message's `sent` and the next send (default 0)"},
    {"--log-cpu N", "the log's threads of every bus the run opens on CPU N (Options::log_cpus; default not pinned)"},
    {"--producer-cpu N", "bus and lone parts: the producer thread on CPU N (default not pinned)"},
    {"--lanes N", "recovery part: spread the records over N priority lanes (default 1: what does not fit spills)"},
    {"--no-cold", "no recovery round with the log evicted from the page cache"},
    {"--no-prefault", "bus part: do not populate the bus's pages first (measure a freshly created bus)"},
    {"--results-dir DIR", "append the table to DIR/YYYY-MM-DD-log.md (default: bench/results of the source tree)"},
    {"--no-save", "do not append it"},
};

[[noreturn]] void usage(int code) {
  FILE* out = code == 0 ? stdout : stderr;
  std::fputs("usage: bench_log [options]\n", out);
  for (const auto& h : help_text) std::fprintf(out, "  %-18s %s\n", h[0], h[1]);
  std::exit(code);
}

std::uint64_t count_arg(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  double mult = 1;
  if (end != nullptr && (*end == 'k' || *end == 'K'))
    mult = 1e3, ++end;
  else if (end != nullptr && *end == 'M')
    mult = 1e6, ++end;
  if (end == s.c_str() || *end != '\0' || !(v * mult >= 1)) {
    std::fprintf(stderr, "bench_log: bad number '%s'\n", s.c_str());
    usage(2);
  }
  return static_cast<std::uint64_t>(std::llround(v * mult));
}

// A CPU number: 0 up to CPU_SETSIZE - 1 (whether this process may use it is for the pinning to say).
int cpu_arg(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0])) || *end != '\0' || errno != 0 || v >= CPU_SETSIZE) {
    std::fprintf(stderr, "bench_log: bad CPU number '%s'\n", s.c_str());
    usage(2);
  }
  return static_cast<int>(v);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

Config parse(int argc, char** argv) {
  Config c;
  std::vector<std::string> args(argv + 1, argv + argc);
  bool quick = std::find(args.begin(), args.end(), "--quick") != args.end();
  if (quick) {
    c.quick = true;
    c.rounds = 1;
    c.recovery_rounds = 1;
    c.sync_ops = 200;
    c.batch_ops = 50;
    c.naive_writes = 100000;
    c.journal_records = 200000;
    c.journal_sync_records = 20000;
    c.messages = 100000;
    c.always_messages = 200;
    c.records = 1000000;
    c.cap_s = 0.5;
    c.lane_capacity = 64ull << 20;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "bench_log: %s needs a value\n", a.c_str());
        usage(2);
      }
      return args[++i];
    };
    if (a == "--quick") continue;
    if (a == "--help" || a == "-h")
      usage(0);
    else if (a == "--dir")
      c.dir_parent = value();
    else if (a == "--records")
      c.records = count_arg(value());
    else if (a == "--rounds")
      c.rounds = static_cast<unsigned>(count_arg(value()));
    else if (a == "--messages")
      c.messages = count_arg(value());
    else if (a == "--interval")
      c.interval = std::chrono::microseconds(count_arg(value()));
    else if (a == "--group-bytes")
      c.group_bytes = count_arg(value());
    else if (a == "--status-ring")
      c.status_ring = count_arg(value());
    else if (a == "--poll-every")
      c.poll_every = count_arg(value());
    else if (a == "--lone-gap")
      c.lone_gap_us = count_arg(value());
    else if (a == "--log-cpu")
      c.log_cpu = cpu_arg(value());
    else if (a == "--producer-cpu")
      c.producer_cpu = cpu_arg(value());
    else if (a == "--lanes")
      c.lanes = static_cast<unsigned>(std::min<std::uint64_t>(count_arg(value()), courier::priority_levels));
    else if (a == "--no-cold")
      c.cold = false;
    else if (a == "--no-prefault")
      c.prefault = false;
    else if (a == "--results-dir")
      c.results_dir = value();
    else if (a == "--no-save")
      c.save = false;
    else if (a == "--only")
      c.only = split(value());
    else if (a == "--producers") {
      c.producers.clear();
      for (const std::string& n : split(value())) {
        const std::uint64_t v = count_arg(n);
        if (v > 64) {
          std::fprintf(stderr, "bench_log: --producers %s: at most 64\n", n.c_str());
          usage(2);
        }
        c.producers.push_back(static_cast<unsigned>(v));
      }
      if (c.producers.empty()) usage(2);
    }
    else if (a == "--policy") {
      c.policies.clear();
      for (const std::string& p : split(value())) {
        Sync s{};
        if (!courier::sync_from_name(p, s)) {
          std::fprintf(stderr, "bench_log: unknown policy '%s' (always, group, os)\n", p.c_str());
          usage(2);
        }
        c.policies.push_back(s);
      }
    } else {
      std::fprintf(stderr, "bench_log: unknown option '%s'\n", a.c_str());
      usage(2);
    }
  }
  return c;
}

// The mount a path is on: the longest mount point above it in
// /proc/self/mountinfo (point empty: none found).
struct Mount {
  std::string point, type, source, opts, super_opts;  // opts: the mount's; super_opts: the filesystem's
};
Mount mount_of(const std::string& path) {
  std::error_code ec;
  const std::string real = fs::canonical(path, ec).string();
  Mount best;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root;
    Mount m;
    f >> id >> parent >> devno >> root >> m.point >> m.opts;
    std::string tok;
    while (f >> tok && tok != "-") {
    }
    f >> m.type >> m.source >> m.super_opts;
    const bool above = real == m.point || m.point == "/" || real.rfind(m.point + "/", 0) == 0;
    if (above && m.point.size() >= best.point.size()) best = m;
  }
  return best;
}

// Whether an ext4 mount keeps a journal: a sync's cost differs with it (a
// jbd2 commit, or the inode and extent blocks written by the sync itself;
// docs/design.md, "The benchmark machine's ext4 has no journal"). Empty when
// sysfs does not say (not ext4, or a device named otherwise there).
std::string ext4_journal(const Mount& m) {
  if (m.type != "ext4") return {};
  const std::string dev = fs::path(m.source).filename().string();
  std::ifstream in("/sys/fs/ext4/" + dev + "/journal_task");
  std::string task;
  if (dev.empty() || !std::getline(in, task)) return {};
  return task == "<none>" ? ", ext4 without a journal" : ", ext4 with a journal (jbd2 task " + task + ")";
}

// The filesystem of the scratch directory: its statfs type, and the mount
// (mountinfo) it is on.
std::string filesystem_of(const std::string& dir, bool& is_tmpfs) {
  struct statfs sf {};
  std::string magic = "?";
  is_tmpfs = false;
  if (::statfs(dir.c_str(), &sf) == 0) {
    switch (static_cast<unsigned long>(sf.f_type)) {
      case 0xEF53: magic = "ext2/ext3/ext4"; break;
      case 0x58465342: magic = "xfs"; break;
      case 0x9123683E: magic = "btrfs"; break;
      case 0x01021994: magic = "tmpfs", is_tmpfs = true; break;
      case 0x794C7630: magic = "overlayfs"; break;
      case 0x2FC12FC1: magic = "zfs"; break;
      case 0x6969: magic = "nfs"; break;
      default: {
        char b[32];
        std::snprintf(b, sizeof b, "0x%lx", static_cast<unsigned long>(sf.f_type));
        magic = b;
      }
    }
  }
  const Mount m = mount_of(dir);
  if (m.type == "tmpfs") is_tmpfs = true;
  const std::string what = m.type.empty() ? "unknown" : m.type + " (" + m.source + " on " + m.point + ", " + m.opts + ")";
  return what + ", statfs type " + magic + ext4_journal(m);
}

std::string iso_now(const char* format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char b[64];
  std::strftime(b, sizeof b, format, &tm);
  return b;
}

// The page size /dev/shm gives a bus: its tmpfs `huge=` option (absent:
// never). With huge=always or within_size the tracker a recovery rebuilds
// comes in 2 MiB pages, which changes its speed (docs/design.md, "Recovery
// asks for its tracker lines a batch at a time"): the results say which.
std::string shm_pages() {
  const Mount m = mount_of("/dev/shm");
  if (m.point != "/dev/shm") return "/dev/shm not mounted";
  const auto at = m.super_opts.find("huge=");
  if (at == std::string::npos) return "/dev/shm huge=never";
  const auto end = m.super_opts.find(',', at);
  return "/dev/shm " + m.super_opts.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace
}  // namespace blog

using namespace blog;

int main(int argc, char** argv) {
  Config c = parse(argc, argv);
  const std::string started = iso_now("%Y-%m-%dT%H:%M:%S%z");
  const std::string machine = cbench::probe_machine().line() + ", " + shm_pages();

  std::error_code ec;
  fs::create_directories(c.dir_parent, ec);
  std::string tmpl = c.dir_parent + "/courier-bench-log.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp in " + c.dir_parent + ": " + std::strerror(errno));
  c.dir = tmpl;
  c.log_dir = c.dir + "/logs";
  fs::create_directories(c.log_dir, ec);  // courier creates only LOG_DIR/BUS
  // On a signal: the current child is killed, the bus's shared memory unlinked.
  cbench::cleanup::install_handlers("bench_log");
  cbench::cleanup::sweep_stale(c.dir_parent);  // buses (and files) of runs that died
  cbench::cleanup::set_note("bench_log: interrupted; scratch directory left: " + c.dir);

  bool tmpfs = false;
  const std::string filesystem = filesystem_of(c.dir, tmpfs);
  std::fprintf(stderr, "bench_log: scratch directory %s on %s\n", c.dir.c_str(), filesystem.c_str());
  if (tmpfs)
    std::fprintf(stderr, "bench_log: WARNING: that is a tmpfs: the floors measure memory, not a disk (use --dir)\n");

  Results res;
  for (Sync s : c.policies) res.bus.push_back({s, {}});
  if (c.runs("lone"))
    for (Sync s : c.policies)
      if (s != Sync::always) res.lone.push_back({s, {}});
  if (c.runs("producers"))
    for (Sync s : c.policies)
      if (s != Sync::always)
        for (Shape shape : {Shape::threads, Shape::processes})
          for (unsigned n : c.producers) res.producers.push_back({s, shape, n, {}});
  for (unsigned r = 0; r < c.rounds; ++r) {
    std::fprintf(stderr, "round %u of %u\n", r + 1, c.rounds);
    // floor (a), always, floor (a) again, the other floors, the journal, group and os.
    const bool floors = c.runs("floors"), bus = c.runs("bus");
    FloorRound f;
    if (floors) f.one = floor_one(c, r);
    for (auto& [sync, rounds] : res.bus)
      if (bus && sync == Sync::always) {
        rounds.push_back(run_bus(c, sync));
        if (floors) f.one_after = floor_one(c, r);
      }
    if (floors) {
      run_floors(c, r, f);
      res.floors.push_back(f);
    }
    if (c.runs("journal")) res.journal.push_back(run_journal(c, r));
    for (auto& [sync, rounds] : res.bus)
      if (bus && sync != Sync::always) rounds.push_back(run_bus(c, sync));
    for (ProducersCase& p : res.producers) p.rounds.push_back(run_producers(c, p.sync, p.shape, p.n));
    for (auto& [sync, rounds] : res.lone) rounds.push_back(run_bus(c, sync, true));
  }
  if (!c.runs("bus")) res.bus.clear();
  if (c.runs("recovery")) res.recovery = run_recovery(c);

  fs::remove_all(c.dir, ec);
  const std::string md = render(c, res, machine, filesystem, started);
  std::cout << md << std::flush;
  if (c.save) {
    fs::create_directories(c.results_dir, ec);
    const std::string path = c.results_dir + "/" + iso_now("%Y-%m-%d") + "-log.md";
    std::ofstream out(path, std::ios::app);
    out << md;
    if (!out)
      std::fprintf(stderr, "bench_log: could not append to %s\n", path.c_str());
    else
      std::fprintf(stderr, "bench_log: appended to %s\n", path.c_str());
  }
  bool failed = !res.recovery.error.empty();
  for (const auto* set : {&res.bus, &res.lone})
    for (const auto& [sync, rounds] : *set)
      for (const BusRound& r : rounds) failed |= r.error[0] != '\0';
  for (const ProducersCase& p : res.producers)
    for (const AggRound& r : p.rounds) failed |= !r.error.empty();
  return failed ? 1 : 0;
}
