// courier/detail/bus_settings.hpp — the settings a bus owns (Setting fields of
// Options: geometry, claim timeout, status retention, the log and its policy)
// on their way into and out of a bus: what a creator records, what an opener
// of an existing bus adopts or is refused for. docs/design.md, "Settings
// belong to the bus". Compiled in src/bus_settings.cpp.
#pragma once

#include <string_view>

#include "courier/detail/bus_manifest.hpp"
#include "courier/detail/segment.hpp"
#include "courier/options.hpp"
#include "courier/result.hpp"

namespace courier::detail {

// The options as a creator of bus `name` uses them: log_dir absolute and
// canonical; with a log, when the bus has no shared memory and
// LOG_DIR/BUS/bus.settings exists, every setting not named taken from it
// (still not named); max_payload, when not named, at most what the lanes
// hold. A manifest that cannot be read fails the open.
Result<Options> creator_options(std::string_view name, const Options& o);

// The segment options of a creator with options `o` (from creator_options).
SegmentOptions segment_options(const Options& o);

// After attaching bus `name`'s existing segment: every named setting compared
// with the bus's (Errc::incompatible naming both values), every other one
// taken from it; log_dir becomes the bus's (empty when it has none).
Result<Options> adopt_settings(std::string_view name, const Segment& seg, const Options& o);

// What the creator writes to LOG_DIR/BUS/bus.settings.
BusManifest manifest_of(const Segment& seg);

}  // namespace courier::detail
