// The receiver's notification fd: an eventfd made readable by a thread of
// its own while messages may be waiting (src/notifier.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "courier/endpoint.hpp"
#include "courier/receiver.hpp"

namespace courier {

// A thread that turns "messages may be waiting" into a readable eventfd. It
// never touches the lanes' consumer state (that belongs to the receiving
// thread): it looks at the bitmap and at head/tail only.
struct Receiver::Notifier {
  int efd = -1;
  std::thread thread;
  std::atomic<bool> stop{false};        // set by the receiver to end the thread
  std::atomic<std::uint32_t> rearm{0};  // process-local futex word: bumped when the app drained the inbox
  std::atomic<bool> announced{false};   // the fd was made readable and not yet re-armed
  InboxData* inbox = nullptr;           // the receiver's inbox (the thread parks on its futex word too)
  // Stops the thread (wakes it from either futex) and closes the fd.
  ~Notifier();
};

}  // namespace courier

namespace courier {

// The same for a sender's status ring (Endpoint::status_fd): readable while
// status events (or drops, which poll_status catches up) may be waiting. The
// thread sleeps on the ring's futex word (status_parked), which posters wake.
struct Endpoint::StatusNotifier {
  int efd = -1;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<std::uint32_t> rearm{0};         // process-local futex word: bumped by each poll_status
  std::atomic<std::uint64_t> polled_drops{0};  // the ring's drop counter as the last poll_status read it
  LaneView ring{};
  InboxData* inbox = nullptr;
  ~StatusNotifier();
};

}  // namespace courier
