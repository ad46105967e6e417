// bench/bench_log/floors.cpp — the disk's floors (write() + fdatasync() per
// record, per 64 KiB batch, per group-commit batch; naive write() per record),
// and the small tools of bench_log.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "bench_log.hpp"
#include "courier_bench/children.hpp"

namespace blog {

std::string num(double v) {
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
std::string fix(double v, int prec) {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string mib(double bytes) { return fix(bytes / (1 << 20), bytes < (10 << 20) ? 1 : 0) + " MiB"; }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_log: %s\n", what.c_str());
  std::exit(1);
}

Rss read_rss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    const auto c = line.find(':');
    if (c == std::string::npos) continue;
    const std::string k = line.substr(0, c);
    const double v = std::atof(line.c_str() + c + 1);
    if (k == "VmHWM")
      r.hwm = v;
    else if (k == "VmRSS")
      r.rss = v;
    else if (k == "RssAnon")
      r.anon = v;
    else if (k == "RssFile")
      r.file = v;
    else if (k == "RssShmem")
      r.shmem = v;
  }
  return r;
}
std::string rss_text(const Rss& r) {
  return "VmRSS " + mib(r.rss * 1024) + " (anon " + mib(r.anon * 1024) + ", file " + mib(r.file * 1024) + ", shmem " +
         mib(r.shmem * 1024) + "), VmHWM " + mib(r.hwm * 1024);
}

// The filesystem holding `dir`: statfs's type, and /proc/self/mountinfo's line

namespace {

// `ops` times (or until cap_s seconds): write op i of `len` bytes to fd (at
// its end, or at i * len when `at_offsets`) and fdatasync(); then close and
// unlink the file.
Synced timed_syncs(int fd, const std::string& path, std::size_t len, std::uint64_t ops, double cap_s,
                   bool at_offsets) {
  std::vector<char> buf(len, 'r');
  std::vector<double> ns;
  ns.reserve(ops);
  const std::uint64_t start = now_ns(), cap = static_cast<std::uint64_t>(cap_s * 1e9);
  std::uint64_t t1 = start;
  for (std::uint64_t i = 0; i < ops && t1 - start < cap; ++i) {
    const std::uint64_t t0 = now_ns();
    const bool wrote = at_offsets ? ::pwrite(fd, buf.data(), len, static_cast<off_t>(i * len)) ==
                                        static_cast<ssize_t>(len)
                                  : cbench::write_all(fd, buf.data(), len);
    if (!wrote || ::fdatasync(fd) != 0) die(path + ": " + std::strerror(errno));
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

}  // namespace

// write() of `len` bytes appended to a fresh file + fdatasync(), per op, up to
// `ops` ops or cap_s seconds.
Synced synced_appends(const std::string& path, std::size_t len, std::uint64_t ops, double cap_s) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path + ": " + std::strerror(errno));
  return timed_syncs(fd, path, len, ops, cap_s, false);
}

// pwrite() of `len` bytes at the end of the records so far + fdatasync(), per
// op, into space made first: `written` with zeros (written and synced, so a
// batch's sync changes no block allocation), or fallocate'd (as the log's
// journal files are: "unwritten" blocks, whose first write the sync must
// record in the file system's journal).
Synced synced_into_space(const std::string& path, std::size_t len, std::uint64_t ops, double cap_s, bool written) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path + ": " + std::strerror(errno));
  const std::uint64_t size = static_cast<std::uint64_t>(len) * ops;
  if (written) {
    const std::vector<char> zeros(1 << 20, 0);
    for (std::uint64_t at = 0; at < size; at += zeros.size()) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - at));
      if (::pwrite(fd, zeros.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
        die("writing zeros to " + path + ": " + std::strerror(errno));
    }
  } else if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) {
    die("fallocate " + path + ": " + std::strerror(errno));
  }
  if (::fsync(fd) != 0) die("fsync " + path + ": " + std::strerror(errno));
  return timed_syncs(fd, path, len, ops, cap_s, true);
}

// write() of 64 bytes per call, no sync: calls per second.
double naive_writes(const std::string& path, std::uint64_t n) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path + ": " + std::strerror(errno));
  char buf[payload_size];
  std::memset(buf, 'w', sizeof buf);
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < n; ++i)
    if (!cbench::write_all(fd, buf, sizeof buf)) die(path + ": " + std::strerror(errno));
  const std::uint64_t t1 = now_ns();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

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
  f.batch_allocated = synced_into_space(base + ".allocated", batch_bytes, c.batch_ops, c.cap_s, false);
  f.batch_written = synced_into_space(base + ".written", batch_bytes, c.batch_ops, c.cap_s, true);
  f.group = synced_appends(base + ".group", c.group_bytes, c.batch_ops / 4 + 1, c.cap_s);
  f.naive_per_s = naive_writes(base + ".naive", c.naive_writes);
  std::fprintf(
      stderr,
      "  floors: 1 record + fdatasync %s/s%s, 64 KiB + fdatasync %s/s, %s B + fdatasync %s/s, naive write() %s/s\n",
      num(f.one.ops).c_str(), f.one_after.ops > 0 ? (" (after always: " + num(f.one_after.ops) + "/s)").c_str() : "",
      num(f.batch.ops).c_str(), num(static_cast<double>(c.group_bytes)).c_str(), num(f.group.ops).c_str(),
      num(f.naive_per_s).c_str());
}

std::vector<Synced> pick(const std::vector<FloorRound>& f, Synced FloorRound::*k) {
  std::vector<Synced> v;
  for (const FloorRound& r : f) v.push_back(r.*k);
  return v;
}

}  // namespace blog
