// bench/courier_bench/machine.hpp — the machine a result was measured on:
// shared by courier-bench and bench_log (the bench_harness library).
#pragma once

#include <string>

namespace cbench {

struct Machine {
  std::string cpu;     // model name (family/model/stepping, MHz)
  unsigned cores = 0;  // online CPUs
  std::string kernel;  // uname: sysname release machine
  bool virtualized = false;
  double loadavg = -1;       // 1-minute load average when the run started (other work on the host)
  std::string line() const;  // one line for humans
  std::string json() const;  // a JSON object
};
Machine probe_machine();

}  // namespace cbench
