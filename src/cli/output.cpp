// cli/output.cpp — how `courier` writes what it prints: names and ids of
// endpoints, sizes, times, counts, payloads (text, JSON, base64), and output
// that ends quietly when its reader has gone (see common.hpp).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "common.hpp"
#include "courier/names.hpp"

namespace courier::cli {

std::string endpoint_label(const Bus& bus, EndpointId id) {
  std::string n = bus.endpoint_name(id);
  return n.empty() ? id_label(id) : n;
}

std::string id_label(std::uint32_t id) {
  std::string s = "#";  // appended, not "#" + ...: GCC 12 warns falsely (-Wrestrict) on that
  return s += std::to_string(id);
}

// ------------------------------------------------------------ output

std::string receiver_text(const EndpointStats& e) {
  return e.receiver_attached ? "pid " + std::to_string(e.receiver_pid) : "-";
}

// "p0:2 p8:1", the lanes with messages waiting, or "-".
std::string waiting_lanes_text(const EndpointStats& e) {
  std::string s;
  for (unsigned p = 0; p < priority_levels; ++p)
    if (e.waiting[p] != 0) s += (s.empty() ? "p" : " p") + std::to_string(p) + ":" + std::to_string(e.waiting[p]);
  return s.empty() ? "-" : s;
}

bool try_write_out(std::string_view text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
}

std::string write_error() { return std::string("writing to stdout: ") + std::strerror(errno); }

void write_out(std::string_view text) {
  if (try_write_out(text)) return;
  if (errno == EPIPE) die_of_closed_pipe();
  throw Failure(write_error());
}

void die_of_closed_pipe() {
  // main ignores SIGPIPE so that every write reports EPIPE here; now its default action, unblocked.
  std::signal(SIGPIPE, SIG_DFL);
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_UNBLOCK, &pipe_only, nullptr);
  std::raise(SIGPIPE);
  std::_Exit(128 + SIGPIPE);  // not reached
}

void note(std::string_view text) { std::cerr << "courier: note: " << escape_controls(text) << '\n'; }

std::string size_text(std::uint64_t n) {
  static constexpr const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  double v = static_cast<double>(n);
  while (u + 1 < std::size(units) && v >= 1024) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<std::uint64_t>(v)) ? "%.0f %s" : "%.1f %s", v,
                units[u]);
  return buf;
}

std::string utc_text(std::uint64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000ull);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string counted(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string table_text(const std::vector<std::vector<std::string>>& rows, std::size_t first_numeric,
                       std::size_t end_numeric) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      line += c >= first_numeric && c < end_numeric ? pad + row[c] : row[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + '\n';
  }
  return out;
}

std::uint64_t now_realtime_ns() {
  return static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
}

std::uint64_t now_monotonic_ns() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
}

std::string json_line(const Json& j) { return j.dump() + '\n'; }

void add_payload(Json& j, std::span<const std::byte> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (valid_utf8(text))
    j["data"] = text;
  else
    j["data_b64"] = base64(bytes);
}

void append_payload(std::string& out, std::span<const std::byte> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (valid_utf8(text)) {
    out += ",\"data\":";
    append_json_string(out, text);
  } else {
    out += ",\"data_b64\":\"" + base64(bytes) + '"';
  }
}

void append_json_string(std::string& out, std::string_view s) { out += Json(s).dump(); }

std::string base64(std::span<const std::byte> bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  auto at = [&](std::size_t i) { return i < bytes.size() ? std::to_integer<std::uint32_t>(bytes[i]) : 0u; };
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
  }
  return out;
}

// Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view s) noexcept {
  auto cont = [&](std::size_t i) { return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07, min = 0x10000;
    else
      return false;
    for (std::size_t k = 1; k < len; ++k) {
      if (!cont(i + k)) return false;
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace courier::cli
