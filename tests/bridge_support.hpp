// Support for tests of `courier bridge`: a nats-server with JetStream on
// 127.0.0.1 on a free port and a temporary store (a real process), and the
// wait for a status event of a tracked message (on the endpoint's status fd).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "courier/bus.hpp"
#include "support.hpp"

extern char** environ;

namespace courier::test::bridge {

using namespace std::chrono_literals;

// A TCP port nobody listens on now (bound to 0, then closed).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("free_port: no socket");
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

// The path of nats-server, or "" when it is not installed.
inline std::string nats_server_path() {
  for (const char* p : {"/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// nats-server -js on 127.0.0.1:PORT with its store in a TempDir; extra
// configuration (e.g. "max_payload: 8192") through a config file.
class NatsServer {
 public:
  explicit NatsServer(const std::string& config = {}) : port_(free_port()) { start(config); }
  ~NatsServer() { kill(SIGKILL); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // SIGKILL (or another signal) and reap.
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Start again on the same port and store.
  void restart() {
    kill(SIGKILL);
    start(config_);
  }
  // Start again after kill(): the same port and store.
  void start_again() { start(config_); }

 private:
  void start(const std::string& config) {
    config_ = config;
    const std::string path = nats_server_path();
    if (path.empty()) throw std::runtime_error("nats-server is not installed (Debian: apt-get install nats-server)");
    std::vector<std::string> args{
        path, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd", dir_.path + "/js"};
    if (!config.empty()) {
      std::ofstream(dir_.path + "/nats.conf") << config << "\n";
      args.insert(args.end(), {"-c", dir_.path + "/nats.conf"});
    }
    args.insert(args.end(), {"-l", dir_.path + "/nats.log"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, path.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start nats-server");
    // Ready when it accepts connections: bounded by attempts, each a connect.
    for (int i = 0; i < 2000; ++i) {
      if (port_open(port_)) return;
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nats-server exited at start (log: " + dir_.path + "/nats.log)");
      }
      std::this_thread::sleep_for(5ms);  // pacing the connect attempts
    }
    throw std::runtime_error("nats-server did not open port " + std::to_string(port_));
  }

  int port_;
  TempDir dir_{"courier-nats"};
  pid_t pid_ = -1;
  std::string config_;
};

// Poll the endpoint's statuses until every message of `ids` reached `want`
// or a status after it, waiting on its status fd; the ids still short of it
// after `patience` (empty: all got there). `last`: each id's last status seen.
// totals_only: a group send's total, not its members' events.
inline std::set<std::uint64_t> wait_statuses(Endpoint& e, std::set<std::uint64_t> ids, Status want,
                                             std::map<std::uint64_t, Status>* last = nullptr,
                                             std::chrono::milliseconds patience = 30s, bool totals_only = false) {
  const int fd = e.status_fd();
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    (void)e.poll_status([&](const StatusEvent& ev) {
      if (ids.count(ev.id) == 0 || (totals_only && ev.recipient != no_endpoint)) return;
      if (last != nullptr) (*last)[ev.id] = ev.status;
      if (!moves_forward(ev.status, want)) ids.erase(ev.id);  // at `want` or past it (an error too)
    });
    if (ids.empty()) return ids;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ids;
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, fd >= 0 ? 1 : 0, static_cast<int>(std::min<long>(left.count(), 100)));
  }
}

// Poll the endpoint's statuses until message `id` reaches `want` (or a final
// status); false after `patience` without it, or at another final status.
inline bool wait_status(Endpoint& e, std::uint64_t id, Status want, Status* got = nullptr,
                        std::chrono::milliseconds patience = 30s) {
  std::map<std::uint64_t, Status> last;
  const bool short_of_it = !wait_statuses(e, {id}, want, &last, patience).empty();
  if (got != nullptr) *got = last.count(id) != 0 ? last[id] : Status::outbox;
  return !short_of_it && last[id] == want;
}

}  // namespace courier::test::bridge
