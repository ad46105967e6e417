// bench/courier_bench/message_transport.hpp — ping / pong / send_one /
// recv_one for the peers that move whole messages (unix.seqpacket, posix.mq,
// zmq.ipc, boost.mq), written once over the transport's own two calls:
//
//   bool send_msg(const std::byte* p, std::size_t n, Watchdog&, std::string& err);
//   bool recv_msg(std::byte* p, std::size_t cap, std::size_t& got, Watchdog&, std::string& err);
//
// A transport derives from MessageTransport<itself> (CRTP: no virtual call),
// befriends it, and sizes buf_ (the child's echo buffer) in child_attach. One
// whose receive cannot land in the caller's n bytes (posix.mq needs room for
// the queue's message size) defines its own recv_into.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "harness.hpp"

namespace cbench {

template <class Derived>
class MessageTransport {
 public:
  // Round trip: the echo must be exactly n bytes.
  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    if (!self().send_msg(msg, n, wd, err)) return false;
    std::size_t got = 0;
    if (!self().recv_into(reply, n, got, wd, err)) return false;
    if (got != n) {
      err = "reply of " + std::to_string(got) + " bytes, expected " + std::to_string(n);
      return false;
    }
    return true;
  }
  // Echo one message, whatever its size, from buf_.
  bool pong(Watchdog& wd, std::string& err) {
    std::size_t got = 0;
    return self().recv_msg(buf_.data(), buf_.size(), got, wd, err) && self().send_msg(buf_.data(), got, wd, err);
  }
  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) {
    return self().send_msg(msg, n, wd, err);
  }
  bool recv_one(std::byte* into, std::size_t n, Watchdog& wd, std::string& err) {
    std::size_t got = 0;
    return self().recv_into(into, n, got, wd, err);
  }

 protected:
  // Receive one message into the caller's n bytes; got is its size.
  bool recv_into(std::byte* into, std::size_t n, std::size_t& got, Watchdog& wd, std::string& err) {
    return self().recv_msg(into, n, got, wd, err);
  }

  std::vector<std::byte> buf_;

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

}  // namespace cbench
