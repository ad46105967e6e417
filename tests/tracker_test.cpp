// The tracker on its own, over a private buffer: insert / find / duplicate,
// a full table, retirement at the deadline, failed sends replaced by their
// resend, statuses that only move forward; and threads racing to insert.
// Cross-process races are in multiprocess_test.cpp.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "support.hpp"
#include "tracker_table.hpp"

namespace courier {
namespace {

Status status_at(Tracker& t, std::uint64_t slot) { return static_cast<Status>(t.entry(slot).status.load()); }


// Fill the table until every slot is used; returns the keys it holds.
std::vector<TrackerKey> fill(Tracker& t, std::uint64_t deadline = far_future, std::uint64_t now = 1000) {
  std::vector<TrackerKey> held;
  for (std::uint64_t id = 1; t.usage().used < t.capacity() && id < 100'000; ++id) {
    auto r = put(t, key(id), deadline, now);
    if (r.result == Tracker::Insert::inserted) held.push_back(key(id));
  }
  return held;
}

TEST(Tracker, InsertedKeyIsFoundAndASecondInsertIsADuplicateOfIt) {
  TrackerTable t(64);
  EXPECT_EQ(t->find(key(1)), Tracker::no_slot);
  auto first = put(*t, key(1));
  ASSERT_EQ(first.result, Tracker::Insert::inserted);
  EXPECT_EQ(t->find(key(1)), first.slot);
  EXPECT_EQ(t->entry(first.slot).id, 1u);
  EXPECT_EQ(t->entry(first.slot).dest, 99u) << "the init callback filled the entry";
  auto again = put(*t, key(1));
  EXPECT_EQ(again.result, Tracker::Insert::duplicate);
  EXPECT_EQ(again.slot, first.slot) << "a duplicate names the original";
  EXPECT_EQ(t->usage().used, 1u) << "the duplicate's own claim was given back";
}

TEST(Tracker, SenderIdAndRecipientEachTellKeysApart) {
  TrackerTable t(64);
  const TrackerKey keys[] = {key(5), key(6), key(5, 0x20002), key(5, 0x10001, 0x30003), key(5, 0x10001, 0x40004)};
  std::set<std::uint64_t> slots;
  for (const TrackerKey& k : keys) {
    auto r = put(*t, k);
    ASSERT_EQ(r.result, Tracker::Insert::inserted);
    slots.insert(r.slot);
  }
  EXPECT_EQ(slots.size(), std::size(keys));
  for (const TrackerKey& k : keys) EXPECT_EQ(put(*t, k).result, Tracker::Insert::duplicate);
}

TEST(Tracker, FullTableRefusesNewKeysButStillRecognisesTheKeysItHolds) {
  TrackerTable t(64);
  const std::vector<TrackerKey> held = fill(*t);
  ASSERT_EQ(t->usage().used, 64u);
  ASSERT_EQ(held.size(), 64u);
  const std::uint64_t full_before = t->usage().full_events;
  for (std::uint64_t id = 1'000'000; id < 1'000'100; ++id) {
    ASSERT_EQ(put(*t, key(id)).result, Tracker::Insert::full);
    EXPECT_EQ(t->find(key(id)), Tracker::no_slot) << "a refused insert leaves nothing behind";
  }
  EXPECT_EQ(t->usage().full_events, full_before + 100) << "every refusal is counted";
  for (const TrackerKey& k : held) {
    auto r = put(*t, k);
    EXPECT_EQ(r.result, Tracker::Insert::duplicate) << "key " << k.id << ": a full table must not lose dedup";
    EXPECT_EQ(r.slot, t->find(k));
  }
  EXPECT_EQ(t->usage().used, 64u);
}

// A sender's consecutive ids (bus-assigned ones, or explicit ones in
// sequence) take buckets side by side, and the entries of a bucket's slot k
// lie bucket after bucket: 256 of them touch a few pages of the tag array and
// of the entries, not a page or two each, which is what keeps a tracked send
// off the TLB's misses in a table of many MiBs (docs/design.md, "A sender's
// consecutive ids share their tracker pages"). Each is still found by its key.
TEST(Tracker, ConsecutiveIdsOfOneSenderShareTheirTagAndEntryPages) {
  constexpr std::uint64_t capacity = 1 << 16, n = 256;  // 512 KiB of tags (128 pages), 4 MiB of entries
  TrackerTable t(capacity);
  std::set<std::uint64_t> tag_pages, entry_pages;
  for (std::uint64_t id = 5000; id < 5000 + n; ++id) {
    auto r = put(*t, key(id));
    ASSERT_EQ(r.result, Tracker::Insert::inserted);
    tag_pages.insert(r.slot * sizeof(std::uint64_t) / 4096);
    entry_pages.insert(reinterpret_cast<std::uintptr_t>(&t->entry(r.slot)) / 4096);
  }
  // 256 ids span 5 runs of 64, each with two places of 64 buckets: 4 KiB of
  // tags per place, and in an empty table each key takes its bucket's first
  // slot, 4 KiB of entries per place (on at most 2 pages each): at most 20
  // pages of either. Placed at random they touch ~110 pages of tags; with a
  // bucket's entries side by side, 8 pages of entries per place.
  EXPECT_LE(tag_pages.size(), 20u);
  EXPECT_LE(entry_pages.size(), 20u);
  for (std::uint64_t id = 5000; id < 5000 + n; ++id) EXPECT_NE(t->find(key(id)), Tracker::no_slot) << id;
}

// Runs of consecutive ids placed side by side still spread over the whole
// table: filled by five senders' consecutive ids, it refuses its first key
// about as late as when filled by ids scattered at random (each its own run:
// placed at random). Here they refuse first at 81 % and 73 % of the entries.
TEST(Tracker, ConsecutiveIdsFillTheTableAsFarAsScatteredIdsDo) {
  constexpr std::uint64_t capacity = 1 << 14;
  const auto first_refusal = [&](auto id_of) {
    TrackerTable t(capacity);
    for (std::uint64_t i = 0;; ++i) {
      const auto r = put(*t, key(id_of(i / 5), 0x10001 + static_cast<EndpointId>(i % 5)));
      if (r.result != Tracker::Insert::inserted) {
        EXPECT_EQ(r.result, Tracker::Insert::full);
        return i;
      }
    }
  };
  const std::uint64_t consecutive = first_refusal([](std::uint64_t n) { return 1 + n; });
  const std::uint64_t scattered = first_refusal([](std::uint64_t n) {
    std::uint64_t x = (n + 1) * 0x9e3779b97f4a7c15ull;  // distinct for distinct n, far apart
    x ^= x >> 29;
    return x | 1;
  });
  EXPECT_GE(consecutive * 100, scattered * 97) << consecutive << " consecutive against " << scattered << " scattered";
  EXPECT_GE(scattered, capacity * 2 / 3) << "the reference itself";
}

TEST(Tracker, EntryRetiresAtItsDeadlineAndNotBefore) {
  TrackerTable t(64);
  auto r = put(*t, key(1), /*deadline=*/5000);
  ASSERT_EQ(r.result, Tracker::Insert::inserted);
  ASSERT_EQ(put(*t, key(2), /*deadline=*/far_future).result, Tracker::Insert::inserted);
  EXPECT_EQ(t->sweep(4999), 0u);
  EXPECT_EQ(t->find(key(1)), r.slot);
  EXPECT_EQ(put(*t, key(1), 5000, 4999).result, Tracker::Insert::duplicate) << "still deduplicated before its deadline";
  EXPECT_EQ(t->sweep(5000), 1u);
  EXPECT_EQ(t->find(key(1)), Tracker::no_slot);
  EXPECT_NE(t->find(key(2)), Tracker::no_slot) << "an entry whose deadline has not come stays";
  EXPECT_EQ(t->usage().used, 1u);
  EXPECT_EQ(t->usage().retired, 1u);
  EXPECT_EQ(put(*t, key(1), 9000, 5000).result, Tracker::Insert::inserted) << "after retirement the id is new again";
}

TEST(Tracker, InsertIntoFullBucketsRetiresWhatIsPastItsDeadline) {
  TrackerTable t(64);
  ASSERT_EQ(fill(*t, /*deadline=*/5000).size(), 64u);
  EXPECT_EQ(put(*t, key(1'000'000), far_future, /*now=*/4999).result, Tracker::Insert::full)
      << "nothing is past its deadline yet";
  auto r = put(*t, key(1'000'000), far_future, /*now=*/5000);
  EXPECT_EQ(r.result, Tracker::Insert::inserted);
  EXPECT_GT(t->usage().retired, 0u);
  EXPECT_LE(t->usage().retired, 2u * tracker_bucket_slots) << "only the key's own two buckets are retired";
}

TEST(Tracker, SendThatNeverReachedALaneIsReplacedByItsResend) {
  for (Status failed : {Status::full, Status::offline, Status::revoked, Status::log_failed}) {
    TrackerTable t(64);
    auto first = put(*t, key(1));
    ASSERT_EQ(first.result, Tracker::Insert::inserted);
    ASSERT_TRUE(t->advance(first.slot, failed, 2000));
    auto resend = put(*t, key(1));
    EXPECT_EQ(resend.result, Tracker::Insert::inserted) << status_name(failed) << " is replaced by the resend";
    EXPECT_EQ(t->find(key(1)), resend.slot) << status_name(failed);
    EXPECT_EQ(status_at(*t, resend.slot), Status::outbox);
    EXPECT_EQ(t->usage().used, 1u) << status_name(failed) << ": the failed entry was freed";
  }
  for (Status kept : {Status::sent, Status::delivered, Status::read, Status::expired, Status::invalid_destination}) {
    TrackerTable t(64);
    auto first = put(*t, key(1));
    ASSERT_EQ(first.result, Tracker::Insert::inserted);
    if (kept == Status::read) {
      ASSERT_TRUE(t->advance(first.slot, Status::delivered, 2000));
    }
    ASSERT_TRUE(t->advance(first.slot, kept, 2000));
    auto resend = put(*t, key(1));
    EXPECT_EQ(resend.result, Tracker::Insert::duplicate) << status_name(kept) << " is an original";
    EXPECT_EQ(resend.slot, first.slot);
  }
}

TEST(Tracker, FailedSendIsReplacedEvenWhenTheTableIsFull) {
  TrackerTable t(64);
  const std::vector<TrackerKey> held = fill(*t);
  ASSERT_EQ(held.size(), 64u);
  const TrackerKey k = held[17];
  const std::uint64_t old_slot = t->find(k);
  ASSERT_TRUE(t->advance(old_slot, Status::full, 2000));
  auto resend = put(*t, k);
  EXPECT_EQ(resend.result, Tracker::Insert::inserted) << "the failed entry's slot is the resend's room";
  ASSERT_NE(t->find(k), Tracker::no_slot);
  EXPECT_EQ(status_at(*t, t->find(k)), Status::outbox);
  EXPECT_EQ(t->usage().used, 64u);
}

// Run f in a forked child (it inserts into the shared table, then exits).
void in_another_process(const std::function<void()>& f) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    f();
    ::_exit(0);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(Tracker, EntryLeftInOutboxByASenderThatDiedIsReplacedByTheResend) {
  TrackerTable t(64);
  // Process 1 inserts key 1 and dies before sending (outbox); process 2
  // inserts key 2 and gets it onto a lane (sent) before it exits.
  in_another_process([&] { put(*t, key(1)); });
  in_another_process([&] { t->advance(put(*t, key(2)).slot, Status::sent, 2000); });
  ASSERT_EQ(t->usage().used, 2u);
  const std::uint64_t orphan = t->find(key(1));
  ASSERT_NE(orphan, Tracker::no_slot);
  ASSERT_EQ(status_at(*t, orphan), Status::outbox);
  EXPECT_EQ(put(*t, key(1)).result, Tracker::Insert::inserted) << "the message never left: the resend must go";
  EXPECT_EQ(put(*t, key(2)).result, Tracker::Insert::duplicate) << "it was sent before its sender exited";
  EXPECT_EQ(t->usage().used, 2u);
  // A live sender's outbox entry is its send in progress: a duplicate.
  auto mine = put(*t, key(3));
  ASSERT_EQ(mine.result, Tracker::Insert::inserted);
  EXPECT_EQ(put(*t, key(3)).result, Tracker::Insert::duplicate);
}

// A sender that died after marking its entry committed (its message reached
// a lane or the journal) leaves an original: the resend is its duplicate.
TEST(Tracker, CommittedEntryOfASenderThatDiedIsNotReplaced) {
  TrackerTable t(64);
  in_another_process([&] {
    const auto r = put(*t, key(1));
    t->entry(r.slot).flags.fetch_or(tracker_flag::committed);
  });
  EXPECT_FALSE(t->inserter_alive(t->find(key(1))));
  EXPECT_EQ(put(*t, key(1)).result, Tracker::Insert::duplicate);
  auto mine = put(*t, key(2));
  EXPECT_TRUE(t->inserter_alive(mine.slot));
}

// A slot reused after its entry retired starts from init_entry's values:
// none of the previous entry's flags, counts or status survive.
TEST(Tracker, ReusedSlotKeepsNothingOfItsPreviousEntry) {
  TrackerTable t(tracker_bucket_slots);  // one bucket: the new key lands in a slot just freed
  const auto insert = [&](std::uint64_t id, std::uint64_t deadline) {
    return t->insert(key(id), 1000, [&](TrackerEntry& e) {
      init_entry(e, EntryInit{tracker_role::endpoint, 7, Status::outbox, 0, 1, deadline, deadline, 1000});
    });
  };
  std::vector<std::uint64_t> slots;
  for (std::uint64_t id = 1; id <= tracker_bucket_slots; ++id) {
    auto r = insert(id, 2000);
    ASSERT_EQ(r.result, Tracker::Insert::inserted);
    TrackerEntry& e = t->entry(r.slot);
    e.flags.fetch_or(tracker_flag::committed | tracker_flag::in_lane | tracker_flag::spilled | tracker_flag::counted |
                     tracker_flag::priority_mask);
    e.delivered.store(3);
    e.read.store(2);
    e.failed.store(1);
    ASSERT_TRUE(t->advance(r.slot, Status::delivered, 1500));
    slots.push_back(r.slot);
  }
  EXPECT_EQ(t->sweep(3000), tracker_bucket_slots);
  for (std::uint64_t id = 100; id < 100 + tracker_bucket_slots; ++id) {
    auto r = insert(id, far_future);
    ASSERT_EQ(r.result, Tracker::Insert::inserted);
    const TrackerEntry& e = t->entry(r.slot);
    EXPECT_EQ(e.flags.load(), 0u) << "slot " << r.slot;
    EXPECT_EQ(e.delivered.load(), 0u);
    EXPECT_EQ(e.read.load(), 0u);
    EXPECT_EQ(e.failed.load(), 0u);
    EXPECT_EQ(status_at(*t, r.slot), Status::outbox);
    EXPECT_EQ(e.dest.load(), 7u);
  }
}

TEST(Tracker, StatusOnlyMovesForwardAndAnErrorNeverFollowsDelivery) {
  TrackerTable t(64);
  const std::uint64_t s = put(*t, key(1)).slot;
  EXPECT_TRUE(t->advance(s, Status::sent, 1));
  EXPECT_FALSE(t->advance(s, Status::outbox, 2));
  EXPECT_TRUE(t->advance(s, Status::delivered, 3));
  EXPECT_FALSE(t->advance(s, Status::sent, 4));
  EXPECT_FALSE(t->advance(s, Status::expired, 5)) << "delivered: an expiry found later (a redelivery) changes nothing";
  EXPECT_FALSE(t->advance(s, Status::invalid_destination, 5));
  EXPECT_TRUE(t->advance(s, Status::read, 6));
  EXPECT_FALSE(t->advance(s, Status::delivered, 7));
  EXPECT_FALSE(t->advance(s, Status::offline, 8));
  EXPECT_EQ(status_at(*t, s), Status::read);
  EXPECT_EQ(t->entry(s).updated_ns.load(), 6u);

  const std::uint64_t e = put(*t, key(2)).slot;
  EXPECT_TRUE(t->advance(e, Status::sent, 1));
  EXPECT_TRUE(t->advance(e, Status::expired, 2)) << "an error before delivery ends it";
  EXPECT_FALSE(t->advance(e, Status::delivered, 3)) << "errors are final";
  EXPECT_FALSE(t->advance(e, Status::invalid_destination, 4));
  EXPECT_EQ(status_at(*t, e), Status::expired);
}

// ------------------------------------------------------------ new keys

// insert_new of `k` (a key whose id the bus has just assigned), with put()'s entry.
Tracker::InsertResult put_new(Tracker& t, const TrackerKey& k, std::uint64_t deadline = far_future,
                              std::uint64_t now = 1000, const std::function<void()>& meanwhile = {}) {
  return t.insert_new(k, Tracker::Placement{Tracker::hash(k), 0}, now, [&](TrackerEntry& e) {
    message_entry(e, deadline, 98);
    if (meanwhile) meanwhile();  // between the claim and the publication
  });
}

TEST(Tracker, ANewKeyIsFoundAndAResendOfItsIdIsItsDuplicate) {
  TrackerTable t(64);
  const auto r = put_new(*t, key(7));
  ASSERT_EQ(r.result, Tracker::Insert::inserted);
  EXPECT_EQ(t->find(key(7)), r.slot);
  EXPECT_EQ(t->entry(r.slot).id, 7u);
  EXPECT_EQ(t->entry(r.slot).sender, key(7).sender);
  EXPECT_EQ(t->entry(r.slot).dest, 98u) << "the init callback filled the entry";
  const auto again = put(*t, key(7));  // the application sends the id it was given again
  EXPECT_EQ(again.result, Tracker::Insert::duplicate);
  EXPECT_EQ(again.slot, r.slot);
  EXPECT_EQ(t->usage().used, 1u);
}

// A send's `sent` written before its lane commit (sent_before_commit): its
// receiver moves it on to delivered; a commit that fails (the claim revoked)
// ends it revoked; neither goes back to sent.
TEST(Tracker, ASentWrittenBeforeTheCommitMovesOnToDeliveredOrRevokedAndNeverBack) {
  TrackerTable t(64);
  const auto taken = put_new(*t, key(7));
  const auto stepped_over = put_new(*t, key(8));
  ASSERT_EQ(taken.result, Tracker::Insert::inserted);
  ASSERT_EQ(stepped_over.result, Tracker::Insert::inserted);
  for (const auto& r : {taken, stepped_over}) {
    sent_before_commit(t->entry(r.slot), 1500);
    EXPECT_EQ(static_cast<Status>(t->entry(r.slot).status.load()), Status::sent);
    EXPECT_EQ(t->entry(r.slot).updated_ns.load(), 1500u);
    EXPECT_FALSE(t->advance(r.slot, Status::sent, 1600)) << "already sent";
  }
  EXPECT_TRUE(t->advance(taken.slot, Status::delivered, 1700));
  EXPECT_TRUE(t->advance(stepped_over.slot, Status::revoked, 1700));
  EXPECT_EQ(static_cast<Status>(t->entry(taken.slot).status.load()), Status::delivered);
  EXPECT_EQ(static_cast<Status>(t->entry(stepped_over.slot).status.load()), Status::revoked);
  EXPECT_FALSE(t->advance(taken.slot, Status::sent, 1800));
  EXPECT_FALSE(t->advance(stepped_over.slot, Status::delivered, 1800)) << "revoked is final";
  EXPECT_EQ(put(*t, key(8)).result, Tracker::Insert::inserted) << "revoked frees its id for a resend";
}

TEST(Tracker, NewKeysFillTheTableRetireAtTheirDeadlineAndAreRefusedWhenItIsFull) {
  TrackerTable t(64);
  std::vector<TrackerKey> held;  // a key whose two buckets are full is refused: placement as insert()'s
  std::uint64_t id = 1;
  for (; t->usage().used < t->capacity() && id < 100'000; ++id)
    if (put_new(*t, key(id), 2000).result == Tracker::Insert::inserted) held.push_back(key(id));
  ASSERT_EQ(held.size(), t->capacity());
  for (const TrackerKey& k : held) EXPECT_NE(t->find(k), Tracker::no_slot) << k.id;
  const std::uint64_t refused = t->usage().full_events;
  EXPECT_EQ(put_new(*t, key(id), far_future, 1500).result, Tracker::Insert::full) << "nothing is past its deadline";
  EXPECT_EQ(t->usage().full_events, refused + 1);
  const auto later = put_new(*t, key(id), far_future, 2500);
  ASSERT_EQ(later.result, Tracker::Insert::inserted) << "the entries past their deadline made room";
  EXPECT_EQ(t->find(key(id)), later.slot);
}

// Another key with the same 40 hash bits, inserted while the new key's slot
// is claiming, kills that claim (it cannot compare keys yet). The new key's
// entry is published all the same, and both keys stand, each found at its
// own slot. The two ids share their hash bits (checked), found by search.
TEST(Tracker, ANewKeyWhoseClaimAnotherKeyOfTheSameHashKillsStillGetsIn) {
  const TrackerKey a = key(31881887749), b = key(113224450053);
  ASSERT_EQ(Tracker::hash(a) >> 24, Tracker::hash(b) >> 24) << "the pair no longer shares its hash bits";
  TrackerTable t(8);  // one bucket: both keys' buckets
  const auto filler = put(*t, key(1));
  ASSERT_EQ(filler.result, Tracker::Insert::inserted);
  Tracker::InsertResult other{};
  const auto mine = put_new(*t, a, far_future, 1000, [&] {
    // `a` is claiming at a slot above the filler's: free the filler's, so that
    // `b` claims below `a` and kills it instead of waiting for it.
    t->release(filler.slot);
    other = put(*t, b);
  });
  ASSERT_EQ(other.result, Tracker::Insert::inserted);
  ASSERT_EQ(mine.result, Tracker::Insert::inserted);
  EXPECT_LT(other.slot, mine.slot) << "b claimed below a (the kill happened)";
  EXPECT_EQ(t->find(a), mine.slot);
  EXPECT_EQ(t->find(b), other.slot);
  EXPECT_EQ(t->entry(mine.slot).id, a.id);
  EXPECT_EQ(t->entry(other.slot).id, b.id);
  EXPECT_EQ(t->usage().used, 2u);
}

// ------------------------------------------------------------ concurrency

// Releases its threads together: the last to arrive flips the generation that
// the others spin on (a blocking barrier wakes them too far apart to race).
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void arrive_and_wait() {
    const int gen = gen_.load();
    if (count_.fetch_add(1) + 1 == n_) {
      count_.store(0);
      gen_.fetch_add(1);
      return;
    }
    for (unsigned spins = 0; gen_.load() == gen; ++spins) {
      if (spins % 64 == 63)
        std::this_thread::yield();  // more threads than cores: let the last one arrive
      else
        cpu_relax();
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0}, gen_{0};
};

TEST(TrackerConcurrency, ThreadsRacingToInsertTheSameKeyInsertItExactlyOnce) {
  constexpr int threads = 4;
  constexpr int rounds = 3000;
  TrackerTable t(256);
  struct Outcome {
    Tracker::Insert result;
    std::uint64_t slot;
  };
  std::vector<Outcome> out(static_cast<std::size_t>(rounds * threads));
  SpinBarrier start(threads);
  std::barrier done(threads);
  std::vector<std::thread> ts;
  for (int me = 0; me < threads; ++me) {
    ts.emplace_back([&, me] {
      for (int round = 0; round < rounds; ++round) {
        start.arrive_and_wait();
        // A slow entry write between claim and scan widens the window in
        // which the racing inserters see each other claiming.
        const auto r = t->insert(key(static_cast<std::uint64_t>(round) + 1), 1000, [](TrackerEntry& e) {
          for (int i = 0; i < 20; ++i) cpu_relax();
          e.status.store(static_cast<std::uint8_t>(Status::outbox), std::memory_order_relaxed);
          e.deadline_ns = far_future;
        });
        out[static_cast<std::size_t>(round * threads + me)] = {r.result, r.slot};
        done.arrive_and_wait();
        // The winner frees its slot for the next round (slots get reused).
        if (r.result == Tracker::Insert::inserted) t->release(r.slot);
      }
    });
  }
  for (auto& th : ts) th.join();
  int bad_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    int inserted = 0, duplicate = 0;
    std::uint64_t winner = Tracker::no_slot;
    for (int me = 0; me < threads; ++me) {
      const Outcome& o = out[static_cast<std::size_t>(round * threads + me)];
      if (o.result == Tracker::Insert::inserted) {
        ++inserted;
        winner = o.slot;
      }
      duplicate += o.result == Tracker::Insert::duplicate;
    }
    bool ok = inserted == 1 && duplicate == threads - 1;
    for (int me = 0; me < threads && ok; ++me) ok = out[static_cast<std::size_t>(round * threads + me)].slot == winner;
    if (!ok && ++bad_rounds <= 5)
      ADD_FAILURE() << "round " << round << ": " << inserted << " inserted, " << duplicate << " duplicates";
  }
  EXPECT_EQ(bad_rounds, 0);
  EXPECT_EQ(t->usage().used, 0u) << "every losing claim was given back";
  EXPECT_EQ(t->usage().full_events, 0u);
}

TEST(TrackerConcurrency, ThreadsInsertingDistinctKeysAllGetInAndFindEachOther) {
  constexpr int threads = 4;
  constexpr std::uint64_t each = 2000;
  TrackerTable t(1u << 15);
  std::atomic<int> failures{0};
  std::barrier start(threads);
  std::vector<std::thread> ts;
  for (int me = 0; me < threads; ++me) {
    ts.emplace_back([&, me] {
      const EndpointId sender = static_cast<EndpointId>(0x10000 * (me + 1) + 1);
      const EndpointId other = static_cast<EndpointId>(0x10000 * ((me + 1) % threads + 1) + 1);
      start.arrive_and_wait();
      for (std::uint64_t id = 1; id <= each; ++id) {
        // Odd threads insert as a send with a bus-assigned id does (insert_new), even ones with the full protocol.
        const auto r = me % 2 == 1 ? put_new(*t, key(id, sender)) : put(*t, key(id, sender));
        if (r.result != Tracker::Insert::inserted || t->find(key(id, sender)) != r.slot) failures.fetch_add(1);
        // Look up the neighbour's keys while it inserts them: found or not, never a wrong entry.
        const std::uint64_t s = t->find(key(id, other));
        if (s != Tracker::no_slot && (t->entry(s).sender != other || t->entry(s).id != id)) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(t->usage().used, threads * each);
  for (int me = 0; me < threads; ++me)
    for (std::uint64_t id = 1; id <= each; ++id) {
      const EndpointId sender = static_cast<EndpointId>(0x10000 * (me + 1) + 1);
      const std::uint64_t s = t->find(key(id, sender));
      ASSERT_NE(s, Tracker::no_slot);
      EXPECT_EQ(t->entry(s).id, id);
      EXPECT_EQ(t->entry(s).sender, sender);
    }
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
