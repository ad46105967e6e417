// courier/detail/journal_ids.hpp — a journal file's names resolved in a bus's
// Directory (the bus's side of JournalIds, journal_names.hpp).
#pragma once

#include "courier/detail/directory.hpp"
#include "courier/detail/journal_names.hpp"

namespace courier::detail {

// The ids of `dir` by name: registered when missing if `add` (recovery
// rebuilds the directory), else only looked up (0 when there is none).
inline JournalIds::Resolve resolve_in(Directory& dir, bool add) {
  return [&dir, add](std::string_view name, bool group) -> std::uint32_t {
    if (group) {
      auto g = add ? dir.add_group(name, true) : dir.find_group(name);
      return g ? *g : 0;
    }
    auto e = add ? dir.add(name, true) : dir.find(name);
    return e ? *e : 0;
  };
}

}  // namespace courier::detail
