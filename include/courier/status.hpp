// courier/status.hpp — what became of a message: the status words of
// DESIGN.md §1, their order, and the events that carry them back to a sender.
#pragma once

#include <cstdint>
#include <string_view>

#include "courier/ids.hpp"

namespace courier {

// The status of a message (DESIGN.md §1). The hot path returns one of these
// from send; later issues report the same words through status events.
enum class Status : std::uint8_t {
  sent = 0,             // accepted onto the destination's lane
  outbox,               // tracked, not yet accepted
  delivered,            // the receiver took (acknowledged) it
  read,                 // the receiver marked it read
  full,                 // the destination lane had no room (within the timeout, if one was given)
  offline,              // real-time message (expiry 0) and no receiver attached
  invalid_destination,  // no such endpoint (never registered, or removed)
  too_large,            // payload larger than the bus's max_payload
  invalid_argument,     // priority > 15, or another bad field
  expired,              // deadline passed before delivery
  revoked,              // the claim was held past claim_timeout and the receiver stepped over it
  tracker_full,         // the dedup table is full: the tracked send was refused
  log_failed,           // the bus's log could not store it (disk full, I/O error): not promised
};
inline constexpr unsigned status_count = 13;

// The status of an incoming message (DESIGN.md §1).
enum class Incoming : std::uint8_t { fresh, read };
constexpr std::string_view incoming_name(Incoming s) noexcept { return s == Incoming::read ? "read" : "new"; }

constexpr std::string_view status_name(Status s) noexcept {
  switch (s) {
    case Status::sent: return "sent";
    case Status::outbox: return "outbox";
    case Status::delivered: return "delivered";
    case Status::read: return "read";
    case Status::full: return "full";
    case Status::offline: return "offline";
    case Status::invalid_destination: return "invalid_destination";
    case Status::too_large: return "too_large";
    case Status::invalid_argument: return "invalid_argument";
    case Status::expired: return "expired";
    case Status::revoked: return "revoked";
    case Status::tracker_full: return "tracker_full";
    case Status::log_failed: return "log_failed";
  }
  return "unknown";
}

// The status word as a Status, for CLI arguments and parsing.
constexpr bool status_from_name(std::string_view n, Status& out) noexcept {
  for (unsigned i = 0; i < status_count; ++i) {
    if (status_name(static_cast<Status>(i)) == n) {
      out = static_cast<Status>(i);
      return true;
    }
  }
  return false;
}

struct StatusEvent {
  std::uint64_t id = 0;               // the message
  EndpointId recipient = no_endpoint;  // whose delivery it is about (0: the message as a whole)
  GroupId group = 0;                   // the group, for group messages
  Status status = Status::sent;
  std::uint64_t time_ns = 0;           // CLOCK_REALTIME of the change
};

}  // namespace courier
