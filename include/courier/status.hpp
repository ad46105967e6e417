// courier/status.hpp — what became of a message: the status words (README,
// "What it is"), their order, and the events that carry them back to a sender.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "courier/ids.hpp"

namespace courier {

// The status of a message. send returns one of these at once; status events
// (Endpoint::poll_status / on_status) and status queries report the same words.
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
  removed,              // the bus was removed (courier rm --force) before it was accepted or durable: not promised
};
inline constexpr unsigned status_count = 14;

// The status of an incoming message: new, or marked read.
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
    case Status::removed: return "removed";
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

// The order of statuses: a tracked message's status only moves forward,
// outbox < sent < delivered < read, and an error ends it.
constexpr int status_rank(Status s) noexcept {
  switch (s) {
    case Status::outbox: return 0;
    case Status::sent: return 1;
    case Status::delivered: return 2;
    case Status::read: return 3;
    default: return 4;  // errors are final
  }
}
// Nothing follows it: read, or an error.
constexpr bool is_final(Status s) noexcept { return status_rank(s) >= status_rank(Status::read); }
// One of the errors (neither a step of outbox -> sent -> delivered -> read).
constexpr bool is_error(Status s) noexcept { return status_rank(s) > status_rank(Status::read); }
// Not taken by its recipient yet, and no error ended it: outbox or sent.
constexpr bool is_owed(Status s) noexcept { return status_rank(s) < status_rank(Status::delivered); }
// Whether a message at `from` may move to `to` (strictly forward).
constexpr bool moves_forward(Status from, Status to) noexcept { return status_rank(to) > status_rank(from); }
// A status reached at send time that a resend may replace (the message never
// got onto a lane): full, offline, revoked (the claim was stepped over before
// its commit).
constexpr bool is_failed_send(Status s) noexcept {
  return s == Status::full || s == Status::offline || s == Status::revoked;
}

struct StatusEvent {
  std::uint64_t id = 0;                // the message
  EndpointId recipient = no_endpoint;  // whose delivery it is about (0: the message as a whole)
  GroupId group = 0;                   // the group, for group messages
  Status status = Status::sent;
  std::uint64_t time_ns = 0;  // CLOCK_REALTIME of the change
};

// The status of a tracked message, as the tracker has it (Endpoint::status).
struct RecipientStatus {
  EndpointId recipient = no_endpoint;
  Status status = Status::outbox;
};
struct StatusReport {
  std::uint64_t id = 0;
  Status status = Status::outbox;  // the message (for groups: sent until every member delivered/read)
  GroupId group = 0;
  EndpointId dest = no_endpoint;  // endpoint sends: the destination
  std::uint32_t recipients = 1, delivered = 0, read = 0, failed = 0;
  std::uint64_t expires_ns = 0, updated_ns = 0;
  std::vector<RecipientStatus> members{};  // group sends: each current member that was addressed
};

}  // namespace courier
