// examples/event_loop/client.cpp — sends N tracked requests to a service
// (epoll_service or asio_service), then waits until every request is `read`
// (the service marked it) and every reply has come back. Prints one line and
// exits 0 when all of it happened, 1 otherwise (after 60 s at most).
//
//   event_loop_client BUS SERVICE N
#include <unistd.h>
#include <courier/bus.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  char* end = nullptr;
  const unsigned long long n = argc == 4 ? std::strtoull(argv[3], &end, 10) : 0;
  if (argc != 4 || end == argv[3] || *end != '\0' || n == 0) {
    std::fprintf(stderr, "usage: event_loop_client BUS SERVICE N\n");
    return 2;
  }
  auto bus = courier::Bus::open(argv[1]);
  if (!bus) {
    std::fprintf(stderr, "open: %s\n", bus.error().message.c_str());
    return 1;
  }
  const std::string me = "client." + std::to_string(::getpid());
  auto replies = bus->attach(me);  // replies come here: attached before the first request
  auto tx = bus->endpoint(me);
  auto service = bus->add_endpoint(argv[2]);  // exists or is registered: requests wait for the service
  if (!replies || !tx || !service) {
    std::fprintf(stderr, "attach/endpoint failed\n");
    return 1;
  }
  std::unordered_set<std::uint64_t> unread;  // requests not yet `read`
  tx->on_status([&](const courier::StatusEvent& e) {
    if (e.status == courier::Status::read) unread.erase(e.id);
  });
  // timeout: a full lane (the service behind) is waited for, not refused.
  const courier::SendOptions to_service{.to = courier::peer(*service), .expiry = 30s, .timeout = 10s};
  std::uint64_t got = 0;
  for (unsigned long long i = 0; i < n; ++i) {
    const auto r = tx->send(to_service, "request " + std::to_string(i));
    if (!r) {
      std::fprintf(stderr, "request %llu: %s\n", i, courier::status_name(r.status).data());
      return 1;
    }
    unread.insert(r.id);
    while (auto m = replies->try_receive()) ++got;  // keep our own lane from filling meanwhile
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((got < n || !unread.empty()) && std::chrono::steady_clock::now() < deadline) {
    if (auto m = replies->receive(10ms)) ++got;
    (void)tx->poll_status();  // on_status above sees each event
  }
  std::printf("client: %llu requests sent, %llu read by the service, %llu replies received\n", n,
              static_cast<unsigned long long>(n - unread.size()), static_cast<unsigned long long>(got));
  return got == n && unread.empty() ? 0 : 1;
}
