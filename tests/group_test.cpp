// Groups within one process, on a shared-memory bus and on an in-process bus:
// fan-out exactly once per member, membership changes, per-member and total
// statuses, resends; and members receiving on their own threads. Members in
// other processes are in multiprocess_test.cpp.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "support.hpp"

namespace courier {
namespace {

using test::BusMode;
using test::BusName;

using namespace std::chrono_literals;

using test::Event;

class GroupTest : public ::testing::TestWithParam<BusMode> {
 public:
  BusName name;
  std::optional<Bus> bus;
  std::optional<Endpoint> alice;
  GroupId team = 0;

  void start(Options o = test::small_options()) {
    auto b = Bus::open(name, test::options_for(GetParam(), o));
    ASSERT_TRUE(b) << b.error().message;
    bus.emplace(std::move(*b));
    auto a = bus->endpoint("alice");
    ASSERT_TRUE(a);
    alice.emplace(std::move(*a));
    auto g = bus->add_group("team");
    ASSERT_TRUE(g) << g.error().message;
    team = *g;
  }
  void join(std::initializer_list<std::string_view> members) {
    for (std::string_view m : members) ASSERT_TRUE(bus->add_member("team", m)) << m;
  }
  EndpointId id_of(std::string_view endpoint) { return *bus->find_endpoint(endpoint); }
  SendResult to_team(std::chrono::nanoseconds expiry, std::uint64_t id = 0, std::string_view text = "hello team") {
    return alice->send({.to = group("team"), .priority = 4, .expiry = expiry, .id = id}, text);
  }
  std::vector<Event> events() {
    std::vector<Event> out;
    auto n = alice->poll_status([&](const StatusEvent& e) { out.push_back({e.id, e.recipient, e.group, e.status}); });
    EXPECT_TRUE(n) << n.error().message;
    return out;
  }
  StatusReport report(std::uint64_t id) {
    auto r = alice->status(id);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : StatusReport{};
  }
  std::map<EndpointId, Status> member_statuses(std::uint64_t id) {
    std::map<EndpointId, Status> out;
    for (const RecipientStatus& m : report(id).members) out[m.recipient] = m.status;
    return out;
  }
  // Messages waiting for `r`, by text.
  static std::vector<std::string> drain(Receiver& r) {
    std::vector<std::string> out;
    while (auto m = r.try_receive()) out.emplace_back(m->text());
    return out;
  }
};

TEST_P(GroupTest, GroupSendReachesEveryMemberExactlyOnce) {
  start();
  join({"a", "b", "c", "a", "b"});  // added twice: still one copy each
  auto groups = bus->groups();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].name, "team");
  EXPECT_EQ(groups[0].members, (std::vector<EndpointId>{id_of("a"), id_of("b"), id_of("c")}));
  auto a = bus->attach("a"), b = bus->attach("b"), c = bus->attach("c");
  ASSERT_TRUE(a && b && c);
  auto r = to_team(60s);
  EXPECT_EQ(r.status, Status::sent);
  EXPECT_EQ(r.recipients, 3u);
  EXPECT_EQ(r.accepted, 3u);
  auto rt = alice->send({.to = group("team")}, "real-time, untracked");
  EXPECT_EQ(rt.status, Status::sent);
  EXPECT_EQ(rt.accepted, 3u);
  EXPECT_EQ(rt.id, 0u);
  for (Receiver* rx : {&*a, &*b, &*c}) {
    auto m = rx->try_receive();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "hello team");
    EXPECT_EQ(m->id(), r.id);
    EXPECT_EQ(m->group(), team);
    EXPECT_EQ(m->to(), rx->id());
    EXPECT_EQ(m->from(), alice->id());
    EXPECT_EQ(drain(*rx), (std::vector<std::string>{"real-time, untracked"})) << rx->name() << ": one copy of each";
  }
  EXPECT_EQ(bus->stat().endpoints.at(0).sent, 6u);
}

TEST_P(GroupTest, RemovedMemberGetsNoCopy) {
  start();
  join({"a", "b", "c"});
  ASSERT_TRUE(bus->remove_member("team", "b"));
  EXPECT_EQ(bus->remove_member("team", "b").error().code, Errc::not_found);
  EXPECT_EQ(bus->groups().at(0).members, (std::vector<EndpointId>{id_of("a"), id_of("c")}));
  auto r = to_team(60s);
  EXPECT_EQ(r.recipients, 2u);
  EXPECT_EQ(r.accepted, 2u);
  ASSERT_TRUE(bus->remove_endpoint("c"));  // a removed endpoint drops out of its groups
  auto r2 = to_team(60s, 0, "second");
  EXPECT_EQ(r2.recipients, 1u);
  auto a = bus->attach("a"), b = bus->attach("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(drain(*a), (std::vector<std::string>{"hello team", "second"}));
  EXPECT_TRUE(drain(*b).empty()) << "b left the group before the sends";
  ASSERT_TRUE(bus->add_member("team", "b"));
  EXPECT_EQ(to_team(60s, 0, "third").recipients, 2u);
  EXPECT_EQ(drain(*b), (std::vector<std::string>{"third"})) << "back in the group";
}

TEST_P(GroupTest, MissingEmptyOrRemovedGroupIsAnInvalidDestination) {
  start();
  EXPECT_EQ(alice->send({.to = group("nobody"), .expiry = 60s}, "x").status, Status::invalid_destination);
  EXPECT_EQ(to_team(60s).status, Status::invalid_destination) << "no members";
  join({"a"});
  auto resolved = alice->resolve_group("team");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(alice->send({.to = *resolved, .expiry = 60s}, "x").status, Status::sent);
  ASSERT_TRUE(bus->remove_group("team"));
  EXPECT_EQ(to_team(60s).status, Status::invalid_destination);
  EXPECT_EQ(alice->send({.to = *resolved, .expiry = 60s}, "x").status, Status::invalid_destination);
  EXPECT_TRUE(bus->groups().empty());
  Claim c;
  EXPECT_EQ(alice->claim({.to = group("team"), .expiry = 60s}, 10, c).status, Status::invalid_argument)
      << "zero-copy sends go to one endpoint";
}

TEST_P(GroupTest, StatusCountsEachMemberAndTheTotal) {
  start();
  join({"a", "b"});
  auto a = bus->attach("a"), b = bus->attach("b");
  ASSERT_TRUE(a && b);
  const EndpointId ia = a->id(), ib = b->id();
  auto r = to_team(60s);
  ASSERT_EQ(r.status, Status::sent);
  StatusReport s = report(r.id);
  EXPECT_EQ(s.status, Status::sent);
  EXPECT_EQ(s.group, team);
  EXPECT_EQ(s.recipients, 2u);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ia, Status::sent}, {ib, Status::sent}}));

  auto ma = a->try_receive();
  ASSERT_TRUE(ma);
  s = report(r.id);
  EXPECT_EQ(s.status, Status::sent) << "not every member has it yet";
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ia, Status::delivered}, {ib, Status::sent}}));
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, ia, team, Status::delivered}}));

  auto mb = b->try_receive();
  ASSERT_TRUE(mb);
  s = report(r.id);
  EXPECT_EQ(s.status, Status::delivered);
  EXPECT_EQ(s.delivered, 2u);
  EXPECT_EQ(events(),
            (std::vector<Event>{{r.id, ib, team, Status::delivered}, {r.id, no_endpoint, team, Status::delivered}}));

  ASSERT_TRUE(a->mark_read(*ma));
  s = report(r.id);
  EXPECT_EQ(s.status, Status::delivered);
  EXPECT_EQ(s.read, 1u);
  ASSERT_TRUE(b->mark_read(*mb));
  s = report(r.id);
  EXPECT_EQ(s.status, Status::read);
  EXPECT_EQ(s.read, 2u);
  EXPECT_EQ(s.delivered, 2u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ia, Status::read}, {ib, Status::read}}));
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, ia, team, Status::read},
                                          {r.id, ib, team, Status::read},
                                          {r.id, no_endpoint, team, Status::read}}));
}

// A tracked send to a group of one member that is not stored keeps one
// tracker entry for the member and the total (docs/design.md, "A 1-member
// group in one tracker entry"); its sender sees what a group of two shows,
// member by member: each change for the member and then for the total, and
// status() with the counts and the member's own status.
TEST_P(GroupTest, OneMemberGroupMakesOneTrackerEntryAndReportsMemberAndTotal) {
  start();
  join({"b"});
  auto b = bus->attach("b");
  ASSERT_TRUE(b);
  const EndpointId ib = b->id();
  EXPECT_TRUE(events().empty());  // alice follows her statuses from here
  const std::uint64_t used = bus->stat().tracker.used;
  auto r = to_team(60s);
  ASSERT_EQ(r.status, Status::sent);
  EXPECT_EQ(r.recipients, 1u);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(bus->stat().tracker.used, used + 1) << "one entry for the member and the total";
  StatusReport s = report(r.id);
  EXPECT_EQ(s.status, Status::sent);
  EXPECT_EQ(s.group, team);
  EXPECT_EQ(s.recipients, 1u);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ib, Status::sent}}));
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, ib, team, Status::sent}, {r.id, no_endpoint, team, Status::sent}}));

  auto mb = b->try_receive();
  ASSERT_TRUE(mb);
  EXPECT_EQ(mb->group(), team);
  s = report(r.id);
  EXPECT_EQ(s.status, Status::delivered);
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ib, Status::delivered}}));
  EXPECT_EQ(events(),
            (std::vector<Event>{{r.id, ib, team, Status::delivered}, {r.id, no_endpoint, team, Status::delivered}}));
  ASSERT_TRUE(b->mark_read(*mb));
  s = report(r.id);
  EXPECT_EQ(s.status, Status::read);
  EXPECT_EQ(s.read, 1u);
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(member_statuses(r.id), (std::map<EndpointId, Status>{{ib, Status::read}}));
  EXPECT_EQ(events(), (std::vector<Event>{{r.id, ib, team, Status::read}, {r.id, no_endpoint, team, Status::read}}));

  // A resend of the id is a duplicate, not a second copy.
  auto again = to_team(60s, r.id, "again");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.status, Status::read);
  EXPECT_TRUE(drain(*b).empty());
  // Once the member left the group, status() lists no member (as for a group of two).
  ASSERT_TRUE(bus->remove_member("team", "b"));
  EXPECT_TRUE(report(r.id).members.empty());
}

// The sender's on_status callback gets the send-time outcome for the member
// and then the total; the events of a sender that does not follow its ring
// come as the receiver posted them, two per change.
TEST_P(GroupTest, OneMemberGroupEventsReachACallbackAndAnUnfollowedRing) {
  start();
  join({"b"});
  auto b = bus->attach("b");
  ASSERT_TRUE(b);
  const EndpointId ib = b->id();
  std::vector<Event> told;
  alice->on_status([&](const StatusEvent& e) { told.push_back({e.id, e.recipient, e.group, e.status}); });
  auto r = to_team(60s);
  ASSERT_EQ(r.status, Status::sent);
  EXPECT_EQ(told, (std::vector<Event>{{r.id, ib, team, Status::sent}, {r.id, no_endpoint, team, Status::sent}}));
  ASSERT_TRUE(b->try_receive());
  told.clear();
  auto n = alice->poll_status();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(told,
            (std::vector<Event>{{r.id, ib, team, Status::delivered}, {r.id, no_endpoint, team, Status::delivered}}));
  // Polled with no function to take them: counted, two per change (sent, delivered).
  alice->on_status(nullptr);
  ASSERT_EQ(to_team(60s).status, Status::sent);
  ASSERT_TRUE(b->try_receive());
  n = alice->poll_status();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 4u);
}

// Failures of the one member: at send time (offline: a real-time message
// and no receiver; the id is free again) and later (its endpoint removed
// with the copy waiting, reported by the removal from the record).
TEST_P(GroupTest, OneMemberGroupFailuresAreTheMembersAndTheTotals) {
  start();
  join({"b"});
  EXPECT_TRUE(events().empty());
  const EndpointId ib = id_of("b");
  auto r = to_team(0s, 70);
  EXPECT_EQ(r.status, Status::offline);
  EXPECT_EQ(r.accepted, 0u);
  StatusReport s = report(70);
  EXPECT_EQ(s.status, Status::offline);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(member_statuses(70), (std::map<EndpointId, Status>{{ib, Status::offline}}));
  EXPECT_EQ(events(), (std::vector<Event>{{70, ib, team, Status::offline}, {70, no_endpoint, team, Status::offline}}));
  {
    auto b = bus->attach("b");
    ASSERT_TRUE(b);
    r = to_team(0s, 70, "now attached");
    EXPECT_EQ(r.status, Status::sent) << "offline frees the id";
    EXPECT_FALSE(r.duplicate);
  }  // detached: the real-time copy waits in the lane

  auto stored = to_team(60s);
  ASSERT_EQ(stored.status, Status::sent);
  (void)events();
  ASSERT_TRUE(bus->remove_endpoint("b"));
  s = report(stored.id);
  EXPECT_EQ(s.status, Status::invalid_destination);
  EXPECT_EQ(s.failed, 1u);
  const auto ev = events();
  EXPECT_NE(std::find(ev.begin(), ev.end(), Event{stored.id, ib, team, Status::invalid_destination}), ev.end());
  EXPECT_NE(std::find(ev.begin(), ev.end(), Event{stored.id, no_endpoint, team, Status::invalid_destination}),
            ev.end());
}

// A ring too small for the events: the sender's catch-up from the tracker
// reports, for each message, each change of the member and of the total once.
TEST_P(GroupTest, OneMemberGroupEventsDroppedByTheRingAreCaughtUpOnce) {
  Options o = test::small_options();
  o.status_capacity = 4096;  // 64 events; the run posts 4 per message
  start(o);
  join({"b"});
  auto b = bus->attach("b");
  ASSERT_TRUE(b);
  const EndpointId ib = b->id();
  EXPECT_TRUE(events().empty());
  constexpr unsigned messages = 100;
  std::vector<std::uint64_t> ids;
  for (unsigned i = 0; i < messages; ++i) {
    auto r = to_team(60s);
    ASSERT_EQ(r.status, Status::sent);
    ids.push_back(r.id);
    ASSERT_TRUE(b->try_receive());
  }
  std::map<std::pair<std::uint64_t, EndpointId>, std::vector<Status>> seen;
  for (const Event& e : events()) {
    EXPECT_EQ(e.group, team);
    seen[{e.id, e.recipient}].push_back(e.status);
  }
  EXPECT_GT(alice->status_catch_ups(), 0u) << "the ring dropped events";
  ASSERT_EQ(seen.size(), 2u * messages);
  for (std::uint64_t id : ids) {
    for (EndpointId who : {ib, no_endpoint})
      EXPECT_EQ((seen[{id, who}]), (std::vector<Status>{Status::sent, Status::delivered})) << id << " " << who;
  }
}

TEST_P(GroupTest, ResendToTheGroupIsADuplicateAndIsNotFannedOutAgain) {
  start();
  join({"a", "b"});
  auto a = bus->attach("a"), b = bus->attach("b");
  ASSERT_TRUE(a && b);
  auto first = to_team(60s, 50, "first");
  ASSERT_EQ(first.status, Status::sent);
  auto again = to_team(60s, 50, "again");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.status, Status::sent);
  EXPECT_EQ(again.recipients, 2u);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(drain(*a), (std::vector<std::string>{"first"}));
  EXPECT_EQ(drain(*b), (std::vector<std::string>{"first"}));
  auto after = to_team(60s, 50, "after delivery");
  EXPECT_TRUE(after.duplicate);
  EXPECT_EQ(after.status, Status::delivered);
  EXPECT_TRUE(drain(*a).empty());
  EXPECT_TRUE(drain(*b).empty());
}

// Ids in sequence across groups: a 1-member group's run longer than the
// send path's warming batch (8 ids), then a group with other members, then
// the two in turn. Each send must leave every member's own tracker entry,
// found by the member's receive and by status(): a tracker placement made
// for another member's key (or for the group's total) would hide it.
TEST_P(GroupTest, SendsToTwoGroupsInTurnKeepEveryMembersStatus) {
  start();
  join({"a"});
  ASSERT_TRUE(bus->add_group("duo"));
  ASSERT_TRUE(bus->add_member("duo", "b"));
  ASSERT_TRUE(bus->add_member("duo", "c"));
  auto a = bus->attach("a"), b = bus->attach("b"), c = bus->attach("c");
  ASSERT_TRUE(a && b && c);
  const EndpointId ia = a->id(), ib = b->id(), ic = c->id();
  const std::string order = std::string(20, 't') + std::string(20, 'd') + "tdtdttdd" + std::string(12, 't');
  std::vector<std::pair<std::uint64_t, bool>> sent;  // id (the bus's, in sequence), to duo
  for (char c : order) {
    const SendResult r =
        c == 't' ? to_team(60s) : alice->send({.to = group("duo"), .priority = 4, .expiry = 60s}, "hello duo");
    ASSERT_EQ(r.status, Status::sent) << sent.size();
    sent.emplace_back(r.id, c == 'd');
  }
  const auto to_duo = static_cast<std::size_t>(std::count(order.begin(), order.end(), 'd'));
  EXPECT_EQ(drain(*a).size(), order.size() - to_duo);
  EXPECT_EQ(drain(*b).size(), to_duo);
  EXPECT_EQ(drain(*c).size(), to_duo);
  for (const auto& [id, duo] : sent) {
    const std::map<EndpointId, Status> every =
        duo ? std::map<EndpointId, Status>{{ib, Status::delivered}, {ic, Status::delivered}}
            : std::map<EndpointId, Status>{{ia, Status::delivered}};
    EXPECT_EQ(member_statuses(id), every) << "id " << id;
    EXPECT_EQ(report(id).status, Status::delivered) << "id " << id;
  }
}

TEST_P(GroupTest, MemberThatFailsIsCountedAndTheOthersStillCompleteTheTotal) {
  start();
  join({"a", "b"});  // b has no receiver: a real-time message is offline for it
  auto a = bus->attach("a");
  ASSERT_TRUE(a);
  auto r = to_team(0s, 60);
  EXPECT_EQ(r.status, Status::sent);
  EXPECT_EQ(r.recipients, 2u);
  EXPECT_EQ(r.accepted, 1u);
  StatusReport s = report(60);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(member_statuses(60),
            (std::map<EndpointId, Status>{{a->id(), Status::sent}, {id_of("b"), Status::offline}}));
  ASSERT_TRUE(a->try_receive());
  s = report(60);
  EXPECT_EQ(s.status, Status::delivered) << "every member that did not fail has it";
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.failed, 1u);
}

// The total must not depend on which member finishes first: a's delivery and
// b's failure (b removed with its copy waiting), in either order.
void total_settles(GroupTest& t, bool delivery_first);

TEST_P(GroupTest, TotalSettlesWhenAFailureFollowsADelivery) { total_settles(*this, true); }
TEST_P(GroupTest, TotalSettlesWhenADeliveryFollowsAFailure) { total_settles(*this, false); }

TEST_P(GroupTest, TotalOfAGroupMessageEveryMemberFailedEndsInError) {
  start();
  join({"a", "b"});
  auto r = to_team(60s);
  ASSERT_EQ(r.accepted, 2u);
  ASSERT_TRUE(bus->remove_endpoint("a"));
  ASSERT_TRUE(bus->remove_endpoint("b"));
  StatusReport s = report(r.id);
  EXPECT_EQ(s.status, Status::invalid_destination) << "no member can get it any more";
  EXPECT_EQ(s.failed, 2u);
  auto ev = events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev.back(), (Event{r.id, no_endpoint, team, Status::invalid_destination}));
}

// ------------------------------------------------------------ concurrency

TEST_P(GroupTest, MembersOnTheirOwnThreadsCompleteEachTotalExactlyOnce) {
  Options o = test::small_options();
  o.status_capacity = 1u << 20;  // room for every event of the run
  start(o);
  constexpr int members = 4;
  constexpr std::uint64_t messages = 300;
  for (int i = 0; i < members; ++i) join({"m" + std::to_string(i)});
  std::vector<Receiver> rx;
  for (int i = 0; i < members; ++i) {
    auto r = bus->attach("m" + std::to_string(i));
    ASSERT_TRUE(r);
    rx.push_back(std::move(*r));
  }
  std::vector<std::vector<std::uint64_t>> got(members);
  std::vector<std::thread> ts;
  for (int i = 0; i < members; ++i)
    ts.emplace_back([&, i] {
      while (got[static_cast<std::size_t>(i)].size() < messages) {
        auto m = rx[static_cast<std::size_t>(i)].receive(10s);
        if (!m) return;
        got[static_cast<std::size_t>(i)].push_back(m->id());
        rx[static_cast<std::size_t>(i)].mark_read(*m);
      }
    });
  for (std::uint64_t id = 1; id <= messages; ++id) {
    auto r = alice->send({.to = group("team"), .expiry = 60s, .id = id, .timeout = 10s}, "x");
    ASSERT_EQ(r.accepted, static_cast<std::uint32_t>(members)) << status_name(r.status);
  }
  for (auto& t : ts) t.join();
  for (int i = 0; i < members; ++i) {
    ASSERT_EQ(got[static_cast<std::size_t>(i)].size(), messages) << "member " << i;
    EXPECT_EQ(std::set<std::uint64_t>(got[static_cast<std::size_t>(i)].begin(), got[static_cast<std::size_t>(i)].end())
                  .size(),
              messages)
        << "member " << i << ": one copy of each";
  }
  std::map<std::uint64_t, int> total_delivered, total_read, member_events;
  for (const Event& e : events()) {
    if (e.recipient == no_endpoint) {
      (e.status == Status::delivered ? total_delivered : total_read)[e.id]++;
    } else {
      member_events[e.id]++;
    }
  }
  for (std::uint64_t id = 1; id <= messages; ++id) {
    StatusReport s = report(id);
    EXPECT_EQ(s.status, Status::read) << id;
    EXPECT_EQ(s.delivered, static_cast<std::uint32_t>(members)) << id;
    EXPECT_EQ(s.read, static_cast<std::uint32_t>(members)) << id;
    EXPECT_EQ(total_delivered[id], 1) << id;
    EXPECT_EQ(total_read[id], 1) << id;
    EXPECT_EQ(member_events[id], 2 * members) << id;
  }
  EXPECT_EQ(bus->stat().endpoints.at(0).status_dropped, 0u);
}

// A member that fails at send time (offline) while another member, on its own
// thread, takes its copy at once: the total completes either way.
TEST_P(GroupTest, FailureAtSendTimeRacingAFastMemberStillCompletesTheTotal) {
  start();
  join({"a", "b"});  // a first: its copy is on its lane before b is found offline
  auto a = bus->attach("a", {.idle = {.spin_ns = 0, .park = false}});
  ASSERT_TRUE(a);
  constexpr std::uint64_t rounds = 500;
  std::atomic<std::uint64_t> taken{0};
  std::atomic<bool> stop{false};
  std::thread member([&] {
    while (!stop.load()) {
      if (a->try_receive()) taken.fetch_add(1);
    }
  });
  std::uint64_t incomplete = 0;
  for (std::uint64_t id = 1; id <= rounds; ++id) {
    auto r = to_team(0s, id);
    ASSERT_EQ(r.accepted, 1u);
    while (taken.load() < id) std::this_thread::yield();  // the member has reported its delivery
    if (report(id).status != Status::delivered) ++incomplete;
  }
  stop.store(true);
  member.join();
  EXPECT_EQ(incomplete, 0u) << "group totals left 'sent' although every member settled";
}

void total_settles(GroupTest& t, bool delivery_first) {
  t.start();
  t.join({"a", "b"});
  auto a = t.bus->attach("a");
  ASSERT_TRUE(a);
  auto r = t.to_team(60s);
  ASSERT_EQ(r.accepted, 2u);
  if (delivery_first) {
    ASSERT_TRUE(a->try_receive());
  }
  ASSERT_TRUE(t.bus->remove_endpoint("b"));  // b's copy is reported invalid_destination
  if (!delivery_first) {
    ASSERT_TRUE(a->try_receive());
  }
  StatusReport s = t.report(r.id);
  EXPECT_EQ(s.status, Status::delivered) << "every member that did not fail has it";
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.failed, 1u);
  auto ev = t.events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), (Event{r.id, no_endpoint, t.team, Status::delivered}));
}

INSTANTIATE_TEST_SUITE_P(Modes, GroupTest, ::testing::ValuesIn(test::all_bus_modes), test::bus_mode_name);

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
