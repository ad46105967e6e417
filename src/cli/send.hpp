// cli/send.hpp — what `courier send` (send_recv.cpp) and `courier send
// --lines` (send_lines.cpp) share: the command's options, read once, and why a
// message was not sent, in words.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common.hpp"

namespace courier::cli {

// The limit of sending and waiting together with --wait (and, with --lines,
// of waiting for room in a full lane) when --timeout is not given.
inline constexpr std::chrono::nanoseconds default_wait_timeout = std::chrono::seconds(10);

// The options of one `courier send`, checked (a bad one is a UsageError).
struct SendCommand {
  std::string from;
  // options.id: the message's id, or with --lines the first line's (line k
  // gets id + k - 1); 0: generated for tracked messages.
  SendOptions options;
  std::optional<Status> wait;  // --wait: sent, delivered or read
  bool lines = false;          // --lines: one message per line of stdin
  bool json = false;           // --json: {"id":"N","status":"S"} lines instead of "N S"
};
SendCommand send_command(const Invocation& inv);

// Why a send was refused, in words, for stderr. `size` describes the payload:
// "1001 bytes", or "over 1000 bytes" when stdin was not read to its end.
std::string why_not_sent(const SendResult& r, const SendOptions& o, std::string_view size, Bus& bus);

// One line of send's output, appended to `out`: "<id> <status>\n", or with
// --json {"id":"<id>","status":"<status>"} (the id a string: id_json).
void append_result(std::string& out, std::uint64_t id, Status s, bool json);

// `courier send --lines` (send_lines.cpp).
int run_send_lines(const Invocation& inv, const SendCommand& cmd);

}  // namespace courier::cli
