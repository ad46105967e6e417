// bench/courier_bench/inproc_transports.cpp — two threads of one process,
// pinned to CPUs A and B (main.cpp's thread topology; harness.hpp).
//
//   inproc.floor.cacheline  one 64-byte line in the heap bounced between the
//                           threads (sequence number + up to 56 bytes): the
//                           reference of every inproc.* ratio, as
//                           floor.cacheline is for two processes
//   inproc.moodycamel       two moodycamel::ConcurrentQueue<std::vector<std::byte>>
//                           (one per direction), explicit producer and consumer
//                           tokens, the receiver spinning on try_dequeue. The
//                           buffer circulates: ping copies the message into it,
//                           pong moves it back unchanged (no copy on that side),
//                           ping copies the echo out — so no allocation per
//                           message, and one copy per round trip fewer than the
//                           shared-memory transports. Stream mode returns the
//                           emptied buffers to the producer through a second
//                           queue per direction, at most `stream_pool` in flight
//                           (a bounded queue, as the rings are).
//   inproc.courier          (courier_transports.cpp) one courier::Bus shared by
//                           the two threads, an Endpoint + Receiver per thread
//
// What the threads share is made in setup() and published under the run's tag
// (inproc::publish); the other thread finds it from cfg alone (inproc::find).
#include <atomic>
#include <cstring>
#include <optional>
#include <vector>

#include "cache_line.hpp"
#include "transports.hpp"

#if COURIER_BENCH_HAVE_MOODYCAMEL
#include <concurrentqueue.h>
#endif

namespace cbench {
namespace {

// ------------------------------------------------------------ inproc.floor.cacheline
class InprocCacheLineFloor {
 public:
  static constexpr bool in_process = true;
  const char* name() const noexcept { return "inproc.floor.cacheline"; }
  const char* description() const noexcept {
    return "one 64-byte cache line bounced between two threads (sequence number + <= 56 bytes)";
  }
  std::size_t max_payload() const noexcept { return sizeof(CacheLine::payload); }

  bool setup(const RunConfig& cfg, std::string&) {
    owned_.reset(new CacheLine{});  // aligned new: the line is alone on its cache line
    tag_ = cfg.tag;
    inproc::publish(tag_, owned_);
    return true;
  }
  bool parent_attach(std::string&) {
    ex_.attach(owned_.get());
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    mine_ = inproc::find_as<CacheLine>(cfg.tag);
    if (!mine_) {
      err = "no line published under " + cfg.tag;
      return false;
    }
    ex_.attach(mine_.get());
    return true;
  }
  void child_detach() noexcept { mine_.reset(); }
  void teardown() noexcept {
    if (!tag_.empty()) inproc::withdraw(tag_);
    tag_.clear();
    owned_.reset();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string&) {
    return ex_.ping(msg, reply, n, wd);
  }
  bool pong(Watchdog& wd, std::string&) { return ex_.pong(wd); }

 private:
  std::string tag_;
  std::shared_ptr<CacheLine> owned_, mine_;
  LineExchange ex_;
};

// ------------------------------------------------------------ inproc.moodycamel
#if COURIER_BENCH_HAVE_MOODYCAMEL
using Buffer = std::vector<std::byte>;
using Queue = moodycamel::ConcurrentQueue<Buffer>;

struct MoodyState {
  // down: parent -> child, up: child -> parent; *_free: emptied buffers going
  // back to that direction's producer (stream mode only).
  Queue down{1024}, up{1024}, down_free{1024}, up_free{1024};
};

class MoodycamelInproc {
 public:
  static constexpr bool in_process = true;
  static constexpr std::size_t stream_pool = 4096;  // buffers in flight per direction (stream mode)

  const char* name() const noexcept { return "inproc.moodycamel"; }
  const char* description() const noexcept {
    return "moodycamel::ConcurrentQueue<std::vector<std::byte>> between two threads, try_dequeue spinning";
  }
  std::size_t max_payload() const noexcept { return 65536; }

  bool setup(const RunConfig& cfg, std::string&) {
    owned_ = std::make_shared<MoodyState>();
    tag_ = cfg.tag;
    inproc::publish(tag_, owned_);
    return true;
  }
  bool parent_attach(std::string&) {
    open(owned_->down, owned_->up, owned_->down_free, owned_->up_free);
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    mine_ = inproc::find_as<MoodyState>(cfg.tag);
    if (!mine_) {
      err = "no queues published under " + cfg.tag;
      return false;
    }
    open(mine_->up, mine_->down, mine_->up_free, mine_->down_free);
    return true;
  }
  void child_detach() noexcept {
    close();
    mine_.reset();
  }
  void teardown() noexcept {
    close();
    if (!tag_.empty()) inproc::withdraw(tag_);
    tag_.clear();
    owned_.reset();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    buf_.assign(msg, msg + n);  // the buffer came back with the last echo: no allocation
    if (!out_->enqueue(*out_tok_, std::move(buf_))) {
      err = "enqueue: out of memory";
      return false;
    }
    if (!take(buf_, wd)) return false;
    if (buf_.size() != n) {
      err = "reply of " + std::to_string(buf_.size()) + " bytes, expected " + std::to_string(n);
      return false;
    }
    std::memcpy(reply, buf_.data(), n);
    return true;
  }

  bool pong(Watchdog& wd, std::string& err) {
    if (!take(buf_, wd)) return false;
    if (!out_->enqueue(*out_tok_, std::move(buf_))) {  // echo: the same buffer goes back
      err = "enqueue: out of memory";
      return false;
    }
    return true;
  }

  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) {
    Buffer b;
    if (!free_in_->try_dequeue(*free_in_tok_, b)) {
      if (allocated_ < stream_pool) {
        b.reserve(n);
        ++allocated_;
      } else {
        wd.begin();
        while (!free_in_->try_dequeue(*free_in_tok_, b)) {  // the consumer holds every buffer: wait
          cpu_relax();
          if (!wd.spin_ok()) return false;
        }
      }
    }
    b.assign(msg, msg + n);
    if (!out_->enqueue(*out_tok_, std::move(b))) {
      err = "enqueue: out of memory";
      return false;
    }
    return true;
  }

  bool recv_one(std::byte* into, std::size_t n, Watchdog& wd, std::string& err) {
    Buffer b;
    if (!take(b, wd)) return false;
    std::memcpy(into, b.data(), b.size() < n ? b.size() : n);
    if (!free_out_->enqueue(*free_out_tok_, std::move(b))) {
      err = "enqueue (free list): out of memory";
      return false;
    }
    return true;
  }

 private:
  // out/in: this side's direction of travel; free_out: where this side's
  // consumer returns buffers; free_in: where this side's producer takes them.
  void open(Queue& out, Queue& in, Queue& free_in, Queue& free_out) {
    out_ = &out;
    in_ = &in;
    free_in_ = &free_in;
    free_out_ = &free_out;
    out_tok_.emplace(out);
    in_tok_.emplace(in);
    free_in_tok_.emplace(free_in);
    free_out_tok_.emplace(free_out);
    buf_.clear();
    buf_.reserve(max_payload());
    allocated_ = 0;
  }
  void close() noexcept {
    out_tok_.reset();
    in_tok_.reset();
    free_in_tok_.reset();
    free_out_tok_.reset();
    out_ = in_ = free_in_ = free_out_ = nullptr;
  }
  bool take(Buffer& into, Watchdog& wd) {
    if (in_->try_dequeue(*in_tok_, into)) return true;
    wd.begin();
    while (!in_->try_dequeue(*in_tok_, into)) {
      cpu_relax();
      if (!wd.spin_ok()) return false;
    }
    return true;
  }

  std::string tag_;
  std::shared_ptr<MoodyState> owned_, mine_;
  Queue *out_ = nullptr, *in_ = nullptr, *free_in_ = nullptr, *free_out_ = nullptr;
  std::optional<moodycamel::ProducerToken> out_tok_, free_out_tok_;
  std::optional<moodycamel::ConsumerToken> in_tok_, free_in_tok_;
  Buffer buf_;
  std::size_t allocated_ = 0;
};
#endif  // COURIER_BENCH_HAVE_MOODYCAMEL

}  // namespace

std::unique_ptr<Transport> make_inproc_floor_cacheline() { return std::make_unique<Adapter<InprocCacheLineFloor>>(); }
#if COURIER_BENCH_HAVE_MOODYCAMEL
std::unique_ptr<Transport> make_inproc_moodycamel() { return std::make_unique<Adapter<MoodycamelInproc>>(); }
#else
std::unique_ptr<Transport> make_inproc_moodycamel() { return nullptr; }
#endif

}  // namespace cbench
