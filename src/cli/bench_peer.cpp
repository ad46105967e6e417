// cli/bench_peer.cpp — `courier bench`: the two sides of a run and the pipes
// between them. The peer is forked before the parent opens the bus (so it
// copies a process of one thread), opens the bus itself once told to, and
// reports over a pipe: ready (its receiver is attached), warm (stream: the
// warm-up arrived), done (how many it took, when the last arrived), or an
// error (its text). Every wait is bounded by `patience` and by the other
// side's death, never by a guess at how long a step takes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "bench.hpp"

namespace courier::cli::bench {
namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: one clock for every process of the host

constexpr std::uint64_t samples_reserved = 1u << 20;  // round trips whose room a ping-pong takes ahead

volatile std::sig_atomic_t stop_requested = 0;
void on_interrupt(int) { stop_requested = 1; }

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// What the peer tells the parent.
enum class Kind : std::uint32_t { ready = 1, warm, done, error };
struct Report {
  Kind kind;
  std::uint32_t text_len;  // error: bytes of text that follow
  std::uint64_t count;     // done: messages taken (warm-up included)
  std::uint64_t at_ns;     // done: arrival of the last (steady_clock)
};

bool write_all(int fd, const void* p, std::size_t n) {
  const char* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Read exactly n bytes within `patience`; false on end of file, timeout or interrupt.
bool read_all(int fd, void* p, std::size_t n) {
  char* b = static_cast<char*>(p);
  const auto deadline = Clock::now() + patience;
  while (n > 0) {
    if (stop_requested) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int r = ::poll(&pfd, 1, 100);
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    const ssize_t got = ::read(fd, b, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    b += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

Report read_report(PeerLink& link, Kind want) {
  Report r{};
  if (!read_all(link.from_peer, &r, sizeof r)) {
    if (stop_requested) throw Failure("bench: interrupted");
    throw Failure("bench: the other process stopped answering (exited, or silent for " +
                  std::to_string(patience.count()) + "s)");
  }
  if (r.kind == Kind::error) {
    std::string text(std::min<std::uint32_t>(r.text_len, 4096), '\0');
    if (!read_all(link.from_peer, text.data(), text.size())) text = "(its message was lost)";
    throw Failure("bench: the other process failed: " + text);
  }
  if (r.kind != want) throw Failure("bench: the other process said something unexpected");
  return r;
}

// The other side's pipe has something to say, or is closed (it exited).
bool pipe_ready(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

// A message within `patience`, or a Failure naming `waiting_for`. `other` is
// the pipe from the other side: readable when it failed or died, which ends
// the wait (through `link`'s report when the parent waits: its error text).
Message receive_patiently(Receiver& rx, const char* waiting_for, int other, PeerLink* link = nullptr) {
  const auto deadline = Clock::now() + patience;
  for (;;) {
    if (auto m = rx.receive(std::chrono::milliseconds(100))) return std::move(*m);
    if (stop_requested) throw Failure("bench: interrupted");
    if (auto e = rx.error()) throw Failure(e->message);
    if (pipe_ready(other)) {
      if (link != nullptr) (void)read_report(*link, Kind::error);  // throws with the peer's error, or its end
      throw Failure(std::string("bench: the command stopped (waiting for a ") + waiting_for + ")");
    }
    if (Clock::now() >= deadline)
      throw Failure(std::string("bench: no ") + waiting_for + " within " + std::to_string(patience.count()) + "s");
  }
}

SendOptions send_options(const Config& c, const Destination& to) {
  SendOptions o;
  o.to = to;
  o.priority = c.priority;
  if (c.tracked) o.expiry = tracked_expiry;    // an id is generated: tracked
  o.timeout = std::chrono::milliseconds(100);  // a full lane: wait for the receiver (send_or_fail: longer)
  return o;
}

// Send; a full lane is waited for (up to `patience`, in steps that look at an
// interrupt and at the other side's pipe: readable when it failed or died).
void send_or_fail(Endpoint& tx, const SendOptions& o, std::span<const std::byte> data, int other,
                  PeerLink* link = nullptr) {
  SendResult r = tx.send(o, data);
  for (auto deadline = Clock::now() + patience; r.status == Status::full && Clock::now() < deadline;) {
    if (stop_requested) throw Failure("bench: interrupted");
    if (pipe_ready(other)) {
      if (link != nullptr) (void)read_report(*link, Kind::error);  // throws with the peer's error, or its end
      throw Failure("bench: the command stopped");
    }
    r = tx.send(o, data);
  }
  if (!r.ok() || r.duplicate)
    throw Failure("bench: send to " + single_quoted(o.to.name) + ": " + std::string(status_name(r.status)));
}

// Drain the parent's status ring, counting `delivered` events.
void count_statuses(Endpoint& tx, std::uint64_t& delivered) {
  auto n = tx.poll_status([&](const StatusEvent& e) { delivered += e.status == Status::delivered; });
  if (!n) throw Failure("bench: poll_status: " + n.error().message);
}

// ------------------------------------------------------------ the peer

void peer_loop(const Config& c, int from_parent, int to_parent) {
  char go_byte = 0;
  if (!read_all(from_parent, &go_byte, 1)) throw Failure("the command stopped before the bus was ready");
  Options o;
  o.create = false;
  o.prefault_tracker = c.tracked;
  Bus bus = or_fail(Bus::open(c.bus, o));
  Receiver rx = or_fail(bus.attach(c.pong, c.receiver));
  prefault(c, bus);
  Endpoint tx = or_fail(bus.endpoint(c.pong));
  const SendOptions back = send_options(c, or_fail(tx.resolve(c.ping)));
  Report ready{Kind::ready, 0, 0, 0};
  if (!write_all(to_parent, &ready, sizeof ready)) return;
  std::uint64_t delivered = 0;
  for (std::size_t k = 0; k < c.sizes.size(); ++k) {
    std::uint64_t taken = 0, last_ns = 0;
    for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
      Message m = receive_patiently(rx, "message from the command", from_parent);
      last_ns = now_ns();
      ++taken;
      if (c.mode == Mode::pingpong) {
        send_or_fail(tx, back, m.payload(), from_parent);  // echo: lane to lane, one copy
        if (c.tracked && (i & 255u) == 255u) count_statuses(tx, delivered);
      }
      if (c.mode == Mode::stream && i + 1 == c.warmup) {
        Report warm{Kind::warm, 0, 0, 0};
        if (!write_all(to_parent, &warm, sizeof warm)) return;
      }
    }
    rx.release();
    Report done{Kind::done, 0, taken, last_ns};
    if (!write_all(to_parent, &done, sizeof done)) return;
  }
  if (c.tracked) count_statuses(tx, delivered);
  if (bus.has_log()) or_fail(bus.flush_log());
}

void peer_main(const Config& c, int from_parent, int to_parent) {
  try {
    peer_loop(c, from_parent, to_parent);
  } catch (const std::exception& e) {
    const std::string text = e.what();
    Report r{Kind::error, static_cast<std::uint32_t>(text.size()), 0, 0};
    (void)(write_all(to_parent, &r, sizeof r) && write_all(to_parent, text.data(), text.size()));
  }
}

// ------------------------------------------------------------ the parent's side

void wait_delivered(const Config& c, Endpoint& tx, std::uint64_t& delivered, std::uint64_t want) {
  if (!c.tracked) return;
  const auto deadline = Clock::now() + patience;
  count_statuses(tx, delivered);
  while (delivered < want && Clock::now() < deadline && !stop_requested) {
    ::usleep(1000);  // polling for statuses, bounded by the deadline; not a synchronisation
    count_statuses(tx, delivered);
  }
}

SizeResult pingpong(const Config& c, Receiver& rx, Endpoint& tx, PeerLink& link, const SendOptions& o,
                    std::uint32_t size) {
  SizeResult r;
  r.size = size;
  // At most 1 Mi samples (8 MiB) ahead; more as they come. --count goes up to
  // 10^9: reserving it all was 8 GB of address space from the start (a
  // bad_alloc under strict overcommit), and under ThreadSanitizer freeing it
  // when a run ends early (its peer killed, SIGINT) walked TSan's metadata of
  // all 8 GB, which took minutes: the peer-kill test hung there, its peer seen.
  r.samples.reserve(std::min<std::uint64_t>(c.count, samples_reserved));
  std::vector<std::byte> payload(size, std::byte{0x5a});
  std::uint64_t first = 0, delivered = 0;
  for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
    const std::uint64_t t0 = now_ns();
    send_or_fail(tx, o, payload, link.from_peer, &link);
    Message m = receive_patiently(rx, "reply from the other process", link.from_peer, &link);
    const std::uint64_t t1 = now_ns();
    if (m.payload().size() != size)
      throw Failure("bench: a reply of " + std::to_string(m.payload().size()) + " bytes, expected " +
                    std::to_string(size));
    if (i == c.warmup) first = t0;
    if (i >= c.warmup) {
      r.samples.push_back(t1 - t0);
      ++r.sent;
      ++r.received;
      r.elapsed_ns = t1 - first;
    }
    if (c.tracked && (i & 255u) == 255u) count_statuses(tx, delivered);
    if ((i & 255u) == 255u && stop_requested) throw Failure("bench: interrupted");
  }
  rx.release();
  wait_delivered(c, tx, delivered, c.warmup + c.count);
  r.delivered = delivered;
  return r;
}

SizeResult stream(const Config& c, Endpoint& tx, PeerLink& link, const SendOptions& o, std::uint32_t size) {
  SizeResult r;
  r.size = size;
  std::vector<std::byte> payload(size, std::byte{0x5a});
  std::uint64_t delivered = 0;
  for (std::uint64_t i = 0; i < c.warmup; ++i) send_or_fail(tx, o, payload, link.from_peer, &link);
  if (c.warmup > 0) (void)read_report(link, Kind::warm);
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < c.count; ++i) {
    send_or_fail(tx, o, payload, link.from_peer, &link);
    ++r.sent;
    if (c.tracked && (i & 255u) == 255u) count_statuses(tx, delivered);
    if ((i & 4095u) == 0 && stop_requested) throw Failure("bench: interrupted");
    if ((i & 4095u) == 0 && pipe_ready(link.from_peer)) (void)read_report(link, Kind::error);  // it failed or died
  }
  const Report done = read_report(link, Kind::done);
  r.peer_received = done.count;
  r.received = done.count - c.warmup;
  r.elapsed_ns = done.at_ns > t0 ? done.at_ns - t0 : 1;
  wait_delivered(c, tx, delivered, c.warmup + c.count);
  r.delivered = delivered;
  return r;
}

}  // namespace

bool interrupted() noexcept { return stop_requested != 0; }

void prefault(const Config& c, const Bus& bus) {
  const std::uint64_t lane = bus.settings().lane_capacity;
  for (const std::string& name : {c.ping, c.pong}) {
    auto id = bus.find_endpoint(name);
    if (!id) continue;
    bus.prefault_lane(*id, c.priority, lane);
    if (c.tracked) bus.prefault_status_ring(*id, bus.settings().status_capacity);
  }
}

void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;  // no SA_RESTART: a blocking call returns EINTR and the loop looks
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

PeerLink fork_peer(const Config& c) {
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0)
    throw Failure(std::string("bench: pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw Failure(std::string("bench: fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(down[1]);
    ::close(up[0]);
    peer_main(c, down[0], up[1]);
    ::_exit(0);  // not exit(): the parent's buffers and atexit handlers are not ours
  }
  ::close(down[0]);
  ::close(up[1]);
  return PeerLink{pid, down[1], up[0]};
}

void go(const PeerLink& link) {
  const char b = 'g';
  if (!write_all(link.to_peer, &b, 1)) throw Failure("bench: the other process is gone");
}

void await_ready(PeerLink& link) { (void)read_report(link, Kind::ready); }

SizeResult run_size(const Config& c, Bus&, Receiver& rx, Endpoint& tx, PeerLink& link, std::uint32_t size) {
  const SendOptions o = send_options(c, or_fail(tx.resolve(c.pong)));
  if (c.mode == Mode::stream) return stream(c, tx, link, o, size);
  SizeResult r = pingpong(c, rx, tx, link, o, size);
  const Report done = read_report(link, Kind::done);
  r.peer_received = done.count;
  return r;
}

int reap_peer(PeerLink& link, bool kill_it) {
  if (link.pid <= 0) return -1;
  if (kill_it) ::kill(link.pid, SIGTERM);
  for (int fd : {link.to_peer, link.from_peer})
    if (fd >= 0) ::close(fd);
  link.to_peer = link.from_peer = -1;
  int status = 0;
  while (::waitpid(link.pid, &status, 0) < 0 && errno == EINTR) {
  }
  link.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace courier::cli::bench
