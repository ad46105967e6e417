// bench/bench_log/producers.cpp — several producers on one bus with a log:
// N threads of one process (one Bus, endpoints src0..srcN-1, one thread
// each) or N processes (each opens the bus and its own endpoint), every
// producer sending messages / N tracked messages with produce() (bus.cpp) and
// waiting for all its `sent`. Reported in aggregate: send() and `sent`
// msgs/s over the span of all producers, send->sent percentiles over every
// message. Each producer writes its summary and its latencies into an
// anonymous shared mapping made before the forks, so the parent sums them
// whatever the shape.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <latch>
#include <thread>

#include "bench_log.hpp"
#include "courier_bench/children.hpp"
#include "courier_bench/harness.hpp"

namespace blog {

const char* shape_name(Shape s) { return s == Shape::threads ? "threads" : "processes"; }

namespace {

// One producer's summary, in the shared mapping.
struct Slot {
  char error[256];
  std::uint64_t messages, failed_sends, events, missing, missing_sent, dropped, flush_forced;
  std::uint64_t real0, real1;            // its send() loop, CLOCK_REALTIME
  std::uint64_t first_send, last_sent;   // CLOCK_REALTIME; last_sent 0: none seen
};
static_assert(std::is_trivially_copyable_v<Slot>);

// What a child sends back through in_child's pipe (the summary is in the mapping).
struct ChildDone {
  char error[256];
};

// slots[n], then one latency (ns, NaN: no `sent` seen) per message.
class Shared {
 public:
  Shared(unsigned n, std::uint64_t total) {
    bytes_ = sizeof(Slot) * n + sizeof(double) * total;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die(std::string("mmap of the producers' results: ") + std::strerror(errno));
    base_ = static_cast<char*>(p);
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared() { ::munmap(base_, bytes_); }
  Slot& slot(unsigned k) const { return reinterpret_cast<Slot*>(base_)[k]; }
  double* lat(unsigned n) const { return reinterpret_cast<double*>(base_ + sizeof(Slot) * n); }

 private:
  char* base_ = nullptr;
  std::size_t bytes_ = 0;
};

// The start line of the processes: each child writes one byte to `ready`
// when it is set to send (or has failed), then reads one from `go`.
struct Gate {
  int ready[2] = {-1, -1}, go[2] = {-1, -1};
  Gate() {
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0)
      die(std::string("pipe: ") + std::strerror(errno));
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  }
  void arrive_and_wait() const {  // in a child
    const char b = 1;
    (void)cbench::write_all(ready[1], &b, 1);
    char g = 0;
    while (::read(go[0], &g, 1) < 0 && errno == EINTR) {
    }
  }
};

// One producer from its open endpoint to its summary: sends, the wait for
// every `sent`, the latencies into lat[0..per).
void producer(const Config& c, Sync sync, courier::Bus& bus, courier::Endpoint& ep, const courier::Destination& to,
              const std::string& src, std::uint64_t per, Slot& out, double* lat) {
  ProducerRun r;
  produce(c, sync, bus, ep, to, per, r, out.error);
  count_missing(ep, r);
  out.messages = r.count;
  out.failed_sends = r.count - r.sent_now - r.awaited;
  out.events = r.seen;
  out.missing = r.missing;
  out.missing_sent = r.missing_sent;
  out.flush_forced = r.flush_forced ? 1 : 0;
  out.real0 = r.real0;
  out.real1 = r.real1;
  out.first_send = r.count > 0 ? r.t_send[0] : 0;
  for (std::uint64_t k = 0; k < per; ++k) {
    if (k >= r.count || r.t_sent[k] == 0) {
      lat[k] = NAN;
      continue;
    }
    out.last_sent = std::max(out.last_sent, r.t_sent[k]);
    lat[k] = static_cast<double>(r.t_sent[k] - r.t_send[k]);
  }
  const courier::BusStats st = bus.stat();
  if (const courier::EndpointStats* e = stats_of(st, src)) out.dropped = e->status_dropped;
}

std::string src_name(unsigned k) { return "src" + std::to_string(k); }

// The bus of a run, the same in every opener (the bus owns its settings and
// refuses different ones): bus_options with n + 1 endpoints, and lanes no
// larger than the run needs, since every endpoint has 16 lanes of
// lane_capacity and Bus::open refuses a bus larger than /dev/shm (9 x 16 x
// 256 MiB for 8 producers): the smallest power of two that holds all the
// messages with a quarter to spare, at most the bus part's lane.
courier::Options run_options(const Config& c, Sync sync, unsigned n, std::uint64_t total) {
  courier::Options o = bus_options(c, sync, total, n + 1);
  const std::uint64_t need = total * (courier::message_header_bytes + payload_size) / 4 * 5;
  std::uint64_t lane = 1u << 20;
  while (lane < need && lane < c.lane_capacity) lane <<= 1;
  o.lane_capacity = std::min(lane, c.lane_capacity);
  return o;
}

// The threads shape, in one child: one Bus, n endpoints, one thread each.
void threads_child(const Config& c, const std::string& name, Sync sync, unsigned n, std::uint64_t per,
                   const Shared& sh, ChildDone& done) {
  Producer pr;  // the bus, "dst" and src0
  if (!open_producer(name, run_options(c, sync, n, per * n), pr, done.error, src_name(0))) return;
  std::latch start(n);
  std::vector<std::thread> threads;
  for (unsigned k = 0; k < n; ++k)
    threads.emplace_back([&, k] {
      Slot& out = sh.slot(k);
      std::optional<courier::Endpoint> own;
      courier::Endpoint* ep = &*pr.ep;
      if (k > 0) {
        auto e = pr.bus->endpoint(src_name(k));
        if (!e) {
          set_error(out.error, "endpoint " + src_name(k) + ": " + e.error().message);
          start.count_down();
          return;
        }
        own.emplace(std::move(*e));
        ep = &*own;
      }
      if (c.prefault) prefault(*pr.bus, *ep, pr.to, per * n, per);
      start.arrive_and_wait();
      producer(c, sync, *pr.bus, *ep, pr.to, src_name(k), per, out, sh.lat(n) + k * per);
    });
  for (std::thread& t : threads) t.join();
}

// The processes shape: producer k in its own process.
void process_child(const Config& c, const std::string& name, Sync sync, unsigned n, unsigned k, std::uint64_t per,
                   const Shared& sh, const Gate& gate) {
  Slot& out = sh.slot(k);
  Producer pr;
  if (!open_producer(name, run_options(c, sync, n, per * n), pr, out.error, src_name(k))) {
    gate.arrive_and_wait();
    return;
  }
  if (c.prefault) prefault(*pr.bus, *pr.ep, pr.to, per * n, per);
  gate.arrive_and_wait();
  producer(c, sync, *pr.bus, *pr.ep, pr.to, src_name(k), per, out, sh.lat(n) + k * per);
}

void add_error(AggRound& a, const std::string& what) { a.error += (a.error.empty() ? "" : "; ") + what; }

// The processes: the bus created by a first child (with every endpoint),
// then n children at once, one thread of ours waiting for each.
void run_processes(const Config& c, const std::string& name, Sync sync, unsigned n, std::uint64_t per,
                   const Shared& sh, AggRound& a) {
  ChildDone setup{};
  rusage ru{};
  std::string err;
  const bool made = cbench::in_child(
      [&](ChildDone& out) {
        Producer pr;
        if (!open_producer(name, run_options(c, sync, n, per * n), pr, out.error, src_name(0))) return;
        for (unsigned k = 1; k < n; ++k)
          if (auto r = pr.bus->add_endpoint(src_name(k)); !r)
            return set_error(out.error, "add_endpoint " + src_name(k) + ": " + r.error().message);
      },
      setup, ru, err);
  if (!made) return add_error(a, "creating the bus: " + err);
  if (setup.error[0] != '\0') return add_error(a, std::string("creating the bus: ") + setup.error);

  // The producers, forked by this (single-threaded) process one after the
  // other without waiting: a child forked from a multi-threaded process may
  // not start threads (the bus's flusher) safely. Their results are in `sh`.
  Gate gate;
  std::vector<pid_t> pids(n, -1);
  std::vector<char> reaped(n, 0);
  const pid_t parent = ::getpid();
  unsigned exited = 0;
  for (unsigned k = 0; k < n; ++k) {
    pids[k] = cbench::fork_child(
        [&](pid_t) {
          cbench::cleanup::reset_handlers_in_child();
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (::getppid() != parent) return 1;  // the parent died before prctl
          process_child(c, name, sync, n, k, per, sh, gate);
          return 0;
        },
        err);
    if (pids[k] < 0) {
      add_error(a, src_name(k) + ": " + err);
      reaped[k] = 1, ++exited;
    }
  }
  auto reap = [&](unsigned k, int options) {
    int status = 0;
    rusage usage{};
    pid_t r;
    while ((r = ::wait4(pids[k], &status, options, &usage)) < 0 && errno == EINTR) {
    }
    if (r != pids[k]) return;
    reaped[k] = 1, ++exited;
    a.preempted += static_cast<double>(usage.ru_nivcsw);
    if (WIFSIGNALED(status))
      add_error(a, src_name(k) + ": killed by signal " + std::to_string(WTERMSIG(status)));
    else if (WEXITSTATUS(status) != 0)
      add_error(a, src_name(k) + ": exited with " + std::to_string(WEXITSTATUS(status)));
  };
  // The start: every child ready (or gone before it said so), then one byte each.
  unsigned ready = 0;
  while (ready + exited < n) {
    pollfd pfd{gate.ready[0], POLLIN, 0};
    if (::poll(&pfd, 1, 100) > 0) {
      char b[64];
      const ssize_t got = ::read(gate.ready[0], b, sizeof b);
      if (got > 0) ready += static_cast<unsigned>(got);
    }
    for (unsigned k = 0; k < n; ++k)
      if (!reaped[k]) reap(k, WNOHANG);
  }
  const std::vector<char> go(n, 1);
  if (!cbench::write_all(gate.go[1], go.data(), n)) add_error(a, std::string("start: ") + std::strerror(errno));
  // Every wait of a producer is bounded (produce(): 2 x interval + 50 ms, then 3 s after flush_log()).
  for (unsigned k = 0; k < n; ++k)
    if (!reaped[k]) reap(k, 0);
  cbench::cleanup::set_child(0);
}

}  // namespace

AggRound run_producers(const Config& c, Sync sync, Shape shape, unsigned n) {
  AggRound a;
  a.producers = n;
  const std::uint64_t per = c.messages / n;
  const std::string name = next_bus_name();
  set_current_bus(name);
  const Shared sh(n, per * n);
  if (shape == Shape::threads) {
    ChildDone done{};
    rusage ru{};
    std::string err;
    if (!cbench::in_child([&](ChildDone& out) { threads_child(c, name, sync, n, per, sh, out); }, done, ru, err))
      add_error(a, err);
    else if (done.error[0] != '\0')
      add_error(a, done.error);
    a.preempted = static_cast<double>(ru.ru_nivcsw);
  } else {
    run_processes(c, name, sync, n, per, sh, a);
  }
  remove_bus(c, name);

  // The totals. Every producer's failure is kept; one that never started has messages 0.
  std::uint64_t first = UINT64_MAX, last = 0, loop0 = UINT64_MAX, loop1 = 0, messages = 0;
  for (unsigned k = 0; k < n; ++k) {
    const Slot& s = sh.slot(k);
    if (s.error[0] != '\0') add_error(a, src_name(k) + ": " + s.error);
    if (s.messages == 0) continue;
    messages += s.messages;
    if (s.messages < per) add_error(a, src_name(k) + ": sent " + num(static_cast<double>(s.messages)) + " of " +
                                           num(static_cast<double>(per)));
    a.failed_sends += static_cast<double>(s.failed_sends);
    a.missing += static_cast<double>(s.missing);
    a.missing_sent += static_cast<double>(s.missing_sent);
    a.dropped += static_cast<double>(s.dropped);
    a.flush_forced += static_cast<double>(s.flush_forced);
    loop0 = std::min(loop0, s.real0);
    loop1 = std::max(loop1, s.real1);
    first = std::min(first, s.first_send);
    last = std::max(last, s.last_sent);
  }
  if (a.failed_sends > 0) add_error(a, num(a.failed_sends) + " send() calls returned neither sent nor outbox");
  if (a.missing > 0) add_error(a, num(a.missing) + " `sent` never seen");
  std::vector<double> lat;
  lat.reserve(per * n);
  for (std::uint64_t i = 0; i < per * n; ++i)
    if (!std::isnan(sh.lat(n)[i])) lat.push_back(sh.lat(n)[i]);
  a.messages = static_cast<double>(messages);
  const std::string what = std::string(courier::sync_name(sync)) + " " + shape_name(shape) + " x" + std::to_string(n);
  if (messages == 0) add_error(a, "no producer sent anything");
  if (!a.error.empty()) std::fprintf(stderr, "  producers %s: FAILED: %s\n", what.c_str(), a.error.c_str());
  if (messages == 0) return a;
  a.send_per_s = loop1 > loop0 ? static_cast<double>(messages) * 1e9 / static_cast<double>(loop1 - loop0) : 0;
  a.sent_per_s = last > first ? static_cast<double>(lat.size()) * 1e9 / static_cast<double>(last - first) : 0;
  if (!lat.empty()) {
    const cbench::Percentiles p = cbench::summarize_ns(lat);
    a.p50_us = p.p50 / 1e3;
    a.p99_us = p.p99 / 1e3;
  }
  std::fprintf(stderr, "  producers %s: send() %s msgs/s, sent %s msgs/s, send->sent p50 %s us p99 %s us\n",
               what.c_str(), num(a.send_per_s).c_str(), num(a.sent_per_s).c_str(), fix(a.p50_us).c_str(),
               fix(a.p99_us).c_str());
  return a;
}

}  // namespace blog
