// bench/courier_bench/machine.cpp — the machine line printed with every result.
#include "machine.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "format.hpp"

namespace cbench {

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
    if (line.rfind("model name", 0) == 0 && model.empty())
      model = value(line);
    else if (line.rfind("cpu family", 0) == 0 && family.empty())
      family = value(line);
    else if (line.rfind("model\t", 0) == 0 && cpu_model.empty())
      cpu_model = value(line);
    else if (line.rfind("stepping", 0) == 0 && stepping.empty())
      stepping = value(line);
    else if (line.rfind("cpu MHz", 0) == 0 && mhz.empty())
      mhz = value(line);
    else if (line.rfind("flags", 0) == 0 && line.find(" hypervisor") != std::string::npos)
      m.virtualized = true;
  }
  m.cpu = model.empty() ? "unknown CPU" : model;
  std::string detail;
  if (!family.empty()) detail += "family " + family + " model " + cpu_model + " stepping " + stepping;
  if (!mhz.empty())
    detail += (detail.empty() ? "" : ", ") + std::to_string(std::lround(std::atof(mhz.c_str()))) + " MHz";
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

std::string Machine::json() const {
  return "{\"cpu\":" + jstr(cpu) + ",\"cores\":" + std::to_string(cores) + ",\"kernel\":" + jstr(kernel) +
         ",\"virtualized\":" + (virtualized ? "true" : "false") + ",\"loadavg_1min\":" + jnum(loadavg, 2) + "}";
}

}  // namespace cbench
