// Who may use and remove a bus's shared-memory object. /dev/shm is shared by
// every user: an object of the bus's name may have been created by someone
// else (to read what we send), or opened up to others with chmod. Before a
// process trusts a byte of it, the object must be a regular file of its own
// uid (or, when it asked for group access, of one of its groups) that gives
// nobody beyond owner and group any access; removal takes only an object of
// the caller's own uid that holds a courier segment.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "courier/detail/segment.hpp"
#include "courier/names.hpp"
#include "segment_owner.hpp"

namespace courier::detail {
namespace {

std::string octal(mode_t m) {
  char b[16];
  std::snprintf(b, sizeof b, "0%o", static_cast<unsigned>(m & 07777));
  return b;
}

bool in_my_groups(gid_t g) {
  if (g == ::getegid()) return true;
  const int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  const int got = ::getgroups(n, groups.data());
  for (int i = 0; i < got; ++i)
    if (groups[static_cast<std::size_t>(i)] == g) return true;
  return false;
}

}  // namespace

Result<void> check_object_owner(const struct stat& st, const std::string& shm, mode_t bus_mode) {
  if (!S_ISREG(st.st_mode)) return Error(Errc::corrupt, shm + " is not a regular file: refused");
  const uid_t me = ::geteuid();
  const bool group_access = (bus_mode & 0060) != 0;
  if (st.st_uid != me) {
    if (!group_access)
      return Error(Errc::system, shm + " is owned by uid " + std::to_string(st.st_uid) +
                                     ", not by this process's uid " + std::to_string(me) +
                                     ": refused (another user's object; its owner must remove it)");
    if (!in_my_groups(st.st_gid))
      return Error(Errc::system,
                   shm + " is owned by uid " + std::to_string(st.st_uid) + " and group " + std::to_string(st.st_gid) +
                       ", not one of this process's groups: refused (group access needs a group in common)");
  }
  if ((st.st_mode & 07777 & ~mode_t(0660)) != 0)
    return Error(Errc::system, shm + " has mode " + octal(st.st_mode) +
                                   ": users other than its owner and group can reach it, so nothing in it can be "
                                   "trusted: refused (remove it with 'courier rm --force' and create the bus again)");
  return {};
}

Result<void> check_mode_against_header(const struct stat& st, const std::string& shm, std::uint32_t header_mode) {
  if ((st.st_mode & 0777 & ~static_cast<mode_t>(header_mode)) != 0)
    return Error(Errc::system, shm + " has mode " + octal(st.st_mode) + ", wider than the " +
                                   octal(static_cast<mode_t>(header_mode)) +
                                   " it was created with (chmod'ed since): refused (remove it with 'courier rm "
                                   "--force' and create the bus again)");
  return {};
}

Result<void> check_removable(std::string_view name, bool not_courier_too) {
  const std::string shm = Segment::shm_name(name);
  // O_RDONLY: reading the magic is all removal needs (shm_open adds O_NOFOLLOW).
  const int fd = ::shm_open(shm.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return Error(Errc::not_found, "no bus named '" + std::string(name) + "'");
    // Not readable by us (another user's object): it cannot be ours to remove.
    if (errno == EACCES)
      return Error(Errc::system, shm + " cannot be read by this process: refused (another user's object)");
    return Error(Errc::system, "opening " + shm + ": " + std::strerror(errno));
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  std::uint64_t magic = 0;
  const ssize_t got =
      stat_ok && st.st_size >= static_cast<off_t>(sizeof magic) ? ::pread(fd, &magic, sizeof magic, 0) : 0;
  ::close(fd);
  if (!stat_ok) return Error(Errc::system, "fstat " + shm + ": " + std::strerror(errno));
  if (st.st_uid != ::geteuid())
    return Error(Errc::system, shm + " is owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " +
                                   std::to_string(::geteuid()) +
                                   ": refused (courier rm removes only its caller's buses)");
  // 0: not yet published (being created, or its creator died first).
  if (got == static_cast<ssize_t>(sizeof magic) && magic != 0 && magic != segment_magic && !not_courier_too)
    return Error(Errc::corrupt, shm + " is not a courier segment (bad magic): refused (--force removes it)");
  return {};
}

}  // namespace courier::detail
