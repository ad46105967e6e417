// bench/courier_bench/transports.cpp — the list of transports, in report order.
#include "transports.hpp"

namespace cbench {

const std::vector<TransportInfo>& transports() {
  // name, description, in a default run, one-way throughput in a default run, factory
  static const std::vector<TransportInfo> list = {
      {"floor.cacheline", "one 64-byte cache line bounced (the hardware floor; reference of every ratio)", true, false,
       make_floor_cacheline},
      {"floor.spsc", "minimal SPSC copying ring in shared memory, busy-spin", true, true, make_floor_spsc},
      {"floor.futex", "the same ring, consumer parked in FUTEX_WAIT (no spinning)", true, false, make_floor_futex},
      {"courier.spin", "courier bus, real-time messages, receive() busy-spinning", true, true, make_courier_spin},
      {"courier.park", "courier bus, receive() parked on the inbox futex (spin_ns = 0)", true, false, make_courier_park},
      {"courier.poll", "courier bus, try_receive() polled in a loop (diagnostic)", false, false, make_courier_poll},
      // Peers: what one would use instead of courier (all block in the kernel or a library).
      {"pipe", "two pipes, read()/write()", false, false, make_pipe},
      {"unix.seqpacket", "socketpair(AF_UNIX, SOCK_SEQPACKET)", false, false, make_unix_seqpacket},
      {"posix.mq", "two POSIX message queues (payloads up to fs.mqueue.msgsize_max)", false, false, make_posix_mq},
#if COURIER_BENCH_HAVE_ZMQ
      {"zmq.ipc", "ZeroMQ PAIR sockets over ipc://", false, false, make_zmq_ipc},
#endif
#if COURIER_BENCH_HAVE_BOOST
      {"boost.mq", "boost::interprocess::message_queue", false, false, make_boost_mq},
#endif
  };
  return list;
}

}  // namespace cbench
