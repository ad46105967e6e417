// A receiver's forwarder of spilled messages (src/ only; defined in
// src/spill.cpp): Receiver::Forwarder (a member type of Receiver: it reaches the receiver's state).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "courier/detail/bus_state.hpp"
#include "courier/detail/journal_names.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/receiver.hpp"

namespace courier {

// A receiver's place in each journal file: where the next scan for its
// spilled messages starts, and the file's ids learnt so far.
struct Receiver::Forwarder {
  struct File {
    std::uint64_t cursor = 0;
    detail::JournalIds ids;
  };
  std::map<std::string, File> files;
  std::uint64_t next_scan_ns = 0;
  // Spilled messages counted and not accounted that a whole rescan did not
  // find either (e.g. their entries retired): a rescan is done again only
  // when more than these are missing (docs/design.md, "No wedged ids").
  std::uint64_t unexplained = 0;
  std::shared_ptr<detail::ReadBuffer> buffer = std::make_shared<detail::ReadBuffer>();
  // Forward what waits for `self`, file by file from each cursor (from each
  // file's start with `from_start`), stopping in a file at the first message
  // whose lane is full. Returns the number forwarded; `complete` says whether
  // every file was read to its end (nothing blocked, nothing unreadable).
  std::uint64_t scan(detail::BusState& st, EndpointId self, bool from_start, bool& complete);
};

}  // namespace courier
