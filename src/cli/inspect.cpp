// cli/inspect.cpp — the shared-memory object's size, and opening a bus only
// to look at it (inspect.hpp).
#include "inspect.hpp"

#include "courier/names.hpp"

namespace courier::cli {

ShmUse shm_use(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_blocks) * 512};
}

std::string shm_path(std::string_view bus) { return "/dev/shm/courier." + std::string(bus); }

std::optional<ShmUse> bus_shm_use(std::string_view bus) {
  struct stat st {};
  if (::lstat(shm_path(bus).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return shm_use(st);
}

Result<Bus> open_to_look(std::string_view name) {
  Options o;
  o.create = false;
  o.recover = false;
  o.wait_for_rebuild = false;  // a look does not wait for another process's rebuild: it says so
  o.prefault_tracker = false;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  return Bus::open(name, o);
}

Bus open_operand_to_look(const Invocation& inv) {
  const std::string& name = bus_operand(inv);
  if (!Bus::exists(name))
    throw Failure("no bus named " + single_quoted(name) + " on this host (courier ls lists them)");
  return or_fail(open_to_look(name));
}

std::string printable(std::string_view text) {
  const std::string escaped = escape_controls(text);
  if (valid_utf8(escaped)) return escaped;
  std::string out;
  for (char c : escaped) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out += c;
      continue;
    }
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[u >> 4];
    out += hex[u & 0xf];
  }
  return out;
}

}  // namespace courier::cli
