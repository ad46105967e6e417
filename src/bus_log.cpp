// Bus members that reach the log: recover, flush, housekeep.
#include <string>

#include "courier/bus.hpp"
#include "courier/detail/bus_log.hpp"

namespace courier {

std::string Bus::log_directory_for(std::string_view log_dir, std::string_view name) {
  return bus_log_directory(std::string(log_dir), name);
}

Result<void> Bus::remove_log(std::string_view log_dir, std::string_view name) {
  return remove_bus_log(std::string(log_dir), name);
}

Result<RecoveryReport> Bus::recover(const std::function<void(const RecoveryProgress&)>& progress) {
  if (s_->removed()) return removed_error(s_->name);
  return detail::recover(*s_, progress);
}

const RecoveryReport& Bus::recovery() const noexcept { return s_->recovery; }

Result<void> Bus::flush_log() {
  if (!s_->log) return Error(Errc::invalid_argument, "bus '" + s_->name + "' has no log");
  if (!s_->log->flush()) return Error(Errc::system, "writing the log of bus '" + s_->name + "' failed");
  return {};
}

bool Bus::has_log() const noexcept { return s_->log != nullptr; }

std::optional<Error> Bus::log_error() const {
  if (!s_->log) return std::nullopt;
  return s_->log->last_error();
}

const std::string& Bus::log_directory() const noexcept {
  static const std::string none;
  return s_->log ? s_->log->directory() : none;
}

Result<HousekeepResult> Bus::housekeep() { return detail::housekeep(*s_); }

}  // namespace courier
