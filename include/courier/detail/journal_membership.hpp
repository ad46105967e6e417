// courier/detail/journal_membership.hpp — the groups a bus's journals say it
// has (membership records, kind 6, docs/log-format.md): replayed by recovery
// into a Directory, and restated by compaction before it deletes a file that
// holds some (docs/design.md, "Groups in the log"). Compiled in
// src/journal_membership.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "courier/detail/directory.hpp"
#include "courier/detail/journal_file.hpp"
#include "courier/result.hpp"

namespace courier::detail {

// Membership records in any order of files: the last change of each group
// and of each (group, member) wins, by at_ns, then by the order they were
// added (a tie within one clock tick: the later read).
class MembershipReplay {
 public:
  void add(const JournalMembership& m);
  bool empty() const noexcept { return groups_.empty(); }

  // What the records say now.
  struct Group {
    std::string name;
    std::vector<std::string> members;  // in name order
  };
  std::vector<Group> present() const;                             // groups that exist, with their members
  std::vector<std::string> removed() const;                       // groups removed and not created (nor joined) since
  std::vector<std::pair<std::string, std::string>> left() const;  // (group, endpoint) whose last change was a leave

  // Make `dir` hold the groups and members that exist (registering missing
  // endpoints), and drop the members whose last change was a leave. Removed
  // groups are left to remove_groups() (recovery re-registers groups named by
  // old messages until its last pass). Counts what it added.
  Result<std::uint64_t> apply(Directory& dir) const;
  // Remove from `dir` the groups removed() lists.
  void remove_groups(Directory& dir) const;

 private:
  struct Stamp {
    std::uint64_t at_ns = 0, seq = 0;
    bool operator<(const Stamp& o) const noexcept { return at_ns != o.at_ns ? at_ns < o.at_ns : seq < o.seq; }
  };
  struct Change {
    Stamp when;
    std::uint8_t change = 0;
  };
  struct State {
    Stamp created, removed;  // its last creation, its last removal (members changed before it are gone)
    bool ever_created = false, ever_removed = false;
    std::map<std::string, Change> members;  // endpoint -> its last join or leave
  };
  // Whether the group exists: never removed, or created (or joined: a join
  // needs the group) after its last removal. A leave says nothing of it.
  static bool exists(const State& s) noexcept;
  static bool joined_after(const State& s, const Change& c) noexcept;
  std::map<std::string, State> groups_;
  std::uint64_t seq_ = 0;
};

// The (group, endpoint) pairs a file's membership records mention (endpoint
// empty: the group itself): compaction restates each as it is in `dir` now.
// A lookup that fails for another reason than not_found (the directory's lock
// held past the open timeout, a damaged lock) is no answer: the error, so
// that the file is kept, never a "removed" or "left" the bus did not make.
using MembershipKeys = std::set<std::pair<std::string, std::string>>;
Result<std::vector<JournalMembership>> restate(const Directory& dir, const MembershipKeys& keys, std::uint64_t at_ns);

}  // namespace courier::detail
