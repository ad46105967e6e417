// examples/priority — urgent messages overtake a flood.
//
// Two processes share one bus. The producer floods the receiver with
// low-priority (15) messages a little faster than the receiver can handle
// them, so a backlog builds up and the flood's queueing latency grows. Every
// 100 ms it also sends one urgent priority-0 message carrying its send time.
// The receiver always takes the highest-priority waiting message first
// (courier's priority promise), so each urgent message jumps the whole
// backlog: its latency stays in microseconds while the flood's grows to
// hundreds of milliseconds.
//
//   priority_example [seconds]      (default 2)
//
// Uses the public API only (courier/bus.hpp). The bus is named after the
// producer's pid and removed at the end, also when something fails.
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "courier/bus.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::uint8_t urgent_priority = 0;
constexpr std::uint8_t flood_priority = 15;
constexpr std::uint32_t type_flood = 1, type_urgent = 2, type_stop = 3;
constexpr std::uint64_t work_ns = 20'000;          // the receiver spends this on each flood message
constexpr std::uint64_t flood_period_ns = 16'000;  // flood rate 62,500/s: 1.25x what the receiver handles
constexpr std::uint64_t urgent_period_ns = 100'000'000;

// The payload of every message (64 bytes).
struct Note {
  std::uint64_t sent_ns;     // CLOCK_MONOTONIC at send (same clock in both processes)
  std::uint64_t seq;         // per kind
  std::uint64_t flood_sent;  // urgent: flood messages sent before it
  std::uint8_t pad[40];
};
static_assert(sizeof(Note) == 64);

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

void pin(int cpu) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

std::span<const std::byte> bytes(const Note& n) { return {reinterpret_cast<const std::byte*>(&n), sizeof n}; }

char g_shm_path[128];  // removed by the signal handler: the bus must not outlive us
void on_signal(int sig) {
  if (g_shm_path[0] != '\0') unlink(g_shm_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

std::string human(double ns) {
  char b[32];
  if (ns < 1e3)
    std::snprintf(b, sizeof b, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(b, sizeof b, "%.1f us", ns / 1e3);
  else
    std::snprintf(b, sizeof b, "%.1f ms", ns / 1e6);
  return b;
}

// ------------------------------------------------------------ receiver (child)
int receive_side(const std::string& bus_name, int ready_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pin(1);
  courier::Options o;
  o.create = false;
  auto bus = courier::Bus::open(bus_name, o);
  if (!bus) {
    std::fprintf(stderr, "receiver: %s\n", bus.error().message.c_str());
    return 1;
  }
  auto rx = bus->attach("sink");
  if (!rx) {
    std::fprintf(stderr, "receiver: %s\n", rx.error().message.c_str());
    return 1;
  }
  (void)!write(ready_fd, "r", 1);
  close(ready_fd);

  std::printf("%8s  %16s  %22s  %14s\n", "t (ms)", "urgent latency", "flood latency (last)", "flood backlog");
  std::vector<double> urgent_lat, flood_lat;
  double last_flood = 0;
  std::uint64_t last_flood_seq = 0, overtaken = 0;
  const std::uint64_t start = now_ns();
  for (;;) {
    auto m = rx->receive(2s);
    if (!m) {
      std::fprintf(stderr, "receiver: nothing for 2 s; giving up\n");
      return 1;
    }
    Note n{};
    if (m->payload().size() != sizeof n) continue;
    std::memcpy(&n, m->payload().data(), sizeof n);
    const double lat = static_cast<double>(now_ns() - n.sent_ns);
    if (m->type() == type_stop) break;
    if (m->type() == type_urgent) {
      urgent_lat.push_back(lat);
      const std::uint64_t backlog = n.flood_sent > last_flood_seq + 1 ? n.flood_sent - last_flood_seq - 1 : 0;
      overtaken += backlog;
      std::printf("%8.0f  %16s  %22s  %10llu msgs\n", static_cast<double>(now_ns() - start) / 1e6, human(lat).c_str(),
                  human(last_flood).c_str(), static_cast<unsigned long long>(backlog));
      std::fflush(stdout);
      continue;
    }
    // A flood message: note its latency, then "work" on it.
    last_flood = lat;
    last_flood_seq = n.seq;
    flood_lat.push_back(lat);
    const std::uint64_t until = now_ns() + work_ns;
    while (now_ns() < until) {
    }
  }
  std::printf("\nurgent (priority 0):  %zu messages, latency p50 %s, max %s\n", urgent_lat.size(),
              human(percentile(urgent_lat, 0.5)).c_str(), human(percentile(urgent_lat, 1.0)).c_str());
  std::printf("flood  (priority 15): %zu messages handled, latency p50 %s, max %s\n", flood_lat.size(),
              human(percentile(flood_lat, 0.5)).c_str(), human(percentile(flood_lat, 1.0)).c_str());
  if (!urgent_lat.empty())
    std::printf(
        "each urgent message overtook %llu waiting flood messages on average; it waits at most for the\n"
        "flood message in hand (%.0f us of work), never for the backlog\n",
        static_cast<unsigned long long>(overtaken / urgent_lat.size()), work_ns / 1e3);
  return 0;
}

// ------------------------------------------------------------ producer (parent)
int run(double seconds) {
  const std::string name = "priority-example-" + std::to_string(getpid());
  std::snprintf(g_shm_path, sizeof g_shm_path, "/dev/shm/courier.%s", name.c_str());  // the bus (docs/layout.md)
  for (int s : {SIGINT, SIGTERM, SIGHUP}) signal(s, on_signal);

  courier::Options o;
  o.max_endpoints = 2;
  o.lane_capacity = 8u << 20;  // room for the whole backlog: the flood is never refused
  o.max_payload = 4096;
  auto bus = courier::Bus::open(name, o);
  if (!bus) {
    std::fprintf(stderr, "producer: %s\n", bus.error().message.c_str());
    return 1;
  }
  struct Remove {
    std::string name;
    ~Remove() {
      (void)courier::Bus::remove(name);
      g_shm_path[0] = '\0';
    }
  } remove{name};
  if (auto id = bus->add_endpoint("sink"); !id) {
    std::fprintf(stderr, "producer: %s\n", id.error().message.c_str());
    return 1;
  }

  std::printf(
      "priority example: flood at priority %u (%.0f msgs/s, the receiver handles %.0f/s), one urgent "
      "priority-%u message every %.0f ms, for %.1f s\n\n",
      flood_priority, 1e9 / flood_period_ns, 1e9 / work_ns, urgent_priority, urgent_period_ns / 1e6, seconds);
  std::fflush(stdout);

  int ready[2];
  if (pipe(ready) != 0) {
    std::perror("pipe");
    return 1;
  }
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    close(ready[0]);
    const int rc = receive_side(name, ready[1]);
    std::fflush(stdout);  // _exit does not flush stdio
    std::fflush(stderr);
    _exit(rc);
  }
  close(ready[1]);
  pin(0);
  pollfd pfd{ready[0], POLLIN, 0};
  char c = 0;
  if (poll(&pfd, 1, 5000) != 1 || read(ready[0], &c, 1) != 1) {
    std::fprintf(stderr, "producer: the receiver did not attach\n");
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 1;
  }
  close(ready[0]);

  auto tx = bus->endpoint("source");
  auto sink = tx ? tx->resolve("sink") : courier::Result<courier::Destination>(tx.error());
  if (!tx || !sink) {
    std::fprintf(stderr, "producer: %s\n", (!tx ? tx.error() : sink.error()).message.c_str());
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 1;
  }
  courier::SendOptions flood{.to = *sink, .priority = flood_priority, .type = type_flood};
  courier::SendOptions urgent{.to = *sink, .priority = urgent_priority, .type = type_urgent};
  Note n{};
  std::uint64_t flood_sent = 0, urgent_sent = 0, refused = 0;
  const std::uint64_t start = now_ns(), end = start + static_cast<std::uint64_t>(seconds * 1e9);
  std::uint64_t next_flood = start, next_urgent = start + urgent_period_ns;
  bool failed = false;
  for (std::uint64_t t = start; t < end && !failed; t = now_ns()) {
    if (t >= next_urgent) {
      n.sent_ns = now_ns();
      n.seq = ++urgent_sent;
      n.flood_sent = flood_sent;
      if (auto r = tx->send(urgent, bytes(n)); !r) {
        std::fprintf(stderr, "producer: urgent send: %s\n", std::string(courier::status_name(r.status)).c_str());
        failed = true;
      }
      next_urgent += urgent_period_ns;
    }
    if (t >= next_flood) {
      n.sent_ns = now_ns();
      n.seq = flood_sent + 1;
      n.flood_sent = 0;
      const auto r = tx->send(flood, bytes(n));
      if (r)
        ++flood_sent;
      else if (r.status == courier::Status::full)
        ++refused;
      else {
        std::fprintf(stderr, "producer: flood send: %s\n", std::string(courier::status_name(r.status)).c_str());
        failed = true;
      }
      next_flood += flood_period_ns;
    }
  }
  // Stop at priority 0: the receiver ends now, whatever flood is still waiting.
  n.sent_ns = now_ns();
  if (auto r = tx->send({.to = *sink, .priority = urgent_priority, .type = type_stop}, bytes(n)); !r) failed = true;
  int st = 0;
  const std::uint64_t deadline = now_ns() + 10'000'000'000ull;
  while (waitpid(child, &st, WNOHANG) == 0) {
    if (now_ns() > deadline) {
      std::fprintf(stderr, "producer: the receiver did not finish; killing it\n");
      kill(child, SIGKILL);
      waitpid(child, &st, 0);
      failed = true;
      break;
    }
    usleep(1000);
  }
  std::printf("producer: sent %llu flood and %llu urgent messages (%llu flood refused: lane full)\n",
              static_cast<unsigned long long>(flood_sent), static_cast<unsigned long long>(urgent_sent),
              static_cast<unsigned long long>(refused));
  return (!failed && WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  if (argc > 1) {
    seconds = std::atof(argv[1]);
    if (seconds <= 0 || seconds > 60) {
      std::fprintf(stderr, "usage: %s [seconds (0..60], default 2]\n", argv[0]);
      return 2;
    }
  }
  return run(seconds);
}
