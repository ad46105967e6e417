// One journal file as the format defines it: names, header, record bytes and
// the decoding of record bodies (docs/log-format.md).
#include "courier/detail/journal_file.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "courier/detail/process.hpp"
#include "journal_codec.hpp"

namespace courier {

using logfmt::FileHeader;
using logfmt::Kind;
using logfmt::RecordFrame;

// ---------------------------------------------------------------- names

std::string journal_file_name(const JournalWriterId& writer, std::uint64_t sequence) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "-%08" PRIx32 "-%016" PRIx64 "%s", writer.epoch_ns,
                static_cast<std::uint32_t>(writer.pid), sequence, logfmt::file_suffix.data());
  return buf;
}

bool parse_journal_file_name(std::string_view name, JournalWriterId& writer, std::uint64_t& sequence) noexcept {
  if (name.size() != logfmt::file_name_length) return false;
  if (name.substr(16 + 1 + 8 + 1 + 16) != logfmt::file_suffix) return false;
  if (name[16] != '-' || name[25] != '-') return false;
  auto hex = [&](std::size_t from, std::size_t n, std::uint64_t& out) {
    out = 0;
    for (std::size_t i = from; i < from + n; ++i) {
      const char c = name[i];
      unsigned d;
      if (c >= '0' && c <= '9')
        d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = unsigned(c - 'a' + 10);
      else
        return false;
      out = (out << 4) | d;
    }
    return true;
  };
  std::uint64_t epoch = 0, pid = 0, seq = 0;
  if (!hex(0, 16, epoch) || !hex(17, 8, pid) || !hex(26, 16, seq)) return false;
  writer.epoch_ns = epoch;
  writer.pid = static_cast<pid_t>(pid);
  sequence = seq;
  return true;
}

bool journal_writer_alive(const JournalWriterId& writer) noexcept {
  // The writer records its start time as self_identity() has it: the low 32 bits.
  return writer.start_ticks <= 0xffffffffu && process_is(writer.pid, writer.start_ticks, 0xffffffffu);
}

bool parse_journal_file_path(std::string_view path, JournalWriterId& writer, std::uint64_t& sequence) noexcept {
  const auto slash = path.find_last_of('/');
  return parse_journal_file_name(slash == std::string_view::npos ? path : path.substr(slash + 1), writer, sequence);
}

// ---------------------------------------------------------------- encoding

logfmt::FileHeader make_journal_file_header(const JournalWriterId& writer, std::uint64_t sequence,
                                            std::uint64_t salt) noexcept {
  FileHeader h{};
  h.magic = logfmt::file_magic;
  h.format_version = logfmt::format_version;
  h.header_size = logfmt::file_header_size;
  h.writer_pid = static_cast<std::uint32_t>(writer.pid);
  h.writer_start_ticks = writer.start_ticks;
  h.writer_epoch_ns = writer.epoch_ns;
  h.sequence = sequence;
  h.salt = salt;
  h.header_crc = journal_codec::header_crc(h);
  return h;
}

void encode_journal_record(std::vector<std::byte>& out, std::uint64_t salt, std::uint64_t offset, Kind kind,
                           std::span<const std::byte> head, std::span<const std::byte> tail) {
  const auto len = static_cast<std::uint32_t>(head.size() + tail.size());
  const std::size_t at = out.size();
  out.resize(at + logfmt::record_span(len));  // value-initialised: the padding is zero
  std::byte* rec = out.data() + at;
  RecordFrame f{};
  f.marker = logfmt::record_marker;
  f.length = len;
  f.kind = static_cast<std::uint8_t>(kind);
  std::memcpy(rec, &f, sizeof f);
  if (!head.empty()) std::memcpy(rec + sizeof f, head.data(), head.size());
  if (!tail.empty()) std::memcpy(rec + sizeof f + head.size(), tail.data(), tail.size());
  // In the log a message's frame word (the lane's) is 0.
  if (kind == Kind::message && len >= sizeof(std::uint64_t))
    std::memset(rec + sizeof f + offsetof(RecordHeader, frame), 0, sizeof(std::uint64_t));
  const std::uint32_t crc = journal_codec::record_crc(salt, offset, rec + logfmt::record_crc_start,
                                                      logfmt::record_frame_size - logfmt::record_crc_start + len);
  std::memcpy(rec + offsetof(RecordFrame, crc), &crc, sizeof crc);
}

// ---------------------------------------------------------------- bodies

Result<JournalMessage> decode_journal_message(std::span<const std::byte> body) {
  if (body.size() < logfmt::message_min_body || body.size() > logfmt::max_body)
    return Error(Errc::corrupt, "journal message body of " + std::to_string(body.size()) + " bytes");
  JournalMessage m;
  std::memcpy(&m.header, body.data(), sizeof m.header);
  if (m.header.payload_len != body.size() - logfmt::message_min_body)
    return Error(Errc::corrupt, "journal message payload_len " + std::to_string(m.header.payload_len) +
                                    " disagrees with its body of " + std::to_string(body.size()) + " bytes");
  // An index into per-priority arrays of the segment (lanes, spill counts) and 4 bits of a tracker
  // entry's flags wherever the message goes next: a journal is untrusted.
  if (m.header.priority >= priority_levels)
    return Error(Errc::corrupt, "journal message priority " + std::to_string(m.header.priority) + " (at most " +
                                    std::to_string(priority_levels - 1) + ")");
  // A stored send never sets one_member (a folded 1-member group is not
  // stored): cleared, so that a record's tracker key is always a member's.
  m.header.flags = static_cast<std::uint8_t>(m.header.flags & ~record_flag::one_member);
  m.payload = body.subspan(logfmt::message_min_body);
  return m;
}

Result<JournalName> decode_journal_name(std::span<const std::byte> body) {
  if (body.size() <= sizeof(logfmt::NameBody) || body.size() > sizeof(logfmt::NameBody) + logfmt::max_name_len)
    return Error(Errc::corrupt, "journal name body of " + std::to_string(body.size()) + " bytes");
  logfmt::NameBody nb;
  std::memcpy(&nb, body.data(), sizeof nb);
  if (nb.name_len != body.size() - sizeof nb)
    return Error(Errc::corrupt,
                 "journal name body: name_len " + std::to_string(nb.name_len) + " disagrees with its length");
  if (nb.what != logfmt::name_what::endpoint && nb.what != logfmt::name_what::group)
    return Error(Errc::corrupt, "journal name body: unknown kind of name " + std::to_string(nb.what));
  JournalName n;
  n.id = nb.id;
  n.group = nb.what == logfmt::name_what::group;
  n.name.assign(reinterpret_cast<const char*>(body.data() + sizeof nb), nb.name_len);
  return n;
}

const char* membership_problem(std::span<const std::byte> body) noexcept {
  namespace mc = logfmt::membership_change;
  if (body.size() <= sizeof(logfmt::MembershipBody)) return "membership body too short";
  logfmt::MembershipBody mb;
  std::memcpy(&mb, body.data(), sizeof mb);
  if (mb.change < mc::first || mb.change > mc::last) return "unknown membership change";
  if (mb.reserved0 != 0 || mb.reserved1 != 0) return "reserved membership bits set";
  if (mb.group_len == 0 || mb.group_len > logfmt::max_name_len) return "impossible group name length";
  if (mc::names_member(mb.change) ? (mb.endpoint_len == 0 || mb.endpoint_len > logfmt::max_name_len)
                                  : mb.endpoint_len != 0)
    return "impossible endpoint name length for the change";
  if (sizeof mb + mb.group_len + mb.endpoint_len != body.size()) return "name lengths disagree with the record length";
  return nullptr;
}

Result<JournalMembership> decode_journal_membership(std::span<const std::byte> body) {
  if (const char* why = membership_problem(body))
    return Error(Errc::corrupt, "journal membership body of " + std::to_string(body.size()) + " bytes: " + why);
  logfmt::MembershipBody mb;
  std::memcpy(&mb, body.data(), sizeof mb);
  JournalMembership m;
  m.at_ns = mb.at_ns;
  m.change = mb.change;
  const char* names = reinterpret_cast<const char*>(body.data() + sizeof mb);
  m.group.assign(names, mb.group_len);
  m.endpoint.assign(names + mb.group_len, mb.endpoint_len);
  return m;
}

Result<logfmt::SettleBody> decode_journal_settle(std::span<const std::byte> body) {
  if (body.size() != logfmt::settle_body_size)
    return Error(Errc::corrupt, "journal settle body of " + std::to_string(body.size()) + " bytes (expected 24)");
  logfmt::SettleBody s;
  std::memcpy(&s, body.data(), sizeof s);
  return s;
}

}  // namespace courier
