// cli/peek.cpp — `courier peek BUS NAME`: the messages waiting for an
// endpoint, shown and not taken (Bus::peek copies them out of the lanes; no
// lease, no acknowledgement, nothing written).
#include <string>
#include <vector>

#include "common.hpp"
#include "inspect.hpp"

namespace courier::cli {
namespace {

constexpr std::uint64_t default_limit = 20;
constexpr std::size_t head_bytes = 64;  // the first bytes of each payload

// The first bytes of a payload as text for a table: printable ASCII as it is,
// anything else as \xHH, "..." when there is more.
std::string head_text(const WaitingMessage& m) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : m.head) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  if (m.payload_len > m.head.size()) out += "...";
  return out;
}

std::string expiry_text(const WaitingMessage& m, std::uint64_t now) {
  if (m.expires_ns == 0) return "real-time";
  if (m.expires_ns <= now) return "expired";
  const std::uint64_t left = m.expires_ns - now, unit = left >= 1'000'000'000 ? 1'000'000'000 : 1'000'000;
  return "in " + format_duration(std::chrono::nanoseconds((left + unit - 1) / unit * unit));  // s or ms, rounded up
}

Json waiting_json(const Bus& bus, const WaitingMessage& m) {
  Json j{{"id", id_json(m.id)},
         {"from", printable(endpoint_label(bus, m.from))},
         {"group", m.group == 0 ? Json() : Json(printable(bus.group_name(m.group)))},
         {"priority", m.priority},
         {"type", m.type},
         {"timestamp_ns", m.timestamp_ns},
         {"expires_ns", m.expires_ns},
         {"redelivered", (m.flags & 1u) != 0},
         {"size", m.payload_len},
         {"truncated", m.payload_len > m.head.size()}};
  add_payload(j, std::as_bytes(std::span(m.head)));
  return j;
}

}  // namespace

int run_peek(const Invocation& inv) {
  const std::uint64_t limit = inv.args.uint<std::uint64_t>("limit", 1, 1'000'000).value_or(default_limit);
  const std::string name = name_operand(inv);
  const Bus bus = open_operand_to_look(inv);
  auto found = bus.peek(name, limit, head_bytes);
  if (!found) {
    if (found.error().code == Errc::not_found)
      throw Failure("no endpoint named " + single_quoted(name) + " on bus " + single_quoted(bus.name()));
    throw Failure(found.error().message);
  }
  const std::vector<WaitingMessage>& waiting = *found;
  std::string out;
  if (inv.args.flag("json")) {
    for (const WaitingMessage& m : waiting) out += json_line(waiting_json(bus, m));
    write_out(out);
    return 0;
  }
  if (waiting.empty()) {
    write_out("no messages waiting for " + single_quoted(name) + "\n");
    return 0;
  }
  const std::uint64_t now = now_realtime_ns();
  std::vector<std::vector<std::string>> rows{{"ID", "FROM", "PRIORITY", "TYPE", "SIZE", "EXPIRES", "DATA"}};
  for (const WaitingMessage& m : waiting) {
    std::string from = printable(endpoint_label(bus, m.from));
    if (m.group != 0) from += " (group " + printable(bus.group_name(m.group)) + ")";
    rows.push_back({std::to_string(m.id), from, std::to_string(m.priority), std::to_string(m.type),
                    std::to_string(m.payload_len), expiry_text(m, now), head_text(m)});
  }
  write_out(table_text(rows, 2, 5));
  return 0;
}

}  // namespace courier::cli
