// The groups a bus's journals say it has (courier/detail/journal_membership.hpp).
#include "courier/detail/journal_membership.hpp"

#include <algorithm>

namespace courier::detail {

namespace mc = logfmt::membership_change;

void MembershipReplay::add(const JournalMembership& m) {
  const Change c{Stamp{m.at_ns, ++seq_}, m.change};
  State& s = groups_[m.group];
  if (m.change == mc::group_created && (!s.ever_created || s.created < c.when)) {
    s.created = c.when;
    s.ever_created = true;
  }
  if (m.change == mc::group_removed && (!s.ever_removed || s.removed < c.when)) {
    s.removed = c.when;
    s.ever_removed = true;
  }
  if (mc::names_member(m.change)) {
    Change& e = s.members[m.endpoint];
    if (e.change == 0 || e.when < c.when) e = c;
  }
}

bool MembershipReplay::joined_after(const State& s, const Change& c) noexcept {
  return c.change == mc::joined && (!s.ever_removed || s.removed < c.when);
}

bool MembershipReplay::exists(const State& s) noexcept {
  if (!s.ever_removed || (s.ever_created && s.removed < s.created)) return true;
  return std::any_of(s.members.begin(), s.members.end(), [&](const auto& m) { return joined_after(s, m.second); });
}

std::vector<MembershipReplay::Group> MembershipReplay::present() const {
  std::vector<Group> out;
  for (const auto& [name, s] : groups_) {
    if (!exists(s)) continue;
    Group g{name, {}};
    for (const auto& [member, c] : s.members)
      if (joined_after(s, c)) g.members.push_back(member);
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<std::string> MembershipReplay::removed() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : groups_)
    if (!exists(s)) out.push_back(name);
  return out;
}

std::vector<std::pair<std::string, std::string>> MembershipReplay::left() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, s] : groups_)
    for (const auto& [member, c] : s.members)
      if (c.change == mc::left) out.emplace_back(name, member);
  return out;
}

Result<std::uint64_t> MembershipReplay::apply(Directory& dir) const {
  std::uint64_t added = 0;
  for (const Group& g : present()) {
    const std::string where = "restoring group '" + g.name + "'";
    auto id = dir.add_group(g.name, true);
    if (!id) return std::move(id).error().with_context(where);
    for (const std::string& m : g.members) {
      auto e = dir.add(m, true);
      if (!e) return std::move(e).error().with_context(where + ", member '" + m + "'");
      if (auto r = dir.add_member(*id, *e); !r)
        return std::move(r).error().with_context(where + ", member '" + m + "'");
      ++added;
    }
  }
  // A member the log says left is not one (a live bus rebuilt by
  // Bus::recover may still list it); a group or endpoint that is not there
  // has nothing to drop.
  for (const auto& [group, member] : left()) {
    auto g = dir.find_group(group);
    auto e = dir.find(member);
    if (g && e) (void)dir.remove_member(*g, *e);
  }
  return added;
}

void MembershipReplay::remove_groups(Directory& dir) const {
  for (const std::string& g : removed()) (void)dir.remove_group(g);  // not_found: nothing to remove
}

Result<std::vector<JournalMembership>> restate(const Directory& dir, const MembershipKeys& keys, std::uint64_t at_ns) {
  std::vector<JournalMembership> out;
  std::vector<EndpointId> members;
  for (const auto& [group, endpoint] : keys) {
    auto g = dir.find_group(group);
    if (!g && g.error().code != Errc::not_found) return std::move(g).error();
    JournalMembership m;
    m.at_ns = at_ns;
    m.group = group;
    m.endpoint = endpoint;
    if (endpoint.empty()) {
      m.change = g ? mc::group_created : mc::group_removed;
    } else {
      auto e = dir.find(endpoint);
      if (!e && e.error().code != Errc::not_found) return std::move(e).error();
      const bool member =
          g && e && dir.members(*g, members) && std::find(members.begin(), members.end(), *e) != members.end();
      m.change = member ? mc::joined : mc::left;
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace courier::detail
