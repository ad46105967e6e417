// cli/bench_report.cpp — `courier bench`'s results: exact percentiles (every
// sample sorted, nearest rank), rates, the host they ran on, as a table, as
// one JSON object, and as a gnuplot PNG of the round-trip distribution.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bench.hpp"

namespace courier::cli::bench {
namespace {

struct Quantile {
  const char* key;    // JSON
  const char* label;  // table
  double q;           // 1.0: the maximum
};
constexpr Quantile quantiles[] = {{"p50", "p50", 0.5},       {"p90", "p90", 0.9},          {"p99", "p99", 0.99},
                                  {"p99_9", "p99.9", 0.999}, {"p99_99", "p99.99", 0.9999}, {"max", "max", 1.0}};

// Nearest rank: the smallest sample with at least q of all samples <= it.
std::uint64_t at_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  const std::size_t n = sorted.size();
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
  return sorted[std::clamp<std::size_t>(rank, 1, n) - 1];
}

std::vector<std::uint64_t> sorted(const SizeResult& r) {
  std::vector<std::uint64_t> s = r.samples;
  std::sort(s.begin(), s.end());
  return s;
}

// Messages per second (pingpong: both directions) and payload MB (10^6 bytes) per second.
double msgs_per_s(const Config& c, const SizeResult& r) {
  const double msgs = static_cast<double>(r.received) * (c.mode == Mode::pingpong ? 2.0 : 1.0);
  return r.elapsed_ns == 0 ? 0.0 : msgs * 1e9 / static_cast<double>(r.elapsed_ns);
}
double mb_per_s(const Config& c, const SizeResult& r) { return msgs_per_s(c, r) * r.size / 1e6; }

std::string fixed(double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("model name")) {
      const std::size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

Json host_json() {
  utsname u{};
  ::uname(&u);
  return Json{{"cpu", cpu_model()}, {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}, {"kernel", std::string(u.release)}};
}

std::string mode_text(const Config& c) {
  std::string s = c.mode == Mode::pingpong ? "ping-pong (round trips)" : "one-way stream";
  s += c.tracked ? ", tracked (expiry 60s)" : ", fire-and-forget";
  s += ", priority " + std::to_string(c.priority) + ", idle " + c.idle;
  if (!c.log_dir.empty())
    s += ", log " + c.log_dir + " (sync " + std::string(sync_name(c.sync.value_or(Sync::group))) + ")";
  return s;
}

std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char ch : s) o += ch == '\'' ? std::string("''") : std::string(1, ch);
  return o + "'";
}

}  // namespace

std::string results_text(const Config& c, const std::vector<SizeResult>& results) {
  const Json h = host_json();
  std::string out = "courier bench: bus " + single_quoted(c.bus) + (c.bus_created ? " (made for the run)" : "") + ", " +
                    mode_text(c) + "\n";
  out += "host: " + h["cpu"].get<std::string>() + ", " + std::to_string(h["cpus"].get<long>()) + " CPUs, Linux " +
         h["kernel"].get<std::string>() + "\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head{"size", "count"};
  for (const Quantile& q : quantiles) head.push_back(q.label);
  head.insert(head.end(), {"msgs/s", "MB/s"});
  rows.push_back(head);
  for (const SizeResult& r : results) {
    std::vector<std::string> row{std::to_string(r.size) + " B", std::to_string(r.received)};
    const std::vector<std::uint64_t> s = sorted(r);
    for (const Quantile& q : quantiles) row.push_back(s.empty() ? "-" : fixed(at_quantile(s, q.q) / 1e3, 2));
    row.push_back(fixed(msgs_per_s(c, r), 0));
    row.push_back(fixed(mb_per_s(c, r), 1));
    rows.push_back(std::move(row));
  }
  out += table_text(rows, 1);
  out += c.mode == Mode::pingpong ? "latency: round trip in us (steady_clock), after " + std::to_string(c.warmup) +
                                        " warm-up round trips; msgs/s and MB/s count both directions\n"
                                  : "one way: from the first send to the last arrival, after " +
                                        std::to_string(c.warmup) + " warm-up messages (no latency in a stream)\n";
  if (c.tracked) {
    std::uint64_t d = 0;
    for (const SizeResult& r : results) d += r.delivered;
    out += "statuses: " + std::to_string(d) + " delivered events seen by the sender\n";
  }
  return out;
}

Json results_json(const Config& c, const std::vector<SizeResult>& results) {
  Json j{{"bus", c.bus},
         {"bus_created", c.bus_created},
         {"mode", c.mode == Mode::pingpong ? "pingpong" : "stream"},
         {"tracked", c.tracked},
         {"priority", c.priority},
         {"idle", c.idle},
         {"count", c.count},
         {"warmup", c.warmup},
         {"log_dir", c.log_dir.empty() ? Json(nullptr) : Json(c.log_dir)},
         {"sync", c.sync ? Json(std::string(sync_name(*c.sync))) : Json(nullptr)},
         {"clock", "steady_clock (CLOCK_MONOTONIC)"},
         {"host", host_json()}};
  Json rows = Json::array();
  for (const SizeResult& r : results) {
    Json row{{"size", r.size},
             {"sent", r.sent},
             {"received", r.received},
             {"peer_received", r.peer_received},
             {"delivered", c.tracked ? Json(r.delivered) : Json(nullptr)},
             {"elapsed_ns", r.elapsed_ns},
             {"msgs_per_s", msgs_per_s(c, r)},
             {"mb_per_s", mb_per_s(c, r)}};
    const std::vector<std::uint64_t> s = sorted(r);
    if (s.empty()) {
      row["latency_ns"] = nullptr;
    } else {
      Json l;
      for (const Quantile& q : quantiles) l[q.key] = at_quantile(s, q.q);
      long double sum = 0;
      for (std::uint64_t v : s) sum += v;
      l["mean"] = static_cast<double>(sum / s.size());
      row["latency_ns"] = std::move(l);
    }
    rows.push_back(std::move(row));
  }
  j["results"] = std::move(rows);
  return j;
}

bool gnuplot_present() {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "");
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

std::optional<std::string> write_plot(const Config& c, const std::vector<SizeResult>& results) {
  std::ostringstream s;
  s << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1000,600 } "
       "else { set terminal png size 1000,600 }\n";
  s << "set output " << gp_quote(c.plot) << "\n";
  s << "set title " << gp_quote("courier bench, bus " + c.bus + ": " + mode_text(c)) << " noenhanced\n";
  s << "set logscale y\nset grid\nset key left top noenhanced\n";
  s << "set xlabel 'percentile'\nset ylabel 'round trip (us)'\n";
  // x: the number of nines, -log10(1 - q), so the tail gets its room; as far as the samples resolve.
  double x_hi = 1;
  for (const SizeResult& r : results) x_hi = std::max(x_hi, std::log10(static_cast<double>(r.samples.size())));
  s << "set xrange [0:" << x_hi << "]\nset rmargin 6\nset xtics ('0%%' 0, '50%%' 0.30103, '90%%' 1";
  const char* nines[] = {"99%%", "99.9%%", "99.99%%", "99.999%%", "99.9999%%"};  // %%: tic labels are formats
  for (int k = 2; k <= 6 && k <= x_hi + 1e-9; ++k) s << ", '" << nines[k - 2] << "' " << k;
  s << ")\n";
  s << "plot ";
  for (std::size_t k = 0; k < results.size(); ++k)
    s << (k ? ", " : "") << "'-' using 1:2 with lines lw 2 title " << gp_quote(std::to_string(results[k].size) + " B");
  s << "\n";
  for (const SizeResult& r : results) {
    const std::vector<std::uint64_t> v = sorted(r);
    const double x_max = std::log10(static_cast<double>(v.size()));
    for (double x = 0; x <= x_max + 1e-9; x += 0.02)
      s << x << " " << at_quantile(v, 1 - std::pow(10, -x)) / 1e3 << "\n";
    s << "e\n";
  }
  FILE* gp = ::popen("gnuplot 1>&2", "w");
  if (gp == nullptr) return "cannot start gnuplot";
  const std::string script = s.str();
  std::fwrite(script.data(), 1, script.size(), gp);
  const int rc = ::pclose(gp);
  if (rc != 0) return "gnuplot failed (status " + std::to_string(rc) + ")";
  if (::access(c.plot.c_str(), R_OK) != 0) return "gnuplot wrote no " + c.plot;
  return std::nullopt;
}

}  // namespace courier::cli::bench
