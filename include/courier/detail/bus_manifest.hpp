// courier/detail/bus_manifest.hpp — the settings of a bus with a log, kept in
// LOG_DIR/BUS/bus.settings beside its journals, so that the bus comes back
// with the same geometry and sync policy when its shared memory is rebuilt
// after a reboot. Written by the creator (atomically: temp file, fsync,
// rename, directory fsync; mode 0600); read by a process that creates the bus
// again. What it reads is untrusted: every field is checked.
//
// The file is text, one "key value" line per setting, every key exactly once:
//
//   courier-bus-settings 1
//   max_endpoints 64
//   lane_capacity 4194304
//   max_payload 1048576
//   max_groups 16
//   max_group_members 64
//   tracker_capacity 65536
//   status_capacity 65536
//   claim_timeout_ns 200000000
//   status_retention_ns 10000000000
//   sync group
//   group_commit_interval_ns 250000
//   group_commit_bytes 1048576
//
// The log directory is not in it: it is the directory the file is found in.
// Journal readers list only journal file names (journal_file.hpp), so they
// never see it. Compiled in src/bus_manifest.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "courier/detail/layout.hpp"
#include "courier/detail/log_defaults.hpp"
#include "courier/options.hpp"
#include "courier/result.hpp"

namespace courier::detail {

inline constexpr std::string_view manifest_file_name = "bus.settings";
inline constexpr std::string_view manifest_first_line = "courier-bus-settings 1";
// A manifest longer than this is not one (the real ones are ~330 bytes).
inline constexpr std::size_t manifest_max_bytes = 4096;

struct BusManifest {
  Geometry geometry{};
  std::uint64_t claim_timeout_ns = 0;
  std::uint64_t status_retention_ns = 0;
  Sync sync = Sync::group;
  std::uint64_t group_commit_interval_ns = 0;
  std::uint64_t group_commit_bytes = 0;
};

// Why a log's group-commit settings are unusable, or nullptr (on the options of
// a creator, a segment header and a manifest).
inline const char* check_group_commit(std::uint64_t interval_ns, std::uint64_t bytes) noexcept {
  if (interval_ns < 1000 ||
      interval_ns > std::uint64_t(std::chrono::nanoseconds(log_defaults::max_group_commit_interval).count()))
    return "group_commit_interval must be 1 us .. 10 s";
  if (bytes < log_defaults::min_group_commit_bytes || bytes > log_defaults::max_group_commit_bytes)
    return "group_commit_bytes must be 4 KiB .. 1 GiB";
  return nullptr;
}

// LOG_DIR/BUS/bus.settings, given LOG_DIR/BUS.
std::string manifest_path(const std::string& bus_log_dir);

std::string encode_manifest(const BusManifest& m);
// The settings in `text`, every field checked; Errc::corrupt naming the first
// problem (a missing, repeated, unknown or out-of-range field, a bad line).
Result<BusManifest> decode_manifest(std::string_view text);

// The manifest in `bus_log_dir`; nullopt when there is none. A file that is
// not a valid manifest (or not a regular file) is an error naming it.
Result<std::optional<BusManifest>> read_manifest(const std::string& bus_log_dir);
// Replace the manifest in `bus_log_dir` (which exists) atomically.
Result<void> write_manifest(const std::string& bus_log_dir, const BusManifest& m);

}  // namespace courier::detail
