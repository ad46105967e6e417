// bench/courier_bench/spin.hpp — one pause instruction for the benchmarks'
// spin loops (tells the core we are spinning).
#pragma once

namespace cbench {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace cbench
