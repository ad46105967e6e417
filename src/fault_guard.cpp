// The SIGBUS guard of bus mappings (courier/detail/fault_guard.hpp).
//
// Everything the handler does is async-signal-safe: atomics, and system calls
// (fstat, fallocate, mmap, clock_gettime, sigaction). The registry is a fixed
// array: registering never allocates, and the handler reads it lock-free. A
// mapping's repair takes the slot's spin flag, so two threads faulting on the
// same lost range replace it once (a second replacement would throw away what
// the first thread wrote on its private page meanwhile).
#include "courier/detail/fault_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace courier::detail {
namespace {

constexpr std::uint64_t page = 4096;
constexpr int slots = 256;

struct Slot {
  std::atomic<std::uintptr_t> base{0};  // 0: free
  std::atomic<std::uint64_t> size{0};
  std::atomic<int> fd{-1};
  std::atomic<std::uint64_t> removed_word{0};
  std::atomic<std::uint64_t> lost_from{~0ull};  // pages from here on are private zero pages
  std::atomic<bool> lost{false};
  std::atomic<bool> busy{false};
};
Slot registry[slots];

struct sigaction previous {};
std::once_flag installed;
bool install_ok = false;

// The kernel's truth about a page: mmap a private zero page (or range) over it.
bool replace(std::uintptr_t at, std::uint64_t len) noexcept {
  void* p =
      ::mmap(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return p != MAP_FAILED;
}

// Tell every process (and this one) that the bus is gone: the removed word,
// as Bus::remove stores it. Its page is valid: it is before the end of the
// object, or was just replaced by a private one.
void mark_removed(Slot& s, std::uintptr_t base) noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const std::uint64_t now = std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
  auto* w = reinterpret_cast<std::atomic<std::uint64_t>*>(base + s.removed_word.load(std::memory_order_relaxed));
  std::uint64_t zero = 0;
  // seq_cst: as Bus::remove's store (the durable path's seq_cst load pairs with it).
  w->compare_exchange_strong(zero, now ? now : 1, std::memory_order_seq_cst);
  s.lost.store(true, std::memory_order_relaxed);  // relaxed: a report for mapping_lost()
}

// Make the faulting access at `addr` of slot s complete. false: cannot.
bool repair(Slot& s, std::uintptr_t base, std::uintptr_t addr) noexcept {
  // Acquire: the repairs of the thread that held the flag before us.
  while (s.busy.exchange(true, std::memory_order_acquire)) {
  }
  const std::uint64_t size = s.size.load(std::memory_order_relaxed);  // relaxed: set before the slot's base
  const std::uint64_t off = (addr - base) & ~(page - 1);
  bool ok = true;
  if (off >= s.lost_from.load(std::memory_order_relaxed)) {
    // Replaced by another thread since our fault: the access now succeeds.
  } else {
    struct stat st {};
    const int fd = s.fd.load(std::memory_order_relaxed);
    const std::uint64_t end = ::fstat(fd, &st) == 0 ? (std::uint64_t(st.st_size) + page - 1) & ~(page - 1) : 0;
    if (off >= end) {
      // Truncated: everything from the object's end is gone, for every process.
      const std::uint64_t from = end;
      const std::uint64_t to = s.lost_from.load(std::memory_order_relaxed) < size ? s.lost_from.load() : size;
      ok = from < to && replace(base + from, to - from);
      if (ok) s.lost_from.store(from, std::memory_order_relaxed);  // relaxed: read under the flag
    } else if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off), static_cast<off_t>(page)) == 0) {
      // Room was made: the page exists now and the access will find it.
      s.busy.store(false, std::memory_order_release);  // release: partner of the acquire above
      return true;
    } else {
      ok = replace(base + off, page);  // a page tmpfs cannot give us (full, or a hole punched in it)
    }
    if (ok) mark_removed(s, base);
  }
  s.busy.store(false, std::memory_order_release);  // release: partner of the acquire above
  return ok;
}

void pass_on(int sig, siginfo_t* info, void* ctx) noexcept {
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, ctx);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
    return;
  }
  // What SIGBUS did before us: the default action. A fault happens again when
  // the instruction is retried; a SIGBUS sent by kill is sent again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(sig);
}

void on_sigbus(int sig, siginfo_t* info, void* ctx) {
  const int saved_errno = errno;
  if (info != nullptr && info->si_code == BUS_ADRERR) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (Slot& s : registry) {
      // Acquire: partner of guard_mapping's release store (size, fd set first).
      const std::uintptr_t base = s.base.load(std::memory_order_acquire);
      if (base == 0 || addr < base || addr - base >= s.size.load(std::memory_order_relaxed)) continue;
      if (repair(s, base, addr)) {
        errno = saved_errno;
        return;
      }
      break;
    }
  }
  errno = saved_errno;
  pass_on(sig, info, ctx);
}

void install() noexcept {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  install_ok = ::sigaction(SIGBUS, &sa, &previous) == 0;
}

}  // namespace

int guard_mapping(std::byte* base, std::uint64_t size, int fd, std::uint64_t removed_word) noexcept {
  std::call_once(installed, install);
  if (!install_ok || base == nullptr) return -1;
  for (int i = 0; i < slots; ++i) {
    Slot& s = registry[i];
    std::uintptr_t free_slot = 0;
    // Claim the slot with a placeholder base no address can match (1), then fill it.
    // Acquire: the slot's previous user is done with it (unguard_mapping's release).
    if (!s.base.compare_exchange_strong(free_slot, 1, std::memory_order_acquire)) continue;
    s.size.store(0, std::memory_order_relaxed);  // relaxed: published by the base store below
    s.fd.store(fd, std::memory_order_relaxed);
    s.removed_word.store(removed_word, std::memory_order_relaxed);
    s.lost_from.store(~0ull, std::memory_order_relaxed);
    s.lost.store(false, std::memory_order_relaxed);
    s.size.store(size, std::memory_order_relaxed);
    // SYNC POINT WRITE: the slot's fields, partner of the handler's acquire load of base.
    s.base.store(reinterpret_cast<std::uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void unguard_mapping(int slot) noexcept {
  if (slot < 0 || slot >= slots) return;
  // Release: our use of the slot is over before another mapping claims it.
  registry[slot].base.store(0, std::memory_order_release);
}

bool mapping_lost(int slot) noexcept {
  // Relaxed: a report; the removed word is what calls act on.
  return slot >= 0 && slot < slots && registry[slot].lost.load(std::memory_order_relaxed);
}

}  // namespace courier::detail
