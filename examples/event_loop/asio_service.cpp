// examples/event_loop/asio_service.cpp — the same service on Boost.Asio: each
// fd is wrapped in a posix::stream_descriptor and waited on with async_wait.
// Asio's reactor is edge-triggered (EPOLLET) and does not retry a wait by
// itself, so each handler starts its next wait *before* it drains: a message
// that arrives during the drain then completes that wait (at worst a wake-up
// that finds nothing). The descriptors get dup()s of the library's fds, since
// a stream_descriptor closes what it holds. Guide: docs/event-loops.md.
//
//   event_loop_asio BUS NAME N
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <functional>

#include "service.hpp"

namespace asio = boost::asio;

int main(int argc, char** argv) {
  example::Service service(argc, argv, "event_loop_asio");
  const int requests_fd = service.notification_fd();
  const int status_fd = service.status_fd();
  asio::io_context io;
  asio::posix::stream_descriptor requests(io, ::dup(requests_fd));
  asio::posix::stream_descriptor statuses(io, ::dup(status_fd));
  asio::steady_timer give_up(io, std::chrono::seconds(60));  // a client that never comes

  auto finish_if_done = [&] {
    if (!service.done()) return;
    requests.cancel();
    statuses.cancel();
    give_up.cancel();
  };
  // wait(d, drain): wait on d, then wait again and drain, until done.
  std::function<void(asio::posix::stream_descriptor&, void(example::Service::*)())> wait =
      [&](asio::posix::stream_descriptor& d, void (example::Service::*drain)()) {
        d.async_wait(asio::posix::stream_descriptor::wait_read, [&, drain](const boost::system::error_code& ec) {
          if (ec) return;                       // cancelled: shutting down
          if (!service.done()) wait(d, drain);  // the next wait first (edge-triggered)
          (service.*drain)();
          finish_if_done();
        });
      };
  // The waits first, then whatever came before them: an edge is seen by a
  // wait that is pending, or its cause is taken by the drain after it.
  wait(requests, &example::Service::drain_requests);
  wait(statuses, &example::Service::drain_statuses);
  service.drain_requests();
  service.drain_statuses();
  give_up.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) io.stop();
  });
  finish_if_done();
  io.run();
  // Shutdown: the descriptors close their dup()s here; the Service then
  // closes the library's fds and joins its helper threads.
  requests.close();
  statuses.close();
  std::printf("asio service: %llu requests answered, %llu replies delivered\n",
              static_cast<unsigned long long>(service.requests()),
              static_cast<unsigned long long>(service.delivered()));
  return service.done() ? 0 : 1;
}
