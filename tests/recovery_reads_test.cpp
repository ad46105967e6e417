// Recovery reads a bus's journal files two or three times (src/recovery.cpp):
// the first read checks every record's CRC and notes, per file, what it found
// whole (JournalReaderOptions::note_checked); the later reads skip those CRCs
// in the files that did not change (skip_checked). Damage is found by every
// read, and a file changed between the reads is checked whole again
// (docs/design.md, "The CRC checked once").
#include <gtest/gtest.h>

#include <cstdio>

#include "journal_support.hpp"

namespace courier {
namespace {

using namespace journal_testing;  // with fs, Kind and Bytes

// A journal file of 6 records whose third (a message) is returned as `victim`
// with the offset of its payload's first byte.
struct SixRecords {
  TempDir d;
  std::string path;
  Written written;
  std::uint64_t victim = 0, payload_at = 0;
  Bytes file;

  SixRecords() {
    JournalWriter w = open_writer(d.sub("src"));
    std::mt19937_64 rng(15);
    for (int i = 0; i < 2; ++i) append_random(w, written, rng, 40);
    const RecordHeader h = sample_header(21);
    const Bytes payload(21, std::byte{0x5a});
    auto p = w.append_message(h, payload);
    EXPECT_TRUE(p);
    written.add(Kind::message, message_body(h, payload), *p);
    for (int i = 0; i < 3; ++i) append_random(w, written, rng, 40);
    EXPECT_TRUE(w.close());
    path = w.segment_path();
    file = read_file(path);
    victim = p->offset;
    payload_at = victim + logfmt::record_frame_size + sizeof(RecordHeader);
  }
  ReadBack read(const JournalReaderOptions& o) const { return drain(JournalReader::open_file(path, o)); }
};

JournalReaderOptions noting(const std::shared_ptr<detail::CheckedFiles>& c) {
  JournalReaderOptions o;
  o.note_checked = c;
  return o;
}
JournalReaderOptions skipping(const std::shared_ptr<detail::CheckedFiles>& c) {
  JournalReaderOptions o;
  o.skip_checked = c;
  return o;
}

std::vector<Rec> without_victim(const Written& w) {
  std::vector<Rec> v = w.records;
  v.erase(v.begin() + 2);
  return v;
}

TEST(RecoveryReads, AnUnchangedFileReadsAlikeAndItsDamageIsFoundByEveryRead) {
  SixRecords f;
  const auto checked = std::make_shared<detail::CheckedFiles>();
  const ReadBack clean = f.read(noting(checked));
  EXPECT_TRUE(clean.damage.empty());
  EXPECT_EQ(clean.records, f.written.records);
  ASSERT_EQ(checked->count(f.path), 1u);
  EXPECT_EQ(checked->at(f.path).end, f.file.size()) << "all of it whole";
  EXPECT_EQ(f.read(skipping(checked)).records, f.written.records);

  // A byte of the victim's payload flipped (its CRC fails) before the first read.
  Bytes bad = f.file;
  bad[f.payload_at + 3] ^= std::byte{0x10};
  write_file(f.path, bad);
  const auto checked2 = std::make_shared<detail::CheckedFiles>();
  const ReadBack first = f.read(noting(checked2));
  ASSERT_EQ(first.damage.size(), 1u);
  EXPECT_EQ(first.damage[0].offset, f.victim);
  EXPECT_EQ(first.records, without_victim(f.written));
  EXPECT_EQ(checked2->at(f.path).end, f.victim) << "what was whole ends at the damage";
  const ReadBack again = f.read(skipping(checked2));
  ASSERT_EQ(again.damage.size(), 1u) << "the records after the damage are checked again";
  EXPECT_EQ(again.damage[0].offset, f.victim);
  EXPECT_EQ(again.records, without_victim(f.written));
}

TEST(RecoveryReads, AFileReplacedOrGrownBetweenTheReadsIsCheckedWhole) {
  SixRecords f;
  const auto checked = std::make_shared<detail::CheckedFiles>();
  ASSERT_EQ(f.read(noting(checked)).records, f.written.records);

  // Replaced by a copy with the victim's payload changed (another inode: the
  // copy is made while the original exists, then renamed over it).
  Bytes bad = f.file;
  bad[f.payload_at + 3] ^= std::byte{0x10};
  const std::string copy = f.d.sub("copy");
  write_file(copy, bad);
  ASSERT_EQ(std::rename(copy.c_str(), f.path.c_str()), 0);
  const ReadBack replaced = f.read(skipping(checked));
  ASSERT_EQ(replaced.damage.size(), 1u) << "a replaced file is not the file the first read checked";
  EXPECT_EQ(replaced.damage[0].offset, f.victim);
  EXPECT_EQ(replaced.records, without_victim(f.written));

  // The same inode, its bytes changed and 64 more written after them (a size
  // the first read did not see).
  const auto checked2 = std::make_shared<detail::CheckedFiles>();
  write_file(f.path, f.file);
  ASSERT_EQ(f.read(noting(checked2)).records, f.written.records);
  bad.resize(bad.size() + 64, std::byte{0});
  {
    std::FILE* out = std::fopen(f.path.c_str(), "r+b");  // in place: the inode stays
    ASSERT_NE(out, nullptr);
    ASSERT_EQ(std::fwrite(bad.data(), 1, bad.size(), out), bad.size());
    ASSERT_EQ(std::fclose(out), 0);
  }
  const ReadBack grown = f.read(skipping(checked2));
  ASSERT_EQ(grown.damage.size(), 1u) << "a file of another size is checked whole";
  EXPECT_EQ(grown.damage[0].offset, f.victim);
}

}  // namespace
}  // namespace courier
