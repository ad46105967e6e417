// log_inspect.cpp — LogInspector (courier/log_inspect.hpp) over the journal
// reader and record decoders of detail/journal.hpp.
#include "courier/log_inspect.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "courier/detail/journal.hpp"
#include "courier/detail/journal_names.hpp"

namespace courier {

std::string_view log_record_kind_name(LogRecordKind kind) noexcept {
  return logfmt::kind_name(static_cast<logfmt::Kind>(kind));
}

struct LogInspector::Impl {
  JournalReader reader;
  JournalRecord record;
  detail::JournalNames names;  // of the file being read
};

LogInspector::LogInspector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogInspector::LogInspector(LogInspector&&) noexcept = default;
LogInspector& LogInspector::operator=(LogInspector&&) noexcept = default;
LogInspector::~LogInspector() = default;

Result<LogInspector> LogInspector::open(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return Error(Errc::not_found, "no journals in '" + dir + "' (no such directory)");
    return Error(Errc::system, "'" + dir + "': " + std::strerror(err));
  }
  if (S_ISLNK(st.st_mode)) return Error(Errc::invalid_argument, "'" + dir + "': a symbolic link, not followed");
  if (!S_ISDIR(st.st_mode)) return Error(Errc::invalid_argument, "'" + dir + "': not a directory");
  // A journal file must be its directory's owner's: one of another uid is
  // listed as damage (for a bus's own directory, that is the caller's uid:
  // Bus::open refuses a directory of another).
  JournalReaderOptions ro;
  ro.owner = st.st_uid;
  auto reader = JournalReader::open_directory(dir, ro);
  if (!reader) return std::move(reader).error();
  return LogInspector(std::make_unique<Impl>(Impl{std::move(*reader), {}, {}}));
}

namespace {

void decode(const JournalRecord& rec, LogRecord& out) {
  switch (rec.kind) {
    case logfmt::Kind::message:
      if (auto m = decode_journal_message(rec.body)) {
        const RecordHeader& h = m->header;
        out.id = h.id;
        out.from = h.from;
        out.to = h.to;
        out.group = h.group;
        out.priority = h.priority;
        out.flags = h.flags;
        out.type = h.type;
        out.payload_len = h.payload_len;
        out.timestamp_ns = h.timestamp_ns;
        out.expires_ns = h.expires_ns;
        out.payload = m->payload;
      } else {
        out.error = m.error().message;
      }
      break;
    case logfmt::Kind::delivered:
    case logfmt::Kind::read:
    case logfmt::Kind::expired:
      if (auto b = decode_journal_settle(rec.body)) {
        out.id = b->id;
        out.sender = b->sender;
        out.recipient = b->recipient;
        out.at_ns = b->at_ns;
      } else {
        out.error = b.error().message;
      }
      break;
    case logfmt::Kind::name:
      if (auto n = decode_journal_name(rec.body)) {
        out.id = n->id;
        out.names_group = n->group;
        out.name = std::move(n->name);
      } else {
        out.error = n.error().message;
      }
      break;
    case logfmt::Kind::membership:
      if (auto m = decode_journal_membership(rec.body)) {
        out.at_ns = m->at_ns;
        out.change = logfmt::membership_change::name(m->change);
        out.group_name = std::move(m->group);
        out.member = std::move(m->endpoint);
      } else {
        out.error = m.error().message;
      }
      break;
  }
}

}  // namespace

Result<bool> LogInspector::next(LogRecord& out) {
  Impl& s = *impl_;
  auto more = s.reader.next(s.record);
  if (!more) return std::move(more).error();
  if (!*more) return false;
  const JournalRecord& rec = s.record;
  if (rec.segment->path != s.names.path()) s.names.start(rec.segment->path);
  out = LogRecord{};
  out.kind = static_cast<LogRecordKind>(rec.kind);
  out.file = rec.segment->path;
  out.offset = rec.offset;
  out.length = rec.body.size();
  decode(rec, out);
  if (out.kind == LogRecordKind::name && out.error.empty()) (void)s.names.learn(rec.body);
  return true;
}

const std::string* LogInspector::name_of(std::uint32_t id, bool group) const { return impl_->names.name(id, group); }

const std::vector<std::string>& LogInspector::files() const { return impl_->reader.files(); }

std::uint64_t LogInspector::bytes() const { return impl_->reader.file_bytes(); }

std::uint64_t LogInspector::record_bytes() const { return impl_->reader.written_bytes(); }

std::vector<LogRegion> LogInspector::damage() const {
  std::vector<LogRegion> out;
  for (const JournalDamage& d : impl_->reader.damage()) out.push_back({d.file, d.offset, d.length, d.reason});
  return out;
}

std::vector<LogRegion> LogInspector::torn_tails() const {
  std::vector<LogRegion> out;
  for (const JournalTornTail& t : impl_->reader.torn_tails()) out.push_back({t.file, t.offset, t.length, {}});
  return out;
}

}  // namespace courier
