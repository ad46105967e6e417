// examples/event_loop/service.hpp — what the two services (epoll, Boost.Asio)
// share: a Service that takes every waiting request, marks it read, and sends
// a tracked reply to its sender; and counts the `delivered` statuses of its
// replies. The event loops only decide *when* to call drain_requests() (the
// receiver's notification fd is readable) and drain_statuses() (the
// endpoint's status fd is readable). Public API only (courier/bus.hpp).
#pragma once

#include <courier/bus.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace example {

// "BUS NAME N" from the command line, or usage and exit 2.
inline std::uint64_t parse_args(int argc, char** argv, const char* program) {
  char* end = nullptr;
  const unsigned long long n = argc == 4 ? std::strtoull(argv[3], &end, 10) : 0;
  if (argc != 4 || end == argv[3] || *end != '\0' || n == 0) {
    std::fprintf(stderr, "usage: %s BUS NAME N  (serve as NAME until N requests were answered)\n", program);
    std::exit(2);
  }
  return n;
}

class Service {
 public:
  // From the command line "BUS NAME N" (usage and exit 2 when it is not).
  // Exits the process (status 1) when the bus, the endpoint or its fds cannot be had.
  Service(int argc, char** argv, const char* program)
      : target_(parse_args(argc, argv, program)),
        bus_(must(courier::Bus::open(argv[1]), "open")),
        rx_(must(bus_.attach(argv[2]), "attach")),
        tx_(must(bus_.endpoint(argv[2]), "endpoint")) {
    if (notification_fd() < 0 || status_fd() < 0) {
      std::perror("notification_fd / status_fd");
      std::exit(1);
    }
  }

  // The two fds an event loop waits on. Both are owned by the library (closed
  // when rx_ / tx_ go); each starts a helper thread the first time it is asked
  // for (here, in the constructor); later calls return the same fd.
  int notification_fd() { return rx_.notification_fd(); }
  int status_fd() { return tx_.status_fd(); }

  // Take every waiting request. Call it until try_receive() says nothing:
  // that last, empty call is what re-arms the notification fd.
  void drain_requests() {
    while (auto m = rx_.try_receive()) {
      rx_.mark_read(*m);  // the client sees `read`
      ++requests_;
      const std::string reply = "reply to " + std::string(m->text());
      const auto r = tx_.send({.to = courier::peer(m->from()), .expiry = std::chrono::seconds(30)}, reply);
      if (!r) std::fprintf(stderr, "reply not sent: %s\n", courier::status_name(r.status).data());
    }
  }

  // Take every status event of our replies (poll_status re-arms the status fd).
  void drain_statuses() {
    auto n = tx_.poll_status([this](const courier::StatusEvent& e) {
      if (e.status == courier::Status::delivered) ++delivered_;
    });
    if (!n) std::fprintf(stderr, "poll_status: %s\n", n.error().message.c_str());
  }

  bool done() const { return requests_ >= target_ && delivered_ >= target_; }
  std::uint64_t requests() const { return requests_; }
  std::uint64_t delivered() const { return delivered_; }

 private:
  template <class T>
  static T must(courier::Result<T> r, const char* what) {
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
      std::exit(1);
    }
    return std::move(*r);
  }
  // Destroyed in reverse: tx_ (its status thread, its fd), rx_ (its notifier
  // thread, its fd, the lease), then bus_.
  std::uint64_t target_;
  courier::Bus bus_;
  courier::Receiver rx_;
  courier::Endpoint tx_;
  std::uint64_t requests_ = 0, delivered_ = 0;
};

}  // namespace example
