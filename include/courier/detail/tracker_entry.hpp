// courier/detail/tracker_entry.hpp — what a tracker entry holds for a key
// (split from tracker.hpp): the key of a tracked message, the fields a new
// entry starts with, and the statuses that free a message's id.
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/layout.hpp"
#include "courier/detail/record.hpp"
#include "courier/status.hpp"

namespace courier {

struct TrackerKey {
  EndpointId sender = no_endpoint;
  std::uint64_t id = 0;
  EndpointId recipient = no_endpoint;  // 0: the message (endpoint or group total); else one group member
  bool operator==(const TrackerKey&) const = default;
};

// Ids of one sender (and recipient) in runs of tracker_run: the keys of a
// run have their buckets side by side (Tracker::bucket_a, bucket_b), so a
// sender's consecutive ids touch a few pages of the table, not one page each
// (docs/design.md, "A sender's consecutive ids share their tracker pages").
inline constexpr std::uint64_t tracker_run = 64;   // a power of two
inline constexpr unsigned tracker_run_shift = 24;  // where a hash keeps the id's place in its run

// A key's 64-bit hash: its buckets (Tracker::bucket_a, bucket_b) and the 40
// bits its tag keeps (tracker_buckets.hpp) come from it. The run's hash (its
// key with the id's low bits cleared), with the id's place in the run in bits
// 24-29: the lowest of the tag's 40 bits, so that the keys of a run never
// share their tag bits.
inline std::uint64_t key_hash(const TrackerKey& k) noexcept {
  const std::uint64_t place = k.id & (tracker_run - 1);
  std::uint64_t x = (k.id - place) ^ (static_cast<std::uint64_t>(k.sender) << 32 | k.recipient) * 0x9e3779b97f4a7c15ull;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 32;
  return (x & ~((tracker_run - 1) << tracker_run_shift)) | (place << tracker_run_shift);
}

// The tracker key of a message header: a group message has an entry per
// member (recipient), a message to one endpoint one entry (recipient 0), and
// so does a group message flagged one_member (tracker_role::group_one).
inline TrackerKey key_of(const RecordHeader& h, EndpointId recipient) noexcept {
  return TrackerKey{h.from, h.id, h.group != 0 && (h.flags & record_flag::one_member) == 0 ? recipient : no_endpoint};
}

// Every field of a new tracker entry but its key (Tracker::insert sets that):
// filled in one place, so that no field keeps the value of the slot's
// previous entry.
struct EntryInit {
  std::uint8_t role = 0;  // tracker_role
  std::uint32_t dest = 0;
  Status status = Status::outbox;
  std::uint16_t flags = 0;        // tracker_flag bits
  std::uint16_t recipients = 1;   // <= max_group_members_limit (layout.hpp)
  std::uint64_t deadline_ns = 0;  // BusState::deadline
  std::uint64_t expires_ns = 0;
  std::uint64_t updated_ns = 0;
  std::uint16_t follower = 0;  // the sending handle's follow token (detail/status_follow.hpp), 0: not followed
  EndpointId member = 0;       // group_one: its member (kept in `delivered`); else 0
};
inline void init_entry(TrackerEntry& e, const EntryInit& v) noexcept {
  // Relaxed stores: the tracker's CAS of the tag to ready publishes the entry.
  e.dest.store(v.dest, std::memory_order_relaxed);
  e.role.store(v.role, std::memory_order_relaxed);
  e.status.store(static_cast<std::uint8_t>(v.status), std::memory_order_relaxed);
  e.flags.store(v.flags, std::memory_order_relaxed);
  e.recipients.store(v.recipients, std::memory_order_relaxed);
  e.follower.store(v.follower, std::memory_order_relaxed);  // reset for every new message: a reused slot is nobody's
  e.delivered.store(v.member, std::memory_order_relaxed);
  e.read.store(0, std::memory_order_relaxed);
  e.failed.store(0, std::memory_order_relaxed);
  e.deadline_ns.store(v.deadline_ns, std::memory_order_relaxed);
  e.expires_ns.store(v.expires_ns, std::memory_order_relaxed);
  e.updated_ns.store(v.updated_ns, std::memory_order_relaxed);
}

// `sent` written into the entry of a send() of a bus-assigned id (to one
// endpoint, or to a group of one member: its one entry) just before its lane
// commit, as a plain store: the message is in no lane yet, so no receiver,
// sweep or orphan walk advances this entry meanwhile (each finds a message by
// its record, or its sender dead), and the commit's seq_cst CAS publishes the
// store with the record. It replaces the status CAS after the commit (a
// locked instruction): docs/design.md, "A send's `sent` written before its
// commit". A commit that fails (the claim revoked) then advances it sent ->
// revoked. A sender killed between the two leaves `sent` on a message in no
// lane: its id was known to no one, so no resend meets it (an explicit id
// keeps the CAS after the commit: its resend must find it outbox,
// replaceable), and the entry retires at its deadline.
inline void sent_before_commit(TrackerEntry& e, std::uint64_t now_ns) noexcept {
  // Relaxed, both: the commit's CAS publishes them (updated_ns is informational, as in Tracker::advance).
  e.status.store(static_cast<std::uint8_t>(Status::sent), std::memory_order_relaxed);
  e.updated_ns.store(now_ns, std::memory_order_relaxed);
}

// Whether `e` is the group_one entry of `member` (a 1-member group's send
// that was not stored). Relaxed loads: the caller acquired the entry's tag
// (find, holds), after which its role and member were published.
inline bool is_one_member_of(const TrackerEntry& e, EndpointId member) noexcept {
  return e.role.load(std::memory_order_relaxed) == tracker_role::group_one &&
         e.delivered.load(std::memory_order_relaxed) == member;
}

// A status that frees its id: the message is in no lane and will not be
// forwarded (a send that failed before its lane took it, or whose log could
// not store it), so a resend of the id replaces its entry.
constexpr bool frees_id(Status s) noexcept { return is_failed_send(s) || s == Status::log_failed; }

}  // namespace courier
