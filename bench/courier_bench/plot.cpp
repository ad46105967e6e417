// bench/courier_bench/plot.cpp — the latency percentile plot (gnuplot).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "format.hpp"
#include "report.hpp"

namespace cbench {
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
    if (c == '\'')
      o += "''";
    else
      o += c;
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
// Line style per transport: floors dashed, peers thin, courier thick and red;
// in-process rows dotted in the colour of their two-process counterpart.
std::string line_style(const std::string& t, std::size_t k) {
  struct S {
    const char* name;
    const char* colour;
    int dash;
    double width;
  };
  static const S styles[] = {
      {"floor.cacheline", "#000000", 2, 2.0},
      {"floor.spsc", "#7f7f7f", 2, 2.0},
      {"floor.futex", "#1f77b4", 2, 2.0},
      {"courier.spin", "#d62728", 1, 3.0},
      {"courier.park", "#ff7f0e", 1, 3.0},
      {"courier.poll", "#8c564b", 1, 2.0},
      {"courier.lane", "#ff9896", 2, 2.0},
      {"pipe", "#2ca02c", 1, 1.5},
      {"unix.seqpacket", "#17becf", 1, 1.5},
      {"posix.mq", "#9467bd", 1, 1.5},
      {"zmq.ipc", "#bcbd22", 1, 1.5},
      {"boost.mq", "#e377c2", 1, 1.5},
      {"inproc.floor.cacheline", "#000000", 3, 2.0},
      {"inproc.moodycamel", "#8c564b", 3, 2.5},
      {"inproc.courier", "#d62728", 3, 3.0},
      {"inproc.courier.shm", "#ff9896", 3, 2.0},
      {"floor.fdatasync", "#555555", 4, 2.0},
      {"courier.log.always", "#d62728", 4, 2.5},
      {"courier.log.group", "#e6550d", 4, 2.5},
      {"courier.log.os", "#fd8d3c", 4, 2.0},
  };
  static const char* spare[] = {"#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"};
  char b[96];
  for (const S& st : styles)
    if (t == st.name) {
      std::snprintf(b, sizeof b, "lc rgb '%s' dt %d lw %.1f", st.colour, st.dash, st.width);
      return b;
    }
  std::snprintf(b, sizeof b, "lc rgb '%s' dt 1 lw 1.5", spare[k % (sizeof spare / sizeof spare[0])]);
  return b;
}
}  // namespace

bool plot(const Report& r, std::size_t payload, const std::string& png, std::string& why) {
  if (!on_path("gnuplot")) {
    why = "gnuplot is not installed (no plot written)";
    return false;
  }
  struct Series {
    std::string name;
    std::string title;
    std::vector<double> curve;
    std::uint64_t samples;
  };
  std::vector<Series> series;
  for (const ItemResult& it : r.latency) {
    if (it.rounds.empty()) continue;
    const bool floor = is_floor_reference(it.transport);
    if (!floor && it.payload != payload) continue;
    std::uint64_t min_n = ~0ull;
    for (const Percentiles& p : it.rounds) min_n = std::min(min_n, p.count);
    const std::string size = floor && it.payload != payload ? " (" + std::to_string(it.payload) + " B)" : "";
    series.push_back({it.transport, it.transport + size, it.curve(), min_n});
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
  s << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1200,720 font ',10' } "
       "else { set terminal png size 1200,720 }\n";
  s << "set output " << gp_quote(png) << "\n";
  s << "set title "
    << gp_dquote("courier-bench round trip, two processes (inproc.*: two threads), " + std::to_string(payload) +
                 " B payload (median of rounds per percentile)")
    << " . \"\\n\" . " << gp_dquote(r.machine.line()) << " noenhanced\n";
  s << "set logscale y\nset grid xtics ytics mytics\n";
  s << "set ytics ('10 ns' 10, '100 ns' 100, '1 µs' 1000, '10 µs' 1e4, '100 µs' 1e5, '1 ms' 1e6, '10 ms' 1e7, "
       "'100 ms' 1e8)\n";
  s << "set key outside right top vertical Left reverse noenhanced spacing 1.2\n";
  s << "set yrange [10 < * < 100 : *]\n";  // the lowest tick (100 ns) always shows
  s << "set xlabel 'percentile (log scale of 1 / (1 - q))'\nset ylabel 'round-trip latency (log scale)'\n";
  const auto& x = curve_nines();
  double x_hi = 0;  // the most nines any series can resolve (log10 of its sample count)
  for (const Series& se : series)
    x_hi = std::max(x_hi, std::min(x.back(), std::log10(static_cast<double>(se.samples))));
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
    s << (k ? ", " : "") << "$d" << k << " using 1:2 with lines " << line_style(series[k].name, k) << " title "
      << gp_quote(series[k].title);
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
