// bridge/subjects.hpp — the names a bridge uses on NATS: the stream, its
// subjects, the durable consumers and the message headers (docs/design.md,
// "courier bridge").
//
//   courier.<stream>.msg.<host>.<band>   messages for endpoints of <host>, one subject per priority band
//   courier.<stream>.status.<host>       statuses going back to the bridge of the sender's <host>
//   courier.<stream>.bell.<host>         core NATS (not stored): "look at your consumers now"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "courier/ids.hpp"

namespace courier::bridge {

// Priority bands: 0-3, 4-7, 8-11, 12-15 (band 0 is the most urgent).
inline constexpr unsigned band_count = 4;
constexpr unsigned band_of(std::uint8_t priority) noexcept {
  return priority / ((priority_levels + band_count - 1) / band_count);
}

// Message headers. Nats-Msg-Id is JetStream's duplicate key: "<sender>@<host>/<id>".
namespace hdr {
inline constexpr const char* msg_id = "Nats-Msg-Id";
inline constexpr const char* id = "Courier-Id";                  // the message id (decimal)
inline constexpr const char* sender = "Courier-Sender";          // "alice@ha": the sender as the receiving bus names it
inline constexpr const char* to = "Courier-To";                  // "bob": the endpoint on the destination host
inline constexpr const char* reply_host = "Courier-Reply-Host";  // where statuses go
inline constexpr const char* priority = "Courier-Priority";
inline constexpr const char* type = "Courier-Type";
inline constexpr const char* expires = "Courier-Expires";      // absolute deadline, CLOCK_REALTIME ns (0: real-time)
inline constexpr const char* timestamp = "Courier-Timestamp";  // when the sender's bus accepted it (ns)
inline constexpr const char* group = "Courier-Group";          // the group id on the sender's bus (0: none)
inline constexpr const char* from_id = "Courier-From-Id";      // the sender's endpoint id on its bus
inline constexpr const char* via_id = "Courier-Via-Id";        // the proxy endpoint (bob@hb) id on the sender's bus
inline constexpr const char* status = "Courier-Status";        // status messages: the status word
}  // namespace hdr

inline std::string msg_subject(std::string_view stream, std::string_view host, unsigned band) {
  return "courier." + std::string(stream) + ".msg." + std::string(host) + "." + std::to_string(band);
}
inline std::string status_subject(std::string_view stream, std::string_view host) {
  return "courier." + std::string(stream) + ".status." + std::string(host);
}
inline std::string bell_subject(std::string_view stream, std::string_view host) {
  return "courier." + std::string(stream) + ".bell." + std::string(host);
}
inline std::string msg_durable(std::string_view host, unsigned band) {
  return "msg-" + std::string(host) + "-" + std::to_string(band);
}
inline std::string status_durable(std::string_view host) { return "status-" + std::string(host); }
// The JetStream stream of a bridge network ("courier-<stream>").
inline std::string stream_name(std::string_view stream) { return "courier-" + std::string(stream); }

// The key-value bucket of `host`'s origins (nats_link.hpp, NatsLink::open_origins).
inline std::string origins_bucket(std::string_view stream, std::string_view host) {
  return "courier-" + std::string(stream) + "-origins-" + std::string(host);
}

// Why `name` cannot be a host or stream name (one subject token: [A-Za-z0-9_-]{1,32}), or "".
inline std::string token_problem(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 32) return std::string(what) + " must have 1 to 32 characters";
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return std::string(what) + " '" + std::string(name) + "' has a character outside [A-Za-z0-9_-]";
  return {};
}

// "bob@hb" -> {"bob", "hb"}; a name without '@' (or with nothing around it) has no host.
struct RemoteName {
  std::string_view endpoint, host;
  bool remote() const noexcept { return !host.empty(); }
};
inline RemoteName split_remote(std::string_view name) noexcept {
  const auto at = name.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == name.size()) return {name, {}};
  return {name.substr(0, at), name.substr(at + 1)};
}

}  // namespace courier::bridge
