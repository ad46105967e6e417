// bench/courier_bench/transports.hpp — factories of the transports courier-bench
// knows. Add a peer: write a class with the Adapter concept (harness.hpp) in
// its own .cpp, a factory here, and a line in transports() (transports.cpp).
#pragma once

#include <memory>

#include "harness.hpp"

namespace cbench {

std::unique_ptr<Transport> make_floor_cacheline();
std::unique_ptr<Transport> make_floor_spsc();
std::unique_ptr<Transport> make_floor_spsc_batch();
std::unique_ptr<Transport> make_floor_futex();
std::unique_ptr<Transport>
make_floor_fdatasync();  // the ring + write() + fdatasync() per message (RunConfig::disk_dir)
std::unique_ptr<Transport> make_courier_spin();
std::unique_ptr<Transport> make_courier_park();
std::unique_ptr<Transport> make_courier_poll();
std::unique_ptr<Transport> make_courier_spin_drain();
std::unique_ptr<Transport> make_courier_lane();  // the lane protocol without the bus (lane_transport.cpp)
// Reliable sends: stored messages on a bus with a log in RunConfig::disk_dir, one per sync policy.
std::unique_ptr<Transport> make_courier_log_always();
std::unique_ptr<Transport> make_courier_log_group();
std::unique_ptr<Transport> make_courier_log_os();
// Peers (peer_transports.cpp, peer_lib_transports.cpp); nullptr when built without the library they need.
std::unique_ptr<Transport> make_pipe();
std::unique_ptr<Transport> make_unix_seqpacket();
std::unique_ptr<Transport> make_posix_mq();
std::unique_ptr<Transport> make_zmq_ipc();
std::unique_ptr<Transport> make_boost_mq();
// Two threads of one process (inproc_transports.cpp, courier_transports.cpp).
std::unique_ptr<Transport> make_inproc_floor_cacheline();
std::unique_ptr<Transport> make_inproc_moodycamel();   // nullptr without moodycamel's header
std::unique_ptr<Transport> make_inproc_courier();      // Options::in_process bus
std::unique_ptr<Transport> make_inproc_courier_shm();  // the same threads on a /dev/shm bus

// The shared-memory geometry the ring transports use (floor rings and courier
// lanes alike, so both cycle through the same amount of memory).
inline constexpr std::size_t ring_capacity = 256 * 1024;
// The largest payload of the peers that take any size.
inline constexpr std::size_t peer_max = 65536;

}  // namespace cbench
