// bench/courier_bench/transports.cpp — the list of transports, in report order.
#include "transports.hpp"

namespace cbench {

const std::vector<TransportInfo>& transports() {
  // name, description, in a default run, one-way throughput in a default run, factory, peer,
  // durable (against floor.fdatasync), writes to disk, largest payload.
  // floor.cacheline comes first (the reference of the two-process rows),
  // inproc.floor.cacheline first of the in-process ones, floor.fdatasync of the
  // durable ones (main.cpp finds the three by name).
  static const std::vector<TransportInfo> list = {
    {"floor.cacheline", "one 64-byte cache line bounced (the hardware floor; reference of the two-process ratios)",
     true, false, make_floor_cacheline},
    {"floor.spsc", "minimal SPSC copying ring in shared memory, busy-spin", true, true, make_floor_spsc},
    // One-way only: the ceiling of a ring's throughput (courier.spin's one-way target is against it).
    {"floor.spsc.batch", "the same ring, its consumer storing head once per drain (one-way ceiling)", false, true,
     make_floor_spsc_batch},
    {"floor.futex", "the same ring, consumer parked in FUTEX_WAIT (no spinning)", true, false, make_floor_futex},
    {"courier.spin", "courier bus, real-time messages, receive() busy-spinning", true, true, make_courier_spin},
    {"courier.park", "courier bus, receive() parked on the inbox futex (spin_ns = 0)", true, false, make_courier_park},
    {"courier.poll", "courier bus, try_receive() polled in a loop (diagnostic)", false, false, make_courier_poll},
    // Round trip only: what the lane protocol costs over a ring (against floor.spsc), and what the bus adds to
    // its lanes (courier.spin against it).
    {"courier.lane", "courier's lane alone (LaneWriter / LaneReader, full header, busy-spin), no bus", true, false,
     make_courier_lane},
    // One-way only: the batched receive (Receiver::drain) against courier.spin's receive per message.
    {"courier.spin.drain", "courier bus, one-way received in batches of up to 64 (Receiver::drain, busy-spinning)",
     false, true, make_courier_spin_drain},
    // Reliable sends (stored messages, a durable log on disk), up to 1 KiB.
    // Group and os deliver at once: against floor.cacheline like courier.spin.
    {"courier.log.group", "courier bus with a log, Sync::group: stored messages, sent after the batch's fdatasync",
     true, true, make_courier_log_group, false, false, true, 1024},
    {"courier.log.os", "courier bus with a log, Sync::os: stored messages, sent once written", true, true,
     make_courier_log_os, false, false, true, 1024},
    // Every message fdatasync'ed before its send completes: against floor.fdatasync, --log-iterations round trips.
    {"floor.fdatasync",
     "the SPSC ring, each message appended + fdatasync'ed by its sender first (reference of "
     "courier.log.always)",
     true, false, make_floor_fdatasync, false, true, true},
    {"courier.log.always",
     "courier bus with a log, Sync::always: each stored message fdatasync'ed before send() "
     "returns",
     true, false, make_courier_log_always, false, true, true, 1024},
    // Peers: what one would use instead of courier (all block in the kernel or a library).
    // Every run measures them (the 20x comparison); --quick with fewer round trips.
    {"pipe", "two pipes, read()/write()", true, true, make_pipe, true},
    {"unix.seqpacket", "socketpair(AF_UNIX, SOCK_SEQPACKET)", true, true, make_unix_seqpacket, true},
    {"posix.mq", "two POSIX message queues (payloads up to fs.mqueue.msgsize_max)", true, true, make_posix_mq, true},
#if COURIER_BENCH_HAVE_ZMQ
    {"zmq.ipc", "ZeroMQ PAIR sockets over ipc://", true, true, make_zmq_ipc, true},
#endif
#if COURIER_BENCH_HAVE_BOOST
    {"boost.mq", "boost::interprocess::message_queue", true, true, make_boost_mq, true},
#endif
    // Two threads of one process, pinned to the same two CPUs.
    {"inproc.floor.cacheline", "one 64-byte cache line bounced between two threads (reference of the inproc.* ratios)",
     true, false, make_inproc_floor_cacheline},
#if COURIER_BENCH_HAVE_MOODYCAMEL
    {"inproc.moodycamel", "moodycamel::ConcurrentQueue between two threads, try_dequeue spinning", true, true,
     make_inproc_moodycamel},
#endif
    {"inproc.courier", "courier in-process bus (Options::in_process) shared by two threads, receive() busy-spinning",
     true, true, make_inproc_courier},
    {"inproc.courier.shm", "the same two threads on a /dev/shm bus (contrast to inproc.courier)", false, false,
     make_inproc_courier_shm},
  };
  return list;
}

}  // namespace cbench
