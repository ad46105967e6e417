// bench/courier_bench/peer_transports.cpp — what a user might use instead of
// courier between two processes: kernel IPC and two libraries. Part of every
// run (--quick measures fewer round trips of them: they are slow). All of them
// block in the kernel while waiting, so compare them with floor.futex and
// courier.park as well as with courier.spin.
//
//   pipe              two pipes (one per direction), read()/write()
//   unix.seqpacket    a socketpair(AF_UNIX, SOCK_SEQPACKET): one message per send
//   posix.mq          two POSIX message queues (mq_send / mq_receive); payloads up
//                     to /proc/sys/fs/mqueue/msgsize_max (8 KiB by default)
//   zmq.ipc, boost.mq: the libraries (peer_lib_transports.cpp)
//
// unix.seqpacket, posix.mq and the libraries move whole messages: their
// ping/pong/send_one/recv_one come from MessageTransport (message_transport.hpp).
//
// Every blocking call wakes at least every 100 ms so the watchdog can look:
// the fd-based ones through a SIGALRM ticker (no SA_RESTART: the call returns
// EINTR), the others through their own timeouts.
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "message_transport.hpp"
#include "transports.hpp"

namespace cbench {
namespace {

// SIGALRM every 100 ms while alive; blocking system calls return EINTR.
class AlarmTicker {
 public:
  void start() {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    ::sigaction(SIGALRM, &sa, nullptr);
    itimerval it{{0, 100'000}, {0, 100'000}};
    ::setitimer(ITIMER_REAL, &it, nullptr);
    on_ = true;
  }
  void stop() {
    if (!on_) return;
    itimerval it{};
    ::setitimer(ITIMER_REAL, &it, nullptr);
    ::signal(SIGALRM, SIG_IGN);
    on_ = false;
  }
  ~AlarmTicker() { stop(); }

 private:
  bool on_ = false;
};

std::string sys(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Read exactly n bytes (a stream), waking for the watchdog on EINTR.
bool read_full(int fd, std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
  wd.begin();
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
    } else if (r == 0) {
      err = "the peer closed the pipe";
      return false;
    } else if (errno == EINTR) {
      if (!wd.check()) return false;
    } else {
      err = sys("read");
      return false;
    }
  }
  return true;
}

bool write_full(int fd, const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
  wd.begin();
  std::size_t put = 0;
  while (put < n) {
    const ssize_t r = ::write(fd, p + put, n - put);
    if (r >= 0) {
      put += static_cast<std::size_t>(r);
    } else if (errno == EINTR) {
      if (!wd.check()) return false;
    } else {
      err = sys("write");
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------ pipe
// Pipes are anonymous: made in setup(), inherited by the forked child (a
// re-exec'd child would receive them as open descriptors).
class PipePeer {
 public:
  const char* name() const noexcept { return "pipe"; }
  const char* description() const noexcept { return "two pipes, read()/write()"; }
  std::size_t max_payload() const noexcept { return peer_max; }

  bool setup(const RunConfig&, std::string& err) {
    if (::pipe2(down_, O_CLOEXEC) != 0 || ::pipe2(up_, O_CLOEXEC) != 0) {
      err = sys("pipe2");
      return false;
    }
    (void)::fcntl(down_[1], F_SETPIPE_SZ, 1 << 20);
    (void)::fcntl(up_[1], F_SETPIPE_SZ, 1 << 20);
    return true;
  }
  bool parent_attach(std::string&) {
    close_fd(down_[0]);
    close_fd(up_[1]);
    out_ = down_[1];
    in_ = up_[0];
    alarm_.start();
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string&) {
    close_fd(down_[1]);
    close_fd(up_[0]);
    out_ = up_[1];
    in_ = down_[0];
    n_ = cfg.payload;  // a pipe has no message boundaries: the size comes from the configuration
    buf_.resize(peer_max);
    alarm_.start();
    return true;
  }
  void child_detach() noexcept { alarm_.stop(); }
  void teardown() noexcept {
    alarm_.stop();
    for (int* fd : {&down_[0], &down_[1], &up_[0], &up_[1]}) close_fd(*fd);
    in_ = out_ = -1;
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    return write_full(out_, msg, n, wd, err) && read_full(in_, reply, n, wd, err);
  }
  bool pong(Watchdog& wd, std::string& err) {
    return read_full(in_, buf_.data(), n_, wd, err) && write_full(out_, buf_.data(), n_, wd, err);
  }
  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) {
    return write_full(out_, msg, n, wd, err);
  }
  bool recv_one(std::byte* into, std::size_t n, Watchdog& wd, std::string& err) {
    return read_full(in_, into, n, wd, err);
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int down_[2] = {-1, -1}, up_[2] = {-1, -1};
  int in_ = -1, out_ = -1;
  std::size_t n_ = 0;
  std::vector<std::byte> buf_;
  AlarmTicker alarm_;
};

// ------------------------------------------------------------ unix seqpacket
class SeqpacketPeer : public MessageTransport<SeqpacketPeer> {
  friend class MessageTransport<SeqpacketPeer>;

 public:
  const char* name() const noexcept { return "unix.seqpacket"; }
  const char* description() const noexcept { return "socketpair(AF_UNIX, SOCK_SEQPACKET), send()/recv()"; }
  std::size_t max_payload() const noexcept { return peer_max; }

  bool setup(const RunConfig&, std::string& err) {
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv_) != 0) {
      err = sys("socketpair");
      return false;
    }
    const int sz = 4 << 20;
    for (int fd : sv_) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    return true;
  }
  bool parent_attach(std::string&) {
    close_fd(sv_[1]);
    fd_ = sv_[0];
    alarm_.start();
    return true;
  }
  bool child_attach(const RunConfig&, std::string&) {
    close_fd(sv_[0]);
    fd_ = sv_[1];
    buf_.resize(peer_max);
    alarm_.start();
    return true;
  }
  void child_detach() noexcept { alarm_.stop(); }
  void teardown() noexcept {
    alarm_.stop();
    close_fd(sv_[0]);
    close_fd(sv_[1]);
    fd_ = -1;
  }

 private:
  bool send_msg(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      if (::send(fd_, p, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n)) return true;
      if (errno != EINTR) {
        err = sys("send");
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  bool recv_msg(std::byte* p, std::size_t cap, std::size_t& got, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      const ssize_t r = ::recv(fd_, p, cap, 0);
      if (r > 0) {
        got = static_cast<std::size_t>(r);
        return true;
      }
      if (r == 0) {
        err = "the peer closed the socket";
        return false;
      }
      if (errno != EINTR) {
        err = sys("recv");
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int sv_[2] = {-1, -1};
  int fd_ = -1;
  AlarmTicker alarm_;
};

// ------------------------------------------------------------ POSIX message queues
std::size_t mq_msgsize_max() {
  std::ifstream f("/proc/sys/fs/mqueue/msgsize_max");
  std::size_t v = 8192;
  f >> v;
  return v;
}

class PosixMqPeer : public MessageTransport<PosixMqPeer> {
  friend class MessageTransport<PosixMqPeer>;

 public:
  const char* name() const noexcept { return "posix.mq"; }
  const char* description() const noexcept { return "two POSIX message queues, mq_send()/mq_receive()"; }
  std::size_t max_payload() const noexcept { return std::min(mq_msgsize_max(), peer_max); }

  bool setup(const RunConfig& cfg, std::string& err) {
    size_ = std::min(max_payload(), std::max<std::size_t>(cfg.payload, 8));
    for (int k = 0; k < 2; ++k) {
      const std::string n = mq_name(cfg, k);
      mq_attr a{};
      a.mq_maxmsg = 8;
      a.mq_msgsize = static_cast<long>(size_);
      const mqd_t q = ::mq_open(n.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
      if (q == static_cast<mqd_t>(-1)) {
        err = sys(("mq_open(" + n + ")").c_str());
        return false;
      }
      ::mq_close(q);
      names_[k] = n;
      cleanup::register_mq(n);
    }
    return true;
  }
  bool parent_attach(std::string& err) { return open_pair(names_[0], names_[1], err); }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    buf_.resize(max_payload());
    return open_pair(mq_name(cfg, 1), mq_name(cfg, 0), err);
  }
  void child_detach() noexcept { close_pair(); }
  void teardown() noexcept {
    close_pair();
    for (std::string& n : names_) {
      if (n.empty()) continue;
      ::mq_unlink(n.c_str());
      cleanup::unregister_mq(n);
      n.clear();
    }
  }

 private:
  // mq_receive wants room for the queue's message size, more than the caller's
  // n bytes: receive into buf_ and copy what fits.
  bool recv_into(std::byte* into, std::size_t n, std::size_t& got, Watchdog& wd, std::string& err) {
    buf_.resize(max_payload());
    if (!recv_msg(buf_.data(), buf_.size(), got, wd, err)) return false;
    std::memcpy(into, buf_.data(), std::min(got, n));
    return true;
  }
  static std::string mq_name(const RunConfig& cfg, int k) { return "/cbench." + cfg.tag + (k == 0 ? ".down" : ".up"); }
  bool open_pair(const std::string& out, const std::string& in, std::string& err) {
    out_ = ::mq_open(out.c_str(), O_WRONLY | O_CLOEXEC);
    in_ = ::mq_open(in.c_str(), O_RDONLY | O_CLOEXEC);
    if (out_ == static_cast<mqd_t>(-1) || in_ == static_cast<mqd_t>(-1)) {
      err = sys("mq_open");
      return false;
    }
    alarm_.start();
    return true;
  }
  void close_pair() noexcept {
    alarm_.stop();
    if (out_ != static_cast<mqd_t>(-1)) ::mq_close(out_);
    if (in_ != static_cast<mqd_t>(-1)) ::mq_close(in_);
    out_ = in_ = static_cast<mqd_t>(-1);
  }
  bool send_msg(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      if (::mq_send(out_, reinterpret_cast<const char*>(p), n, 0) == 0) return true;
      if (errno != EINTR) {
        err = sys("mq_send");
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  bool recv_msg(std::byte* p, std::size_t cap, std::size_t& got, Watchdog& wd, std::string& err) {
    wd.begin();
    for (;;) {
      const ssize_t r = ::mq_receive(in_, reinterpret_cast<char*>(p), cap, nullptr);
      if (r >= 0) {
        got = static_cast<std::size_t>(r);
        return true;
      }
      if (errno != EINTR) {
        err = sys("mq_receive");
        return false;
      }
      if (!wd.check()) return false;
    }
  }
  std::string names_[2];
  std::size_t size_ = 0;
  mqd_t out_ = static_cast<mqd_t>(-1), in_ = static_cast<mqd_t>(-1);
  AlarmTicker alarm_;
};

}  // namespace

std::unique_ptr<Transport> make_pipe() { return std::make_unique<Adapter<PipePeer>>(); }
std::unique_ptr<Transport> make_unix_seqpacket() { return std::make_unique<Adapter<SeqpacketPeer>>(); }
std::unique_ptr<Transport> make_posix_mq() { return std::make_unique<Adapter<PosixMqPeer>>(); }

}  // namespace cbench
