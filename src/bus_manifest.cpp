// The manifest of a bus with a log (bus_manifest.hpp): encoding, checked
// decoding, atomic replacement.
#include "courier/detail/bus_manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include "courier/detail/log.hpp"

namespace courier::detail {
namespace {

Error sys_error(int err, const std::string& what) { return Error(Errc::system, what + ": " + std::strerror(err)); }

// The numeric fields, in file order, and where each lives in a BusManifest.
struct Field {
  std::string_view key;
  std::uint64_t (*get)(const BusManifest&);
  void (*set)(BusManifest&, std::uint64_t);
  std::uint64_t max;  // larger values are refused before they are narrowed
};
#define COURIER_FIELD(key, expr, type)                                                                               \
  Field {                                                                                                            \
#key, [](const BusManifest& m)                                                                                   \
               -> std::uint64_t { return m.expr; }, [](BusManifest & m,                                              \
                                                       std::uint64_t                                                 \
                                                           v) { m.expr = static_cast<type>(v); },                    \
                                                                                               std::numeric_limits < \
                                                                                                   type> ::max()     \
  }
const std::array<Field, 11> fields = {
    COURIER_FIELD(max_endpoints, geometry.max_endpoints, std::uint32_t),
    COURIER_FIELD(lane_capacity, geometry.lane_capacity, std::uint64_t),
    COURIER_FIELD(max_payload, geometry.max_payload, std::uint32_t),
    COURIER_FIELD(max_groups, geometry.max_groups, std::uint32_t),
    COURIER_FIELD(max_group_members, geometry.max_group_members, std::uint32_t),
    COURIER_FIELD(tracker_capacity, geometry.tracker_capacity, std::uint64_t),
    COURIER_FIELD(status_capacity, geometry.status_capacity, std::uint64_t),
    COURIER_FIELD(claim_timeout_ns, claim_timeout_ns, std::uint64_t),
    COURIER_FIELD(status_retention_ns, status_retention_ns, std::uint64_t),
    COURIER_FIELD(group_commit_interval_ns, group_commit_interval_ns, std::uint64_t),
    COURIER_FIELD(group_commit_bytes, group_commit_bytes, std::uint64_t),
};
#undef COURIER_FIELD
constexpr std::string_view sync_key = "sync";

Error bad(std::string_view why) { return Error(Errc::corrupt, "not a valid bus settings file: " + std::string(why)); }

// Whole-file write to fd, retrying short writes.
bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string manifest_path(const std::string& bus_log_dir) {
  return bus_log_dir + "/" + std::string(manifest_file_name);
}

std::string encode_manifest(const BusManifest& m) {
  std::string out(manifest_first_line);
  out += '\n';
  for (const Field& f : fields) {
    out += std::string(f.key) + " " + std::to_string(f.get(m)) + "\n";
    if (f.key == "status_retention_ns") out += std::string(sync_key) + " " + std::string(sync_name(m.sync)) + "\n";
  }
  return out;
}

Result<BusManifest> decode_manifest(std::string_view text) {
  if (text.size() > manifest_max_bytes) return bad("longer than " + std::to_string(manifest_max_bytes) + " bytes");
  if (text.empty() || text.back() != '\n') return bad("does not end with a whole line (short or truncated)");
  BusManifest m;
  std::array<bool, fields.size()> seen{};
  bool seen_sync = false;
  bool first = true;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (first) {
      if (line != manifest_first_line) return bad("the first line is not '" + std::string(manifest_first_line) + "'");
      first = false;
      continue;
    }
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return bad("a line without a value");
    const std::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
    if (key == sync_key) {
      if (seen_sync) return bad("sync given twice");
      if (!sync_from_name(value, m.sync)) return bad("sync must be always, group or os");
      seen_sync = true;
      continue;
    }
    std::size_t i = 0;
    while (i < fields.size() && fields[i].key != key) ++i;
    if (i == fields.size()) return bad("unknown field (a line of " + std::to_string(line.size()) + " bytes)");
    if (seen[i]) return bad(std::string(key) + " given twice");
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || p != value.data() + value.size() || v > fields[i].max)
      return bad(std::string(key) + " is not a number in range");
    fields[i].set(m, v);
    seen[i] = true;
  }
  if (first) return bad("empty");
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!seen[i]) return bad(std::string(fields[i].key) + " is missing");
  if (!seen_sync) return bad("sync is missing");
  if (const char* why = check_geometry(m.geometry)) return bad(why);
  if (m.claim_timeout_ns < min_claim_timeout_ns || m.claim_timeout_ns > max_claim_timeout_ns)
    return bad("claim_timeout_ns out of range");
  if (m.status_retention_ns > max_status_retention_ns) return bad("status_retention_ns out of range");
  if (const char* why = check_group_commit(m.group_commit_interval_ns, m.group_commit_bytes)) return bad(why);
  return m;
}

Result<std::optional<BusManifest>> read_manifest(const std::string& bus_log_dir) {
  // The directory first: a link or another uid's directory is refused before
  // anything in it is believed.
  auto there = check_bus_log_directory(bus_log_dir, false);
  if (!there) return std::move(there).error();
  if (!*there) return std::optional<BusManifest>();
  const std::string path = manifest_path(bus_log_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<BusManifest>();
    return sys_error(errno, "opening the bus settings file '" + path + "'");
  }
  auto fail = [&](Error e) {
    ::close(fd);
    return e;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(sys_error(errno, "fstat of '" + path + "'"));
  if (!S_ISREG(st.st_mode))
    return fail(Error(Errc::corrupt, "the bus settings file '" + path + "' is not a regular file"));
  if (st.st_uid != ::geteuid())
    return fail(Error(Errc::corrupt, "the bus settings file '" + path + "' is owned by uid " +
                                         std::to_string(st.st_uid) + ", not by uid " + std::to_string(::geteuid())));
  std::string text;
  char buf[manifest_max_bytes + 1];
  while (text.size() <= manifest_max_bytes) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(sys_error(errno, "reading the bus settings file '" + path + "'"));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto m = decode_manifest(text);
  if (!m) return std::move(m).error().with_context("reading '" + path + "'");
  return std::optional<BusManifest>(*m);
}

Result<void> write_manifest(const std::string& bus_log_dir, const BusManifest& m) {
  const std::string path = manifest_path(bus_log_dir);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return sys_error(errno, "creating '" + tmp + "'");
  const std::string text = encode_manifest(m);
  const bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = ok ? errno : err;
    (void)::unlink(tmp.c_str());
    return sys_error(e, "writing the bus settings file '" + path + "'");
  }
  const int dfd = ::open(bus_log_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return sys_error(errno, "opening '" + bus_log_dir + "' to sync it");
  const bool synced = ::fsync(dfd) == 0;
  const int derr = errno;
  ::close(dfd);
  if (!synced) return sys_error(derr, "fsync of '" + bus_log_dir + "'");
  return {};
}

}  // namespace courier::detail
