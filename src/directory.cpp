#include "courier/detail/directory.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "courier/detail/clock.hpp"
#include "courier/detail/process.hpp"
#include "courier/names.hpp"
#include "directory_lock.hpp"

namespace courier {

using detail::NameScan;

// Holds the directory mutex; repairs after a holder that died. The mutex is
// shared memory too: a word no correct process leaves there (a lock owned by
// no thread, a kind we never initialise) is damage, reported at once or
// repaired as the kernel repairs a holder's death, and every wait is bounded
// by the open timeout (detail/directory_lock.hpp).
class Directory::Lock {
 public:
  explicit Lock(const Segment& seg) : m_(&seg.header().dir_mutex) {
    if (!detail::mutex_kind_is_ours(*m_)) {
      err_ = EINVAL;
      return;
    }
    // Bounded: a holder that is alive but stopped (SIGSTOP, a debugger) must
    // not hang every other process's directory call. trylock first: it is the
    // common case, and ThreadSanitizer models EOWNERDEAD only for lock/trylock.
    int r = pthread_mutex_trylock(m_);
    // A lock word naming no living thread: no process can ever unlock it.
    if (r == EBUSY && detail::release_ownerless_mutex(*m_)) r = pthread_mutex_trylock(m_);
    if (r == EBUSY) {
      timespec deadline{};
      clock_gettime(CLOCK_REALTIME, &deadline);
      const std::uint64_t ns = seg.lock_timeout_ns() + static_cast<std::uint64_t>(deadline.tv_nsec);
      deadline.tv_sec += static_cast<time_t>(ns / 1'000'000'000ull);
      deadline.tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
      r = pthread_mutex_timedlock(m_, &deadline);
    }
    if (r == EOWNERDEAD) {
      // The previous holder died inside a change. Each change is published by
      // one final store, so the slots are consistent as they are.
      pthread_mutex_consistent(m_);
      r = 0;
    }
    ok_ = r == 0;
    err_ = r;
    timeout_ns_ = seg.lock_timeout_ns();
  }
  ~Lock() {
    if (ok_) pthread_mutex_unlock(m_);
  }
  bool ok() const { return ok_; }
  Error error() const {
    if (err_ == ETIMEDOUT)
      return Error(Errc::timeout, "the directory lock has been held for over " + detail::seconds_text(timeout_ns_) +
                                      " (the open timeout) by a process that is alive but not running (stopped?)");
    if (err_ == EINVAL || err_ == ENOTRECOVERABLE || err_ == EPERM || err_ == EDEADLK)
      return Error(Errc::corrupt,
                   "the directory lock in the bus's shared memory is damaged (" + std::string(std::strerror(err_)) +
                       "): something other than courier wrote there; remove the bus and create it again");
    return Error(Errc::system, std::string("directory lock: ") + std::strerror(err_));
  }

 private:
  pthread_mutex_t* m_;
  bool ok_ = false;
  int err_ = 0;
  std::uint64_t timeout_ns_ = 0;
};

namespace {

// Endpoint and group slots share the naming fields and rules; these work on both.
template <class Slot>
bool slot_has_name(const Slot& s, std::string_view name) {
  return s.name_len == name.size() && s.name_len <= max_name_len && std::memcmp(s.name, name.data(), name.size()) == 0;
}
// The name as stored, clamped to the field; a byte no name may hold (written
// by something other than courier) is shown as '?', never echoed raw.
template <class Slot>
std::string slot_name(const Slot& s) {
  const std::size_t len = s.name_len <= max_name_len ? s.name_len : max_name_len;  // clamped: shared memory
  std::string name(s.name, len);
  for (char& c : name)
    if (!detail::name_char(c, true)) c = '?';
  return name;
}

// Under the lock: the first free slot (n if none) and the slot named `name`
// with its id (n and 0 if none).
template <class At>
NameScan scan_names(std::uint32_t n, At&& at, std::string_view name) {
  NameScan r{n, n, 0};
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto& s = at(i);
    // Relaxed: under the lock, as every writer. An id that does not name its
    // own slot is damage, not an endpoint: the slot is free (add repairs it).
    const std::uint32_t id = detail::slot_id(s.id.load(std::memory_order_relaxed), i);
    if (id == 0) {
      if (r.free == n) r.free = i;
    } else if (slot_has_name(s, name)) {
      r.found = i;
      r.id = id;
      break;
    }
  }
  return r;
}

// Prepare a free slot for `name` (not yet published): returns the new generation.
template <class Slot>
std::uint32_t name_slot(Slot& s, std::string_view name) {
  const std::uint32_t gen = (s.generation % 0xffffu) + 1;  // 1..65535: ids are never 0
  s.generation = gen;
  std::memset(s.name, 0, sizeof s.name);
  std::memcpy(s.name, name.data(), name.size());
  s.name_len = static_cast<std::uint32_t>(name.size());
  return gen;
}

// Test seam for crash tests: stop forever inside a change, after writing half of it.
void maybe_pause_mid_change() {
  const char* v = std::getenv("COURIER_TEST_PAUSE_IN_DIRECTORY");
  if (v == nullptr || *v == '\0') return;
  const char msg[] = "paused-in-directory\n";
  (void)!::write(STDOUT_FILENO, msg, sizeof msg - 1);
  for (;;) ::pause();
}

}  // namespace

// Validate `name`, take the lock, scan the n slots `at` gives, and run f on
// what the scan found, still under the lock.
template <class At, class F>
auto Directory::locked_scan(std::uint32_t n, At&& at, std::string_view name, F&& f) const
    -> decltype(f(detail::NameScan{})) {
  if (auto why = endpoint_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  Lock lock(*seg_);
  if (!lock.ok()) return lock.error();
  return f(scan_names(n, at, name));
}

Result<EndpointId> Directory::add(std::string_view name, bool exist_ok) {
  if (auto why = endpoint_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  Lock lock(*seg_);
  if (!lock.ok()) return lock.error();
  const std::uint32_t n = seg_->geometry().max_endpoints;
  const NameScan sc = scan_names(n, endpoint_at(), name);
  if (sc.found != n) {
    if (exist_ok) return sc.id;
    return Error(Errc::already_exists, "endpoint '" + std::string(name) + "' already exists");
  }
  if (sc.free == n)
    return Error(Errc::capacity,
                 "the bus has no room for another endpoint (max_endpoints = " + std::to_string(n) + ")");
  // The inbox's pages first: no room in /dev/shm is an error here, not a SIGBUS later.
  if (auto room = seg_->reserve_inbox(sc.free); !room) return std::move(room).error().with_context("adding endpoint");
  EndpointSlot& s = seg_->slot(sc.free);
  const std::uint32_t gen = name_slot(s, name);
  maybe_pause_mid_change();
  s.created_ns = realtime_ns();
  InboxData& in = seg_->inbox(sc.free);
  // A lease left by a dead receiver of the slot's previous endpoint is dropped.
  // Relaxed: the new endpoint is not visible until the release store of id.
  const std::uint64_t lease = in.lease.load(std::memory_order_relaxed);
  if (lease != 0 && !lease_holder_alive(lease)) in.lease.store(0, std::memory_order_relaxed);
  const EndpointId id = make_endpoint_id(sc.free, gen);
  // SYNC POINT WRITE: the slot's name and generation, partner of the senders'
  // and find()'s acquire loads of id. This one store is the whole change.
  s.id.store(id, std::memory_order_release);
  seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: readers of dir_changes re-read slots
  return id;
}

Result<EndpointId> Directory::find(std::string_view name) const {
  return locked_scan(seg_->geometry().max_endpoints, endpoint_at(), name,
                     [&](const NameScan& sc) -> Result<EndpointId> {
                       if (sc.id != 0) return sc.id;
                       return Error(Errc::not_found, "no endpoint named '" + std::string(name) + "'");
                     });
}

Result<void> Directory::remove(std::string_view name) {
  return locked_scan(seg_->geometry().max_endpoints, endpoint_at(), name, [&](const NameScan& sc) -> Result<void> {
    if (sc.id == 0) return Error(Errc::not_found, "no endpoint named '" + std::string(name) + "'");
    // Acquire: pairs with the lease CAS of a receiver attaching right now.
    const std::uint64_t lease = seg_->inbox(sc.found).lease.load(std::memory_order_acquire);
    if (lease != 0 && lease_holder_alive(lease))
      return Error(Errc::busy, "endpoint '" + std::string(name) + "' has a receiver attached (pid " +
                                   std::to_string(lease_pid(lease)) + "); stop it first");
    maybe_pause_mid_change();
    // Release: the one store of the change; senders holding the old id see it
    // differ and report invalid_destination.
    seg_->slot(sc.found).id.store(no_endpoint, std::memory_order_release);
    seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: see add()
    return {};
  });
}

std::vector<EndpointEntry> Directory::list() const {
  std::vector<EndpointEntry> out;
  // Without the lock (damaged, or held by a stopped process) the list is read
  // as senders read it: each id with acquire, partner of add()'s release
  // store, so the name written before it is seen; a change racing with the
  // read may show a torn name (stat, never a decision). Better than nothing.
  Lock lock(*seg_);
  const std::memory_order order = lock.ok() ? std::memory_order_relaxed : std::memory_order_acquire;
  for (std::uint32_t i = 0; i < seg_->geometry().max_endpoints; ++i) {
    const EndpointSlot& s = seg_->slot(i);
    const EndpointId id = detail::slot_id(s.id.load(order), i);  // relaxed under the lock; acquire without (above)
    if (id != no_endpoint) out.push_back(EndpointEntry{slot_name(s), id, s.created_ns});
  }
  return out;
}

std::string Directory::name_of(EndpointId id) const {
  const std::uint32_t slot = endpoint_slot(id);
  if (id == no_endpoint || slot >= seg_->geometry().max_endpoints) return {};
  Lock lock(*seg_);
  if (!lock.ok()) return {};
  const EndpointSlot& s = seg_->slot(slot);
  if (s.id.load(std::memory_order_relaxed) != id) return {};  // relaxed: under the lock
  return slot_name(s);
}

// ------------------------------------------------------------------ groups

Result<GroupId> Directory::add_group(std::string_view name, bool exist_ok) {
  if (auto why = endpoint_name_problem(name); !why.empty()) return Error(Errc::invalid_argument, why);
  Lock lock(*seg_);
  if (!lock.ok()) return lock.error();
  const Geometry& g = seg_->geometry();
  const NameScan sc = scan_names(g.max_groups, group_at(), name);
  if (sc.found != g.max_groups) {
    if (exist_ok) return sc.id;
    return Error(Errc::already_exists, "group '" + std::string(name) + "' already exists");
  }
  if (sc.free == g.max_groups)
    return Error(Errc::capacity,
                 "the bus has no room for another group (max_groups = " + std::to_string(g.max_groups) + ")");
  GroupSlot& s = seg_->group(sc.free);
  const std::uint32_t gen = name_slot(s, name);
  std::atomic<std::uint32_t>* m = seg_->group_members(sc.free);
  for (std::uint32_t i = 0; i < g.max_group_members; ++i) m[i].store(0, std::memory_order_relaxed);  // unpublished yet
  s.used_words.store(0, std::memory_order_relaxed);                                                  // unpublished yet
  maybe_pause_mid_change();
  s.created_ns = realtime_ns();
  const GroupId id = make_endpoint_id(sc.free, gen);
  // SYNC POINT WRITE: name, generation and the emptied member list, partner of
  // senders' acquire loads of id. The one store of the change.
  s.id.store(id, std::memory_order_release);
  seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: see add()
  return id;
}

Result<GroupId> Directory::find_group(std::string_view name) const {
  return locked_scan(seg_->geometry().max_groups, group_at(), name, [&](const NameScan& sc) -> Result<GroupId> {
    if (sc.id != 0) return sc.id;
    return Error(Errc::not_found, "no group named '" + std::string(name) + "'");
  });
}

Result<void> Directory::remove_group(std::string_view name) {
  return locked_scan(seg_->geometry().max_groups, group_at(), name, [&](const NameScan& sc) -> Result<void> {
    if (sc.id == 0) return Error(Errc::not_found, "no group named '" + std::string(name) + "'");
    maybe_pause_mid_change();
    seg_->group(sc.found).id.store(0, std::memory_order_release);        // release: the one store of the change
    seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: see add()
    return {};
  });
}

template <class F>
Result<void> Directory::change_group(GroupId group, F&& f) {
  const std::uint32_t slot = endpoint_slot(group);
  if (group == 0 || slot >= seg_->geometry().max_groups) return Error(Errc::not_found, "no such group");
  Lock lock(*seg_);
  if (!lock.ok()) return lock.error();
  if (seg_->group(slot).id.load(std::memory_order_relaxed) != group)  // relaxed: under the lock
    return Error(Errc::not_found, "the group was removed");
  return f(slot);
}

Result<void> Directory::add_member(GroupId group, EndpointId member) {
  return change_group(group, [&](std::uint32_t slot) -> Result<void> {
    const Geometry& g = seg_->geometry();
    const std::uint32_t es = endpoint_slot(member);
    // Relaxed: under the lock, which every endpoint's add and removal take.
    if (member == no_endpoint || es >= g.max_endpoints || seg_->slot(es).id.load(std::memory_order_relaxed) != member)
      return Error(Errc::not_found, "the endpoint was removed");
    std::atomic<std::uint32_t>* m = seg_->group_members(slot);
    std::uint32_t free_word = g.max_group_members;
    for (std::uint32_t i = 0; i < g.max_group_members; ++i) {
      const std::uint32_t v = m[i].load(std::memory_order_relaxed);  // relaxed: under the lock
      if (v == member) return {};                                    // already a member: one copy each
      const std::uint32_t vs = endpoint_slot(v);
      // Relaxed: under the lock, as above.
      const bool dead = v != 0 && (vs >= g.max_endpoints || seg_->slot(vs).id.load(std::memory_order_relaxed) != v);
      if ((v == 0 || dead) && free_word == g.max_group_members) free_word = i;  // a removed endpoint's word is reused
    }
    if (free_word == g.max_group_members)
      return Error(Errc::capacity,
                   "the group is full (max_group_members = " + std::to_string(g.max_group_members) + ")");
    GroupSlot& gs = seg_->group(slot);
    // Release, before the member word: a sender that sees the word within its
    // scan range sees it; one that read the old range sees the group as it was
    // before this add. A crash between the two stores leaves an empty word in range.
    // The load relaxed: under the lock, only its holder writes used_words.
    if (gs.used_words.load(std::memory_order_relaxed) < free_word + 1)
      gs.used_words.store(free_word + 1, std::memory_order_release);
    maybe_pause_mid_change();
    m[free_word].store(member, std::memory_order_release);               // release: the one store of the change
    seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: see add()
    return {};
  });
}

Result<void> Directory::remove_member(GroupId group, EndpointId member) {
  return change_group(group, [&](std::uint32_t slot) -> Result<void> {
    std::atomic<std::uint32_t>* m = seg_->group_members(slot);
    bool found = false;
    for (std::uint32_t i = 0; i < seg_->geometry().max_group_members; ++i) {
      if (m[i].load(std::memory_order_relaxed) != member) continue;  // relaxed: under the lock
      maybe_pause_mid_change();
      m[i].store(0, std::memory_order_release);  // release: one store per word
      found = true;
    }
    if (!found) return Error(Errc::not_found, "not a member");
    seg_->header().dir_changes.fetch_add(1, std::memory_order_release);  // release: see add()
    return {};
  });
}

bool Directory::members(GroupId group, std::vector<EndpointId>& out) const noexcept {
  out.clear();
  const std::uint32_t slot = endpoint_slot(group);
  const Geometry& g = seg_->geometry();
  if (group == 0 || slot >= g.max_groups) return false;
  // Acquire: partner of add_group's release store (the emptied list is visible).
  if (seg_->group(slot).id.load(std::memory_order_acquire) != group) return false;
  const std::atomic<std::uint32_t>* m = seg_->group_members(slot);
  // Acquire: partner of add_member's release store of used_words. Clamped: it is read from shared memory.
  std::uint32_t used = seg_->group(slot).used_words.load(std::memory_order_acquire);
  if (used > g.max_group_members) used = g.max_group_members;
  for (std::uint32_t i = 0; i < used; ++i) {
    const std::uint32_t v = m[i].load(std::memory_order_acquire);  // acquire: partner of add_member's store
    if (v == 0) continue;
    const std::uint32_t vs = endpoint_slot(v);
    if (vs >= g.max_endpoints || seg_->slot(vs).id.load(std::memory_order_acquire) != v) continue;  // removed endpoint
    out.push_back(v);
  }
  // One copy per member even if a word was duplicated (add_member never does
  // it; a damaged segment might): quadratic for small groups, sort beyond.
  if (out.size() <= 32) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      bool seen = false;
      for (std::size_t j = 0; j < n && !seen; ++j) seen = out[j] == out[i];
      if (!seen) out[n++] = out[i];
    }
    out.resize(n);
  } else {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  // A remove_group racing with us: the snapshot belongs to a group that is gone.
  return seg_->group(slot).id.load(std::memory_order_acquire) == group;
}

std::vector<GroupEntry> Directory::list_groups() const {
  std::vector<GroupEntry> out;
  Lock lock(*seg_);  // without it: read as list() reads endpoints
  const std::memory_order order = lock.ok() ? std::memory_order_relaxed : std::memory_order_acquire;
  for (std::uint32_t i = 0; i < seg_->geometry().max_groups; ++i) {
    const GroupSlot& s = seg_->group(i);
    const GroupId id = detail::slot_id(s.id.load(order), i);  // relaxed under the lock; acquire without (list())
    if (id == 0) continue;
    GroupEntry e{slot_name(s), id, s.created_ns, {}};
    members(id, e.members);
    out.push_back(std::move(e));
  }
  return out;
}

std::string Directory::group_name_of(GroupId id) const {
  const std::uint32_t slot = endpoint_slot(id);
  if (id == 0 || slot >= seg_->geometry().max_groups) return {};
  Lock lock(*seg_);
  if (!lock.ok()) return {};
  const GroupSlot& s = seg_->group(slot);
  if (s.id.load(std::memory_order_relaxed) != id) return {};  // relaxed: under the lock
  return slot_name(s);
}

}  // namespace courier
