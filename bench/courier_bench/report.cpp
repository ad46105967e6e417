// bench/courier_bench/report.cpp — percentiles, machine line, markdown, JSON, plot.
#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cbench {

const std::vector<double>& curve_nines() {
  static const std::vector<double> x = [] {
    std::vector<double> v;
    for (int i = 0; i <= 120; ++i) v.push_back(i * 0.05);
    return v;
  }();
  return x;
}

Percentiles summarize(std::vector<std::uint64_t>& ticks, std::vector<double>& curve) {
  Percentiles p;
  curve.clear();
  if (ticks.empty()) return p;
  std::sort(ticks.begin(), ticks.end());
  const std::size_t n = ticks.size();
  auto at = [&](double q) {
    // Nearest rank: ceil(q * n), 1-based.
    std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    rank = std::clamp<std::size_t>(rank, 1, n);
    return Timer::to_ns(ticks[rank - 1]);
  };
  if (std::getenv("CBENCH_DEBUG_TAIL") != nullptr) {
    std::size_t a = 0, b = 0, c = 0;
    for (std::uint64_t t : ticks) {
      const double ns = Timer::to_ns(t);
      a += ns > 10e3;
      b += ns > 100e3;
      c += ns > 1e6;
    }
    std::fprintf(stderr, "    tail: >10us %zu  >100us %zu  >1ms %zu  top:", a, b, c);
    for (std::size_t i = n > 8 ? n - 8 : 0; i < n; ++i) std::fprintf(stderr, " %.0f", Timer::to_ns(ticks[i]) / 1e3);
    std::fprintf(stderr, " us\n");
  }
  p.count = n;
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = Timer::to_ns(ticks.back());
  long double sum = 0;
  for (std::uint64_t t : ticks) sum += t;
  p.mean = Timer::to_ns(1) * static_cast<double>(sum / n);
  for (double x : curve_nines()) curve.push_back(at(1.0 - std::pow(10.0, -x)));
  return p;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Percentiles ItemResult::agg() const {
  Percentiles a;
  if (rounds.empty()) return a;
  std::vector<double> p50, p90, p99, p999, mean;
  for (const Percentiles& r : rounds) {
    p50.push_back(r.p50);
    p90.push_back(r.p90);
    p99.push_back(r.p99);
    p999.push_back(r.p999);
    mean.push_back(r.mean);
    a.max = std::max(a.max, r.max);
    a.count += r.count;
  }
  a.p50 = median(p50);
  a.p90 = median(p90);
  a.p99 = median(p99);
  a.p999 = median(p999);
  a.mean = median(mean);
  return a;
}

double ItemResult::ratio_lo() const {
  return ratios.empty() ? std::nan("") : *std::min_element(ratios.begin(), ratios.end());
}
double ItemResult::ratio_hi() const {
  return ratios.empty() ? std::nan("") : *std::max_element(ratios.begin(), ratios.end());
}

std::vector<double> ItemResult::curve() const {
  std::vector<double> c;
  if (curves.empty()) return c;
  for (std::size_t i = 0; i < curves.front().size(); ++i) {
    std::vector<double> col;
    for (const auto& r : curves)
      if (i < r.size()) col.push_back(r[i]);
    c.push_back(median(col));
  }
  return c;
}

// ------------------------------------------------------------ machine
Machine probe_machine() {
  Machine m;
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, family, cpu_model, stepping, mhz;
  auto value = [](const std::string& l) {
    const auto c = l.find(':');
    std::string v = c == std::string::npos ? "" : l.substr(c + 1);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    return v;
  };
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && model.empty()) model = value(line);
    else if (line.rfind("cpu family", 0) == 0 && family.empty()) family = value(line);
    else if (line.rfind("model\t", 0) == 0 && cpu_model.empty()) cpu_model = value(line);
    else if (line.rfind("stepping", 0) == 0 && stepping.empty()) stepping = value(line);
    else if (line.rfind("cpu MHz", 0) == 0 && mhz.empty()) mhz = value(line);
    else if (line.rfind("flags", 0) == 0 && line.find(" hypervisor") != std::string::npos) m.virtualized = true;
  }
  m.cpu = model.empty() ? "unknown CPU" : model;
  std::string detail;
  if (!family.empty()) detail += "family " + family + " model " + cpu_model + " stepping " + stepping;
  if (!mhz.empty()) detail += (detail.empty() ? "" : ", ") + std::to_string(std::lround(std::atof(mhz.c_str()))) + " MHz";
  if (!detail.empty()) m.cpu += " (" + detail + ")";
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  m.cores = n > 0 ? static_cast<unsigned>(n) : 0;
  if (std::ifstream la("/proc/loadavg"); la) la >> m.loadavg;
  utsname u{};
  if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return m;
}

std::string Machine::line() const {
  char load[64] = "";
  if (loadavg >= 0) std::snprintf(load, sizeof load, ", loadavg %.2f at start", loadavg);
  return "machine: " + cpu + ", " + std::to_string(cores) + " cores" + (virtualized ? " (virtualized)" : "") +
         ", kernel " + kernel + load;
}

namespace {
std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}
std::string jnum(double v, int prec = 1) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string fmt(double v, int prec = 0) {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string grouped(double v) {  // 12345678 -> 12,345,678
  if (!std::isfinite(v)) return "–";
  std::string s = std::to_string(std::llround(v)), o;
  int k = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (k != 0 && k % 3 == 0) o.insert(o.begin(), ',');
    o.insert(o.begin(), *it);
    ++k;
  }
  return o;
}
}  // namespace

std::string Machine::json() const {
  return "{\"cpu\":" + jstr(cpu) + ",\"cores\":" + std::to_string(cores) + ",\"kernel\":" + jstr(kernel) +
         ",\"virtualized\":" + (virtualized ? "true" : "false") + ",\"loadavg_1min\":" + jnum(loadavg, 2) + "}";
}

// ------------------------------------------------------------ markdown
std::string Report::markdown() const {
  std::ostringstream o;
  o << "## courier-bench " << date << "\n\n";
  o << machine.line() << "\n\n";
  o << settings << "\n\n";
  o << "### Round trip between two processes (median of rounds; ratio = p50 / floor.cacheline p50 of the same round)\n\n";
  o << "| transport | payload B | ratio to floor | ratio range | p50 ns | p90 ns | p99 ns | p99.9 ns | max ns | rounds "
       "| preempted/run |\n";
  o << "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const ItemResult& r : latency) {
    if (r.rounds.empty()) {
      o << "| " << r.transport << " | " << r.payload << " | FAILED | " << (r.errors.empty() ? "" : r.errors.front())
        << " | | | | | | 0 | |\n";
      continue;
    }
    const Percentiles a = r.agg();
    std::string ratio = fmt(r.ratio(), 2) + "×", range = fmt(r.ratio_lo(), 2) + "–" + fmt(r.ratio_hi(), 2);
    if (r.transport == "floor.cacheline") {
      ratio = "1.00×";
      double lo = 1e300, hi = 0;
      for (const Percentiles& p : r.rounds) {
        lo = std::min(lo, p.p50);
        hi = std::max(hi, p.p50);
      }
      range = "p50 " + fmt(lo) + "–" + fmt(hi) + " ns over " + std::to_string(r.rounds.size()) + " runs";
    }
    o << "| " << r.transport << " | " << r.payload << " | " << ratio << " | " << range << " | " << fmt(a.p50) << " | "
      << fmt(a.p90) << " | " << fmt(a.p99) << " | " << fmt(a.p999) << " | " << fmt(a.max) << " | "
      << r.rounds.size() << (r.errors.empty() ? "" : " (" + std::to_string(r.errors.size()) + " failed)") << " | "
      << fmt(median(r.preemptions)) << " |\n";
  }
  if (!throughput.empty()) {
    o << "\n### One-way throughput (producer streams, consumer counts; msgs/s = median over 1% windows of the run, "
         "median of rounds; whole run = all messages over the whole run)\n\n";
    o << "| transport | payload B | msgs/s | MB/s | whole run msgs/s | ratio to floor.spsc | ratio range | rounds "
         "| preempted/run |\n";
    o << "|---|---:|---:|---:|---:|---:|---|---:|---:|\n";
    for (const ItemResult& r : throughput) {
      if (r.msgs_per_s.empty()) {
        o << "| " << r.transport << " | " << r.payload << " | FAILED | " << (r.errors.empty() ? "" : r.errors.front())
          << " | | | | 0 | |\n";
        continue;
      }
      o << "| " << r.transport << " | " << r.payload << " | " << grouped(r.rate()) << " | "
        << fmt(r.rate() * static_cast<double>(r.payload) / 1e6, 1) << " | " << grouped(r.rate_wall()) << " | "
        << (r.ratios.empty() ? "–" : fmt(r.ratio(), 2) + "×") << " | "
        << (r.ratios.empty() ? "" : fmt(r.ratio_lo(), 2) + "–" + fmt(r.ratio_hi(), 2)) << " | " << r.msgs_per_s.size()
        << (r.errors.empty() ? "" : " (" + std::to_string(r.errors.size()) + " failed)") << " | "
        << fmt(median(r.preemptions)) << " |\n";
    }
  }
  o << "\npreempted/run: involuntary context switches of both processes during one run (median of rounds); "
       "each is a stall of up to a scheduler slice, and what p99.9 and max mostly measure on a shared host.\n";
  o << "\n" << machine.line() << "\n";
  return o.str();
}

// ------------------------------------------------------------ JSON lines
std::vector<std::string> Report::json_lines() const {
  std::vector<std::string> out;
  auto find_stream = [&](const ItemResult& l) -> const ItemResult* {
    for (const ItemResult& t : throughput)
      if (t.transport == l.transport && t.payload == l.payload) return &t;
    return nullptr;
  };
  auto stream_fields = [](const ItemResult* t) {
    if (t == nullptr || t->msgs_per_s.empty())
      return std::string(
          ",\"msgs_per_s\":null,\"msgs_per_s_whole_run\":null,\"bytes_per_s\":null,"
          "\"throughput_ratio_to_floor_spsc\":null");
    return ",\"msgs_per_s\":" + jnum(t->rate(), 0) + ",\"msgs_per_s_whole_run\":" + jnum(t->rate_wall(), 0) +
           ",\"bytes_per_s\":" + jnum(t->rate() * static_cast<double>(t->payload), 0) +
           ",\"throughput_ratio_to_floor_spsc\":" + (t->ratios.empty() ? std::string("null") : jnum(t->ratio(), 3));
  };
  auto errors = [](const ItemResult& r) {
    std::string e = "[";
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
      if (i != 0) e += ',';
      e += jstr(r.errors[i]);
    }
    return e + "]";
  };
  for (const ItemResult& r : latency) {
    const Percentiles a = r.agg();
    const bool ok = !r.rounds.empty();
    const bool floor = r.transport == "floor.cacheline";
    std::string j = "{\"date\":" + jstr(date) + ",\"transport\":" + jstr(r.transport) +
                    ",\"payload\":" + std::to_string(r.payload) + ",\"rounds\":" + std::to_string(r.rounds.size()) +
                    ",\"samples\":" + std::to_string(a.count) + ",\"p50_ns\":" + (ok ? jnum(a.p50) : "null") +
                    ",\"p90_ns\":" + (ok ? jnum(a.p90) : "null") + ",\"p99_ns\":" + (ok ? jnum(a.p99) : "null") +
                    ",\"p999_ns\":" + (ok ? jnum(a.p999) : "null") + ",\"max_ns\":" + (ok ? jnum(a.max) : "null") +
                    ",\"mean_ns\":" + (ok ? jnum(a.mean) : "null") +
                    ",\"round_trips_per_s\":" + (ok && a.mean > 0 ? jnum(1e9 / a.mean, 0) : "null") +
                    stream_fields(find_stream(r)) + ",\"ratio_to_floor\":" +
                    (floor ? std::string("1.000") : (r.ratios.empty() ? "null" : jnum(r.ratio(), 3))) +
                    ",\"ratio_min\":" + (floor || r.ratios.empty() ? "null" : jnum(r.ratio_lo(), 3)) +
                    ",\"ratio_max\":" + (floor || r.ratios.empty() ? "null" : jnum(r.ratio_hi(), 3)) +
                    ",\"preemptions_per_run\":" + jnum(median(r.preemptions), 0) +
                    ",\"errors\":" + errors(r) + ",\"settings\":" + jstr(settings) +
                    ",\"machine\":" + machine.json() + "}";
    out.push_back(j);
  }
  // Throughput-only items (no round-trip row for that transport and payload).
  for (const ItemResult& t : throughput) {
    bool merged = false;
    for (const ItemResult& l : latency) merged = merged || (l.transport == t.transport && l.payload == t.payload);
    if (merged) continue;
    out.push_back("{\"date\":" + jstr(date) + ",\"transport\":" + jstr(t.transport) +
                  ",\"payload\":" + std::to_string(t.payload) + ",\"rounds\":" + std::to_string(t.msgs_per_s.size()) +
                  ",\"p50_ns\":null,\"p90_ns\":null,\"p99_ns\":null,\"p999_ns\":null,\"max_ns\":null" +
                  stream_fields(&t) + ",\"ratio_to_floor\":null,\"errors\":" + errors(t) +
                  ",\"settings\":" + jstr(settings) + ",\"machine\":" + machine.json() + "}");
  }
  return out;
}

// ------------------------------------------------------------ plot
namespace {
bool on_path(const char* exe) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + exe).c_str(), X_OK) == 0) return true;
  return false;
}
std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += "''";
    else o += c;
  }
  return o + "'";
}
std::string gp_dquote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}
}  // namespace

bool plot(const Report& r, std::size_t payload, const std::string& png, std::string& why) {
  if (!on_path("gnuplot")) {
    why = "gnuplot is not installed (no plot written)";
    return false;
  }
  struct Series {
    std::string title;
    std::vector<double> curve;
    std::uint64_t samples;
  };
  std::vector<Series> series;
  for (const ItemResult& it : r.latency) {
    if (it.rounds.empty()) continue;
    const bool floor = it.transport == "floor.cacheline";
    if (!floor && it.payload != payload) continue;
    std::uint64_t min_n = ~0ull;
    for (const Percentiles& p : it.rounds) min_n = std::min(min_n, p.count);
    series.push_back({it.transport + (floor ? " (56 B)" : ""), it.curve(), min_n});
  }
  if (series.empty()) {
    why = "no round-trip results at " + std::to_string(payload) + " B to plot";
    return false;
  }
  FILE* gp = ::popen("gnuplot 2>&1", "w");
  if (gp == nullptr) {
    why = "cannot start gnuplot";
    return false;
  }
  std::ostringstream s;
  s << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1100,700 font ',10' } "
       "else { set terminal png size 1100,700 }\n";
  s << "set output " << gp_quote(png) << "\n";
  s << "set title " << gp_dquote("courier-bench round trip, two processes, " + std::to_string(payload) +
                                 " B payload (median of rounds per percentile)") << " . \"\\n\" . "
    << gp_dquote(r.machine.line()) << " noenhanced\n";
  s << "set logscale y\nset grid xtics ytics mytics\nset key top left noenhanced\n";
  s << "set xlabel 'percentile'\nset ylabel 'round-trip latency (ns)'\n";
  const auto& x = curve_nines();
  double x_hi = 0;  // the most nines any series can resolve (log10 of its sample count)
  for (const Series& se : series) x_hi = std::max(x_hi, std::min(x.back(), std::log10(static_cast<double>(se.samples))));
  s << "set xrange [0:" << x_hi << "]\n";
  s << "set xtics ('0%%' 0, '50%%' 0.30103, '90%%' 1";
  const char* nines[] = {"99%%", "99.9%%", "99.99%%", "99.999%%", "99.9999%%"};
  for (int k = 2; k <= 6 && k <= x_hi + 1e-9; ++k) s << ", '" << nines[k - 2] << "' " << k;
  s << ")\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    s << "$d" << k << " << EOD\n";
    const double x_max = std::log10(static_cast<double>(series[k].samples));
    for (std::size_t i = 0; i < x.size() && i < series[k].curve.size(); ++i)
      if (x[i] <= x_max + 1e-9) s << x[i] << " " << series[k].curve[i] << "\n";
    s << "EOD\n";
  }
  s << "plot ";
  for (std::size_t k = 0; k < series.size(); ++k)
    s << (k ? ", " : "") << "$d" << k << " using 1:2 with lines lw 2 title " << gp_quote(series[k].title);
  s << "\n";
  const std::string script = s.str();
  std::fwrite(script.data(), 1, script.size(), gp);
  const int rc = ::pclose(gp);
  if (rc != 0) {
    why = "gnuplot failed (status " + std::to_string(rc) + ")";
    return false;
  }
  if (::access(png.c_str(), R_OK) != 0) {
    why = "gnuplot wrote no " + png;
    return false;
  }
  return true;
}

}  // namespace cbench
