// recovery.hpp — a recovery of a bus from its journals (src/ only): rebuild
// the tracker and put back into their lanes the messages owed that are in no
// lane (docs/design.md, "Recovery"). The reads (run, pass) are in
// src/recovery.cpp, the load in src/recovery_load.cpp, the put-back in
// src/recovery_put_back.cpp.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "courier/detail/bus_log.hpp"
#include "courier/detail/journal_ids.hpp"
#include "courier/detail/journal_membership.hpp"
#include "courier/detail/journal_reader.hpp"

namespace courier::detail {

class Recovery {
 public:
  Recovery(detail::BusState& st, const std::function<void(const RecoveryProgress&)>& progress)
      : st_(st), progress_(progress), now_(realtime_ns()), resolve_(detail::resolve_in(st.dir, true)) {}

  // fresh: the bus was created by this open (a reboot): nobody else uses it
  // before the rebuild ends and a failed one is removed, so the tracker is
  // filled while the journals are counted (one read fewer).
  Result<RecoveryReport> run(bool fresh);

 private:
  // The share of the tracker a recovery fills at most. The tracker puts a key
  // in the less loaded of two buckets of 8 slots and never moves entries, so
  // it refuses an insert well before it is full (a measurement in the tree saw
  // the first refusal at 69-74 % on big tables, earlier on small ones, where a
  // bucket fills by chance): half leaves a margin for small tables too.
  static constexpr std::uint64_t safe_fill_percent = 50;

  // What one read of the journals does (docs/design.md, "Recovery in two reads"):
  // count: only the tracker entries needed (a live or half-built bus: nothing is
  // changed before they fit); load: names, groups, messages into the tracker,
  // settles applied (those read before their message kept for the end); put_back:
  // what is owed and in no lane into its lane, in journal order.
  enum class Phase : std::uint8_t { count, load, put_back };

  // src/recovery.cpp: the reads and what they share.
  std::uint64_t safe_fill(std::uint64_t capacity) const { return capacity * safe_fill_percent / 100; }
  Result<void> check_room();
  Error room_error() const;
  void prefault_tracker() const;
  std::uint64_t directory_bytes() const;
  // The first read of the journals counts what they hold in the report.
  bool first(Phase ph) const noexcept { return ph == Phase::count || (fresh_ && ph == Phase::load); }
  unsigned pass_number(Phase ph) const noexcept {
    return ph == Phase::put_back ? passes_ : (ph == Phase::load && !fresh_ ? 2 : 1);
  }
  Result<void> pass(Phase ph);
  bool mapped(const JournalRecord& rec, const JournalIds& ids, bool counting, JournalMessage& m);  // below
  inline void message(const JournalRecord& rec, const JournalIds& ids, Phase ph, bool counting);  // inline: pass alone calls it
  void finish_totals();
  void raise_next_id();

  // src/recovery_load.cpp: into the tracker.
  void count(const RecordHeader& h);
  Tracker::InsertResult insert(const TrackerKey& key, std::uint64_t hv, const Tracker::Rebuild::Ahead* ahead,
                               std::uint8_t role, std::uint32_t dest, const RecordHeader& h);
  void queue_load(const JournalRecord& rec, const JournalIds& ids);
  inline void load_oldest();  // inline: defined beside its callers, inlined there
  void advance_load();
  void drain_load();
  void load(const RecordHeader& h, std::size_t payload_size, std::uint64_t hv, std::uint64_t ordinal,
            const Tracker::Rebuild::Ahead* ahead);
  void settle(const JournalRecord& rec, const JournalIds& ids);
  bool apply_settle(EndpointId sender, std::uint64_t id, EndpointId recipient, Status s, bool keep);

  // src/recovery_put_back.cpp: back into the lanes.
  void prefault_lanes() const;
  // A fresh load's helper thread: populates the lanes the put-back will write
  // while the load is still reading (the load runs on one CPU; the other
  // would idle), up to the bytes the load has found for each lane so far,
  // lane_warm_step at a time. What it has not reached when the load ends,
  // prefault_lanes does (the pages it did cost that call next to nothing).
  class LaneWarmer {
   public:
    explicit LaneWarmer(const Segment& seg);
    LaneWarmer(const LaneWarmer&) = delete;
    LaneWarmer& operator=(const LaneWarmer&) = delete;
    ~LaneWarmer();  // drops what is asked and not begun, waits for the range in hand
    // Lane `lane` (endpoint slot * priority_levels + priority) holds up to `bytes` to put back.
    void want(std::uint64_t lane, std::uint64_t bytes);

   private:
    void run();
    void warm(std::uint64_t lane, std::uint64_t bytes);
    const Segment& seg_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::pair<std::uint64_t, std::uint64_t>> asked_;  // guarded by m_
    bool stop_ = false;                                          // guarded by m_
    std::unordered_map<std::uint64_t, std::uint64_t> done_;      // lane -> bytes populated (the helper's own)
    std::thread helper_;                                         // last: started once the rest is built
  };
  static constexpr std::uint64_t lane_warm_step = 16ull << 20;
  // A log smaller than this is put back before a thread would pay for itself.
  static constexpr std::uint64_t lane_warm_from = 64ull << 20;
  // inline: defined beside their one caller (put_back), inlined there.
  inline std::uint64_t slot_of(const TrackerKey& key);
  void put_back(const JournalMessage& m);
  inline bool inject(const JournalMessage& m, std::uint64_t slot);

  detail::BusState& st_;
  const std::function<void(const RecoveryProgress&)>& progress_;
  const std::uint64_t now_;
  const JournalIds::Resolve resolve_;  // registers the names of the journal files in the bus's directory
  std::uint64_t total_ = 0;
  std::uint64_t needed_ = 0, used_ = 0;  // tracker entries this recovery needs; entries in use before it
  bool refused_ = false;                 // the tracker refused an insert (or a fresh load passed the safe fill)
  bool fresh_ = false;                   // the bus was created by this open: no counting read (run())
  unsigned passes_ = 3;                  // reads of the journals in all
  struct EarlySettle {
    EndpointId sender, recipient;
    std::uint64_t id;
    Status status;
  };
  std::vector<EarlySettle> early_settles_;  // settles read before their message (applied after the load)
  std::set<std::pair<EndpointId, std::uint64_t>> counted_totals_;  // group totals counted
  RecoveryReport rep_;
  detail::MembershipReplay membership_;  // the groups the journals say the bus has (pass 1)
  std::shared_ptr<detail::ReadBuffer> buffer_ = std::make_shared<detail::ReadBuffer>();
  std::shared_ptr<detail::ReadBuffer> ahead_buffer_ = std::make_shared<detail::ReadBuffer>();  // the next file's
  std::shared_ptr<detail::CheckedFiles> checked_ = std::make_shared<detail::CheckedFiles>();  // by the first read
  struct LaneLoad {
    std::uint64_t bytes = 0;                 // owed at most
    std::uint64_t warm_at = lane_warm_step;  // the next size at which the warmer is asked for more
  };
  std::unordered_map<std::uint64_t, LaneLoad> lane_bytes_;  // (endpoint slot, priority) -> what the load found
  std::uint64_t last_lane_ = 0;
  LaneLoad* last_lane_bytes_ = nullptr;  // the lane of the last message loaded
  std::unique_ptr<LaneWarmer> warmer_;   // a fresh load of a big log on a machine with two CPUs or more
  std::unordered_set<std::uint64_t> totals_;                     // group totals this recovery made
  std::unordered_set<std::uint64_t> pending_totals_;             // group totals whose members settled in pass 3
  // A fresh load's slots, per message record in journal order (no_hint: none); ordinal_: the record's number.
  static constexpr std::uint32_t no_hint = ~0u;    // tracker capacity <= max_tracker_capacity (2^26)
  // The put-back asks for the lines of the slots of the next hint_batch records together (slot_of).
  static constexpr std::uint64_t hint_batch = 16;
  std::vector<std::uint32_t> slots_;
  std::uint64_t ordinal_ = 0;
  std::uint64_t warmed_to_ = 0;  // the put-back has asked for the slots' lines of the records before this one
  // A fresh load's messages waiting for their tracker lines (queue_load): three batches, oldest
  // first; the last pending_count_ % load_batch records (a batch not yet complete) have not asked for
  // their lines yet.
  struct Pending {
    RecordHeader h;
    std::uint64_t hv = 0, ordinal = 0;
    std::size_t payload_size = 0;
    Tracker::Rebuild::Ahead ahead;  // its buckets as the ring saw them halfway (Rebuild::look)
  };
  static constexpr unsigned load_batch = 8;
  static constexpr unsigned pending_size = 3 * load_batch;
  std::array<Pending, pending_size> pending_{};
  unsigned pending_head_ = 0, pending_count_ = 0;
  Pending& pending_at(unsigned i) noexcept { return pending_[(pending_head_ + i) % pending_size]; }
  Tracker::Rebuild rebuild_{st_.tracker};  // a fresh load's inserts (the bus is this open's alone)
};
static_assert(max_tracker_capacity < (1ull << 32), "slots_ keeps tracker slots in 32 bits");

// The message of a record with the ids of the bus now; false when it is
// not one to recover (untracked, real-time, unnamed, past its retention).
// Here, not in a .cpp: the load (recovery_load.cpp) and the put-back
// (recovery.cpp) call it for every record, inlined.
inline bool Recovery::mapped(const JournalRecord& rec, const JournalIds& ids, bool counting, JournalMessage& m) {
  auto d = decode_journal_message(rec.body);
  if (!d) return false;
  m = *d;
  RecordHeader& h = m.header;
  if (h.id == 0 || h.expires_ns == 0) return false;
  if (counting && h.id > rep_.max_id) rep_.max_id = h.id;
  if (!ids.map(h)) {
    if (counting) ++rep_.unnamed;
    return false;
  }
  if (st_.deadline(h.expires_ns, h.timestamp_ns) <= now_) {  // settled by age: its status would have retired too
    if (counting) ++rep_.retired;
    return false;
  }
  return true;
}

}  // namespace courier::detail
