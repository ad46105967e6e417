// bench/courier_bench/harness.hpp — what every transport of courier-bench is
// built from: the run configuration, the watchdog that keeps a run from
// hanging, named shared memory that is always removed, and the one interface
// (Transport) the harness drives.
//
// A run is one transport, one payload size, one mode, in two processes:
//
//   parent (CPU A)                         child (CPU B, forked)
//   --------------                         ---------------------
//   setup()        create shared objects
//   fork() ---------------------------->   child_attach()   open its side
//   parent_attach()                        signal ready (Control)
//   ping() x (warm-up + N), stamped        pong() x (warm-up + N)
//     -- or stream mode --
//   send() x M                             receive() x M, stamp the last
//   wait for the child to exit             child_detach(), _exit
//   teardown()     remove shared objects (also after any error or signal)
//
// An in-process transport (T::in_process, inproc_transports.cpp) runs the same
// script in two threads of this process instead: the child's side is a second
// instance of the transport, attached from cfg alone (it finds what setup()
// made through inproc::find(cfg.tag)) and driven on a thread pinned to CPU B.
//
// A concrete transport is a plain class with non-virtual ping/pong (see
// floor_transports.cpp); Adapter<T> wraps it so the measured loops are
// instantiated per transport and inlined — no virtual call per round trip.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spin.hpp"
#include "timer.hpp"

namespace cbench {

enum class Mode { pingpong, stream };

struct RunConfig {
  std::size_t payload = 64;           // bytes per message
  std::uint64_t warmup = 0;           // round trips before the measured ones (ping-pong)
  std::uint64_t iterations = 0;       // measured round trips, or messages streamed
  std::string tag;                    // unique per run: transports derive shm / bus names from it
  std::size_t max_payload = 65536;    // largest payload of the whole benchmark (geometry)
  std::uint64_t window = 0;           // stream mode: the consumer stamps the time every `window` messages
  std::string disk_dir = "/var/tmp";  // where transports that write to disk (floor.fdatasync, courier.log.*) put files
};

// ------------------------------------------------------------ control block
// One page of anonymous shared memory mapped before any fork: how the child
// tells the parent it is ready, done or failed (and why).
struct Control {
  enum State : std::uint32_t { starting = 0, ready = 1, done = 2, failed = 3 };
  std::atomic<std::uint32_t> state;
  std::atomic<std::uint64_t> t_end_ns;     // stream mode: CLOCK_MONOTONIC when the last message arrived
  std::atomic<std::uint64_t> received;     // stream mode: messages counted by the child
  std::atomic<std::uint32_t> dismissed;    // parent: the child may exit now (it waits for this after `done`)
  std::atomic<std::uint64_t> counters[4];  // free-form figures a child reports (scale.cpp), published by `done`
  static constexpr unsigned max_windows = 256;
  std::uint64_t window_end_ns[max_windows];  // stream mode: CLOCK_MONOTONIC after every RunConfig::window messages
  char error[480];

  void reset() noexcept {
    state.store(starting, std::memory_order_relaxed);
    t_end_ns.store(0, std::memory_order_relaxed);
    received.store(0, std::memory_order_relaxed);
    dismissed.store(0, std::memory_order_relaxed);
    for (auto& c : counters) c.store(0, std::memory_order_relaxed);
    std::memset(error, 0, sizeof error);
  }
  void fail(const std::string& why) noexcept {
    std::strncpy(error, why.c_str(), sizeof error - 1);
    // Release: the error text is visible to whoever sees `failed`.
    state.store(failed, std::memory_order_release);
  }
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(Control) <= 4096);

// ------------------------------------------------------------ watchdog
// Keeps every wait bounded. A wait loop calls begin() once, then spin_ok() per
// spin (cheap: real work every 1024 calls) or check() after each blocking wait
// that timed out (futex, receive(timeout), poll). Gives up when one wait lasts
// longer than the timeout, or the peer process is gone / reported failure.
class Watchdog {
 public:
  // Parent side: the peer is the child `pid` (reaped here if it dies).
  static Watchdog for_parent(pid_t child, Control* ctrl, std::uint64_t timeout_ns) {
    Watchdog w;
    w.peer_ = child;
    w.peer_is_parent_ = false;
    w.ctrl_ = ctrl;
    w.timeout_ns_ = timeout_ns;
    return w;
  }
  // Child side: the peer is our parent.
  static Watchdog for_child(pid_t parent, std::uint64_t timeout_ns) {
    Watchdog w;
    w.peer_ = parent;
    w.peer_is_parent_ = true;
    w.timeout_ns_ = timeout_ns;
    return w;
  }
  // In-process runs: the peer is a thread of this process. It is gone when
  // `gone` becomes non-zero (the main thread: the worker's exit flag; the
  // worker: Control::dismissed) or, with ctrl, when it reported failure.
  static Watchdog for_thread(const std::atomic<std::uint32_t>* gone, const char* who, Control* ctrl,
                             std::uint64_t timeout_ns) {
    Watchdog w;
    w.thread_gone_ = gone;
    w.thread_name_ = who;
    w.ctrl_ = ctrl;
    w.timeout_ns_ = timeout_ns;
    return w;
  }

  void begin() noexcept {
    spins_ = 0;
    wait_start_ = 0;
  }
  bool spin_ok() noexcept { return (++spins_ & 1023u) != 0 || check(); }
  bool check() noexcept;  // false: give up; reason() says why

  const std::string& reason() const noexcept { return reason_; }
  bool child_reaped() const noexcept { return reaped_; }
  int child_status() const noexcept { return status_; }
  std::uint64_t timeout_ns() const noexcept { return timeout_ns_; }

 private:
  Watchdog() = default;
  bool peer_alive() noexcept;

  pid_t peer_ = 0;
  bool peer_is_parent_ = false;
  const std::atomic<std::uint32_t>* thread_gone_ = nullptr;  // in-process runs (peer_ is 0)
  const char* thread_name_ = "";
  Control* ctrl_ = nullptr;
  std::uint64_t timeout_ns_ = 5'000'000'000ull;
  std::uint32_t spins_ = 0;
  std::uint64_t wait_start_ = 0;
  std::uint64_t last_peer_check_ = 0;
  bool reaped_ = false;
  int status_ = 0;
  std::string reason_;
};

// Wait (polling every 20 us, bounded by wd) until the other side sets
// ctrl.state to `st`. false: err = "<what>: <why the watchdog gave up>".
bool await_state(Control& ctrl, Control::State st, Watchdog& wd, const char* what, std::string& err);

// ------------------------------------------------------------ cleanup
// Every shared-memory object the benchmark creates is registered here; a
// SIGINT/SIGTERM/SIGHUP/SIGSEGV/SIGBUS/SIGABRT in the parent kills the current
// child and unlinks what is registered before the signal takes its course.
namespace cleanup {
// program: the name that starts its messages ("courier-bench: ...").
void install_handlers(const char* program = "courier-bench");
// A line written to stderr when a signal ends the program (e.g. what is left behind).
void set_note(const std::string& note);
void reset_handlers_in_child();
void register_shm(const std::string& shm_name);  // "/name" as for shm_open
void unregister_shm(const std::string& shm_name);
// A courier bus's shared memory (/dev/shm/courier.<bus>, where courier keeps it on Linux).
void register_bus(const std::string& bus_name);
void unregister_bus(const std::string& bus_name);
void register_path(const std::string& path);  // any file (a unix socket, ...)
void unregister_path(const std::string& path);
void register_mq(const std::string& mq_name);  // "/name" as for mq_open
void unregister_mq(const std::string& mq_name);
void set_child(pid_t pid);  // 0: none
// Remove objects left by earlier runs whose process is gone (names carry the
// pid): /dev/shm/cbench.*, /dev/shm/courier.cbench-* and courier.cblog-*
// (buses of courier-bench and bench_log), /tmp/cbench.*, and disk_dir/cbench.*
// (files and log directories, removed with their contents).
void sweep_stale(const std::string& disk_dir);
}  // namespace cleanup

// Fork the other process of a run: flush stdio first (the child must not write
// the parent's buffered output again), run child(the parent's pid) there and
// _exit with what it returns; the parent registers it (cleanup::set_child).
// The child's pid, or -1 with err = "fork: <why>".
pid_t fork_child(const std::function<int(pid_t parent)>& child, std::string& err);

// A named POSIX shared-memory region ("/cbench.<pid>.<tag>.<what>").
class ShmRegion {
 public:
  ShmRegion() = default;
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;
  ~ShmRegion() {
    unmap();
    remove();
  }

  // Parent: create (exclusive, 0600), size, map, touch every page.
  bool create(const std::string& name, std::size_t size, std::string& err);
  // Child: open the region the parent created and map it.
  bool open(const std::string& name, std::size_t size, std::string& err);
  void unmap() noexcept;
  // Unlink the name (only if this object created it).
  void remove() noexcept;

  std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  bool owner_ = false;
};

// ------------------------------------------------------------ in-process runs
// What the two threads of an in-process run share (a queue, a line, a Bus):
// setup() publishes it under the run's tag, the other side's child_attach(cfg)
// finds it by cfg.tag alone (as a forked child finds shared memory by name),
// teardown() withdraws it. The object lives while either side holds it.
namespace inproc {
void publish(const std::string& tag, std::shared_ptr<void> state);
std::shared_ptr<void> find(const std::string& tag);
void withdraw(const std::string& tag);
template <class S>
std::shared_ptr<S> find_as(const std::string& tag) {
  return std::static_pointer_cast<S>(find(tag));
}
}  // namespace inproc

// ------------------------------------------------------------ transport interface
class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const noexcept = 0;
  virtual const char* describe() const noexcept = 0;
  virtual std::size_t max_payload() const noexcept = 0;
  virtual bool supports_stream() const noexcept = 0;
  // Two threads of this process instead of two processes (see the top of this file).
  virtual bool in_process() const noexcept = 0;

  // Parent, before fork: create the shared objects for this run.
  virtual bool setup(const RunConfig& cfg, std::string& err) = 0;
  // Parent after fork / child after fork: open this process's side. The
  // child's side is derived from cfg alone (names from cfg.tag), never from
  // state setup() left in memory, so a re-exec'd child works the same.
  virtual bool parent_attach(std::string& err) = 0;
  virtual bool child_attach(const RunConfig& cfg, std::string& err) = 0;
  // Child, before _exit: let go of what child_attach took.
  virtual void child_detach() noexcept = 0;
  // Parent, always (also after errors): remove what setup created. Idempotent.
  virtual void teardown() noexcept = 0;

  // Parent: warm-up + cfg.iterations round trips; ticks[i] = Timer ticks of round trip i.
  virtual bool measure_pingpong(const RunConfig& cfg, std::vector<std::uint64_t>& ticks, Watchdog& wd,
                                std::string& err) = 0;
  // Child: answer warm-up + cfg.iterations round trips.
  virtual bool serve_pingpong(const RunConfig& cfg, Watchdog& wd, std::string& err) = 0;
  // Parent: send cfg.iterations messages as fast as the peer takes them.
  virtual bool stream_send(const RunConfig& cfg, Watchdog& wd, std::string& err) = 0;
  // Child: receive cfg.iterations messages, checking their order; stamp the last.
  virtual bool stream_receive(const RunConfig& cfg, Watchdog& wd, Control& ctrl, std::string& err) = 0;
};

// The concept a concrete transport T implements (no virtuals):
//   const char* name() const; const char* description() const; std::size_t max_payload() const;
//   bool setup(const RunConfig&, std::string&); bool parent_attach(std::string&);
//   bool child_attach(const RunConfig&, std::string&);   // from cfg alone (re-exec ready)
//   void child_detach(); void teardown();
//   // round trip: send n bytes of msg, wait for the echo, copy it into reply
//   bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog&, std::string&);
//   // wait for one message and send the same bytes back
//   bool pong(Watchdog&, std::string&);
// and optionally:
//   static constexpr bool in_process = true;   // two threads, not two processes
// and optionally, for stream mode:
//   bool send_one(const std::byte* msg, std::size_t n, Watchdog&, std::string&);   // waits for room
//   bool recv_one(std::byte* into, std::size_t n, Watchdog&, std::string&);        // copies the payload out
// or, to receive a stream in batches (courier.spin.drain), with recv_one still there:
//   static constexpr bool batch_receive = true;
//   template <class F> std::size_t recv_some(F&& each, std::size_t limit, Watchdog&, std::string&);
//       // hands up to `limit` payloads to each(const std::byte*, std::size_t); 0 (err set) on failure
// and optionally, after the last send_one of a stream:
//   bool finish_stream(Watchdog&, std::string&);   // e.g. wait until every message is on disk
template <class T>
concept Streaming = requires(T t, const std::byte* c, std::byte* b, std::size_t n, Watchdog& w, std::string& e) {
  { t.send_one(c, n, w, e) } -> std::same_as<bool>;
  { t.recv_one(b, n, w, e) } -> std::same_as<bool>;
};

template <class T>
concept FinishesStream = requires(T t, Watchdog& w, std::string& e) {
  { t.finish_stream(w, e) } -> std::same_as<bool>;
};

template <class T>
concept BatchReceives = requires {
  requires T::batch_receive;
};

template <class T>
concept InProcess = requires {
  requires T::in_process;
};

template <class T>
class Adapter final : public Transport {
 public:
  template <class... A>
  explicit Adapter(A&&... a) : t_(std::forward<A>(a)...) {}

  const char* name() const noexcept override { return t_.name(); }
  const char* describe() const noexcept override { return t_.description(); }
  std::size_t max_payload() const noexcept override { return t_.max_payload(); }
  bool supports_stream() const noexcept override { return Streaming<T>; }
  bool in_process() const noexcept override { return InProcess<T>; }
  bool setup(const RunConfig& cfg, std::string& err) override { return t_.setup(cfg, err); }
  bool parent_attach(std::string& err) override { return t_.parent_attach(err); }
  bool child_attach(const RunConfig& cfg, std::string& err) override { return t_.child_attach(cfg, err); }
  void child_detach() noexcept override { t_.child_detach(); }
  void teardown() noexcept override { t_.teardown(); }

  bool measure_pingpong(const RunConfig& cfg, std::vector<std::uint64_t>& ticks, Watchdog& wd,
                        std::string& err) override {
    const std::size_t n = cfg.payload;
    std::vector<std::byte> msg(n < 8 ? 8 : n), reply(n < 8 ? 8 : n);
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::byte>(i * 131u + 7u);
    for (std::uint64_t i = 0; i < cfg.warmup; ++i) {
      stamp(msg, n, i);
      if (!t_.ping(msg.data(), reply.data(), n, wd, err)) return fail(err, wd, "warm-up round trip", i);
    }
    ticks.assign(cfg.iterations, 0);
    std::uint64_t prev = Timer::now();
    for (std::uint64_t i = 0; i < cfg.iterations; ++i) {
      stamp(msg, n, cfg.warmup + i);
      if (!t_.ping(msg.data(), reply.data(), n, wd, err)) return fail(err, wd, "round trip", i);
      const std::uint64_t now = Timer::now();
      ticks[i] = now - prev;
      prev = now;
    }
    // The echo must be the message we sent last (its sequence number and bytes).
    if (std::memcmp(msg.data(), reply.data(), n) != 0) {
      err = "the echo differs from the message sent";
      return false;
    }
    return true;
  }

  bool serve_pingpong(const RunConfig& cfg, Watchdog& wd, std::string& err) override {
    const std::uint64_t total = cfg.warmup + cfg.iterations;
    for (std::uint64_t i = 0; i < total; ++i)
      if (!t_.pong(wd, err)) return fail(err, wd, "answering round trip", i);
    return true;
  }

  bool stream_send(const RunConfig& cfg, Watchdog& wd, std::string& err) override {
    if constexpr (Streaming<T>) {
      const std::size_t n = cfg.payload;
      std::vector<std::byte> msg(n < 8 ? 8 : n);
      for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::byte>(i);
      for (std::uint64_t i = 0; i < cfg.iterations; ++i) {
        stamp(msg, n, i);
        if (!t_.send_one(msg.data(), n, wd, err)) return fail(err, wd, "streaming message", i);
      }
      if constexpr (FinishesStream<T>) {
        if (!t_.finish_stream(wd, err)) return fail(err, wd, "finishing the stream after message", cfg.iterations);
      }
      return true;
    } else {
      err = "stream mode is not supported";
      return false;
    }
  }

  bool stream_receive(const RunConfig& cfg, Watchdog& wd, Control& ctrl, std::string& err) override {
    if constexpr (Streaming<T>) {
      const std::size_t n = cfg.payload;
      std::vector<std::byte> into(n < 8 ? 8 : n);
      unsigned w = 0;
      // Stamp windows: a rate per window is robust against the producer or
      // consumer losing its CPU for a while (the median window is kept).
      auto stamp_window = [&](std::uint64_t i) {
        if (cfg.window != 0 && i != 0 && i % cfg.window == 0 && w < Control::max_windows)
          ctrl.window_end_ns[w++] = mono_ns();
      };
      auto in_sequence = [&](std::uint64_t i) {
        if (n < 8) return true;
        std::uint64_t seq = 0;
        std::memcpy(&seq, into.data(), 8);
        if (seq == i) return true;
        err = "stream message " + std::to_string(i) + " carries sequence " + std::to_string(seq) +
              " (lost or reordered)";
        return false;
      };
      if constexpr (BatchReceives<T>) {
        std::uint64_t i = 0;
        bool ok = true;
        while (i < cfg.iterations) {
          const std::uint64_t left = cfg.iterations - i;
          const std::size_t got = t_.recv_some(
              [&](const std::byte* p, std::size_t len) {
                stamp_window(i);
                std::memcpy(into.data(), p, len < n ? len : n);
                ok = ok && in_sequence(i);
                ++i;
              },
              left < stream_batch ? left : stream_batch, wd, err);
          if (got == 0) return fail(err, wd, "receiving stream message", i);
          if (!ok) return false;
        }
      } else {
        for (std::uint64_t i = 0; i < cfg.iterations; ++i) {
          stamp_window(i);
          if (!t_.recv_one(into.data(), n, wd, err)) return fail(err, wd, "receiving stream message", i);
          if (!in_sequence(i)) return false;
        }
      }
      ctrl.t_end_ns.store(mono_ns(), std::memory_order_relaxed);  // relaxed: published by the state store
      ctrl.received.store(cfg.iterations, std::memory_order_relaxed);
      return true;
    } else {
      err = "stream mode is not supported";
      return false;
    }
  }

 private:
  // The most messages a batch-receiving transport takes at once (as courier recv takes them).
  static constexpr std::uint64_t stream_batch = 64;
  // Sequence number in the first 8 bytes (payloads >= 8): a stale echo shows.
  static void stamp(std::vector<std::byte>& msg, std::size_t n, std::uint64_t seq) noexcept {
    if (n >= 8) std::memcpy(msg.data(), &seq, 8);
  }
  static bool fail(std::string& err, const Watchdog& wd, const char* what, std::uint64_t i) {
    if (err.empty()) err = wd.reason().empty() ? "failed" : wd.reason();
    err = std::string(what) + " " + std::to_string(i) + ": " + err;
    return false;
  }
  T t_;
};

// The transports this build knows, in report order. `selected_by_default`:
// part of a run without --only.
struct TransportInfo {
  std::string name;
  std::string description;
  bool selected_by_default = true;
  bool stream_by_default = false;  // one-way throughput measured in a default run
  std::unique_ptr<Transport> (*make)() = nullptr;
  bool peer = false;  // blocks in the kernel (microseconds): --quick measures fewer round trips
  // Measured against floor.fdatasync (every message fdatasync'ed before its
  // send completes), with --log-iterations round trips: each costs disk syncs.
  bool durable = false;
  // Writes every message to disk: --log-stream-messages per stream (the
  // journal of a 5,000,000-message stream would be 720 MB).
  bool disk = false;
  // Largest payload measured (0: any): a transport that writes every message
  // to disk stops at 1 KiB (200,000 round trips of 64 KiB would write 26 GB).
  std::size_t payload_cap = 0;
};
const std::vector<TransportInfo>& transports();

// Names for this process's shared objects: "<prefix><pid>.<n>" style, unique per run.
std::string unique_tag();

// Pin the calling thread to one CPU. false: not allowed (errno says why).
bool pin_to_cpu(int cpu);

}  // namespace cbench
