// courier/detail/journal_names.hpp — the names and ids of one journal file.
//
// Ids in a record are those of the bus that wrote it, and mean nothing in
// another file: a writer puts, before the first record of a file that
// mentions an endpoint or group id, a name record for that id (kind 5,
// docs/log-format.md). JournalNames collects them (id -> name; no bus needed:
// an inspection tool uses it as it is). JournalIds adds the step to the ids of
// a bus now, by name, through a callback (journal_ids.hpp gives the one over
// a bus's Directory): recovery, the spill forwarder and compaction use it.
// Compiled in src/journal_names.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/record.hpp"
#include "courier/ids.hpp"

namespace courier::detail {

class JournalNames {
 public:
  // Forget what was learnt: the names of the file at `path` follow.
  void start(std::string path);
  const std::string& path() const noexcept { return path_; }
  // A name record's body: its name remembered. The decoded record, or nullptr
  // when the body is not a valid name (valid until the next call).
  const JournalName* learn(std::span<const std::byte> body);
  // The name of endpoint (or group) `id` in this file, or nullptr.
  const std::string* name(std::uint32_t id, bool group = false) const;

 private:
  static std::uint64_t key(std::uint32_t id, bool group) noexcept { return (std::uint64_t(group) << 32) | id; }
  std::string path_;
  JournalName last_;
  std::unordered_map<std::uint64_t, std::string> names_;
};

class JournalIds {
 public:
  // The id now of endpoint (group == false) or group `name`; 0 when there is none.
  using Resolve = std::function<std::uint32_t(std::string_view name, bool group)>;

  // Forget what was learnt: the ids of the file at `path` follow.
  void start(std::string path);
  const std::string& path() const noexcept { return names_.path(); }
  // A name record's body: map its id to the id `resolve` gives its name now.
  // False when the body is not a name.
  bool learn(std::span<const std::byte> body, const Resolve& resolve);

  // The id now of the file's endpoint (or group) `old`: no_endpoint (0) when
  // the file names none or no endpoint of that name exists; group 0 stays 0.
  EndpointId endpoint(std::uint32_t old) const;
  GroupId group(std::uint32_t old) const;
  // The ids of a message header mapped in place; false when one has no name
  // in this file (or no endpoint/group of that name exists now).
  bool map(RecordHeader& h) const;
  // The file's names (those learnt so far).
  const JournalNames& names() const noexcept { return names_; }

 private:
  JournalNames names_;
  std::unordered_map<std::uint32_t, EndpointId> endpoints_;
  std::unordered_map<std::uint32_t, GroupId> groups_;
  // The last endpoints looked up (a file names few: a sender and its
  // peers), direct-mapped by the file's id; cleared whenever an id may change
  // (start, learn). Saves two hash lookups per message record.
  struct Cached {
    std::uint32_t old = 0;  // 0: empty (no file id is 0)
    EndpointId now = no_endpoint;
  };
  static constexpr std::uint32_t cache_size = 8;
  mutable Cached cache_[cache_size]{};
};

}  // namespace courier::detail
