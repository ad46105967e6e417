// Opens a bus, sends itself a message and receives it, through an installed
// courier found with find_package(courier CONFIG). Exit 0 on success.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <string>

#include <courier/bus.hpp>

int main() {
  using namespace std::chrono_literals;
  const std::string name = "consumer-test-" + std::to_string(::getpid());
  int rc = 1;
  {
    auto bus = courier::Bus::open(name);
    if (!bus) {
      std::fprintf(stderr, "open: %s\n", bus.error().message.c_str());
      return 1;
    }
    auto me = bus->endpoint("me");
    auto inbox = bus->attach("me");
    if (!me || !inbox) {
      std::fprintf(stderr, "endpoint/attach: %s\n", (!me ? me.error() : inbox.error()).message.c_str());
    } else {
      auto sent = me->send({.to = courier::peer("me"), .priority = 3, .expiry = 5s}, "hello from a consumer");
      if (!sent) {
        std::fprintf(stderr, "send: %s\n", std::string(courier::status_name(sent.status)).c_str());
      } else if (auto m = inbox->receive(2s)) {
        if (m->text() == "hello from a consumer" && m->priority() == 3 && m->id() == sent.id) {
          std::printf("consumer: received \"%.*s\" (id %llu)\n", static_cast<int>(m->text().size()), m->text().data(),
                      static_cast<unsigned long long>(m->id()));
          rc = 0;
        } else {
          std::fprintf(stderr, "receive: unexpected message\n");
        }
      } else {
        std::fprintf(stderr, "receive: nothing within 2 s\n");
      }
    }
  }
  if (auto r = courier::Bus::remove(name); !r) std::fprintf(stderr, "remove: %s\n", r.error().message.c_str());
  return rc;
}
