// The names and ids of one journal file (courier/detail/journal_names.hpp).
#include "courier/detail/journal_names.hpp"

#include <utility>

namespace courier::detail {

void JournalNames::start(std::string path) {
  path_ = std::move(path);
  names_.clear();
}

const JournalName* JournalNames::learn(std::span<const std::byte> body) {
  auto n = decode_journal_name(body);
  if (!n) return nullptr;
  last_ = std::move(*n);
  names_[key(last_.id, last_.group)] = last_.name;
  return &last_;
}

const std::string* JournalNames::name(std::uint32_t id, bool group) const {
  auto it = names_.find(key(id, group));
  return it == names_.end() ? nullptr : &it->second;
}

void JournalIds::start(std::string path) {
  for (Cached& c : cache_) c = Cached{};
  names_.start(std::move(path));
  endpoints_.clear();
  groups_.clear();
}

bool JournalIds::learn(std::span<const std::byte> body, const Resolve& resolve) {
  const JournalName* n = names_.learn(body);
  if (n == nullptr) return false;
  for (Cached& c : cache_) c = Cached{};
  const std::uint32_t now = resolve(n->name, n->group);
  if (now != 0) (n->group ? groups_ : endpoints_)[n->id] = now;
  return true;
}

EndpointId JournalIds::endpoint(std::uint32_t old) const {
  Cached& c = cache_[old % cache_size];
  if (old != 0 && c.old == old) return c.now;
  auto it = endpoints_.find(old);
  const EndpointId now = it == endpoints_.end() ? no_endpoint : it->second;
  if (old != 0) c = Cached{old, now};
  return now;
}

GroupId JournalIds::group(std::uint32_t old) const {
  if (old == 0) return 0;
  auto it = groups_.find(old);
  return it == groups_.end() ? 0 : it->second;
}

bool JournalIds::map(RecordHeader& h) const {
  const EndpointId from = endpoint(h.from), to = endpoint(h.to);
  const GroupId g = group(h.group);
  if (from == no_endpoint || to == no_endpoint || (h.group != 0 && g == 0)) return false;
  h.from = from;
  h.to = to;
  h.group = g;
  return true;
}

}  // namespace courier::detail
