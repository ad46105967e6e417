// The crash matrix's bookkeeping (tests/crash_test.cpp runs it): the bus it
// runs on, the ledger of what the children said, the summary it prints and
// what it prints of lost messages.
//
// Who sends to whom: producers p1 and p2 send to the endpoint "rx", p3 to the
// group "g" (members g1 and g2); rx, g1 and g2 each have a receiver process.
// A message is counted per receiving endpoint (a group send is one message
// per member): the key is (endpoint, id).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "courier/bus.hpp"
#include "courier/detail/tracker.hpp"
#include "courier/log_inspect.hpp"
#include "support.hpp"

namespace courier::test::crash {

inline const std::vector<std::string> receivers = {"rx", "g1", "g2"};  // children 3, 4, 5
inline const std::string group_name = "g";
constexpr int producers = 3;                              // p1, p2 -> rx; p3 -> g
constexpr std::uint64_t per_producer = 1'000'000'000ull;  // ids: producer * per_producer + seq
constexpr std::uint64_t life_sends = 400;                 // sends of one producer life (a new life never reuses ids)

inline bool sends_to_group(std::uint64_t producer) { return producer == producers; }

// Kills per test: COURIER_CRASH_ITERATIONS, else the CI size.
inline int kills_per_test() {
  const char* e = std::getenv("COURIER_CRASH_ITERATIONS");
  return e != nullptr ? std::max(1, std::atoi(e)) : 120;
}

inline Options crash_options(const std::string& log_dir, Sync sync) {
  Options o = small_options();
  o.lane_capacity = 1u << 20;
  // COURIER_CRASH_LANE_KIB: smaller lanes (64: sends spill to the log and are forwarded from it).
  if (const char* l = std::getenv("COURIER_CRASH_LANE_KIB"); l != nullptr)
    o.lane_capacity = std::bit_ceil(static_cast<std::uint64_t>(std::clamp(std::atoi(l), 32, 1 << 20))) * 1024;
  o.log_dir = log_dir;
  o.sync = sync;
  o.group_commit_interval = std::chrono::microseconds(300);
  o.open_timeout = std::chrono::seconds(20);
  // Every process keeps house often: the lease holder is among those killed.
  o.housekeeping_interval = std::chrono::milliseconds(20);
  o.log_segment_size = 64u << 10;  // rolls and compaction happen during the run
  // The journals keep up to ~300 messages per kill young (600 s expiry), a
  // group send taking three tracker entries (its total and one per member),
  // and a rebuild tracks them at no more than half the tracker (a rebuild
  // refused 34,728 young records with 65,536 entries at 500 kills, without
  // group sends): 1,024 entries per kill.
  o.tracker_capacity = std::bit_ceil(static_cast<std::uint64_t>(std::max(kills_per_test(), 120)) * 1024);
  return o;
}

using Key = std::pair<std::string, std::uint64_t>;  // receiving endpoint, message id

struct Ledger {
  Sync sync = Sync::always;
  int reboots = 0;
  std::vector<std::string> events;          // kills and reboots, in order (for a failure's diagnosis)
  std::map<std::uint64_t, pid_t> life_pid;  // first id of a producer life -> its pid
  std::vector<std::string> problems;        // what a child said that must not happen
  std::set<Key> sent;
  std::map<Key, unsigned> fresh, redelivered;
  std::map<Key, int> acked;  // -> reboots counted when its ack returned
  std::uint64_t after_ack = 0;

  void got(const Key& k, bool again) {
    (again ? redelivered : fresh)[k]++;
    // Handed out after its ack returned: never, except that with group / os an
    // ack still in the receiver's buffer when the host goes down is lost with it.
    auto a = acked.find(k);
    if (a != acked.end() && (sync == Sync::always || a->second == reboots) && ++after_ack <= 5)
      ADD_FAILURE() << "handed out again after it was acknowledged: " << k.first << " " << k.second
                    << (again ? " (flagged redelivered)" : "") << ", acknowledged before reboot " << a->second
                    << ", handed out after reboot " << reboots;
  }
  // One line of a child: "sent EP ID", "got EP ID R" (R = 1: flagged
  // redelivered), "acked EP ID", or "problem ...".
  void take(const std::string& line) {
    std::istringstream in(line);
    std::string word, ep;
    std::uint64_t id = 0;
    in >> word >> ep >> id;
    if (word == "problem") problems.push_back(line);
    if (word == "sent") sent.emplace(ep, id);
    if (word == "acked") acked.emplace(Key{ep, id}, reboots);
    if (word == "got") {
      int r = 0;
      in >> r;
      got(Key{ep, id}, r != 0);
    }
  }

  std::vector<Key> lost() const {
    std::vector<Key> out;
    for (const Key& k : sent)
      if (fresh.count(k) == 0 && redelivered.count(k) == 0) out.push_back(k);
    return out;
  }
  std::uint64_t unflagged_duplicates() const {
    return static_cast<std::uint64_t>(
        std::count_if(fresh.begin(), fresh.end(), [](const auto& f) { return f.second > 1; }));
  }
  // One line per run: what the long run (scripts/crash-long.sh) collects.
  std::string summary(Sync s, std::uint64_t seed, int kills, std::uint64_t lane_kib) const {
    std::set<Key> received;
    for (const auto& m : {fresh, redelivered})
      for (const auto& [k, n] : m) received.insert(k);
    const auto group_copies = std::count_if(sent.begin(), sent.end(), [](const Key& k) { return k.first != "rx"; });
    std::ostringstream o;
    o << "[ crash    ] " << sync_name(s) << ", seed " << seed << ", " << lane_kib << " KiB lanes: " << kills
      << " kills, " << reboots << " reboots, " << sent.size() << " sent (" << group_copies << " group copies), "
      << received.size() << " received, " << redelivered.size() << " redelivered, " << lost().size() << " lost, "
      << unflagged_duplicates() << " duplicates without the flag, " << after_ack << " after their ack, " << acked.size()
      << " acknowledged";
    return o.str();
  }
};

// What waits in an endpoint's lanes (bytes between head and tail, and the
// state of the frame at head); empty when nothing does.
inline std::string lanes_left(const Bus& bus, EndpointId to) {
  std::ostringstream out;
  for (unsigned p = 0; p < priority_levels; ++p) {
    const LaneView v = bus.segment().lane(endpoint_slot(to), p);
    // Relaxed: a snapshot taken when every producer is dead.
    const std::uint64_t head = v.ctl->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = v.ctl->tail.load(std::memory_order_relaxed);
    if (head == tail) continue;
    const std::uint64_t f = v.frame_at(head).load(std::memory_order_relaxed);
    out << " lane " << p << ": " << tail - head << " bytes from " << head << ", "
        << (!frame::belongs_to(f, head)           ? "no frame at head (a claim never committed)"
            : frame::state(f) == frame::committed ? "a record at head"
                                                  : "padding or revoked at head")
        << ";";
  }
  return out.str();
}

// What the tracker says of one lost copy: the message's status and, for a
// group copy, its member's, and the entry's flags.
inline void explain_tracker(const Bus& bus, const Key& k) {
  const std::string sender = "p" + std::to_string(k.second / per_producer);
  auto st = bus.status(sender, k.second);
  if (st) std::cout << " tracker " << status_name(st->status);
  auto member = bus.find_endpoint(k.first);
  const bool grouped = sends_to_group(k.second / per_producer);
  if (st && member && grouped) {
    auto m =
        std::find_if(st->members.begin(), st->members.end(), [&](const auto& r) { return r.recipient == *member; });
    std::cout << (m != st->members.end() ? ", member " + std::string(status_name(m->status)) : ", not a member");
  }
  auto from = bus.find_endpoint(sender);
  if (!from || !member) return;
  const Tracker tracker(bus.segment().tracker(), bus.segment().geometry().tracker_capacity);
  const std::uint64_t slot = tracker.find(TrackerKey{*from, k.second, grouped ? *member : no_endpoint});
  if (slot != Tracker::no_slot)
    std::cout << " flags " << tracker.entry(slot).flags.load(std::memory_order_relaxed);  // relaxed: a snapshot
}

// What the journals and the tracker say of messages reported sent and never
// received, printed when a run lost some: a failure explains itself.
inline void explain_lost(const Ledger& ledger, const std::vector<Key>& lost, const std::string& bus_log_dir,
                         const Bus& bus) {
  // endpoint, producer, first seq of the life, priority
  std::map<std::tuple<std::string, std::uint64_t, std::uint64_t, unsigned>, unsigned> by_life;
  for (const auto& [ep, id] : lost)
    by_life[{ep, id / per_producer, id % per_producer / life_sends * life_sends, id % per_producer % 3}]++;
  std::cout << "[ crash    ] lost, by endpoint, producer life and priority:";
  for (const auto& [k, n] : by_life) {
    const auto& [ep, producer, first, prio] = k;
    auto pid = ledger.life_pid.find(producer * per_producer + first);
    std::cout << " " << ep << " from p" << producer << " seq " << first << ".." << first + life_sends - 1 << " (pid "
              << (pid != ledger.life_pid.end() ? pid->second : 0) << ") priority " << prio << ": " << n << ";";
  }
  // Kills and reboots from the start of the first life that lost messages on.
  const auto& [ep0, producer, first_seq, prio] = by_life.begin()->first;
  const std::string from = "p" + std::to_string(producer) + ":" + std::to_string(first_seq) + "=";
  auto e = std::find_if(ledger.events.begin(), ledger.events.end(),
                        [&](const std::string& s) { return s.starts_with(from); });
  std::cout << "\n[ crash    ] kills and reboots since:";
  for (int shown = 0; e != ledger.events.end() && shown < 40; ++e, ++shown) std::cout << " " << *e;
  for (const std::string& r : receivers) {
    auto id = bus.find_endpoint(r);
    const std::string lanes = id ? lanes_left(bus, *id) : " (no such endpoint)";
    std::cout << "\n[ crash    ] " << r << "'s lanes:" << (lanes.empty() ? " empty" : lanes);
  }
  std::cout << "\n";
  std::set<std::uint64_t> all;
  for (const Key& k : lost) all.insert(k.second);
  const std::vector<Key> first(lost.begin(),
                               lost.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(lost.size(), 5)));
  std::set<std::uint64_t> first_ids;
  for (const Key& k : first) first_ids.insert(k.second);
  std::map<std::uint64_t, std::vector<std::string>> seen;
  std::map<std::string, unsigned> messages_by_file;  // message records of lost ids by file
  auto log = LogInspector::open(bus_log_dir);
  if (!log) {
    std::cout << "[ crash    ] the journals cannot be read: " << log.error().message << "\n";
    return;
  }
  LogRecord r;
  for (;;) {
    auto more = log->next(r);
    if (!more || !*more) break;
    if (r.kind == LogRecordKind::name || r.kind == LogRecordKind::membership || all.count(r.id) == 0) continue;
    const std::string file = std::filesystem::path(std::string(r.file)).filename().string();
    if (r.kind == LogRecordKind::message) messages_by_file[file]++;
    if (first_ids.count(r.id) == 0) continue;
    std::ostringstream d;
    d << log_record_kind_name(r.kind) << " in " << file << "@" << r.offset;
    if (r.kind == LogRecordKind::message) {
      const std::string* to = log->name_of(r.to);
      d << " (priority " << unsigned(r.priority) << ", flags " << unsigned(r.flags) << ", to "
        << (to != nullptr ? *to : "unnamed " + std::to_string(r.to)) << ")";
    }
    seen[r.id].push_back(d.str());
  }
  std::cout << "[ crash    ] " << log->files().size() << " journal files, " << log->damage().size() << " damaged, "
            << log->torn_tails().size() << " torn; message records of lost ids by file:";
  for (const auto& [f, n] : messages_by_file) std::cout << " " << f << ": " << n << ";";
  std::cout << "\n";
  for (const Key& k : first) {
    std::cout << "[ crash    ] lost " << k.first << " " << k.second << ":";
    explain_tracker(bus, k);
    if (seen[k.second].empty()) std::cout << "; no record in the journals";
    for (const std::string& d : seen[k.second]) std::cout << "; " << d;
    std::cout << "\n";
  }
}

}  // namespace courier::test::crash
