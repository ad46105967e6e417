// directory_lock.hpp — what the directory may believe of its own words in
// shared memory: a slot's id that names that slot, and a robust mutex that is
// the one the creator initialised and is held by a thread that exists. Any
// other process mapping the segment can write anything there; these checks
// turn such writes into an error or a repair instead of a crash or a hang.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>

#include "courier/ids.hpp"

namespace courier::detail {

// A slot's id as read from slot `index`: the id, or 0 when it is not one a
// creator writes there (its slot bits name another slot, or generation 0).
inline std::uint32_t slot_id(std::uint32_t raw, std::uint32_t index) noexcept {
  return endpoint_slot(raw) == index && endpoint_generation(raw) != 0 ? raw : 0;
}

// "2 s", "0.25 s": a timeout in an error message.
inline std::string seconds_text(std::uint64_t ns) {
  std::string s = std::to_string(ns / 1'000'000'000ull);
  if (const std::uint64_t ms = ns / 1'000'000ull % 1000; ms != 0) {
    std::string frac = std::to_string(1000 + ms).substr(1);
    while (frac.back() == '0') frac.pop_back();
    s += "." + frac;
  }
  return s + " s";
}

#if defined(__GLIBC__)
// glibc's lock word (pthread_mutex_t::__data.__lock) of a robust mutex: the
// holder's thread id, and two flags the kernel and glibc share (futex(2)).
inline constexpr int futex_tid_mask = 0x3fffffff;
inline constexpr int futex_waiters = static_cast<int>(0x80000000u);
inline constexpr int futex_owner_died = 0x40000000;

// The kind word of a robust process-shared mutex as this glibc initialises it.
inline int robust_shared_kind() noexcept {
  static const int kind = [] {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t m;
    pthread_mutex_init(&m, &attr);
    pthread_mutexattr_destroy(&attr);
    const int k = m.__data.__kind;
    pthread_mutex_destroy(&m);
    return k;
  }();
  return kind;
}

// False when the mutex's kind is not the one initialise() gave it: glibc
// would then treat the words as another kind of mutex (or refuse with EINVAL).
inline bool mutex_kind_is_ours(pthread_mutex_t& m) noexcept {
  // Relaxed: glibc itself reads the kind plainly; this is a check, not a synchronisation.
  return std::atomic_ref<int>(m.__data.__kind).load(std::memory_order_relaxed) == robust_shared_kind();
}

// A held lock whose word names no living thread (a thread id that does not
// exist, or none): no process can ever unlock it, and the kernel's robust-list
// repair will never come. Mark it as the kernel marks the lock of a thread
// that died (owner-died, waiters kept) so that the next lock call gets
// EOWNERDEAD and repairs it. True when the word was changed.
inline bool release_ownerless_mutex(pthread_mutex_t& m) noexcept {
  std::atomic_ref<int> word(m.__data.__lock);
  int v = word.load(std::memory_order_acquire);             // acquire: as glibc's own read of the word
  if (v == 0 || (v & futex_owner_died) != 0) return false;  // free, or glibc repairs it itself
  const pid_t tid = v & futex_tid_mask;
  if (tid != 0 && (::kill(tid, 0) == 0 || errno != ESRCH)) return false;  // a thread that exists holds it
  // acq_rel: as the kernel's own CAS of the word; it fails if a locker changed it meanwhile.
  return word.compare_exchange_strong(v, (v & futex_waiters) | futex_owner_died, std::memory_order_acq_rel);
}
#else
inline bool mutex_kind_is_ours(pthread_mutex_t&) noexcept { return true; }
inline bool release_ownerless_mutex(pthread_mutex_t&) noexcept { return false; }
#endif

}  // namespace courier::detail
