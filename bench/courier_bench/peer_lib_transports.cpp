// bench/courier_bench/peer_lib_transports.cpp — the two libraries among the
// peers (see peer_transports.cpp for the kernel's IPC):
//
//   zmq.ipc           ZeroMQ PAIR sockets over ipc:// (libzmq; its I/O thread
//                     sits between the application and the socket)
//   boost.mq          boost::interprocess::message_queue (mutex + condition
//                     variables in shared memory)
//
// Both wait through their own timeouts (at most 100 ms) so the watchdog can look.
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "message_transport.hpp"
#include "transports.hpp"

#if COURIER_BENCH_HAVE_ZMQ
#include <zmq.h>
#endif
#if COURIER_BENCH_HAVE_BOOST
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#endif

namespace cbench {
namespace {

// ------------------------------------------------------------ ZeroMQ
#if COURIER_BENCH_HAVE_ZMQ
// libzmq is not fork-safe: contexts are made after the fork, in attach.
class ZmqPeer : public MessageTransport<ZmqPeer> {
  friend class MessageTransport<ZmqPeer>;

 public:
  const char* name() const noexcept { return "zmq.ipc"; }
  const char* description() const noexcept { return "ZeroMQ PAIR sockets over ipc://"; }
  std::size_t max_payload() const noexcept { return peer_max; }

  bool setup(const RunConfig& cfg, std::string&) {
    path_ = path(cfg);
    cleanup::register_path(path_);
    return true;
  }
  bool parent_attach(std::string& err) { return open(path_, true, err); }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    buf_.resize(peer_max);
    return open(path(cfg), false, err);
  }
  void child_detach() noexcept { close(); }
  void teardown() noexcept {
    close();
    if (!path_.empty()) {
      ::unlink(path_.c_str());
      cleanup::unregister_path(path_);
      path_.clear();
    }
  }

 private:
  static std::string path(const RunConfig& cfg) { return "/tmp/cbench." + cfg.tag + ".zmq"; }
  bool open(const std::string& p, bool bind, std::string& err) {
    ctx_ = zmq_ctx_new();
    sock_ = ctx_ ? zmq_socket(ctx_, ZMQ_PAIR) : nullptr;
    if (sock_ == nullptr) {
      err = std::string("zmq_socket: ") + zmq_strerror(zmq_errno());
      return false;
    }
    const int timeout_ms = 100, linger = 0, hwm = 100'000;
    zmq_setsockopt(sock_, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(sock_, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(sock_, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock_, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock_, ZMQ_RCVHWM, &hwm, sizeof hwm);
    const std::string ep = "ipc://" + p;
    if ((bind ? zmq_bind(sock_, ep.c_str()) : zmq_connect(sock_, ep.c_str())) != 0) {
      err = std::string(bind ? "zmq_bind(" : "zmq_connect(") + ep + "): " + zmq_strerror(zmq_errno());
      return false;
    }
    return true;
  }
  void close() noexcept {
    if (sock_ != nullptr) zmq_close(sock_);
    if (ctx_ != nullptr) zmq_ctx_term(ctx_);
    sock_ = ctx_ = nullptr;
  }
  bool send_msg(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      if (zmq_send(sock_, p, n, 0) >= 0) return true;
      if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
        err = std::string("zmq_send: ") + zmq_strerror(zmq_errno());
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  bool recv_msg(std::byte* p, std::size_t cap, std::size_t& got, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      const int r = zmq_recv(sock_, p, cap, 0);
      if (r >= 0) {
        got = std::min(static_cast<std::size_t>(r), cap);
        return true;
      }
      if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
        err = std::string("zmq_recv: ") + zmq_strerror(zmq_errno());
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  std::string path_;
  void* ctx_ = nullptr;
  void* sock_ = nullptr;
};

#endif  // COURIER_BENCH_HAVE_ZMQ

// ------------------------------------------------------------ Boost.Interprocess
#if COURIER_BENCH_HAVE_BOOST
namespace bip = boost::interprocess;

class BoostMqPeer : public MessageTransport<BoostMqPeer> {
  friend class MessageTransport<BoostMqPeer>;

 public:
  const char* name() const noexcept { return "boost.mq"; }
  const char* description() const noexcept { return "boost::interprocess::message_queue (mutex + condvars in shm)"; }
  std::size_t max_payload() const noexcept { return peer_max; }

  bool setup(const RunConfig& cfg, std::string& err) {
    try {
      for (int k = 0; k < 2; ++k) {
        const std::string n = queue_name(cfg, k);
        bip::message_queue::remove(n.c_str());
        cleanup::register_shm("/" + n);
        bip::message_queue q(bip::create_only, n.c_str(), 16, std::max<std::size_t>(cfg.payload, 8));
        names_[k] = n;
      }
    } catch (const std::exception& e) {
      err = std::string("message_queue: ") + e.what();
      return false;
    }
    return true;
  }
  bool parent_attach(std::string& err) { return open_pair(names_[0], names_[1], err); }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    buf_.resize(std::max<std::size_t>(cfg.payload, 8));
    return open_pair(queue_name(cfg, 1), queue_name(cfg, 0), err);
  }
  void child_detach() noexcept {
    out_.reset();
    in_.reset();
  }
  void teardown() noexcept {
    out_.reset();
    in_.reset();
    for (std::string& n : names_) {
      if (n.empty()) continue;
      bip::message_queue::remove(n.c_str());
      cleanup::unregister_shm("/" + n);
      n.clear();
    }
  }

 private:
  static std::string queue_name(const RunConfig& cfg, int k) {
    return "cbench." + cfg.tag + (k == 0 ? ".bmq-down" : ".bmq-up");
  }
  bool open_pair(const std::string& out, const std::string& in, std::string& err) {
    try {
      out_.emplace(bip::open_only, out.c_str());
      in_.emplace(bip::open_only, in.c_str());
    } catch (const std::exception& e) {
      err = std::string("message_queue: ") + e.what();
      return false;
    }
    return true;
  }
  static boost::posix_time::ptime soon() {
    return boost::posix_time::microsec_clock::universal_time() + boost::posix_time::milliseconds(100);
  }
  bool send_msg(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    wd.begin();
    try {
      if (out_->try_send(p, n, 0)) return true;
      while (!out_->timed_send(p, n, 0, soon()))
        if (!wd.check()) return false;
    } catch (const std::exception& e) {
      err = std::string("send: ") + e.what();
      return false;
    }
    return true;
  }
  bool recv_msg(std::byte* p, std::size_t cap, std::size_t& got, Watchdog& wd, std::string& err) {
    wd.begin();
    unsigned prio = 0;
    bip::message_queue::size_type r = 0;
    try {
      // timed_receive needs the time of day for its deadline; a plain receive
      // first keeps that off the common path only if a message is waiting.
      if (in_->try_receive(p, cap, r, prio)) {
        got = r;
        return true;
      }
      while (!in_->timed_receive(p, cap, r, prio, soon()))
        if (!wd.check()) return false;
    } catch (const std::exception& e) {
      err = std::string("receive: ") + e.what();
      return false;
    }
    got = r;
    return true;
  }
  std::string names_[2];
  std::optional<bip::message_queue> out_, in_;
};
#endif  // COURIER_BENCH_HAVE_BOOST

}  // namespace

#if COURIER_BENCH_HAVE_ZMQ
std::unique_ptr<Transport> make_zmq_ipc() { return std::make_unique<Adapter<ZmqPeer>>(); }
#else
std::unique_ptr<Transport> make_zmq_ipc() { return nullptr; }
#endif
#if COURIER_BENCH_HAVE_BOOST
std::unique_ptr<Transport> make_boost_mq() { return std::make_unique<Adapter<BoostMqPeer>>(); }
#else
std::unique_ptr<Transport> make_boost_mq() { return nullptr; }
#endif

}  // namespace cbench
