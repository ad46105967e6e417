/// @file
/// What became of a message: the status words (README, "What it is"), their
/// order, and the events that carry them back to a sender. The functions here
/// are constexpr: no blocking, no allocation, safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "courier/ids.hpp"

namespace courier {

/// The status of a message. send returns one of these at once; status events
/// (Endpoint::poll_status / on_status) and status queries report the same words.
enum class Status : std::uint8_t {
  sent = 0,             ///< accepted onto the destination's lane (with a log: and durable per the sync policy)
  outbox,               ///< tracked, not yet accepted (with a log: stored, `sent` follows when the sync policy holds)
  delivered,            ///< the receiver took (acknowledged) it
  read,                 ///< the receiver marked it read
  full,                 ///< the destination lane had no room (within the timeout, if one was given)
  offline,              ///< real-time message (expiry 0) and no receiver attached
  invalid_destination,  ///< no such endpoint or group (never registered, or removed), or a group with no member
  too_large,            ///< payload larger than the bus's max_payload (or than the claimed length, at commit)
  invalid_argument,     ///< priority > 15, a negative expiry or timeout, a group given to claim(), no active claim
  expired,              ///< deadline passed before delivery
  revoked,              ///< the claim was held past claim_timeout and the receiver stepped over it
  tracker_full,         ///< the dedup table is full: the tracked send was refused
  log_failed,           ///< the bus's log could not store it (disk full, I/O error): not promised
  removed,              ///< the bus was removed (courier rm --force) before it was accepted or durable: not promised
};
inline constexpr unsigned status_count = 14;  ///< the number of Status values (0 .. status_count - 1)

/// The status of an incoming message: new, or marked read.
enum class Incoming : std::uint8_t {
  fresh,  ///< not marked read ("new")
  read,   ///< marked read (Receiver::mark_read), by this receiver or one before it
};
/// "new" or "read".
constexpr std::string_view incoming_name(Incoming s) noexcept { return s == Incoming::read ? "read" : "new"; }

/// The status word ("sent", "too_large", ...), as the CLI prints it; "unknown"
/// for a value outside the enum.
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

/// The Status named `n` (the inverse of status_name) into `out`: false, and
/// `out` unchanged, when `n` names none. For CLI arguments and parsing.
constexpr bool status_from_name(std::string_view n, Status& out) noexcept {
  for (unsigned i = 0; i < status_count; ++i) {
    if (status_name(static_cast<Status>(i)) == n) {
      out = static_cast<Status>(i);
      return true;
    }
  }
  return false;
}

/// The order of statuses: a tracked message's status only moves forward,
/// outbox (0) < sent (1) < delivered (2) < read (3), and an error (4) ends it.
constexpr int status_rank(Status s) noexcept {
  switch (s) {
    case Status::outbox: return 0;
    case Status::sent: return 1;
    case Status::delivered: return 2;
    case Status::read: return 3;
    default: return 4;  // errors are final
  }
}
/// Nothing follows it: read, or an error.
constexpr bool is_final(Status s) noexcept { return status_rank(s) >= status_rank(Status::read); }
/// One of the errors (neither a step of outbox -> sent -> delivered -> read).
constexpr bool is_error(Status s) noexcept { return status_rank(s) > status_rank(Status::read); }
/// Not taken by its recipient yet, and no error ended it: outbox or sent.
constexpr bool is_owed(Status s) noexcept { return status_rank(s) < status_rank(Status::delivered); }
/// Whether a message at `from` may move to `to` (strictly forward).
constexpr bool moves_forward(Status from, Status to) noexcept { return status_rank(to) > status_rank(from); }
/// A status reached at send time that a resend may replace (the message never
/// got onto a lane): full, offline, revoked (the claim was stepped over before
/// its commit).
constexpr bool is_failed_send(Status s) noexcept {
  return s == Status::full || s == Status::offline || s == Status::revoked;
}

/// One status change of a tracked message, as its sender is told of it
/// (Endpoint::on_status, Endpoint::poll_status).
struct StatusEvent {
  std::uint64_t id = 0;                ///< the message
  EndpointId recipient = no_endpoint;  ///< whose delivery it is about (0: the message as a whole)
  GroupId group = 0;                   ///< the group, for group messages
  Status status = Status::sent;        ///< the status reached
  std::uint64_t time_ns = 0;           ///< CLOCK_REALTIME of the change
};

/// One member's status in a StatusReport of a group send.
struct RecipientStatus {
  EndpointId recipient = no_endpoint;  ///< the member
  Status status = Status::outbox;      ///< its copy's status
};
/// The status of a tracked message, as the tracker has it (Endpoint::status,
/// Bus::status): a snapshot, each field read once.
struct StatusReport {
  std::uint64_t id = 0;                    ///< the message
  Status status = Status::outbox;          ///< the message (for groups: sent until every member delivered/read)
  GroupId group = 0;                       ///< group sends: the group (else 0)
  EndpointId dest = no_endpoint;           ///< endpoint sends: the destination
  std::uint32_t recipients = 1;            ///< copies addressed (1 for an endpoint send)
  std::uint32_t delivered = 0;             ///< of them, delivered (or read)
  std::uint32_t read = 0;                  ///< of them, read
  std::uint32_t failed = 0;                ///< of them, ended by an error
  std::uint64_t expires_ns = 0;            ///< deadline (CLOCK_REALTIME; 0: no expiry)
  std::uint64_t updated_ns = 0;            ///< last change (CLOCK_REALTIME)
  std::vector<RecipientStatus> members{};  ///< group sends: each current member that was addressed
};

}  // namespace courier
