// Opens a bus, sends itself a message and receives it, through a courier found
// with find_package(courier CONFIG), pkg-config or add_subdirectory (the
// package tests build it all three ways). With an argument, also checks that
// courier/version.hpp says that version. Exit 0 on success.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <string>

#include <courier/bus.hpp>
#include <courier/version.hpp>

static_assert(COURIER_VERSION_MAJOR >= 0 && COURIER_VERSION_MINOR >= 0 && COURIER_VERSION_PATCH >= 0);

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::printf("consumer: courier %s\n", courier::version_string);
  if (argc > 1 && std::string(argv[1]) != COURIER_VERSION_STRING) {
    std::fprintf(stderr, "version.hpp says %s, expected %s\n", COURIER_VERSION_STRING, argv[1]);
    return 1;
  }
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
