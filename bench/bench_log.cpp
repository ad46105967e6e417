// bench_log — the durable log against the disk under it (issue 4, "Performance").
//
//   bench_log [--quick] [--dir DIR] [--records N] [--policy always,group,os]
//             [--rounds N] [--messages N] [--only floors,journal,bus,recovery]
//             [--interval US] [--group-bytes N] [--poll-every N] [--lanes N] [--no-cold] [--no-prefault]
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
//   recovery   N records sent with Sync::os (expiry 1 h), the shared memory
//              removed, Bus::open(recover) timed in a fresh process (page cache
//              warm, then once evicted); RSS of the producer with N stored, of
//              a process attaching to that bus, and of the recovering process
//
// Each bus lives in a child process (fork): a clean RSS per part, and no
// flusher thread of the log crosses a fork. The table goes to stdout (and is
// appended to RESULTS_DIR/YYYY-MM-DD-log.md unless --no-save), progress to
// stderr. Targets are printed as ratios, never asserted. See bench/README.md.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "courier/bus.hpp"
#include "courier/detail/journal.hpp"
#include "courier/detail/log.hpp"
#include "courier_bench/report.hpp"  // summarize_ns, median, probe_machine

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

#ifndef COURIER_BENCH_RESULTS_DIR
#define COURIER_BENCH_RESULTS_DIR "bench/results"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using courier::Status;
using courier::Sync;

constexpr std::size_t payload_size = 64;
constexpr std::size_t batch_bytes = 64 * 1024;
constexpr std::uint64_t journal_record_bytes = 16 + sizeof(courier::RecordHeader) + payload_size;  // 144

// ------------------------------------------------------------ configuration
struct Config {
  bool quick = false;
  std::string dir_parent = "/var/tmp";
  std::string results_dir = COURIER_BENCH_RESULTS_DIR;
  bool save = true;
  unsigned rounds = 5;
  unsigned recovery_rounds = 3;
  bool cold = true;
  std::vector<Sync> policies{Sync::always, Sync::group, Sync::os};
  std::vector<std::string> only{"floors", "journal", "bus", "recovery"};
  std::uint64_t sync_ops = 3000;        // floor (a) ops per round (or cap_s)
  std::uint64_t batch_ops = 300;        // floor (b)
  std::uint64_t naive_writes = 1000000;  // floor (c)
  std::uint64_t journal_records = 2000000;
  std::uint64_t journal_sync_records = 200000;
  std::uint64_t messages = 1000000;     // group / os messages per round
  std::uint64_t always_messages = 3000;
  std::uint64_t records = 10000000;     // recovery
  double cap_s = 3.0;                   // a synced part of a round stops after this long
  std::uint64_t lane_capacity = 256ull << 20;
  std::chrono::microseconds interval{500};
  std::uint64_t group_bytes = 1u << 20;
  std::uint64_t poll_every = 256;
  bool prefault = true;  // bus part: populate the pages a run writes before it starts (a bus in steady state)
  unsigned lanes = 1;  // recovery part: priority lanes the records are spread over (1: what does not fit spills)
  // filled in main
  std::string dir;      // our mkdtemp directory
  std::string log_dir;  // dir/logs
  bool runs(const char* part) const { return std::find(only.begin(), only.end(), part) != only.end(); }
};

// --help: the options, one a line.
constexpr const char* help_text[][2] = {
    {"--quick", "small counts, 1 round (a smoke run: about 20 s)"},
    {"--dir DIR", "make the scratch directory in DIR (default /var/tmp; not a tmpfs)"},
    {"--records N", "records of the recovery part (default 10M, --quick 1M; k and M suffixes)"},
    {"--policy LIST", "sync policies of the bus part (default always,group,os)"},
    {"--rounds N", "rounds of floors, journal and bus (default 5, --quick 1)"},
    {"--messages N", "group / os messages per round (default 1M, --quick 100k)"},
    {"--only LIST", "parts to run (default floors,journal,bus,recovery)"},
    {"--interval US", "Options::group_commit_interval (default 500)"},
    {"--group-bytes N", "Options::group_commit_bytes (default 1M)"},
    {"--poll-every N", "the producer drains its status ring every N sends (default 256)"},
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
  if (end != nullptr && (*end == 'k' || *end == 'K')) mult = 1e3, ++end;
  else if (end != nullptr && *end == 'M') mult = 1e6, ++end;
  if (end == s.c_str() || *end != '\0' || !(v * mult >= 1)) {
    std::fprintf(stderr, "bench_log: bad number '%s'\n", s.c_str());
    usage(2);
  }
  return static_cast<std::uint64_t>(std::llround(v * mult));
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
    if (a == "--help" || a == "-h") usage(0);
    else if (a == "--dir") c.dir_parent = value();
    else if (a == "--records") c.records = count_arg(value());
    else if (a == "--rounds") c.rounds = static_cast<unsigned>(count_arg(value()));
    else if (a == "--messages") c.messages = count_arg(value());
    else if (a == "--interval") c.interval = std::chrono::microseconds(count_arg(value()));
    else if (a == "--group-bytes") c.group_bytes = count_arg(value());
    else if (a == "--poll-every") c.poll_every = count_arg(value());
    else if (a == "--lanes") c.lanes = static_cast<unsigned>(std::min<std::uint64_t>(count_arg(value()), courier::priority_levels));
    else if (a == "--no-cold") c.cold = false;
    else if (a == "--no-prefault") c.prefault = false;
    else if (a == "--results-dir") c.results_dir = value();
    else if (a == "--no-save") c.save = false;
    else if (a == "--only") c.only = split(value());
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

// ------------------------------------------------------------ small tools
std::uint64_t now_ns() noexcept { return courier::monotonic_ns(); }

std::string num(double v) {  // 1234567.8 -> "1,234,568"
  if (!std::isfinite(v)) return "–";
  const long long x = std::llround(v);
  char digits[32], out[48];
  const int n = std::snprintf(digits, sizeof digits, "%lld", x < 0 ? -x : x);
  int o = 0;
  if (x < 0) out[o++] = '-';
  for (int k = 0; k < n; ++k) {
    if (k > 0 && (n - k) % 3 == 0) out[o++] = ',';
    out[o++] = digits[k];
  }
  return std::string(out, static_cast<std::size_t>(o));
}
std::string fix(double v, int prec = 1) {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string mib(double bytes) { return fix(bytes / (1 << 20), bytes < (10 << 20) ? 1 : 0) + " MiB"; }

// The median of a field over rounds (rounds where it is not a number are left out).
template <class R>
double med(const std::vector<R>& v, double R::*f) {
  std::vector<double> x;
  for (const R& r : v)
    if (std::isfinite(r.*f)) x.push_back(r.*f);
  return x.empty() ? NAN : cbench::median(std::move(x));
}
// "lo–hi" over rounds, "" with one round.
template <class R>
std::string spread(const std::vector<R>& v, double R::*f, int prec = 0) {
  if (v.size() < 2) return "";
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const R& r : v)
    if (std::isfinite(r.*f)) lo = std::min(lo, r.*f), hi = std::max(hi, r.*f);
  if (lo > hi) return "";
  return prec == 0 ? num(lo) + "–" + num(hi) : fix(lo, prec) + "–" + fix(hi, prec);
}

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_log: %s\n", what.c_str());
  std::exit(1);
}

// The process's memory as /proc/self/status says (kB): VmHWM, VmRSS and its parts.
struct Rss {
  double hwm = 0, rss = 0, anon = 0, file = 0, shmem = 0;
};
Rss read_rss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    const auto c = line.find(':');
    if (c == std::string::npos) continue;
    const std::string k = line.substr(0, c);
    const double v = std::atof(line.c_str() + c + 1);
    if (k == "VmHWM") r.hwm = v;
    else if (k == "VmRSS") r.rss = v;
    else if (k == "RssAnon") r.anon = v;
    else if (k == "RssFile") r.file = v;
    else if (k == "RssShmem") r.shmem = v;
  }
  return r;
}
std::string rss_text(const Rss& r) {
  return "VmRSS " + mib(r.rss * 1024) + " (anon " + mib(r.anon * 1024) + ", file " + mib(r.file * 1024) + ", shmem " +
         mib(r.shmem * 1024) + "), VmHWM " + mib(r.hwm * 1024);
}

// The filesystem holding `dir`: statfs's type, and /proc/self/mountinfo's line
// for the longest mount point above it.
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
  std::error_code ec;
  const std::string real = fs::canonical(dir, ec).string();
  std::string best_mp, best;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mp, opts;
    f >> id >> parent >> devno >> root >> mp >> opts;
    std::string tok;
    while (f >> tok && tok != "-") {
    }
    std::string type, source;
    f >> type >> source;
    const bool above = real == mp || mp == "/" || real.rfind(mp + "/", 0) == 0;
    if (above && mp.size() >= best_mp.size()) {
      best_mp = mp;
      best = type + " (" + source + " on " + mp + ", " + opts + ")";
      if (type == "tmpfs") is_tmpfs = true;
    }
  }
  return (best.empty() ? std::string("unknown") : best) + ", statfs type " + magic;
}

std::string iso_now(const char* format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char b[64];
  std::strftime(b, sizeof b, format, &tm);
  return b;
}

// ------------------------------------------------------------ cleanup on signals
// The bus a child is using now (its shared memory is unlinked on SIGINT etc.;
// the child dies with us, PR_SET_PDEATHSIG).
char g_shm_path[160] = "";
char g_scratch[PATH_MAX] = "";

void on_signal(int sig) {
  if (g_shm_path[0] != '\0') ::unlink(g_shm_path);
  static const char msg[] = "bench_log: interrupted; scratch directory left: ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, g_scratch, std::strlen(g_scratch));
  (void)!::write(2, "\n", 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void set_current_bus(const std::string& name) {
  std::snprintf(g_shm_path, sizeof g_shm_path, "%s", name.empty() ? "" : ("/dev/shm/courier." + name).c_str());
}

// Run body(out) in a child process; out comes back through a pipe. Waits up
// to timeout_s, then kills the child. usage: the child's (ru_maxrss: its peak RSS, ru_nivcsw: preemptions).
template <class T, class F>
bool in_child(F&& body, T& out, rusage& usage, std::string& err, int timeout_s = 900) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::fflush(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    err = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
    ::close(p[0]);
    T r{};
    body(r);
    _exit(write_all(p[1], &r, sizeof r) ? 0 : 1);
  }
  ::close(p[1]);
  std::size_t got = 0;
  auto* dst = reinterpret_cast<char*>(&out);
  const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_s) * 1'000'000'000ull;
  while (got < sizeof out) {
    pollfd pfd{p[0], POLLIN, 0};
    const std::uint64_t t = now_ns();
    if (t >= deadline) break;
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<std::uint64_t>((deadline - t) / 1'000'000 + 1, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    const ssize_t r = ::read(p[0], dst + got, sizeof out - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(p[0]);
  if (got < sizeof out) ::kill(pid, SIGKILL);
  int status = 0;
  usage = rusage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  if (got < sizeof out) {
    err = WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status))
                              : "child exited with " + std::to_string(WEXITSTATUS(status)) + " before reporting";
    if (now_ns() >= deadline) err = "child timed out after " + std::to_string(timeout_s) + " s";
    return false;
  }
  return true;
}

void set_error(char (&dst)[256], const std::string& what) { std::snprintf(dst, sizeof dst, "%s", what.c_str()); }

// ------------------------------------------------------------ floors
// One kind of synced write over a round.
struct Synced {
  double ops = 0, mean_us = 0, p50_us = 0, p99_us = 0;  // ops/s, time per op (elapsed / ops), percentiles
};

// write() of `len` bytes appended to a fresh file + fdatasync(), per op, up to
// `ops` ops or cap_s seconds.
Synced synced_appends(const std::string& path, std::size_t len, std::uint64_t ops, double cap_s) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path + ": " + std::strerror(errno));
  std::vector<char> buf(len, 'r');
  std::vector<double> ns;
  ns.reserve(ops);
  const std::uint64_t start = now_ns(), cap = static_cast<std::uint64_t>(cap_s * 1e9);
  std::uint64_t t1 = start;
  for (std::uint64_t i = 0; i < ops && t1 - start < cap; ++i) {
    const std::uint64_t t0 = now_ns();
    if (!write_all(fd, buf.data(), len) || ::fdatasync(fd) != 0) die(path + ": " + std::strerror(errno));
    t1 = now_ns();
    ns.push_back(static_cast<double>(t1 - t0));
  }
  ::close(fd);
  ::unlink(path.c_str());
  Synced s;
  const double elapsed = static_cast<double>(t1 - start), n = static_cast<double>(ns.size());
  s.ops = n * 1e9 / elapsed;
  s.mean_us = elapsed / n / 1e3;
  const cbench::Percentiles p = cbench::summarize_ns(ns);
  s.p50_us = p.p50 / 1e3;
  s.p99_us = p.p99 / 1e3;
  return s;
}

// write() of 64 bytes per call, no sync: calls per second.
double naive_writes(const std::string& path, std::uint64_t n) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path + ": " + std::strerror(errno));
  char buf[payload_size];
  std::memset(buf, 'w', sizeof buf);
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < n; ++i)
    if (!write_all(fd, buf, sizeof buf)) die(path + ": " + std::strerror(errno));
  const std::uint64_t t1 = now_ns();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

struct FloorRound {
  Synced one;        // (a) one 64 B record, at the start of the round
  Synced one_after;  // (a) again right after the `always` run (ops == 0: not measured)
  Synced one_ref;    // what `always` is compared with: the geometric mean of the two (a) runs around it
  Synced batch;      // (b) 64 KiB
  Synced group;      // (b') group_commit_bytes, the most a group-commit batch writes before its sync
  double naive_per_s = 0;  // (c)
  double moved = 0;  // (a) after / before, time per op: the disk changed during the `always` run when far from 1
};

Synced floor_one(const Config& c, unsigned round) {
  return synced_appends(c.dir + "/floor-" + std::to_string(round) + ".one", payload_size, c.sync_ops, c.cap_s);
}

// The floors after (a): (b), (b'), (c); and the reference for `always`.
void run_floors(const Config& c, unsigned round, FloorRound& f) {
  const std::string base = c.dir + "/floor-" + std::to_string(round);
  f.one_ref = f.one;
  if (f.one_after.ops > 0) {
    f.one_ref.mean_us = std::sqrt(f.one.mean_us * f.one_after.mean_us);
    f.one_ref.p50_us = std::sqrt(f.one.p50_us * f.one_after.p50_us);
    f.moved = f.one_after.mean_us / f.one.mean_us;
  }
  f.batch = synced_appends(base + ".batch", batch_bytes, c.batch_ops, c.cap_s);
  f.group = synced_appends(base + ".group", c.group_bytes, c.batch_ops / 4 + 1, c.cap_s);
  f.naive_per_s = naive_writes(base + ".naive", c.naive_writes);
  std::fprintf(stderr, "  floors: 1 record + fdatasync %s/s%s, 64 KiB + fdatasync %s/s, %s B + fdatasync %s/s, naive write() %s/s\n",
               num(f.one.ops).c_str(),
               f.one_after.ops > 0 ? (" (after always: " + num(f.one_after.ops) + "/s)").c_str() : "", num(f.batch.ops).c_str(),
               num(static_cast<double>(c.group_bytes)).c_str(),
               num(f.group.ops).c_str(), num(f.naive_per_s).c_str());
}

std::vector<Synced> pick(const std::vector<FloorRound>& f, Synced FloorRound::*k) {
  std::vector<Synced> v;
  for (const FloorRound& r : f) v.push_back(r.*k);
  return v;
}

// ------------------------------------------------------------ JournalWriter alone
courier::RecordHeader message_header(std::uint64_t id, std::uint64_t now) {
  courier::RecordHeader h{};
  h.id = id;
  h.timestamp_ns = now;
  h.expires_ns = now + 30'000'000'000ull;
  h.from = courier::make_endpoint_id(0, 1);
  h.to = courier::make_endpoint_id(1, 1);
  h.type = 1;
  h.payload_len = payload_size;
  h.priority = courier::default_priority;
  return h;
}

struct JournalRound {
  double encode = 0, append = 0, flush64 = 0, sync64 = 0;  // records/s
};

enum class Every { nothing, flush, sync };

// Records/s of append_message (+ flush() or sync() every 64 KiB).
double journal_rate(const Config& c, const std::string& dir, std::uint64_t n, Every every) {
  courier::JournalOptions jo;
  jo.segment_size = 1ull << 30;  // no roll (and its fdatasync) inside the measurement
  auto w = courier::JournalWriter::open(dir, jo);
  if (!w) die("JournalWriter::open " + dir + ": " + w.error().message);
  std::array<std::byte, payload_size> payload{};
  payload.fill(std::byte{0x6c});
  const std::uint64_t stamp = courier::realtime_ns();
  const std::uint64_t cap = static_cast<std::uint64_t>(c.cap_s * 1e9);
  const std::uint64_t t0 = now_ns();
  std::uint64_t i = 0;
  for (; i < n; ++i) {
    if (auto r = w->append_message(message_header(i + 1, stamp), payload); !r) die("append: " + r.error().message);
    if (every != Every::nothing && w->buffered_bytes() >= batch_bytes) {
      auto r = every == Every::flush ? w->flush() : w->sync();
      if (!r) die("flush/sync: " + r.error().message);
      if (every == Every::sync && now_ns() - t0 > cap) {
        ++i;
        break;
      }
    }
  }
  auto r = every == Every::sync ? w->sync() : w->flush();
  if (!r) die("flush: " + r.error().message);
  const std::uint64_t t1 = now_ns();
  (void)w->close();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return static_cast<double>(i) * 1e9 / static_cast<double>(t1 - t0);
}

// Records/s of encode_journal_record alone: the frame, the CRC and the copy,
// into a buffer reused every 64 KiB.
double encode_rate(std::uint64_t n) {
  std::vector<std::byte> out;
  out.reserve(batch_bytes + 4096);
  std::array<std::byte, payload_size> payload{};
  const std::uint64_t stamp = courier::realtime_ns();
  std::uint64_t offset = 64;
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < n; ++i) {
    const courier::RecordHeader h = message_header(i + 1, stamp);
    courier::encode_journal_record(out, 0x0123456789abcdefull, offset + out.size(), courier::logfmt::Kind::message,
                                   std::as_bytes(std::span(&h, 1)), payload);
    if (out.size() >= batch_bytes) {
      offset += out.size();
      out.clear();
    }
  }
  const std::uint64_t t1 = now_ns();
  return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

JournalRound run_journal(const Config& c, unsigned round) {
  JournalRound j;
  const std::string d = c.dir + "/journal-" + std::to_string(round);
  j.encode = encode_rate(c.journal_records);
  j.append = journal_rate(c, d, c.journal_records, Every::nothing);
  j.flush64 = journal_rate(c, d, c.journal_records, Every::flush);
  j.sync64 = journal_rate(c, d, c.journal_sync_records, Every::sync);
  std::fprintf(stderr, "  journal: encode %s/s, append %s/s, +flush/64K %s/s, +sync/64K %s/s\n", num(j.encode).c_str(),
               num(j.append).c_str(), num(j.flush64).c_str(), num(j.sync64).c_str());
  return j;
}

// ------------------------------------------------------------ the bus with a log
std::uint64_t tracker_for(std::uint64_t messages) {
  std::uint64_t cap = 1u << 12;
  while (static_cast<double>(cap) * 0.6 < static_cast<double>(messages) && cap < (1ull << 24)) cap <<= 1;
  return cap;
}

courier::Options bus_options(const Config& c, Sync sync, std::uint64_t messages) {
  courier::Options o;
  o.max_endpoints = 2;
  o.max_groups = 1;
  o.lane_capacity = c.lane_capacity;
  o.max_payload = 4096;
  o.tracker_capacity = tracker_for(messages);
  o.status_capacity = 64ull << 20;  // 1 Mi events: nothing dropped between two polls
  o.log_dir = c.log_dir;
  o.sync = sync;
  o.group_commit_interval = c.interval;
  o.group_commit_bytes = c.group_bytes;
  return o;
}

unsigned g_bus_serial = 0;
std::string next_bus_name() { return "cblog-" + std::to_string(::getpid()) + "-" + std::to_string(++g_bus_serial); }

void remove_bus(const Config& c, const std::string& name) {
  (void)courier::Bus::remove(name);
  if (auto r = courier::remove_bus_log(c.log_dir, name); !r)
    std::fprintf(stderr, "bench_log: remove_bus_log %s: %s\n", name.c_str(), r.error().message.c_str());
  set_current_bus("");
}

// What one bus run reports (through the pipe: trivially copyable).
struct BusRound {
  char error[256];
  double messages = 0;
  double send_per_s = 0;      // messages / the send() loop
  double sent_per_s = 0;      // messages that became sent / (first send -> the last `sent` seen)
  double per_msg_us = 0;      // the send() loop / messages
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;  // send() -> `sent` seen by the producer
  double stamp_p50_us = 0, stamp_p99_us = 0;  // send() -> the event's own time stamp (group / os)
  double returned[courier::status_count] = {};  // send() results by status
  double events = 0;          // `sent` events matched to a send
  double other_events = 0;    // other events, or ids not ours
  double missing = 0;         // returned outbox, no `sent` event seen in the end
  double missing_sent = 0;    // of those, the tracker says sent (the event was lost)
  double dropped = 0;         // the endpoint's status_dropped counter
  double flush_forced = 0;    // 1 when flush_log() had to be called to finish
  double tracker_full = 0;
  double preempted = 0;       // involuntary context switches of the child (both threads): noise
};
static_assert(std::is_trivially_copyable_v<BusRound>);

// A bus with the endpoint "dst" (no receiver) and a sender "src" addressed to it.
struct Producer {
  std::optional<courier::Bus> bus;
  std::optional<courier::Endpoint> ep;
  courier::Destination to;
};
bool open_producer(const std::string& name, const courier::Options& o, Producer& p, char (&error)[256]) {
  auto bus = courier::Bus::open(name, o);
  if (!bus) return set_error(error, "Bus::open: " + bus.error().message), false;
  p.bus.emplace(std::move(*bus));
  if (auto r = p.bus->add_endpoint("dst"); !r) return set_error(error, "add_endpoint: " + r.error().message), false;
  auto ep = p.bus->endpoint("src");
  if (!ep) return set_error(error, "endpoint: " + ep.error().message), false;
  p.ep.emplace(std::move(*ep));
  auto to = p.ep->resolve("dst");
  if (!to) return set_error(error, "resolve: " + to.error().message), false;
  p.to = *to;
  return true;
}

// Allocate the shared-memory pages a run of n messages will write (the tracker,
// the destination's lane, the sender's status ring) without changing their
// contents: a bus that has run for a while has them, a fresh one takes a page
// fault per 4 KiB on the send path.
void prefault(const Producer& p, std::uint64_t n) {
  auto populate = [](const void* at, std::uint64_t len) {
    const auto a = reinterpret_cast<std::uintptr_t>(at) & ~std::uintptr_t{4095};
    const auto e = reinterpret_cast<std::uintptr_t>(at) + len;
    (void)::madvise(reinterpret_cast<void*>(a), e - a, MADV_POPULATE_WRITE);  // best effort
  };
  const courier::Segment& seg = p.bus->segment();
  const courier::Geometry& g = p.bus->geometry();
  populate(seg.tracker(), g.tracker_bytes());
  const courier::LaneView lane = seg.lane(courier::endpoint_slot(p.to.id), courier::default_priority);
  populate(lane.data, std::min<std::uint64_t>(lane.capacity, n * courier::record_bytes(payload_size)));
  const courier::LaneView ring = seg.status_lane(courier::endpoint_slot(p.ep->id()));
  populate(ring.data, std::min<std::uint64_t>(ring.capacity, n * sizeof(courier::RecordHeader)));
}

const courier::EndpointStats* stats_of(const courier::BusStats& s, const std::string& name) {
  for (const courier::EndpointStats& e : s.endpoints)
    if (e.name == name) return &e;
  return nullptr;
}

// In the child: open the bus, send c.messages (always: always_messages) and
// wait for every `sent`.
void bus_child(const Config& c, const std::string& name, Sync sync, BusRound& out) {
  const std::uint64_t n = sync == Sync::always ? c.always_messages : c.messages;
  Producer pr;
  if (!open_producer(name, bus_options(c, sync, n), pr, out.error)) return;
  courier::Bus* bus = &*pr.bus;
  courier::Endpoint* ep = &*pr.ep;
  if (c.prefault) prefault(pr, n);

  std::vector<std::uint64_t> t_send(n), t_sent(n, 0), t_stamp(n, 0);
  std::vector<Status> returned(n, Status::invalid_argument);
  std::uint64_t awaited = 0, seen = 0, other = 0, poll_now = 0;
  const std::function<void(const courier::StatusEvent&)> on_event = [&](const courier::StatusEvent& e) {
    if (e.status != Status::sent || e.id == 0 || e.id > n || t_sent[e.id - 1] != 0) {
      ++other;
      return;
    }
    t_sent[e.id - 1] = poll_now;
    t_stamp[e.id - 1] = e.time_ns;
    ++seen;
  };
  auto drain = [&] {
    poll_now = courier::fast_realtime_ns();
    (void)ep->poll_status(on_event);
  };
  std::array<std::byte, payload_size> payload{};
  payload.fill(std::byte{0x70});
  courier::SendOptions o{.to = pr.to, .priority = courier::default_priority, .expiry = 30s, .type = 1};
  std::uint64_t by_status[courier::status_count] = {};

  const std::uint64_t cap = static_cast<std::uint64_t>(c.cap_s * 1e9);
  const std::uint64_t loop0 = now_ns();
  std::uint64_t sent_now = 0, i = 0;
  for (; i < n; ++i) {
    o.id = i + 1;
    t_send[i] = courier::fast_realtime_ns();
    const courier::SendResult r = ep->send(o, payload);
    returned[i] = r.status;
    if (r.status == Status::sent) {
      t_sent[i] = courier::fast_realtime_ns();
      ++sent_now;
    } else if (r.status == Status::outbox) {
      ++awaited;
    }
    ++by_status[static_cast<unsigned>(r.status) < courier::status_count ? static_cast<unsigned>(r.status) : 0];
    if ((i + 1) % c.poll_every == 0) drain();
    if (sync == Sync::always && (i & 15) == 15 && now_ns() - loop0 > cap) {
      ++i;
      break;
    }
  }
  const std::uint64_t loop1 = now_ns();
  const std::uint64_t sent_total = i;  // always stops at the cap

  // Wait for the `sent` of everything in the outbox: first as the log does it
  // by itself, then with flush_log() (the brief's "at the end").
  const std::uint64_t natural = now_ns() + 2 * static_cast<std::uint64_t>(c.interval.count()) * 1000 + 50'000'000ull;
  while (seen < awaited && now_ns() < natural) {
    drain();
    ::usleep(50);
  }
  if (seen < awaited) out.flush_forced = 1;
  if (auto r = bus->flush_log(); !r) set_error(out.error, "flush_log: " + r.error().message);
  const std::uint64_t give_up = now_ns() + 3'000'000'000ull;
  while (seen < awaited && now_ns() < give_up) {
    drain();
    ::usleep(100);
  }

  std::vector<double> lat, stamp;
  lat.reserve(sent_total);
  std::uint64_t first = t_send[0], last = 0, missing = 0, missing_sent = 0;
  for (std::uint64_t k = 0; k < sent_total; ++k) {
    if (t_sent[k] == 0) {
      if (returned[k] == Status::outbox && ++missing <= 10000) {  // asks the tracker about the first 10,000
        auto st = ep->status(k + 1);
        if (st && st->status != Status::outbox) ++missing_sent;
      }
      continue;
    }
    last = std::max(last, t_sent[k]);
    lat.push_back(static_cast<double>(t_sent[k] - t_send[k]));
    if (t_stamp[k] != 0) stamp.push_back(static_cast<double>(t_stamp[k]) - static_cast<double>(t_send[k]));
  }
  const courier::BusStats st = bus->stat();
  if (const courier::EndpointStats* e = stats_of(st, "src")) {
    out.dropped = static_cast<double>(e->status_dropped);
    out.tracker_full = static_cast<double>(e->tracker_full);
  }
  out.messages = static_cast<double>(sent_total);
  out.per_msg_us = static_cast<double>(loop1 - loop0) / static_cast<double>(sent_total) / 1e3;
  out.send_per_s = static_cast<double>(sent_total) * 1e9 / static_cast<double>(loop1 - loop0);
  out.sent_per_s = last > first ? static_cast<double>(lat.size()) * 1e9 / static_cast<double>(last - first) : 0;
  cbench::Percentiles p = cbench::summarize_ns(lat);
  out.p50_us = p.p50 / 1e3;
  out.p90_us = p.p90 / 1e3;
  out.p99_us = p.p99 / 1e3;
  out.p999_us = p.p999 / 1e3;
  out.max_us = p.max / 1e3;
  if (!stamp.empty()) {
    cbench::Percentiles s = cbench::summarize_ns(stamp);
    out.stamp_p50_us = s.p50 / 1e3;
    out.stamp_p99_us = s.p99 / 1e3;
  } else {
    out.stamp_p50_us = out.stamp_p99_us = NAN;
  }
  for (unsigned s = 0; s < courier::status_count; ++s) out.returned[s] = static_cast<double>(by_status[s]);
  out.events = static_cast<double>(seen);
  out.other_events = static_cast<double>(other);
  out.missing = static_cast<double>(missing);
  out.missing_sent = static_cast<double>(missing_sent);
  if (sent_now + awaited == 0 && out.error[0] == '\0') set_error(out.error, "no send succeeded");
}

std::string returned_text(const BusRound& r) {
  std::string s;
  for (unsigned k = 0; k < courier::status_count; ++k)
    if (r.returned[k] > 0)
      s += (s.empty() ? "" : ", ") + std::string(courier::status_name(static_cast<Status>(k))) + " " + num(r.returned[k]);
  return s;
}

BusRound run_bus(const Config& c, Sync sync) {
  const std::string name = next_bus_name();
  set_current_bus(name);
  BusRound r{};
  rusage ru{};
  std::string err;
  if (!in_child([&](BusRound& out) { bus_child(c, name, sync, out); }, r, ru, err)) set_error(r.error, err);
  r.preempted = static_cast<double>(ru.ru_nivcsw);
  remove_bus(c, name);
  if (r.error[0] != '\0')
    std::fprintf(stderr, "  bus %s: FAILED: %s\n", std::string(courier::sync_name(sync)).c_str(), r.error);
  else
    std::fprintf(stderr, "  bus %s: send() %s msgs/s, sent %s msgs/s, send->sent p50 %s us p99 %s us (%s)\n",
                 std::string(courier::sync_name(sync)).c_str(), num(r.send_per_s).c_str(), num(r.sent_per_s).c_str(),
                 fix(r.p50_us).c_str(), fix(r.p99_us).c_str(), returned_text(r).c_str());
  return r;
}

// ------------------------------------------------------------ recovery and RSS
struct StoreResult {
  char error[256];
  double records = 0, seconds = 0, per_s = 0;
  double returned[courier::status_count] = {};
  double events = 0;
  Rss rss;                    // after the sends, before anything walks the tracker
  double waiting = 0;         // in the destination's lanes
  double tracker_used = 0, tracker_capacity = 0, tracker_bytes = 0, segment_bytes = 0;
  double log_bytes = 0, log_files = 0;
};
struct AttachResult {
  char error[256];
  Rss rss;
};
struct RecoverResult {
  char error[256];
  double open_s = 0;
  struct {  // RecoveryReport's counters
    std::uint64_t segments, bytes, records, messages, owed, injected, left, expired, damaged, torn, tracker_full,
        elapsed_ns;
  } n{};
  double per_s = 0;
  Rss rss;
};

void log_size(const std::string& dir, double& bytes, double& files) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    bytes += static_cast<double>(e.file_size(ec));
    ++files;
  }
}

// Drop the log's pages from the page cache (the files were synced first).
void evict(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void store_child(const Config& c, const std::string& name, StoreResult& out) {
  Producer pr;
  if (!open_producer(name, bus_options(c, Sync::os, c.records), pr, out.error)) return;
  courier::Bus* bus = &*pr.bus;
  courier::Endpoint* ep = &*pr.ep;
  std::uint64_t events = 0;
  const std::function<void(const courier::StatusEvent&)> count = [&](const courier::StatusEvent& e) {
    events += e.status == Status::sent;
  };
  std::array<std::byte, payload_size> payload{};
  courier::SendOptions so{.to = pr.to, .priority = courier::default_priority, .expiry = 1h, .type = 1};
  std::uint64_t by_status[courier::status_count] = {};
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < c.records; ++i) {
    so.id = i + 1;
    so.priority = static_cast<std::uint8_t>(i % c.lanes);
    const courier::SendResult r = ep->send(so, payload);
    ++by_status[static_cast<unsigned>(r.status) < courier::status_count ? static_cast<unsigned>(r.status) : 0];
    if ((i + 1) % 4096 == 0) (void)ep->poll_status(count);
  }
  if (auto r = bus->flush_log(); !r) set_error(out.error, "flush_log: " + r.error().message);
  const std::uint64_t t1 = now_ns();
  const std::uint64_t want = by_status[static_cast<unsigned>(Status::outbox)];
  for (const std::uint64_t end = now_ns() + 3'000'000'000ull; events < want && now_ns() < end;) {
    (void)ep->poll_status(count);
    ::usleep(1000);
  }
  out.rss = read_rss();  // before stat(): stat() reads every tag of the tracker
  out.records = static_cast<double>(c.records);
  out.seconds = static_cast<double>(t1 - t0) / 1e9;
  out.per_s = out.records / out.seconds;
  for (unsigned s = 0; s < courier::status_count; ++s) out.returned[s] = static_cast<double>(by_status[s]);
  out.events = static_cast<double>(events);
  const courier::BusStats st = bus->stat();
  if (const courier::EndpointStats* e = stats_of(st, "dst")) out.waiting = static_cast<double>(e->waiting_total);
  out.tracker_used = static_cast<double>(st.tracker.used);
  out.tracker_capacity = static_cast<double>(bus->geometry().tracker_capacity);
  out.tracker_bytes = static_cast<double>(bus->geometry().tracker_bytes());
  out.segment_bytes = static_cast<double>(st.segment_bytes);
  log_size(bus->log_directory(), out.log_bytes, out.log_files);
}

void attach_child(const std::string& name, AttachResult& out) {
  courier::Options o;
  o.create = false;
  auto bus = courier::Bus::open(name, o);
  if (!bus) return set_error(out.error, "Bus::open (attach): " + bus.error().message);
  auto ep = bus->endpoint("src");
  if (!ep) return set_error(out.error, "endpoint: " + ep.error().message);
  out.rss = read_rss();
}

void recover_child(const Config& c, const std::string& name, RecoverResult& out) {
  courier::Options o = bus_options(c, Sync::os, c.records);
  o.recover = true;
  const std::uint64_t t0 = now_ns();
  auto bus = courier::Bus::open(name, o);
  const std::uint64_t t1 = now_ns();
  if (!bus) return set_error(out.error, "Bus::open (recover): " + bus.error().message);
  out.rss = read_rss();
  const courier::RecoveryReport& r = bus->recovery();
  if (!r.ran) set_error(out.error, "Bus::open did not recover (RecoveryReport::ran == false)");
  out.open_s = static_cast<double>(t1 - t0) / 1e9;
  out.n = {r.segments, r.bytes,   r.records, r.messages, r.owed,         r.injected,
           r.left,     r.expired, r.damaged, r.torn,     r.tracker_full, r.elapsed_ns};
  out.per_s = r.elapsed_ns > 0 ? static_cast<double>(r.records) * 1e9 / static_cast<double>(r.elapsed_ns) : 0;
}

struct RecoveryPart {
  bool ran = false;
  std::string error;
  StoreResult store{};
  long store_maxrss = 0;
  AttachResult attach{};
  std::vector<RecoverResult> warm;
  std::vector<long> warm_maxrss;
  RecoverResult cold{};
  long cold_maxrss = 0;
  bool cold_ran = false;
};

RecoveryPart run_recovery(const Config& c) {
  RecoveryPart part;
  part.ran = true;
  const std::string name = next_bus_name();
  set_current_bus(name);
  std::string err;
  rusage ru{};
  std::fprintf(stderr, "recovery: sending %s records (Sync::os, expiry 1 h) ...\n", num(static_cast<double>(c.records)).c_str());
  const bool stored = in_child([&](StoreResult& out) { store_child(c, name, out); }, part.store, ru, err);
  part.store_maxrss = ru.ru_maxrss;
  if (!stored || part.store.error[0] != '\0') {
    part.error = err.empty() ? part.store.error : err;
    remove_bus(c, name);
    return part;
  }
  std::fprintf(stderr, "  stored in %s s (%s/s); %s\n", fix(part.store.seconds, 2).c_str(), num(part.store.per_s).c_str(),
               rss_text(part.store.rss).c_str());
  if (!in_child([&](AttachResult& out) { attach_child(name, out); }, part.attach, ru, err)) set_error(part.attach.error, err);
  const std::string log = courier::bus_log_directory(c.log_dir, name);
  auto recover_once = [&](RecoverResult& out, long& maxrss, const char* label) {
    (void)courier::Bus::remove(name);  // a reboot: the shared memory is gone, the log is not
    if (!in_child([&](RecoverResult& r) { recover_child(c, name, r); }, out, ru, err)) set_error(out.error, err);
    maxrss = ru.ru_maxrss;
    if (out.error[0] != '\0')
      std::fprintf(stderr, "  recovery (%s): FAILED: %s\n", label, out.error);
    else
      std::fprintf(stderr, "  recovery (%s): %s records in %s s: %s records/s, peak RSS %s\n", label,
                   num(static_cast<double>(out.n.records)).c_str(), fix(static_cast<double>(out.n.elapsed_ns) / 1e9, 2).c_str(), num(out.per_s).c_str(),
                   mib(static_cast<double>(maxrss) * 1024).c_str());
  };
  for (unsigned k = 0; k < c.recovery_rounds; ++k) {
    part.warm.emplace_back();
    part.warm_maxrss.push_back(0);
    recover_once(part.warm.back(), part.warm_maxrss.back(), "page cache warm");
  }
  if (c.cold) {
    evict(log);
    part.cold_ran = true;
    recover_once(part.cold, part.cold_maxrss, "log evicted from the page cache");
  }
  remove_bus(c, name);
  return part;
}

// ------------------------------------------------------------ the report
struct Target {
  std::string what, limit, measured, how;
  int met = -1;  // 1 met, 0 missed, -1 informational / not measured
};

std::string met_text(int m) { return m == 1 ? "met" : m == 0 ? "**missed**" : "–"; }

struct Results {
  std::vector<FloorRound> floors;
  std::vector<JournalRound> journal;
  std::vector<std::pair<Sync, std::vector<BusRound>>> bus;
  RecoveryPart recovery;
};

// Per round a / b (rounds where both ran), the median.
template <class A, class B>
double paired(const std::vector<A>& a, double A::*fa, const std::vector<B>& b, double B::*fb) {
  std::vector<double> q;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (b[i].*fb > 0) q.push_back(a[i].*fa / (b[i].*fb));
  return q.empty() ? NAN : cbench::median(std::move(q));
}

std::vector<BusRound> good_rounds(const std::vector<BusRound>& v) {
  std::vector<BusRound> out;
  for (const BusRound& r : v)
    if (r.error[0] == '\0') out.push_back(r);
  return out;
}

std::string render(const Config& c, const Results& res, const std::string& machine, const std::string& filesystem,
                   const std::string& started) {
  std::ostringstream md;
  double load_end = -1;
  if (std::ifstream la("/proc/loadavg"); la) la >> load_end;
  md << "## bench_log " << started << "\n\n" << machine << ", " << fix(load_end, 2) << " at the end\n\n";
  md << "disk: " << c.dir << " on " << filesystem << "\n\n";
  md << "settings: " << c.rounds << " round(s), medians over rounds (range lo–hi where more than one); payload "
     << payload_size << " B (journal record " << journal_record_bytes << " B: 16 frame + 64 header + 64 payload); floors "
     << num(static_cast<double>(c.sync_ops)) << " / " << num(static_cast<double>(c.batch_ops)) << " synced ops and "
     << num(static_cast<double>(c.naive_writes)) << " writes per round (a synced part stops after " << fix(c.cap_s, 1)
     << " s); bus: group/os " << num(static_cast<double>(c.messages)) << " msgs per round, always "
     << num(static_cast<double>(c.always_messages)) << " (or " << fix(c.cap_s, 1)
     << " s), expiry 30 s, no receiver, lane " << mib(static_cast<double>(c.lane_capacity))
     << ", status ring 64 MiB, group_commit_interval " << c.interval.count() << " us, group_commit_bytes "
     << num(static_cast<double>(c.group_bytes)) << ", status ring drained every " << c.poll_every << " sends, "
     << (c.prefault ? "the run's tracker / lane / status-ring pages populated first (MADV_POPULATE_WRITE)"
                    : "a fresh bus (no pages populated first)")
     << "; recovery " << num(static_cast<double>(c.records)) << " records over " << c.lanes << " lane(s), " << c.recovery_rounds
     << " warm round(s)" << (c.cold ? " + 1 with the log evicted" : "") << (c.quick ? "; --quick" : "") << "\n\n";

  const auto& F = res.floors;
  if (!F.empty()) {
    md << "### Floors (the same disk, this run)\n\n";
    md << "| floor | ops/s | range | mean µs/op | p50 µs | p99 µs | MB/s | as 64 B records/s | as 144 B journal records/s |\n";
    md << "|---|---:|---|---:|---:|---:|---:|---:|---:|\n";
    auto row = [&](const std::string& what, Synced FloorRound::*k, std::uint64_t bytes) {
      const std::vector<Synced> v = pick(F, k);
      const double ops = med(v, &Synced::ops), b = static_cast<double>(bytes);
      md << "| " << what << " | " << num(ops) << " | " << spread(v, &Synced::ops) << " | " << fix(med(v, &Synced::mean_us))
         << " | " << fix(med(v, &Synced::p50_us)) << " | " << fix(med(v, &Synced::p99_us)) << " | "
         << fix(ops * b / 1e6, bytes < batch_bytes ? 3 : 1) << " | " << num(ops * std::max(1.0, b / payload_size)) << " | "
         << num(ops * std::max(1.0, b / static_cast<double>(journal_record_bytes))) << " |\n";
    };
    row("(a) write() + fdatasync() of one 64 B record, appended", &FloorRound::one, payload_size);
    if (F.front().one_after.ops > 0)
      row("(a) again, right after the `always` run", &FloorRound::one_after, payload_size);
    row("(b) write() + fdatasync() of a 64 KiB batch, appended", &FloorRound::batch, batch_bytes);
    row("(b') write() + fdatasync() of a " + mib(static_cast<double>(c.group_bytes)) +
            " batch (group_commit_bytes), appended",
        &FloorRound::group, c.group_bytes);
    const double n = med(F, &FloorRound::naive_per_s);
    md << "| (c) write() of one 64 B record per call, no sync (naive) | " << num(n) << " | "
       << spread(F, &FloorRound::naive_per_s) << " | " << fix(1e6 / n, 2) << " | | | " << fix(n * payload_size / 1e6)
       << " | " << num(n) << " | |\n\n";
  }

  const auto& J = res.journal;
  if (!J.empty()) {
    md << "### JournalWriter alone (64 B payload: 144 B records; no bus)\n\n";
    md << "| what | records/s | range | ns/record | MB/s |\n|---|---:|---|---:|---:|\n";
    auto row = [&](const char* what, double JournalRound::*f) {
      const double v = med(J, f);
      md << "| " << what << " | " << num(v) << " | " << spread(J, f) << " | " << fix(1e9 / v) << " | "
         << fix(v * static_cast<double>(journal_record_bytes) / 1e6) << " |\n";
    };
    row("encode_journal_record alone (frame + CRC32C + copy, buffer reused every 64 KiB)", &JournalRound::encode);
    row("append_message(), default 1 MiB buffer (one write() per MiB, no sync)", &JournalRound::append);
    row("append_message() + flush() every 64 KiB (one write() per 64 KiB)", &JournalRound::flush64);
    row("append_message() + sync() every 64 KiB (write() + fdatasync() per 64 KiB)", &JournalRound::sync64);
    md << "\n";
  }

  for (const auto& [sync, all] : res.bus) {
    if (&all == &res.bus.front().second) {
      md << "### Reliable send through the Bus, one producer (64 B, expiry 30 s, no receiver)\n\n";
      md << "send→sent: from just before send() to the moment the producer saw `sent` (always: send() returned "
            "sent; group / os: the event drained from its status ring, so up to one poll interval late). "
            "*stamp*: to the time stamp carried by the event. *sent msgs/s*: messages that became `sent` / (first "
            "send → last `sent` seen). *preempted*: involuntary context switches of the run's process (producer and "
            "flusher threads), a measure of the noise.\n\n";
      md << "| policy | rounds | send() msgs/s | sent msgs/s | range | µs/send() | send→sent p50 µs | p90 | p99 | p99.9 "
            "| max | stamp p50 µs | stamp p99 | send() returned | events missing | ring drops | preempted |\n";
      md << "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
    }
    const std::vector<BusRound> v = good_rounds(all);
    const std::string pol(courier::sync_name(sync));
    if (v.empty()) {
      md << "| " << pol << " | 0 of " << all.size() << " | failed: " << (all.empty() ? "" : all.front().error)
         << " | | | | | | | | | | | | | | |\n";
      continue;
    }
    const BusRound& last = v.back();
    md << "| " << pol << " | " << v.size() << (v.size() < all.size() ? " (" + std::to_string(all.size() - v.size()) + " failed)" : "")
       << " | " << num(med(v, &BusRound::send_per_s)) << " | " << num(med(v, &BusRound::sent_per_s)) << " | "
       << spread(v, &BusRound::sent_per_s) << " | " << fix(med(v, &BusRound::per_msg_us), 3) << " | "
       << fix(med(v, &BusRound::p50_us)) << " | " << fix(med(v, &BusRound::p90_us)) << " | "
       << fix(med(v, &BusRound::p99_us)) << " | " << fix(med(v, &BusRound::p999_us)) << " | "
       << fix(med(v, &BusRound::max_us)) << " | " << fix(med(v, &BusRound::stamp_p50_us)) << " | "
       << fix(med(v, &BusRound::stamp_p99_us)) << " | " << returned_text(last) << " (last round) | "
       << num(med(v, &BusRound::missing)) << (med(v, &BusRound::missing) > 0 ? " (tracker says sent: " + num(med(v, &BusRound::missing_sent)) + ")" : "")
       << " | " << num(med(v, &BusRound::dropped)) << " | " << num(med(v, &BusRound::preempted)) << " |\n";
    if (med(v, &BusRound::flush_forced) > 0) md << "\n(" << pol << ": flush_log() was needed to finish in most rounds)\n";
  }
  if (!res.bus.empty()) md << "\n";

  const RecoveryPart& R = res.recovery;
  if (R.ran) {
    md << "### Recovery and memory (" << num(static_cast<double>(c.records)) << " records, Sync::os, expiry 1 h, "
       << c.lanes << " lane(s) of " << mib(static_cast<double>(c.lane_capacity)) << ")\n\n";
    if (!R.error.empty()) {
      md << "failed: " << R.error << "\n\n";
    } else {
      const StoreResult& s = R.store;
      md << "- producer: " << num(s.records) << " sends in " << fix(s.seconds, 2) << " s (" << num(s.per_s)
         << " msgs/s, flush_log() included); send() returned: ";
      for (unsigned k = 0; k < courier::status_count; ++k)
        if (s.returned[k] > 0) md << courier::status_name(static_cast<Status>(k)) << " " << num(s.returned[k]) << "; ";
      md << "`sent` events " << num(s.events) << "\n";
      const double full = s.returned[static_cast<unsigned>(Status::full)];
      md << "- stored: " << num(s.waiting) << " waiting in the destination's " << c.lanes << " lane(s)"
         << (full > 0 ? "; **" + num(full) + " sends returned `full`: not stored (the lane was full and nothing spilled "
                        "to the log)**"
                      : s.records > s.waiting ? "; the rest only in the log (spilled)" : "")
         << "; log " << mib(s.log_bytes) << " in " << num(s.log_files) << " file(s); tracker " << num(s.tracker_used)
         << " of " << num(s.tracker_capacity) << " entries used\n";
      md << "- RSS of the producer with them stored: " << rss_text(s.rss) << "; ru_maxrss " << mib(static_cast<double>(R.store_maxrss) * 1024)
         << "\n";
      md << "- RSS of another process that opens the bus and an endpoint: "
         << (R.attach.error[0] != '\0' ? std::string("failed: ") + R.attach.error : rss_text(R.attach.rss)) << "\n";
      md << "- the tracker lives in the bus's **shared memory** (/dev/shm), not in any process's heap: "
         << num(s.tracker_capacity) << " entries x 72 B = " << mib(s.tracker_bytes) << " of a " << mib(s.segment_bytes)
         << " segment (lanes are sparse: only pages written count). Its touched pages show as *shmem* in the RSS of "
            "each process that touches them (and count once in the machine's memory, in /dev/shm).\n\n";
      md << "| recovery (Bus::open after Bus::remove) | records/s | records | MB/s | recovery s | open() s | "
            "segments | owed | injected | left in log | expired | damaged | torn | peak RSS (ru_maxrss) | RSS after open |\n";
      md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
      auto row = [&](const std::string& label, const RecoverResult& r, long maxrss) {
        if (r.error[0] != '\0') {
          md << "| " << label << " | failed: " << r.error << " | | | | | | | | | | | | | |\n";
          return;
        }
        const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
        md << "| " << label << " | " << num(r.per_s) << " | " << num(d(r.n.records)) << " | "
           << fix(d(r.n.bytes) / d(r.n.elapsed_ns) * 1e3) << " | " << fix(d(r.n.elapsed_ns) / 1e9, 2) << " | "
           << fix(r.open_s, 2) << " | " << num(d(r.n.segments)) << " | " << num(d(r.n.owed)) << " | "
           << num(d(r.n.injected)) << " | " << num(d(r.n.left)) << " | " << num(d(r.n.expired)) << " | "
           << num(d(r.n.damaged)) << " | " << num(d(r.n.torn)) << " | "
           << mib(static_cast<double>(maxrss) * 1024) << " | " << rss_text(r.rss) << " |\n";
      };
      for (std::size_t k = 0; k < R.warm.size(); ++k)
        row("page cache warm, round " + std::to_string(k + 1), R.warm[k], R.warm_maxrss[k]);
      if (R.cold_ran) row("log evicted from the page cache first", R.cold, R.cold_maxrss);
      md << "\n";
    }
  }

  // Targets.
  std::vector<Target> t;
  auto find_bus = [&](Sync s) -> std::vector<BusRound> {
    for (const auto& [k, v] : res.bus)
      if (k == s) return good_rounds(v);
    return {};
  };
  const std::vector<BusRound> always = find_bus(Sync::always), group = find_bus(Sync::group), os = find_bus(Sync::os);
  if (!always.empty() && !F.empty()) {
    const std::vector<Synced> ref = pick(F, &FloorRound::one_ref);
    const double q = paired(always, &BusRound::per_msg_us, ref, &Synced::mean_us);
    unsigned moved = 0;
    for (const FloorRound& f : F) moved += f.moved > 1.5 || (f.moved > 0 && f.moved < 1 / 1.5);
    const std::string note = moved == 0 ? "" : "; in " + std::to_string(moved) + " of " + std::to_string(F.size()) +
                                                   " rounds floor (a) moved more than 1.5x between the runs around it";
    t.push_back({"`always`: time per message / floor (a) time per op (1 / throughput)", "≤ 1.20×", fix(q, 2) + "×",
                 "per round: (send() loop time / messages) / (floor (a) time / ops, geometric mean of the (a) runs "
                 "just before and after it), median of rounds" + note,
                 q <= 1.2 ? 1 : 0});
    const double q50 = paired(always, &BusRound::p50_us, ref, &Synced::p50_us);
    t.push_back({"`always`: send→sent p50 / floor (a) p50", "(shown)", fix(q50, 2) + "×", "per round, the same floor, median", -1});
  }
  if (!group.empty()) {
    const double r = med(group, &BusRound::sent_per_s);
    t.push_back({"`group`: 64 B messages/s from one producer (to `sent`)", "≥ 2,000,000", num(r),
                 "sent msgs/s (first send → last `sent`), median of rounds; send() alone: " +
                     num(med(group, &BusRound::send_per_s)),
                 r >= 2e6 ? 1 : 0});
    const double p = med(group, &BusRound::p50_us);
    t.push_back({"`group`: p50 send → `sent`", "< 1,500 µs", fix(p) + " µs",
                 "as seen by the producer (status ring drained every " + std::to_string(c.poll_every) +
                     " sends); by the event's stamp: " + fix(med(group, &BusRound::stamp_p50_us)) + " µs",
                 p < 1500 ? 1 : 0});
    if (!F.empty()) {
      const std::vector<Synced> one = pick(F, &FloorRound::one), big = pick(F, &FloorRound::group);
      t.push_back({"`group`: p50 send → `sent` / floor (a) p50 (one record + fdatasync)", "(shown)",
                   fix(paired(group, &BusRound::p50_us, one, &Synced::p50_us), 2) + "×",
                   "per round, median; floor (a) p50 " + fix(med(one, &Synced::p50_us)) + " µs, floor (b') p50 " +
                       fix(med(big, &Synced::p50_us)) + " µs",
                   -1});
    }
  }
  if (!F.empty()) {
    const double n = med(F, &FloorRound::naive_per_s);
    t.push_back({"naive write() per record (floor c), for comparison", "≈ 500,000/s (the issue's figure)", num(n) + "/s",
                 "median of rounds", -1});
    if (!group.empty())
      t.push_back({"`group` sent msgs/s / naive write() per record", "(shown)",
                   fix(paired(group, &BusRound::sent_per_s, F, &FloorRound::naive_per_s), 2) + "×", "per round, median", -1});
    if (!os.empty())
      t.push_back({"`os` sent msgs/s / naive write() per record", "(shown)",
                   fix(paired(os, &BusRound::sent_per_s, F, &FloorRound::naive_per_s), 2) + "×", "per round, median", -1});
  }
  if (R.ran && R.error.empty()) {
    std::vector<RecoverResult> ok;
    for (const RecoverResult& r : R.warm)
      if (r.error[0] == '\0') ok.push_back(r);
    if (!ok.empty()) {
      const double v = med(ok, &RecoverResult::per_s);
      const double recs = static_cast<double>(ok.front().n.records);
      const std::string scope = recs >= 1e7 ? "" : " (" + num(recs) + " records in the log, not 10 M)";
      t.push_back({"recovery of 10 M records: records/s" + scope, "≥ 2,000,000", num(v),
                   "RecoveryReport records / elapsed_ns, page cache warm, median of " + std::to_string(ok.size()) +
                       (R.cold_ran && R.cold.error[0] == '\0' ? "; log evicted first: " + num(R.cold.per_s) : ""),
                   v >= 2e6 ? 1 : 0});
    }
  }
  if (!t.empty()) {
    md << "### Targets (issue 4; ratios against the floors of this run, never asserted)\n\n";
    md << "| target | limit | measured | result | how |\n|---|---|---:|---|---|\n";
    for (const Target& x : t)
      md << "| " << x.what << " | " << x.limit << " | " << x.measured << " | " << met_text(x.met) << " | " << x.how << " |\n";
    md << "\n";
  }
  return md.str();
}

}  // namespace

int main(int argc, char** argv) {
  Config c = parse(argc, argv);
  const std::string started = iso_now("%Y-%m-%dT%H:%M:%S%z");
  const std::string machine = cbench::probe_machine().line();

  std::error_code ec;
  fs::create_directories(c.dir_parent, ec);
  std::string tmpl = c.dir_parent + "/courier-bench-log.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp in " + c.dir_parent + ": " + std::strerror(errno));
  c.dir = tmpl;
  c.log_dir = c.dir + "/logs";
  std::snprintf(g_scratch, sizeof g_scratch, "%s", c.dir.c_str());
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::signal(s, on_signal);

  bool tmpfs = false;
  const std::string filesystem = filesystem_of(c.dir, tmpfs);
  std::fprintf(stderr, "bench_log: scratch directory %s on %s\n", c.dir.c_str(), filesystem.c_str());
  if (tmpfs) std::fprintf(stderr, "bench_log: WARNING: that is a tmpfs: the floors measure memory, not a disk (use --dir)\n");

  Results res;
  for (Sync s : c.policies) res.bus.push_back({s, {}});
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
    if (!out) std::fprintf(stderr, "bench_log: could not append to %s\n", path.c_str());
    else std::fprintf(stderr, "bench_log: appended to %s\n", path.c_str());
  }
  bool failed = !res.recovery.error.empty();
  for (const auto& [sync, rounds] : res.bus)
    for (const BusRound& r : rounds) failed |= r.error[0] != '\0';
  return failed ? 1 : 0;
}
