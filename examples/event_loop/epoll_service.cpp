// examples/event_loop/epoll_service.cpp — a courier service on a plain epoll
// loop: it waits on the receiver's notification fd (requests may be waiting)
// and on its endpoint's status fd (status events of its replies may be
// waiting), level-triggered, and exits once it has answered N requests and
// seen each reply `delivered`. Guide: docs/event-loops.md.
//
//   event_loop_epoll BUS NAME N
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "service.hpp"

int main(int argc, char** argv) {
  example::Service service(argc, argv, "event_loop_epoll");
  const int requests_fd = service.notification_fd();
  const int status_fd = service.status_fd();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  // Level-triggered (no EPOLLET): the fds stay readable until drained, so a
  // drain cut short is simply reported again. Never read() them ourselves.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = requests_fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, requests_fd, &ev);
  ev.data.fd = status_fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, status_fd, &ev);

  // Catch-all bound: a client that never comes must not keep us forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!service.done() && std::chrono::steady_clock::now() < deadline) {
    epoll_event ready[2];
    const int k = ::epoll_wait(ep, ready, 2, 1000);
    for (int i = 0; i < k; ++i) {
      if (ready[i].data.fd == requests_fd) service.drain_requests();
      if (ready[i].data.fd == status_fd) service.drain_statuses();
    }
  }
  // Shutdown: stop waiting first (the epoll set goes), then the Service
  // (endpoint, receiver, bus) closes its fds and joins its helper threads.
  ::close(ep);
  std::printf("epoll service: %llu requests answered, %llu replies delivered\n",
              static_cast<unsigned long long>(service.requests()),
              static_cast<unsigned long long>(service.delivered()));
  return service.done() ? 0 : 1;
}
