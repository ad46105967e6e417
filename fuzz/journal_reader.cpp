// fuzz/journal_reader.cpp — the input is one journal file as it could be
// found on disk. The target writes it, under a journal file's name, into a
// directory of its own (TMPDIR or /tmp, courier-fuzz-journal-PID, removed at
// exit) and reads it back as recovery, courier log and compaction do:
//
//   1. JournalReader over the file (open_file), and over its directory
//      (open_directory), every record decoded by its kind.
//   2. LogInspector over the directory (courier log dump / stat / verify),
//      every record, then its damage and torn tails.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/log_inspect.hpp"

namespace {

struct Place {
  std::string dir, file;
  Place() {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/courier-fuzz-journal-" +
          std::to_string(::getpid());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      std::perror(("fuzz_journal_reader: mkdir " + dir).c_str());
      std::abort();
    }
    file = dir + "/" + courier::journal_file_name(courier::JournalWriterId{1234, 5678, 1'000'000'000}, 1);
  }
  ~Place() {
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
  }
};

const Place& place() {
  static const Place p;
  return p;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
    std::perror(("fuzz_journal_reader: writing " + path).c_str());
    std::abort();
  }
}

// Every record of `r`, decoded by its kind; the number of bytes seen.
std::uint64_t read_all(courier::JournalReader& r) {
  std::uint64_t sum = 0;
  courier::JournalRecord rec;
  for (;;) {
    auto more = r.next(rec);
    if (!more || !*more) break;
    sum += rec.body.size() + rec.offset;
    switch (rec.kind) {
      case courier::logfmt::Kind::message:
        if (auto m = courier::decode_journal_message(rec.body)) sum += m->payload.size() + m->header.id;
        break;
      case courier::logfmt::Kind::delivered:
      case courier::logfmt::Kind::read:
      case courier::logfmt::Kind::expired:
        if (auto s = courier::decode_journal_settle(rec.body)) sum += s->id;
        break;
      case courier::logfmt::Kind::name:
        if (auto n = courier::decode_journal_name(rec.body)) sum += n->name.size() + n->id;
        break;
      case courier::logfmt::Kind::membership:
        if (auto m = courier::decode_journal_membership(rec.body)) sum += m->group.size() + m->endpoint.size();
        break;
    }
  }
  for (const courier::JournalDamage& d : r.damage()) sum += d.offset + d.length + d.reason.size();
  for (const courier::JournalTornTail& t : r.torn_tails()) sum += t.offset + t.length;
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Place& p = place();
  write_file(p.file, data, size);
  std::uint64_t sum = 0;
  // One read buffer for both readers, as recovery shares one (anonymous memory: ASan does not see into it either way).
  static const auto buffer = std::make_shared<courier::detail::ReadBuffer>();
  courier::JournalReaderOptions ro;
  ro.buffer = buffer;
  if (auto r = courier::JournalReader::open_file(p.file, ro)) sum += read_all(*r);
  if (auto r = courier::JournalReader::open_directory(p.dir, ro)) sum += read_all(*r);
  if (auto log = courier::LogInspector::open(p.dir)) {
    courier::LogRecord rec;
    for (;;) {
      auto more = log->next(rec);
      if (!more || !*more) break;
      sum += rec.length + rec.name.size() + rec.payload.size() + rec.error.size() + rec.group_name.size();
      for (std::uint32_t id : {rec.from, rec.to, rec.sender, rec.recipient})
        if (const std::string* n = log->name_of(id)) sum += n->size();
      if (const std::string* n = log->name_of(rec.group, true)) sum += n->size();
    }
    sum += log->damage().size() + log->torn_tails().size();
  }
  if (sum == 0x5eed) std::fputc('\0', stderr);  // keeps the reads above from being optimised away
  return 0;
}
