// courier/detail/crc32c.hpp — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78),
// the checksum of the journal (docs/log-format.md).
//
//   crc32c::value(data, n)          CRC of one buffer; value("123456789") == 0xE3069283
//   crc32c::extend(crc, data, n)    CRC of (what gave crc) followed by data: streaming
//   crc32c::mask(crc) / unmask(m)   LevelDB's mask, applied to every CRC stored in the log
//
// Two implementations give the same values: the SSE4.2 crc32 instruction
// (8 bytes per instruction, chosen at run time by cpuid) and a portable
// slicing-by-8 table (8 KiB, built at compile time). Both are exposed so the
// tests check each against the known vectors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace courier::crc32c {

inline constexpr std::uint32_t polynomial = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed

namespace detail {

using Table = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Table make_table() noexcept {
  Table t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ polynomial : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::uint32_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  return t;
}

inline constexpr Table table = make_table();
static_assert(table[0][1] == 0xF26B8303u, "CRC-32C table: entry 1 of the standard table");
static_assert(table[0][128] == polynomial);

inline std::uint32_t load32(const unsigned char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);  // little-endian host (detail/record.hpp refuses others)
  return v;
}

}  // namespace detail

// Portable: slicing-by-8. crc is a finished CRC (0 for "nothing yet").
inline std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto& t = detail::table;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (n >= 8) {
    const std::uint32_t lo = detail::load32(p) ^ c;
    const std::uint32_t hi = detail::load32(p + 4);
    c = t[7][lo & 0xffu] ^ t[6][(lo >> 8) & 0xffu] ^ t[5][(lo >> 16) & 0xffu] ^ t[4][lo >> 24] ^ t[3][hi & 0xffu] ^
        t[2][(hi >> 8) & 0xffu] ^ t[1][(hi >> 16) & 0xffu] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xffu];
  return ~c;
}

#if defined(__x86_64__)
// SSE4.2: call only when hardware_available().
__attribute__((target("sse4.2"))) inline std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                                                                       std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    c = __builtin_ia32_crc32qi(c, *p++);
    --n;
  }
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n-- > 0) c = __builtin_ia32_crc32qi(c, *p++);
  return ~c;
}

inline bool hardware_available() noexcept {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
    return (c & bit_SSE4_2) != 0;
  }();
  return has;
}
#else
inline bool hardware_available() noexcept { return false; }
inline std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_portable(crc, data, n);
}
#endif

inline std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return hardware_available() ? extend_hardware(crc, data, n) : extend_portable(crc, data, n);
}

inline std::uint32_t value(const void* data, std::size_t n) noexcept { return extend(0, data, n); }

// LevelDB's mask (google/leveldb util/crc32c.h): the CRC of bytes that embed
// CRCs of their own is weak, so what is stored is the CRC rotated right by 15
// bits plus a constant. Every CRC in a courier journal is stored masked.
inline constexpr std::uint32_t mask_delta = 0xA282EAD8u;
constexpr std::uint32_t mask(std::uint32_t crc) noexcept { return ((crc >> 15) | (crc << 17)) + mask_delta; }
constexpr std::uint32_t unmask(std::uint32_t masked) noexcept {
  const std::uint32_t rot = masked - mask_delta;
  return (rot >> 17) | (rot << 15);
}
static_assert(unmask(mask(0xE3069283u)) == 0xE3069283u);

}  // namespace courier::crc32c
