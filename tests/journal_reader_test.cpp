// Reading journal files back (detail/journal_reader.hpp, docs/log-format.md):
// torn tails, damage in the middle, random truncation and corruption,
// rolling, several writers, file headers and format versions.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal_support.hpp"

namespace courier {
namespace {

using namespace journal_testing;  // with fs, Kind and Bytes

TEST(Journal, TornTailAtEveryByteOfTheLastRecordIsCutSilently) {
  TempDir d;
  JournalWriter w = open_writer(d.sub("src"));
  Written written;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 4; ++i) append_random(w, written, rng, 50);
  const Bytes payload = to_bytes("the last message, 37 bytes long......");
  const RecordHeader h = sample_header(static_cast<std::uint32_t>(payload.size()));
  auto p = w.append_message(h, payload);
  ASSERT_TRUE(p);
  ASSERT_TRUE(w.close());
  const Bytes file = read_file(w.segment_path());
  const std::uint64_t last = p->offset;
  const std::uint64_t body_end = last + 16 + 64 + payload.size();
  ASSERT_EQ(file.size(), logfmt::align_up(body_end));

  const std::string path = d.sub("seg.journal");
  for (std::uint64_t cut = last; cut <= file.size(); ++cut) {
    for (int zeros : {0, 1}) {
      Bytes torn(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
      if (zeros) torn.resize(file.size() + 4096, std::byte{0});  // the size got out, the data did not
      write_file(path, torn);
      const ReadBack r = read_file_records(path);
      SCOPED_TRACE("cut at " + std::to_string(cut) + (zeros ? " then zeros" : ""));
      EXPECT_TRUE(r.damage.empty()) << r.damage[0].reason << " at " << r.damage[0].offset;
      const bool whole = cut >= body_end;
      ASSERT_EQ(r.records.size(), written.records.size() + (whole ? 1 : 0));
      for (std::size_t i = 0; i < written.records.size(); ++i) EXPECT_EQ(r.records[i], written.records[i]);
      // Zeros from a record boundary on (cut at `last` or after the whole
      // record) end the file: a preallocated file, nothing torn.
      const bool zeros_at_boundary = zeros && (cut == last || whole);
      const bool tail_left = zeros ? !zeros_at_boundary : (cut > last && !whole);
      if (tail_left) {
        ASSERT_EQ(r.torn.size(), 1u);
        EXPECT_EQ(r.torn[0].offset, last);
        EXPECT_EQ(r.torn[0].file, path);
      } else {
        EXPECT_TRUE(r.torn.empty()) << "torn at " << r.torn[0].offset;
      }
    }
  }
}

// JournalReaderOptions::read_limit: a first look at a file's first bytes
// returns the records that end within them, in order, and nothing after; the
// record the limit cuts ends the read as a torn tail, never as damage.
TEST(Journal, AReadLimitReturnsTheRecordsBeforeItAndCutsLikeATornTail) {
  TempDir d;
  const RandomJournal j = random_journal(d.sub("src"), 29, 200, 300);
  const std::string& path = j.path;
  const Written& written = j.written;
  const std::uint64_t size = fs::file_size(path);
  const std::size_t total = written.records.size();
  for (std::uint64_t limit = 1; limit < size + 100; limit += 37) {
    SCOPED_TRACE("limit " + std::to_string(limit) + " of " + std::to_string(size));
    JournalReaderOptions o;
    o.read_limit = limit;
    auto r = JournalReader::open_file(path, o);
    ASSERT_TRUE(r);
    std::vector<Rec> got;
    JournalRecord rec;
    for (;;) {
      auto more = r->next(rec);
      ASSERT_TRUE(more) << more.error().message;
      if (!*more) break;
      got.push_back(Rec{rec.kind, Bytes(rec.body.begin(), rec.body.end()), rec.segment->sequence, rec.offset});
    }
    EXPECT_TRUE(r->damage().empty()) << r->damage()[0].reason << " at " << r->damage()[0].offset;
    EXPECT_EQ(r->read_bytes(), std::min(limit, size));
    // The records whose frame and body end within the limit (a header cut: none).
    std::size_t whole = 0;
    while (limit >= logfmt::file_header_size && whole < total &&
           written.records[whole].offset + logfmt::record_frame_size + written.records[whole].body.size() <= limit)
      ++whole;
    ASSERT_EQ(got.size(), whole);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], written.records[i]);
    // Cut inside a record (or the header): one torn tail; at a record's start or past the end: none.
    const bool cut = limit < logfmt::file_header_size || (whole < total && limit > written.records[whole].offset);
    EXPECT_EQ(r->torn_tails().size(), cut ? 1u : 0u);
  }
}

TEST(Journal, FlippedByteInAMiddleRecordIsReportedAndLaterRecordsAreRead) {
  TempDir d;
  JournalWriter w = open_writer(d.sub("src"));
  Written written;
  std::mt19937_64 rng(12);
  for (int i = 0; i < 2; ++i) append_random(w, written, rng, 40);
  const RecordHeader h = sample_header(21);
  const Bytes payload(21, std::byte{0x5a});
  auto p = w.append_message(h, payload);  // the victim
  ASSERT_TRUE(p);
  written.add(Kind::message, message_body(h, payload), *p);
  for (int i = 0; i < 3; ++i) append_random(w, written, rng, 40);
  ASSERT_TRUE(w.close());
  const Bytes file = read_file(w.segment_path());
  const std::uint64_t victim = p->offset;
  const std::uint64_t body_end = victim + 16 + 64 + 21;

  const std::string path = d.sub("seg.journal");
  for (std::uint64_t at = victim; at < body_end; ++at) {
    for (unsigned char x : {0x01, 0x80, 0xff}) {
      Bytes bad = file;
      bad[at] ^= std::byte{x};
      write_file(path, bad);
      const ReadBack r = read_file_records(path);
      SCOPED_TRACE("byte " + std::to_string(at - victim) + " of the record ^ " + std::to_string(x));
      ASSERT_EQ(r.damage.size(), 1u);
      EXPECT_EQ(r.damage[0].file, path);
      EXPECT_EQ(r.damage[0].offset, victim);
      EXPECT_EQ(r.damage[0].length, written.records[3].offset - victim);
      EXPECT_FALSE(r.damage[0].reason.empty());
      EXPECT_TRUE(r.torn.empty());
      std::vector<Rec> want = written.records;
      want.erase(want.begin() + 2);
      EXPECT_EQ(r.records, want);
    }
  }
  // A flipped padding byte is outside the CRC and harms nothing.
  Bytes bad = file;
  bad[body_end] ^= std::byte{0xff};
  write_file(path, bad);
  const ReadBack r = read_file_records(path);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_EQ(r.records, written.records);
}

// Damage at the very end that cannot be a torn write (a complete record, CRC
// wrong, no zeros after it) is reported, not cut.
TEST(Journal, CorruptLastRecordWithoutZerosIsReported) {
  TempDir d;
  JournalWriter w = open_writer(d.sub("src"));
  Bytes payload(16, std::byte{0x77});
  auto p = w.append_message(sample_header(16), payload);
  ASSERT_TRUE(p);
  ASSERT_TRUE(w.close());
  Bytes file = read_file(w.segment_path());
  file[p->offset + 16 + 64 + 3] ^= std::byte{1};
  const std::string path = d.sub("seg.journal");
  write_file(path, file);
  const ReadBack r = read_file_records(path);
  EXPECT_TRUE(r.records.empty());
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].offset, p->offset);
  EXPECT_NE(r.damage[0].reason.find("CRC"), std::string::npos) << r.damage[0].reason;
}

// A message whose payload holds the bytes of a valid record (same salt even)
// is never mistaken for that record when the reader resynchronises inside it:
// the CRC covers the record's own offset.
TEST(Journal, RecordBytesInsideAPayloadAreNotResynchronisedOnto) {
  TempDir d;
  JournalWriter w = open_writer(d.sub("src"));
  ASSERT_TRUE(w.close());
  Bytes file = read_file(w.segment_path());
  logfmt::SegmentHeader sh;
  std::memcpy(&sh, file.data(), sizeof sh);
  const auto s = sample_settle(42);
  Bytes inner;  // a valid record for offset 64 of this very segment
  encode_journal_record(inner, sh.salt, 64, Kind::expired, std::as_bytes(std::span(&s, 1)));
  Bytes payload(8, std::byte{0});
  payload.insert(payload.end(), inner.begin(), inner.end());
  const RecordHeader h = sample_header(static_cast<std::uint32_t>(payload.size()));
  encode_journal_record(file, sh.salt, 64, Kind::message, std::as_bytes(std::span(&h, 1)), payload);
  file[64 + 16 + 40] ^= std::byte{0x10};  // damage the message's header bytes
  const std::string path = d.sub("seg.journal");
  write_file(path, file);
  const ReadBack r = read_file_records(path);
  EXPECT_TRUE(r.records.empty()) << "resynchronised onto a record inside a payload";
  EXPECT_EQ(r.damage.size(), 1u);
}

// Truncation at random offsets and random corruption (flips, zeroed ranges,
// copied ranges) never crash and never yield a record that was not written
// where the reader says it was (run under ASan in CI).
TEST(Journal, RandomDamageNeverCrashesNorInventsRecords) {
  TempDir d;
  std::mt19937_64 rng(2024);
  const std::string path = d.sub("seg.journal");
  for (int round = 0; round < 40; ++round) {
    const std::string src = d.sub("src" + std::to_string(round));
    JournalWriter w = open_writer(src);
    Written written;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) append_random(w, written, rng, 200);
    ASSERT_TRUE(w.close());
    const Bytes file = read_file(w.segment_path());
    std::map<std::uint64_t, Rec> by_offset;
    for (const auto& rec : written.records) by_offset.emplace(rec.offset, rec);

    for (int trial = 0; trial < 50; ++trial) {
      Bytes bad = file;
      const int what = static_cast<int>(rng() % 4);
      bool only_cut = false;
      if (what == 0) {  // truncation only
        bad.resize(rng() % (file.size() + 1));
        only_cut = true;
      } else if (what == 1) {  // flips
        for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) bad[rng() % bad.size()] ^= std::byte(1 + rng() % 255);
      } else if (what == 2) {  // a zeroed range
        const std::size_t a = rng() % bad.size(), len = rng() % 64;
        std::fill(bad.begin() + static_cast<std::ptrdiff_t>(a),
                  bad.begin() + static_cast<std::ptrdiff_t>(std::min(bad.size(), a + len)), std::byte{0});
      } else {  // a range copied elsewhere (bytes of real records out of place), then a cut
        const std::size_t a = rng() % bad.size(), b = rng() % bad.size(), len = rng() % 128;
        for (std::size_t i = 0; i < len && a + i < bad.size() && b + i < bad.size(); ++i) bad[b + i] = file[a + i];
        bad.resize(bad.size() - rng() % std::min<std::size_t>(bad.size(), 100));
      }
      write_file(path, bad);
      const ReadBack r = read_file_records(path);
      for (const auto& rec : r.records) {
        auto it = by_offset.find(rec.offset);
        ASSERT_NE(it, by_offset.end()) << "a record at " << rec.offset << " that was never written there";
        EXPECT_EQ(rec.kind, it->second.kind);
        EXPECT_EQ(rec.body, it->second.body);
      }
      for (const auto& dmg : r.damage) {
        EXPECT_LE(dmg.offset + dmg.length, bad.size());
        EXPECT_EQ(dmg.file, path);
      }
      if (only_cut) {  // a cut alone is never damage, and keeps every record before it
        EXPECT_TRUE(r.damage.empty()) << "cut at " << bad.size() << ": " << r.damage[0].reason;
        std::size_t whole = 0;
        for (const auto& rec : written.records)
          if (rec.offset + 16 + rec.body.size() <= bad.size()) ++whole;
        EXPECT_EQ(r.records.size(), whole) << "cut at " << bad.size();
      }
    }
  }
}

TEST(Journal, RollAtSizeProducesSegmentsReadBackInOrder) {
  TempDir d;
  JournalWriter w = open_writer(d.path, {.segment_size = 4096, .buffer_limit = 1000});
  Written written;
  std::mt19937_64 rng(13);
  for (int i = 0; i < 300; ++i) append_random(w, written, rng, 120);
  ASSERT_TRUE(w.sync());
  const auto files = segment_files(d.path);
  EXPECT_GE(files.size(), 5u);
  EXPECT_EQ(w.sequence() + 1, files.size());
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), 4096u) << f;

  const ReadBack r = read_dir_records(d.path);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_TRUE(r.torn.empty());
  EXPECT_EQ(r.records, written.records);
  for (std::size_t i = 1; i < r.records.size(); ++i) {
    const auto& a = r.records[i - 1];
    const auto& b = r.records[i];
    EXPECT_TRUE(a.sequence < b.sequence || (a.sequence == b.sequence && a.offset < b.offset)) << i;
  }
}

TEST(Journal, RecordLargerThanASegmentGoesAloneIntoOne) {
  TempDir d;
  JournalWriter w = open_writer(d.path, {.segment_size = 4096});
  Written written;
  const Bytes big(10000, std::byte{3});
  ASSERT_TRUE(w.append_settle(Kind::delivered, sample_settle(1)));
  const RecordHeader h = sample_header(static_cast<std::uint32_t>(big.size()));
  auto p = w.append_message(h, big);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sequence, 1u);
  EXPECT_EQ(p->offset, 64u);
  auto q = w.append_settle(Kind::read, sample_settle(1));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->sequence, 2u);
  ASSERT_TRUE(w.close());
  const ReadBack r = read_dir_records(d.path);
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[1].body, message_body(h, big));
}

TEST(Journal, TwoWritersInOneDirectoryEachKeepTheirOrder) {
  TempDir d;
  JournalWriter a = open_writer(d.path, {.segment_size = 4096});
  JournalWriter b = open_writer(d.path, {.segment_size = 4096});
  EXPECT_NE(a.writer_id().epoch_ns, b.writer_id().epoch_ns);
  Written wa, wb;
  std::mt19937_64 rng(14);
  for (int i = 0; i < 200; ++i) append_random(i % 3 ? a : b, i % 3 ? wa : wb, rng, 100);
  ASSERT_TRUE(a.close());
  ASSERT_TRUE(b.close());
  auto reader = JournalReader::open_directory(d.path);
  ASSERT_TRUE(reader);
  JournalRecord rec;
  std::vector<Rec> ra, rb;
  for (;;) {
    auto more = reader->next(rec);
    ASSERT_TRUE(more);
    if (!*more) break;
    Rec r{rec.kind, Bytes(rec.body.begin(), rec.body.end()), rec.segment->sequence, rec.offset};
    (rec.segment->writer.epoch_ns == a.writer_id().epoch_ns ? ra : rb).push_back(r);
  }
  EXPECT_EQ(ra, wa.records);
  EXPECT_EQ(rb, wb.records);
}

TEST(Journal, DamagedSegmentHeaderIsReportedAndTheNextSegmentIsRead) {
  TempDir d;
  JournalWriter w = open_writer(d.path, {.segment_size = 4096});
  Written written;
  std::mt19937_64 rng(15);
  while (w.sequence() < 3) append_random(w, written, rng, 100);
  ASSERT_TRUE(w.close());
  const auto files = segment_files(d.path);
  ASSERT_EQ(files.size(), 4u);
  Bytes seg1 = read_file(files[1]);
  seg1[41] ^= std::byte{1};  // the sequence number: header CRC fails
  write_file(files[1], seg1);
  const ReadBack r = read_dir_records(d.path);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].file, files[1]);
  EXPECT_EQ(r.damage[0].offset, 0u);
  std::vector<Rec> want;
  for (const auto& rec : written.records)
    if (rec.sequence != 1) want.push_back(rec);
  EXPECT_EQ(r.records, want);

  // A file named like a segment but holding another segment's header.
  write_file(files[1], read_file(files[2]));
  const ReadBack r2 = read_dir_records(d.path);
  ASSERT_EQ(r2.damage.size(), 1u);
  EXPECT_NE(r2.damage[0].reason.find("name"), std::string::npos) << r2.damage[0].reason;
}

// Set a journal file's format_version and seal its header again (a valid
// header of that version).
void set_format_version(const std::string& path, std::uint32_t version) {
  Bytes f = read_file(path);
  logfmt::FileHeader h;
  std::memcpy(&h, f.data(), sizeof h);
  h.format_version = version;
  h.header_crc = crc32c::mask(crc32c::value(&h, logfmt::file_header_crc_span));
  std::memcpy(f.data(), &h, sizeof h);
  write_file(path, f);
}

TEST(Journal, FilesOfEveryReadableFormatVersionAreReadAndOthersRefused) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  Written written;
  std::mt19937_64 rng(16);
  for (int i = 0; i < 20; ++i) append_random(w, written, rng, 100);
  ASSERT_TRUE(w.close());
  const auto files = segment_files(d.path);
  ASSERT_EQ(files.size(), 1u);
  for (std::uint32_t v : {1u, 2u, 3u}) {  // 1: written before kind 5 was counted in the version
    set_format_version(files[0], v);
    const ReadBack r = read_dir_records(d.path);
    EXPECT_TRUE(r.damage.empty()) << "version " << v << ": " << (r.damage.empty() ? "" : r.damage[0].reason);
    EXPECT_EQ(r.records, written.records) << "version " << v;
  }
  for (std::uint32_t v : {0u, logfmt::format_version + 1}) {
    set_format_version(files[0], v);
    const ReadBack r = read_dir_records(d.path);
    ASSERT_EQ(r.damage.size(), 1u) << "version " << v;
    EXPECT_NE(r.damage[0].reason.find("format version " + std::to_string(v)), std::string::npos) << r.damage[0].reason;
    EXPECT_TRUE(r.records.empty());
  }
}

TEST(Journal, SegmentCutInsideItsHeaderIsTornNotDamaged) {
  TempDir d;
  JournalWriter w = open_writer(d.sub("src"));
  ASSERT_TRUE(w.close());
  const Bytes file = read_file(w.segment_path());
  const std::string path = d.sub("seg.journal");
  for (std::size_t cut = 0; cut < 64; ++cut) {
    write_file(path, std::span(file).first(cut));
    const ReadBack r = read_file_records(path);
    EXPECT_TRUE(r.damage.empty()) << cut;
    EXPECT_EQ(r.torn.size(), 1u) << cut;
  }
  write_file(path, Bytes(4096, std::byte{0}));  // preallocated, never written
  EXPECT_TRUE(read_file_records(path).damage.empty());
  write_file(path, to_bytes("not a journal at all, but long enough to hold a segment header......"));
  const ReadBack r = read_file_records(path);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_NE(r.damage[0].reason.find("magic"), std::string::npos);
}

// A whole header whose CRC ends in zero bytes (one file in 256): a file of
// that header alone (a process that opened the log and wrote nothing) is
// whole, neither torn nor damaged.
TEST(Journal, HeaderWhoseCrcEndsInZerosIsWholeNotTorn) {
  TempDir d;
  const JournalWriterId writer{.pid = 4242, .start_ticks = 7, .epoch_ns = 1700000000000000000ull};
  int found = 0;
  for (std::uint64_t salt = 1; found < 2 && salt < 1'000'000; ++salt) {
    const logfmt::FileHeader h = make_journal_file_header(writer, 0, salt);
    const int zero_bytes = (h.header_crc >> 24) != 0 ? 0 : (h.header_crc >> 16) != 0 ? 1 : 2;
    if (zero_bytes != found + 1) continue;  // one header ending in one zero byte, then one in two
    ++found;
    SCOPED_TRACE("a CRC ending in " + std::to_string(zero_bytes) + " zero bytes");
    const std::string path = d.sub("cut" + std::to_string(found)) + "/" + journal_file_name(writer, 0);
    fs::create_directories(fs::path(path).parent_path());
    write_file(path, std::as_bytes(std::span(&h, 1)));
    const ReadBack alone = read_file_records(path);
    EXPECT_TRUE(alone.damage.empty()) << alone.damage[0].reason;
    EXPECT_TRUE(alone.torn.empty()) << "torn at " << alone.torn[0].offset;
    EXPECT_TRUE(alone.records.empty());

    // Cut inside such a header, it is still torn (the writer died creating it).
    write_file(path, std::as_bytes(std::span(&h, 1)).first(logfmt::file_header_size - 8));
    EXPECT_EQ(read_file_records(path).torn.size(), 1u);
  }
  EXPECT_EQ(found, 2) << "no salt gave such CRCs";
}

TEST(Journal, SymlinkNamedLikeASegmentIsReportedNotFollowed) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  ASSERT_TRUE(w.append_settle(Kind::expired, sample_settle(5)));
  ASSERT_TRUE(w.close());
  const JournalWriterId other{1, 1, 1};
  const std::string link = d.sub(journal_segment_name(other, 0));
  ASSERT_EQ(::symlink(w.segment_path().c_str(), link.c_str()), 0);
  const ReadBack r = read_dir_records(d.path);
  EXPECT_EQ(r.records.size(), 1u);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].file, link);
}

TEST(Journal, ReaderOfAMissingDirectoryOrFileSaysWhich) {
  TempDir d;
  auto r = JournalReader::open_directory(d.sub("nope"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);
  auto f = JournalReader::open_file(d.sub("missing.journal"));
  ASSERT_TRUE(f);
  JournalRecord rec;
  auto more = f->next(rec);
  ASSERT_FALSE(more);
  EXPECT_NE(more.error().message.find("missing.journal"), std::string::npos);
}

// A preallocated journal file (issue 15): its records, then zeros up to the
// allocated size. The zeros end the file: every record is read, nothing is
// torn or damaged. (The reader before preallocation reported the zeros as a
// torn tail, which `courier log stat` and a recovery report then counted.)
TEST(Journal, ZerosAfterTheLastRecordEndTheFileNeitherTornNorDamage) {
  TempDir d;
  const RandomJournal j = random_journal(d.sub("src"), 15, 3, 100);
  const Written& written = j.written;
  Bytes file = read_file(j.path);
  for (std::uint64_t zeros : {std::uint64_t{8}, std::uint64_t{4096}, std::uint64_t{8} << 20}) {
    SCOPED_TRACE(std::to_string(zeros) + " zero bytes");
    Bytes tailed = file;
    tailed.resize(file.size() + zeros, std::byte{0});
    write_file(j.path, tailed);
    const ReadBack r = read_dir_records(d.sub("src"));
    EXPECT_TRUE(r.damage.empty()) << r.damage[0].reason;
    EXPECT_TRUE(r.torn.empty()) << "torn at " << r.torn[0].offset << ", " << r.torn[0].length << " bytes";
    EXPECT_EQ(r.records, written.records);
  }
}

// The writer's preallocation: the file is allocated ahead of its records,
// readable at any time (zeros end it), and cut back to its records by a roll
// and by close.
TEST(Journal, PreallocatedFileReadsWhileOpenAndIsCutBackAtRollAndClose) {
  TempDir d;
  JournalOptions o;
  o.preallocate = 64 << 10;
  JournalWriter w = open_writer(d.sub("src"), o);
  Written written;
  std::mt19937_64 rng(16);
  for (int i = 0; i < 5; ++i) append_random(w, written, rng, 200);
  ASSERT_TRUE(w.flush());
  const std::string first = w.segment_path();
  EXPECT_EQ(fs::file_size(first), o.preallocate) << "preallocated in steps of 64 KiB";
  EXPECT_LT(w.segment_bytes(), o.preallocate);
  ReadBack open_r = read_dir_records(d.sub("src"));
  EXPECT_TRUE(open_r.damage.empty());
  EXPECT_TRUE(open_r.torn.empty()) << "torn at " << open_r.torn[0].offset;
  EXPECT_EQ(open_r.records, written.records);

  const std::uint64_t first_end = w.segment_bytes();
  ASSERT_TRUE(w.roll());
  EXPECT_EQ(fs::file_size(first), first_end) << "a roll cuts the file back to its records";
  for (int i = 0; i < 5; ++i) append_random(w, written, rng, 200);
  ASSERT_TRUE(w.flush());
  const std::string second = w.segment_path();
  EXPECT_EQ(fs::file_size(second), o.preallocate);
  const std::uint64_t second_end = w.segment_bytes();
  ASSERT_TRUE(w.close());
  EXPECT_EQ(fs::file_size(second), second_end) << "close cuts the file back to its records";
  const ReadBack r = read_dir_records(d.sub("src"));
  EXPECT_TRUE(r.damage.empty());
  EXPECT_TRUE(r.torn.empty());
  EXPECT_EQ(r.records, written.records);
}


// The spill forwarder reads the journals of living senders: a pread can see a
// later page of a pwrite before an earlier one, so a record being written can
// look like a hole with whole records behind it. A live read of a file whose
// writer is alive stops at the hole (no damage) and a read from the last
// record returned gets the rest, in order, once the bytes are there; before,
// the hole was skipped as damage and its records came far too late. A dead
// writer's file never finishes: its hole is damage, skipped, as always.
TEST(Journal, LiveReadStopsAtALivingWritersUnfinishedRecordAndSkipsADeadWritersDamage) {
  TempDir d;
  JournalReaderOptions live;
  live.live = true;
  const auto read = [](const std::string& path, const JournalReaderOptions& o, std::uint64_t start = 0) {
    return drain(JournalReader::open_file(path, o, start));
  };
  // Zeros over records[2] of `path` (its bytes returned).
  const auto punch = [](const std::string& path, const Written& w) {
    Bytes file = read_file(path);
    const Bytes saved(file.begin() + static_cast<std::ptrdiff_t>(w.records[2].offset),
                      file.begin() + static_cast<std::ptrdiff_t>(w.records[3].offset));
    std::fill(file.begin() + static_cast<std::ptrdiff_t>(w.records[2].offset),
              file.begin() + static_cast<std::ptrdiff_t>(w.records[3].offset), std::byte{0});
    write_file(path, file);
    return saved;
  };
  const auto without = [](std::vector<Rec> v, std::size_t i) {
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    return v;
  };

  // This process writes (alive), the file still open.
  JournalWriter w = open_writer(d.sub("alive"));
  Written written;
  std::mt19937_64 rng(17);
  for (int i = 0; i < 5; ++i) append_random(w, written, rng, 300);
  ASSERT_TRUE(w.flush());
  const std::string path = w.segment_path();
  const Bytes saved = punch(path, written);
  ReadBack r = read(path, live);
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(r.damage.empty()) << r.damage[0].reason;
  EXPECT_EQ(r.records, std::vector<Rec>(written.records.begin(), written.records.begin() + 2));
  r = read(path, {});  // without `live`: damage, and the records behind it
  EXPECT_FALSE(r.stopped);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].offset, written.records[2].offset);
  EXPECT_EQ(r.records, without(written.records, 2));
  // The write completes: from the last record returned, the rest in order.
  Bytes file = read_file(path);
  std::copy(saved.begin(), saved.end(), file.begin() + static_cast<std::ptrdiff_t>(written.records[2].offset));
  write_file(path, file);
  r = read(path, live, written.records[2].offset);
  EXPECT_FALSE(r.stopped);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_EQ(r.records, std::vector<Rec>(written.records.begin() + 2, written.records.end()));
  ASSERT_TRUE(w.close());

  // A writer that died (a child process that wrote and exited): damage, skipped.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto dw = JournalWriter::open(d.sub("dead"), {});
    std::mt19937_64 crng(18);
    Written cw;
    for (int i = 0; i < 5 && dw; ++i) append_random(*dw, cw, crng, 300);
    ::_exit(dw && dw->flush() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::vector<std::string> files = segment_files(d.sub("dead"));
  ASSERT_EQ(files.size(), 1u);
  Written dead;
  for (const Rec& rec : read_file_records(files[0]).records) dead.records.push_back(rec);
  ASSERT_EQ(dead.records.size(), 5u);
  (void)punch(files[0], dead);
  r = read(files[0], live);
  EXPECT_FALSE(r.stopped);
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.records, without(dead.records, 2));
}

// JournalReaderOptions::read_ahead reads the next file on a helper thread:
// what the reader returns must not change. A directory of many files, among
// them every kind of file a reader skips (a damaged header, one torn inside
// its header, a FIFO, a symbolic link, another uid's, one too large, one
// removed after the listing), read with and without it.
TEST(Journal, ReadAheadReturnsTheSameRecordsDamageAndTornFilesAsAPlainRead) {
  TempDir d;
  // Files of 1.5 MiB: read ahead (smaller ones are read in their turn, JournalReaderOptions::read_ahead_from).
  constexpr std::uint64_t file_size = 3u << 19;
  static_assert(file_size >= JournalReaderOptions::read_ahead_from);
  JournalWriter w = open_writer(d.path, {.segment_size = file_size});
  Written written;
  std::mt19937_64 rng(31);
  while (w.sequence() < 12) append_random(w, written, rng, 300);
  ASSERT_TRUE(w.close());
  const auto files = segment_files(d.path);
  ASSERT_GE(files.size(), 12u);
  Bytes seg = read_file(files[1]);
  seg[41] ^= std::byte{1};  // its header's CRC fails
  write_file(files[1], seg);
  Bytes torn = read_file(files[3]);
  torn.resize(logfmt::file_header_size / 2);  // a writer that died creating it
  write_file(files[3], torn);
  ASSERT_EQ(::chown(files[5].c_str(), 4321, 4321), 0) << "another uid's file (the tests run as root)";
  Bytes big = read_file(files[7]);
  big.resize(2 * file_size, std::byte{0});  // zeros after its records: still whole, but larger than the limit below
  write_file(files[7], big);
  const JournalWriterId other{1, 1, 1};
  ASSERT_EQ(::mkfifo(d.sub(journal_segment_name(other, 0)).c_str(), 0600), 0);
  ASSERT_EQ(::symlink(files[2].c_str(), d.sub(journal_segment_name(other, 1)).c_str()), 0);

  const auto read = [&](bool ahead) {
    JournalReaderOptions o;
    o.read_ahead = ahead;
    o.max_file_size = file_size + file_size / 2;
    auto r = JournalReader::open_directory(d.path, o);
    // Listed, then removed before its turn (compaction): skipped alike.
    fs::rename(files[9], d.sub("kept"));
    ReadBack b = drain(std::move(r));
    fs::rename(d.sub("kept"), files[9]);
    return b;
  };
  const ReadBack plain = read(false), ahead = read(true);
  EXPECT_GT(plain.records.size(), 100u);
  EXPECT_EQ(plain.damage.size(), 5u) << "header CRC, another uid, too large, FIFO, link";
  EXPECT_EQ(plain.torn.size(), 1u);
  EXPECT_EQ(ahead.records, plain.records);
  ASSERT_EQ(ahead.damage.size(), plain.damage.size());
  for (std::size_t i = 0; i < plain.damage.size(); ++i) {
    EXPECT_EQ(ahead.damage[i].file, plain.damage[i].file) << i;
    EXPECT_EQ(ahead.damage[i].offset, plain.damage[i].offset) << i;
    EXPECT_EQ(ahead.damage[i].length, plain.damage[i].length) << i;
    EXPECT_EQ(ahead.damage[i].reason, plain.damage[i].reason) << i;
  }
  ASSERT_EQ(ahead.torn.size(), plain.torn.size());
  EXPECT_EQ(ahead.torn[0].file, plain.torn[0].file);
  EXPECT_EQ(ahead.torn[0].length, plain.torn[0].length);
}

}  // namespace
}  // namespace courier
