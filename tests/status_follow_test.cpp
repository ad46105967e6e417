// The status follower over a private tracker: which entries are its own (the
// token its sends write into TrackerEntry::follower, with the tag's pid), and
// what it does with a tracker entry a hostile process rewrote (no crash, no
// report going backwards, nothing reported twice). The follower's lossless
// behaviour with real senders and receivers is in status_catchup_test.cpp.
#include <cstdint>
#include <utility>
#include <vector>

#include "courier/detail/status_follow.hpp"
#include "support.hpp"

namespace courier {
namespace {

using detail::StatusFollower;

constexpr EndpointId self = 5, dest = 7;
constexpr std::uint64_t far_future = ~0ull >> 1;
constexpr std::uint64_t capacity = 64;

// A tracker in a zeroed private buffer laid out as in the segment.
struct Table {
  std::vector<std::uint64_t> words =
      std::vector<std::uint64_t>((sizeof(TrackerHeader) + capacity * 8 + capacity * sizeof(TrackerEntry)) / 8);
  Tracker t{reinterpret_cast<TrackerHeader*>(words.data()), capacity};

  std::uint64_t put(std::uint64_t id, std::uint16_t follower, EndpointId sender = self) {
    const EntryInit init{tracker_role::endpoint, dest, Status::outbox, 0, 1, far_future, far_future, 1000, follower};
    const auto r = t.insert(TrackerKey{sender, id, no_endpoint}, 1000, [&](TrackerEntry& e) { init_entry(e, init); });
    return r.result == Tracker::Insert::inserted ? r.slot : Tracker::no_slot;
  }
};

using Ring = std::vector<std::pair<StatusEvent, std::uint64_t>>;  // events and their slot + 1

// One poll of `f` with `ring` as the status ring's content and `drops` as its
// drop counter, reporting to `sink`; the number of events it reports.
std::size_t poll_into(StatusFollower& f, const Ring& ring, std::uint64_t drops, const StatusFollower::Sink& sink) {
  std::size_t next = 0;
  return f.poll(
      [&](StatusEvent& e, std::uint64_t& slot_plus_one) {
        if (next == ring.size()) return false;
        e = ring[next].first;
        slot_plus_one = ring[next].second;
        ++next;
        return true;
      },
      drops, sink);
}

// The events one poll reports.
std::vector<StatusEvent> poll(StatusFollower& f, const Ring& ring, std::uint64_t drops = 0) {
  std::vector<StatusEvent> out;
  poll_into(f, ring, drops, [&](const StatusEvent& e) { out.push_back(e); });
  return out;
}

// A poll without a function (poll_status() with none and no on_status): the count alone.
std::size_t poll_counting(StatusFollower& f, const Ring& ring) { return poll_into(f, ring, 0, {}); }

StatusEvent event(std::uint64_t id, Status s) { return StatusEvent{id, dest, 0, s, 2000}; }

// Follow message `id` sent in `slot` by `f` up to delivered (sent reported by the fold, delivered by the ring).
void follow_to_delivered(Table& tab, StatusFollower& f, std::uint64_t slot, std::uint64_t id) {
  f.note_tracked(slot, TrackerKey{self, id, no_endpoint}, tracker_role::endpoint, dest);
  f.note_outcome(slot, id, Status::sent, false);
  ASSERT_TRUE(tab.t.advance(slot, Status::sent, 1500));
  ASSERT_TRUE(tab.t.advance(slot, Status::delivered, 2000));
  const auto got = poll(f, {{event(id, Status::delivered), slot + 1}});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].status, Status::sent);
  EXPECT_EQ(got[1].status, Status::delivered);
}

TEST(StatusFollow, EachFollowerOfAProcessHasItsOwnToken) {
  Table tab;
  StatusFollower a(&tab.t, self), b(&tab.t, self);
  EXPECT_NE(a.token(), 0u);
  EXPECT_NE(b.token(), 0u);
  EXPECT_NE(a.token(), b.token());
}

// Another handle of the same endpoint in the same process (same pid in the
// tag) follows too; its message takes the slot of one of ours that retired
// while delivered. Its event is passed on as it came: were the slot's state
// taken for the new message, the event (delivered, already passed there)
// would be swallowed.
TEST(StatusFollow, AnotherHandlesMessageInTheSlotOfOursIsPassedOnAsItCame) {
  Table tab;
  StatusFollower a(&tab.t, self), b(&tab.t, self);
  const std::uint64_t s = tab.put(1, a.token());
  ASSERT_NE(s, Tracker::no_slot);
  follow_to_delivered(tab, a, s, 1);
  // Fill every other slot (another sender), then free ours: b's next send can only land there.
  for (std::uint64_t id = 1000; id < 100000 && tab.t.usage().used < capacity; ++id) tab.put(id, 0, 9);
  ASSERT_EQ(tab.t.usage().used, capacity);
  tab.t.release(s);
  std::uint64_t theirs = 0;
  for (std::uint64_t id = 2; id < 100000 && theirs == 0; ++id)
    if (tab.put(id, b.token()) != Tracker::no_slot) theirs = id;
  ASSERT_NE(theirs, 0u);
  ASSERT_TRUE(tab.t.holds(s, TrackerKey{self, theirs, no_endpoint}));
  ASSERT_TRUE(tab.t.advance(s, Status::delivered, 3000));
  const auto got = poll(a, {{event(theirs, Status::delivered), s + 1}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, theirs);
  EXPECT_EQ(got[0].status, Status::delivered);
  EXPECT_EQ(a.unknown(), 0u);  // ours ended delivered: nothing owed was lost
}

// A hostile process rewrites our entry: its status backwards, out of range,
// then its follower token. The reported status is the follower's own: no
// report goes backwards, none is repeated, nothing crashes; a message no
// longer recognisably ours is let go (delivered: not counted unknown).
TEST(StatusFollow, RewrittenEntryNeverMakesAReportGoBackwardsOrRepeat) {
  Table tab;
  StatusFollower a(&tab.t, self);
  const std::uint64_t s = tab.put(1, a.token());
  ASSERT_NE(s, Tracker::no_slot);
  follow_to_delivered(tab, a, s, 1);
  TrackerEntry& e = tab.t.entry(s);
  e.status.store(static_cast<std::uint8_t>(Status::outbox));
  EXPECT_TRUE(poll(a, {}, 1).empty());  // a catch-up (the drop counter moved) compares with the entry
  e.status.store(250);
  EXPECT_TRUE(poll(a, {}, 2).empty());
  EXPECT_EQ(a.outstanding(), 1u);
  // Events naming a slot out of range or garbage are passed on as they came.
  EXPECT_EQ(poll(a, {{event(1, Status::delivered), capacity + 1}, {event(1, Status::delivered), ~0ull}}).size(), 2u);
  e.follower.store(static_cast<std::uint16_t>(a.token() + 1));
  EXPECT_TRUE(poll(a, {}, 3).empty());
  EXPECT_EQ(a.outstanding(), 0u);
  EXPECT_EQ(a.unknown(), 0u);
}

// Our message's end is read from the entry on a catch-up; once final it is
// forgotten, and a late ring event of it is not reported twice.
TEST(StatusFollow, CatchUpReportsEachStepOnceAndALateEventIsDropped) {
  Table tab;
  StatusFollower a(&tab.t, self);
  const std::uint64_t s = tab.put(1, a.token());
  ASSERT_NE(s, Tracker::no_slot);
  a.note_tracked(s, TrackerKey{self, 1, no_endpoint}, tracker_role::endpoint, dest);
  a.note_outcome(s, 1, Status::sent, true);  // the callback was told at send time
  ASSERT_TRUE(tab.t.advance(s, Status::sent, 1500));
  ASSERT_TRUE(tab.t.advance(s, Status::read, 2500));
  const auto got = poll(a, {}, 1);  // the ring dropped delivered and read
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].status, Status::delivered);
  EXPECT_EQ(got[1].status, Status::read);
  EXPECT_EQ(a.outstanding(), 0u);
  EXPECT_TRUE(poll(a, {{event(1, Status::read), s + 1}}).empty());
}

// A poll without a function takes the fold's counting path: it must count
// what a poll with one reports and leave the same states behind (the next
// polls, with a function, report the same events). Two followers, each on its
// own identical tracker, go through the same sends; only the first poll differs.
TEST(StatusFollow, APollWithoutAFunctionCountsWhatOneWithAFunctionReports) {
  struct Send {
    std::uint64_t id;
    Status outcome;
    bool told;
  };
  // sent (not told / told), outbox (a stored message), an error (not told / told).
  const Send sends[] = {{1, Status::sent, false},
                        {2, Status::sent, true},
                        {3, Status::outbox, false},
                        {4, Status::offline, false},
                        {5, Status::offline, true}};
  Table ta, tb;
  StatusFollower a(&ta.t, self), b(&tb.t, self);
  std::uint64_t slot[6] = {};
  for (const Send& m : sends) {
    slot[m.id] = ta.put(m.id, a.token());
    ASSERT_EQ(tb.put(m.id, b.token()), slot[m.id]);  // the same tables: the same slots
    ASSERT_NE(slot[m.id], Tracker::no_slot);
    for (StatusFollower* f : {&a, &b}) {
      f->note_tracked(slot[m.id], TrackerKey{self, m.id, no_endpoint}, tracker_role::endpoint, dest);
      if (m.outcome != Status::outbox) f->note_outcome(slot[m.id], m.id, m.outcome, m.told);
    }
    if (m.outcome != Status::outbox) {
      for (Table* t : {&ta, &tb}) ASSERT_TRUE(t->t.advance(slot[m.id], m.outcome, 1500));
    }
  }
  const auto reported = poll(a, {});
  ASSERT_EQ(reported.size(), 2u);  // 1 sent, 4 offline: the outcomes the callback was not told
  EXPECT_EQ(reported[0].status, Status::sent);
  EXPECT_EQ(reported[1].status, Status::offline);
  EXPECT_EQ(poll_counting(b, {}), reported.size());
  EXPECT_EQ(b.outstanding(), a.outstanding());
  // The same ring for both: a counted again (with a function), b without one.
  for (Table* t : {&ta, &tb}) {
    for (std::uint64_t id : {1, 2, 3}) ASSERT_TRUE(t->t.advance(slot[id], Status::delivered, 2000));
    ASSERT_TRUE(t->t.advance(slot[1], Status::read, 2500));
  }
  const Ring ring = {{event(1, Status::delivered), slot[1] + 1},
                     {event(2, Status::delivered), slot[2] + 1},
                     {event(3, Status::delivered), slot[3] + 1},
                     {event(1, Status::read), slot[1] + 1},
                     {event(4, Status::offline), slot[4] + 1}};
  const auto ea = poll(a, ring);
  ASSERT_EQ(ea.size(), 5u);  // 1 delivered, 2 delivered, 3 sent + delivered, 1 read (4's error: reported already)
  EXPECT_EQ(poll_counting(b, ring), ea.size());
  EXPECT_EQ(b.outstanding(), a.outstanding());
  // Then both with a function: the same events (the states left behind are the same).
  for (Table* t : {&ta, &tb})
    for (std::uint64_t id : {2, 3}) ASSERT_TRUE(t->t.advance(slot[id], Status::read, 3000));
  const Ring reads = {{event(2, Status::read), slot[2] + 1},
                      {event(3, Status::read), slot[3] + 1},
                      {event(1, Status::read), slot[1] + 1}};
  const auto ra = poll(a, reads), rb = poll(b, reads);
  ASSERT_EQ(ra.size(), 2u);  // 2 read, 3 read (1's: reported already)
  ASSERT_EQ(rb.size(), ra.size());
  for (std::size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(rb[i].id, ra[i].id) << i;
    EXPECT_EQ(rb[i].status, ra[i].status) << i;
  }
  EXPECT_EQ(b.outstanding(), a.outstanding());
  EXPECT_EQ(b.unknown(), a.unknown());
}

}  // namespace
}  // namespace courier
COURIER_TEST_MAIN
