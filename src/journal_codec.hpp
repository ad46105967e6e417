// The checksums and error helpers the journal file, writer and reader share
// (src/ only; the format is docs/log-format.md).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "courier/detail/crc32c.hpp"
#include "courier/detail/log_format.hpp"
#include "courier/error.hpp"

namespace courier::journal_codec {

// An OS error with its cause: EEXIST is already_exists, anything else system.
inline Error sys_error(int err, const std::string& what) {
  return Error(err == EEXIST ? Errc::already_exists : Errc::system, what + ": " + std::strerror(err));
}

inline bool kind_known(std::uint8_t k) noexcept { return k >= logfmt::min_kind && k <= logfmt::max_kind; }

// The record CRC (docs/log-format.md): salt, the record's own offset, then the
// frame from `length` on and the body.
inline std::uint32_t record_crc(std::uint64_t salt, std::uint64_t offset, const std::byte* from_length,
                                std::size_t n) noexcept {
  std::uint32_t c = crc32c::extend(0, &salt, sizeof salt);
  c = crc32c::extend(c, &offset, sizeof offset);
  c = crc32c::extend(c, from_length, n);
  return crc32c::mask(c);
}

inline std::uint32_t header_crc(const logfmt::FileHeader& h) noexcept {
  return crc32c::mask(crc32c::value(&h, logfmt::file_header_crc_span));
}

// Whether the file_header_size bytes at `p` are a courier header whose CRC holds.
inline bool header_sealed(const std::byte* p) noexcept {
  logfmt::FileHeader h;
  std::memcpy(&h, p, sizeof h);
  return h.magic == logfmt::file_magic && h.header_crc == header_crc(h);
}

}  // namespace courier::journal_codec
