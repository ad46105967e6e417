// courier/detail/journal_file.hpp — one journal file as the format defines it
// (docs/log-format.md, constants: log_format.hpp): who wrote it, its name, its
// header, and the bytes of its records. Shared by the writer
// (journal_writer.hpp) and the reader (journal_reader.hpp); compiled in
// src/journal_file.cpp.
//
// Words: a "journal file" is one append-only file of a bus's journal
// directory; "segment" is the shared-memory object of a bus (segment.hpp).
// The names the tests use (journal_file_name, JournalFileInfo,
// logfmt::SegmentHeader, ...) keep their old spelling.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/log_format.hpp"
#include "courier/detail/record.hpp"
#include "courier/result.hpp"

namespace courier {

// Who wrote a journal file: the process (pid + start time, process.hpp) and
// the moment its writer opened, which tells apart writers of one process and
// writers of processes with the same pid and start time across reboots.
struct JournalWriterId {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
  std::uint64_t epoch_ns = 0;
  bool operator==(const JournalWriterId&) const = default;
};

// True while the process that wrote with `writer` runs (same pid, same start
// time): its files may still grow.
bool journal_writer_alive(const JournalWriterId& writer) noexcept;

// A journal file as a reader found it.
struct JournalFileInfo {
  std::string path;
  JournalWriterId writer;
  std::uint64_t sequence = 0;  // of its writer's files
  std::uint64_t salt = 0;
  std::uint64_t file_size = 0;
};

// The name of journal file `sequence` of `writer`, and its parse (false when
// `name` is not one).
std::string journal_file_name(const JournalWriterId& writer, std::uint64_t sequence);
bool parse_journal_file_name(std::string_view name, JournalWriterId& writer, std::uint64_t& sequence) noexcept;
// The same for a path: its last component.
bool parse_journal_file_path(std::string_view path, JournalWriterId& writer, std::uint64_t& sequence) noexcept;

// The format as functions (the writer uses them; the tests pin their bytes).
// The header of journal file `sequence` of `writer`, CRC filled in.
logfmt::FileHeader make_journal_file_header(const JournalWriterId& writer, std::uint64_t sequence,
                                            std::uint64_t salt) noexcept;
// Appends to `out` the bytes of one record (frame, body = head + tail, padding)
// as it lies at `offset` of a journal file whose salt is `salt`. Checks
// nothing: JournalWriter::append checks the kind and length first.
void encode_journal_record(std::vector<std::byte>& out, std::uint64_t salt, std::uint64_t offset, logfmt::Kind kind,
                           std::span<const std::byte> head, std::span<const std::byte> tail = {});

// A record's body, checked.
struct JournalMessage {
  RecordHeader header;
  std::span<const std::byte> payload;
};
Result<JournalMessage> decode_journal_message(std::span<const std::byte> body);
Result<logfmt::SettleBody> decode_journal_settle(std::span<const std::byte> body);
struct JournalName {
  std::uint32_t id = 0;
  bool group = false;
  std::string name;
};
Result<JournalName> decode_journal_name(std::span<const std::byte> body);
struct JournalMembership {
  std::uint64_t at_ns = 0;
  std::uint8_t change = 0;  // logfmt::membership_change
  std::string group;
  std::string endpoint;  // empty for group_created / group_removed
};
Result<JournalMembership> decode_journal_membership(std::span<const std::byte> body);
// Why a membership body is not one (its whole check: lengths, names, change,
// reserved bytes), or nullptr when it is. The reader and the decoder share it.
const char* membership_problem(std::span<const std::byte> body) noexcept;

// The older names (the tests use them).
using JournalSegmentInfo = JournalFileInfo;
inline std::string journal_segment_name(const JournalWriterId& writer, std::uint64_t sequence) {
  return journal_file_name(writer, sequence);
}
inline bool parse_journal_segment_name(std::string_view name, JournalWriterId& writer,
                                       std::uint64_t& sequence) noexcept {
  return parse_journal_file_name(name, writer, sequence);
}
inline logfmt::FileHeader make_journal_segment_header(const JournalWriterId& writer, std::uint64_t sequence,
                                                      std::uint64_t salt) noexcept {
  return make_journal_file_header(writer, sequence, salt);
}

}  // namespace courier
