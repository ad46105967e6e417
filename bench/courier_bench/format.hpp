// bench/courier_bench/format.hpp — numbers and strings for the markdown and JSON outputs.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace cbench {

inline std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}
inline std::string jnum(double v, int prec = 1) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
inline std::string fmt(double v, int prec = 0) {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
inline std::string grouped(double v) {  // 12345678 -> 12,345,678
  if (!std::isfinite(v)) return "–";
  std::string s = std::to_string(std::llround(v)), o;
  int k = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (k != 0 && k % 3 == 0) o.insert(o.begin(), ',');
    o.insert(o.begin(), *it);
    ++k;
  }
  return o;
}

}  // namespace cbench
