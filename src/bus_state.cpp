// The process's handle on an open bus: made and destroyed here, where the
// log and the housekeeper's memory are complete types.
#include "courier/detail/bus_state.hpp"

#include <utility>

#include "courier/detail/compaction_memory.hpp"
#include "courier/detail/log.hpp"

namespace courier {

detail::BusState::BusState(Segment s, std::string n)
    : seg(std::move(s)),
      dir(seg),
      tracker(seg.tracker(), seg.geometry().tracker_capacity),
      name(std::move(n)),
      retention_ns(seg.header().status_retention_ns),
      compaction(std::make_unique<CompactionMemory>()) {}

// The log goes first (it is declared last): its flusher thread reports into the members above.
detail::BusState::~BusState() = default;

}  // namespace courier
