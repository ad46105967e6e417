// The journal (include/courier/journal.hpp, docs/log-format.md): CRC-32C, the
// pinned bytes of the format, the writer, round trips of every kind.
// Reading damaged and torn files: journal_reader_test.cpp.
#include <gtest/gtest.h>

#include <iostream>

#include "courier/detail/tracker_entry.hpp"
#include "journal_support.hpp"

namespace courier {
namespace {

using namespace journal_testing;  // with fs, Kind and Bytes

// ---------------------------------------------------------------- CRC-32C

std::uint32_t crc_portable(std::span<const std::byte> b) { return crc32c::extend_portable(0, b.data(), b.size()); }

TEST(Crc32c, StandardCheckValue) {
  const Bytes b = to_bytes("123456789");
  EXPECT_EQ(crc32c::value(b.data(), b.size()), 0xE3069283u);
  EXPECT_EQ(crc_portable(b), 0xE3069283u);
  if (crc32c::hardware_available()) {
    EXPECT_EQ(crc32c::extend_hardware(0, b.data(), b.size()), 0xE3069283u);
  }
  EXPECT_EQ(crc32c::value(nullptr, 0), 0u);
}

TEST(Crc32c, KnownVectorsOfRfc3720) {
  Bytes zeros(32, std::byte{0}), ones(32, std::byte{0xff}), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = std::byte(i);
    down[i] = std::byte(31 - i);
  }
  // RFC 3720 B.4: the iSCSI SCSI Read (10) command PDU.
  const unsigned char pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (auto f : {&crc32c::extend_portable, &crc32c::extend}) {
    EXPECT_EQ(f(0, zeros.data(), 32), 0x8A9136AAu);
    EXPECT_EQ(f(0, ones.data(), 32), 0x62A8AB43u);
    EXPECT_EQ(f(0, up.data(), 32), 0x46DD794Eu);
    EXPECT_EQ(f(0, down.data(), 32), 0x113FDB5Cu);
    EXPECT_EQ(f(0, pdu, sizeof pdu), 0xD9963A56u);
    EXPECT_EQ(f(0, "a", 1), 0xC1D04330u);
  }
}

TEST(Crc32c, HardwareAndPortableAgreeAtEveryLengthAndAlignment) {
  std::mt19937_64 rng(7);
  Bytes buf(600);
  for (auto& b : buf) b = std::byte(rng());
  for (std::size_t start = 0; start < 8; ++start)
    for (std::size_t n = 0; n + start <= 300; ++n) {
      const std::uint32_t want = crc32c::extend_portable(0, buf.data() + start, n);
      ASSERT_EQ(crc32c::extend(0, buf.data() + start, n), want) << start << "+" << n;
      // Streaming in two pieces gives the same value.
      const std::uint32_t half = crc32c::extend(0, buf.data() + start, n / 2);
      ASSERT_EQ(crc32c::extend(half, buf.data() + start + n / 2, n - n / 2), want);
    }
}

TEST(Crc32c, MaskChangesTheValueAndUnmaskUndoesIt) {
  for (std::uint32_t c : {0u, 1u, 0xE3069283u, 0xffffffffu, 0x80000000u}) {
    EXPECT_NE(crc32c::mask(c), c);
    EXPECT_NE(crc32c::mask(crc32c::mask(c)), crc32c::mask(c));
    EXPECT_EQ(crc32c::unmask(crc32c::mask(c)), c);
  }
}

// ---------------------------------------------------------------- pinned bytes

constexpr std::uint64_t pin_salt = 0x0123456789ABCDEFull;

// The worked example of docs/log-format.md, byte for byte.
TEST(LogFormat, SegmentHeaderBytesArePinned) {
  const JournalWriterId w{0x1234, 0x55, 0x1122334455667788ull};
  const logfmt::SegmentHeader h = make_journal_segment_header(w, 2, pin_salt);
  EXPECT_EQ(hex(std::as_bytes(std::span(&h, 1))),
            "63 6f 75 72 69 65 72 4a 03 00 00 00 40 00 00 00\n"
            "34 12 00 00 00 00 00 00 55 00 00 00 00 00 00 00\n"
            "88 77 66 55 44 33 22 11 02 00 00 00 00 00 00 00\n"
            "ef cd ab 89 67 45 23 01 00 00 00 00 97 d5 07 89");
  EXPECT_EQ(journal_segment_name(w, 2), "1122334455667788-00001234-0000000000000002.journal");
}

TEST(LogFormat, MessageRecordBytesArePinned) {
  const RecordHeader h = sample_header(3);
  Bytes out;
  encode_journal_record(out, pin_salt, 64, Kind::message, std::as_bytes(std::span(&h, 1)), to_bytes("abc"));
  EXPECT_EQ(hex(out),
            "9e 4a 5c e1 8b 84 a1 05 43 00 00 00 01 00 00 00\n"
            "00 00 00 00 00 00 00 00 88 77 66 55 44 33 22 11\n"
            "00 00 2a 36 fe 9c 97 17 00 ac 4d 32 05 9d 97 17\n"
            "01 00 01 00 02 00 01 00 00 00 00 00 07 00 00 00\n"
            "03 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00\n"
            "61 62 63 00 00 00 00 00");
}

TEST(LogFormat, SettleRecordBytesArePinned) {
  const auto s = sample_settle(0x1122334455667788ull);
  Bytes out;
  encode_journal_record(out, pin_salt, 152, Kind::delivered, std::as_bytes(std::span(&s, 1)));
  EXPECT_EQ(hex(out),
            "9e 4a 5c e1 49 aa 33 47 18 00 00 00 02 00 00 00\n"
            "88 77 66 55 44 33 22 11 01 00 01 00 02 00 01 00\n"
            "7b 00 2a 36 fe 9c 97 17");
}

// A member joining: group "g", endpoint "ab", at 1700000000000000456 ns, at
// offset 192 of the worked example (after the delivered record).
TEST(LogFormat, MembershipRecordBytesArePinned) {
  logfmt::MembershipBody mb{};
  mb.at_ns = 1700000000000000456ull;
  mb.change = logfmt::membership_change::joined;
  mb.group_len = 1;
  mb.endpoint_len = 2;
  Bytes out;
  encode_journal_record(out, pin_salt, 192, Kind::membership, std::as_bytes(std::span(&mb, 1)), to_bytes("gab"));
  EXPECT_EQ(hex(out),
            "9e 4a 5c e1 c4 a2 ef 5e 13 00 00 00 06 00 00 00\n"
            "c8 01 2a 36 fe 9c 97 17 01 00 01 02 00 00 00 00\n"
            "67 61 62 00 00 00 00 00");
  auto back = decode_journal_membership(std::span<const std::byte>(out).subspan(16, 19));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->at_ns, mb.at_ns);
  EXPECT_EQ(back->change, logfmt::membership_change::joined);
  EXPECT_EQ(back->group, "g");
  EXPECT_EQ(back->endpoint, "ab");
}

// The writer lays exactly the encoder's bytes, at the offsets it reports,
// under the salt of its segment header.
TEST(LogFormat, WriterFileIsHeaderThenEncodedRecords) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  const RecordHeader h = sample_header(3);
  const auto s = sample_settle(9);
  auto p1 = w.append_message(h, to_bytes("abc"));
  auto p2 = w.append_settle(Kind::read, s);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->offset, 64u);
  EXPECT_EQ(p2->offset, 64u + 88u);
  ASSERT_TRUE(w.close());
  const Bytes file = read_file(w.segment_path());
  ASSERT_EQ(file.size(), 64u + 88u + 40u);
  logfmt::SegmentHeader sh;
  std::memcpy(&sh, file.data(), sizeof sh);
  const logfmt::SegmentHeader want = make_journal_segment_header(w.writer_id(), 0, sh.salt);
  EXPECT_EQ(std::memcmp(&sh, &want, sizeof sh), 0);
  EXPECT_EQ(sh.writer_pid, static_cast<std::uint32_t>(::getpid()));
  Bytes expected(file.begin(), file.begin() + 64);
  encode_journal_record(expected, sh.salt, 64, Kind::message, std::as_bytes(std::span(&h, 1)), to_bytes("abc"));
  encode_journal_record(expected, sh.salt, 152, Kind::read, std::as_bytes(std::span(&s, 1)));
  EXPECT_EQ(hex(file), hex(expected));
}

TEST(LogFormat, SegmentNamesParseBack) {
  const JournalWriterId w{4194303, 1, 0xfedcba9876543210ull};
  JournalWriterId back;
  std::uint64_t seq = 0;
  ASSERT_TRUE(parse_journal_segment_name(journal_segment_name(w, 0xabc), back, seq));
  EXPECT_EQ(back.pid, w.pid);
  EXPECT_EQ(back.epoch_ns, w.epoch_ns);
  EXPECT_EQ(seq, 0xabcu);
  for (const char* bad :
       {"", "x.journal", "1122334455667788-00001234-0000000000000002.journa",
        "1122334455667788-00001234-000000000000000G.journal", "1122334455667788_00001234-0000000000000002.journal",
        "1122334455667788-00001234-00000000000000002.journal"})
    EXPECT_FALSE(parse_journal_segment_name(bad, back, seq)) << bad;
}

// ---------------------------------------------------------------- writer and reader

TEST(Journal, EveryKindRoundTrips) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  Written written;
  const Bytes payload = to_bytes("hello, journal");
  const RecordHeader h = sample_header(static_cast<std::uint32_t>(payload.size()));
  auto p = w.append_message(h, payload);
  ASSERT_TRUE(p);
  written.add(Kind::message, message_body(h, payload), *p);
  const RecordHeader empty = sample_header(0);
  p = w.append_message(empty, {});
  ASSERT_TRUE(p);
  written.add(Kind::message, message_body(empty, {}), *p);
  for (Kind k : {Kind::delivered, Kind::read, Kind::expired}) {
    const auto s = sample_settle(static_cast<std::uint64_t>(k) * 1000);
    p = w.append_settle(k, s);
    ASSERT_TRUE(p);
    written.add(k, settle_bytes(s), *p);
  }
  ASSERT_TRUE(w.sync());

  const ReadBack r = read_dir_records(d.path);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_TRUE(r.torn.empty());
  EXPECT_EQ(r.records, written.records);

  ASSERT_EQ(r.records.size(), 5u);
  auto m = decode_journal_message(r.records[0].body);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->header.frame, 0u);
  EXPECT_EQ(m->header.id, h.id);
  EXPECT_EQ(m->header.expires_ns, h.expires_ns);
  EXPECT_EQ(m->header.to, h.to);
  EXPECT_EQ(m->header.priority, h.priority);
  EXPECT_EQ(Bytes(m->payload.begin(), m->payload.end()), payload);
  auto s = decode_journal_settle(r.records[4].body);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, 4000u);
  EXPECT_EQ(s->recipient, 0x00010002u);
  EXPECT_FALSE(decode_journal_settle(r.records[0].body));
  EXPECT_FALSE(decode_journal_message(r.records[4].body));
}

// A journal holds no folded 1-member group's record (such a send is not
// stored): a message record read with record_flag::one_member has it
// cleared, so its tracker key is its member's; the other flags are kept.
TEST(Journal, AMessagesOneMemberFlagIsClearedWhenRead) {
  RecordHeader h = sample_header(3);
  h.group = 0x00010000;
  h.flags = record_flag::one_member | record_flag::redelivered;
  const Bytes body = message_body(h, to_bytes("abc"));
  auto m = decode_journal_message(body);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->header.flags, record_flag::redelivered);
  EXPECT_EQ(key_of(m->header, m->header.to), (TrackerKey{h.from, h.id, h.to}));
}

TEST(Journal, MembershipRecordsRoundTripAndBadOnesAreRefused) {
  namespace mc = logfmt::membership_change;
  TempDir d;
  JournalWriter w = open_writer(d.path);
  const std::string long_name(logfmt::max_name_len, 'n');
  ASSERT_TRUE(w.append_membership(mc::group_created, "g", "", 1));
  ASSERT_TRUE(w.append_membership(mc::joined, "g", "a", 2));
  ASSERT_TRUE(w.append_membership(mc::left, long_name, long_name, 3));
  ASSERT_TRUE(w.append_membership(mc::group_removed, "g", "", 4));
  // What the format cannot hold is refused before anything is buffered.
  const std::uint64_t buffered = w.buffered_bytes();
  EXPECT_FALSE(w.append_membership(mc::joined, "g", "", 5));          // a member change names its member
  EXPECT_FALSE(w.append_membership(mc::group_created, "g", "a", 5));  // a group change names none
  EXPECT_FALSE(w.append_membership(mc::joined, "", "a", 5));
  EXPECT_FALSE(w.append_membership(0, "g", "a", 5));
  EXPECT_FALSE(w.append_membership(mc::last + 1, "g", "", 5));
  EXPECT_FALSE(w.append_membership(mc::joined, "g", long_name + "x", 5));
  EXPECT_FALSE(w.append_settle(Kind::membership, sample_settle(1)));
  EXPECT_EQ(w.buffered_bytes(), buffered);
  ASSERT_TRUE(w.sync());
  const ReadBack r = read_dir_records(d.path);
  EXPECT_TRUE(r.damage.empty());
  ASSERT_EQ(r.records.size(), 4u);
  std::vector<std::string> got;
  for (const auto& rec : r.records) {
    ASSERT_EQ(rec.kind, Kind::membership);
    auto m = decode_journal_membership(rec.body);
    ASSERT_TRUE(m) << m.error().message;
    got.push_back(std::to_string(m->at_ns) + " " + std::string(mc::name(m->change)) + " " + m->group.substr(0, 2) +
                  "/" + m->endpoint.substr(0, 2));
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"1 group_created g/", "2 joined g/a", "3 left nn/nn", "4 group_removed g/"}));
}

// A membership body whose CRC holds but whose inside is impossible (a writer
// of another build, or a forged record) is damage, not a record.
TEST(Journal, ImpossibleMembershipBodyIsDamage) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  ASSERT_TRUE(w.append_membership(logfmt::membership_change::joined, "g", "a", 1));
  ASSERT_TRUE(w.close());
  const auto files = segment_files(d.path);
  ASSERT_EQ(files.size(), 1u);
  Bytes file = read_file(files[0]);
  logfmt::FileHeader fh;
  std::memcpy(&fh, file.data(), sizeof fh);
  logfmt::MembershipBody mb{};
  mb.at_ns = 1;
  mb.change = logfmt::membership_change::joined;
  mb.group_len = 2;  // says 2 + 1 name bytes: the record holds 2
  mb.endpoint_len = 1;
  file.resize(64);
  encode_journal_record(file, fh.salt, 64, Kind::membership, std::as_bytes(std::span(&mb, 1)), to_bytes("ga"));
  write_file(files[0], file);
  const ReadBack r = read_dir_records(d.path);
  EXPECT_TRUE(r.records.empty());
  EXPECT_TRUE(r.torn.empty());
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_NE(r.damage[0].reason.find("name lengths disagree"), std::string::npos) << r.damage[0].reason;
}

TEST(Journal, WriterCreatesPrivateDirectoryAndFiles) {
  TempDir d;
  const std::string dir = d.sub("state/courier/orders");
  JournalWriter w = open_writer(dir);
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(w.segment_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 64);
  // A path through a regular file is refused with a clear error.
  write_file(d.sub("plain"), to_bytes("x"));
  auto bad = JournalWriter::open(d.sub("plain"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("plain"), std::string::npos) << bad.error().message;
}

TEST(Journal, AppendBuffersUntilFlush) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  ASSERT_TRUE(w.append_settle(Kind::delivered, sample_settle(1)));
  ASSERT_TRUE(w.append_settle(Kind::read, sample_settle(1)));
  EXPECT_EQ(fs::file_size(w.segment_path()), 64u);
  EXPECT_EQ(w.buffered_bytes(), 80u);
  EXPECT_EQ(read_file_records(w.segment_path()).records.size(), 0u);
  ASSERT_TRUE(w.flush());
  EXPECT_EQ(w.buffered_bytes(), 0u);
  EXPECT_EQ(fs::file_size(w.segment_path()), 144u);
  EXPECT_EQ(read_file_records(w.segment_path()).records.size(), 2u);
}

// The log's group commit writes a taken batch outside its lock while appends
// go on: they land behind the batch, whether it was written or failed and put
// back for a retry; meanwhile flush() refuses (it would write over the batch).
TEST(Journal, ABatchTakenOutKeepsTheOffsetsOfTheRecordsAppendedBehindIt) {
  for (const bool written_first : {true, false}) {
    SCOPED_TRACE(written_first ? "batch written" : "batch failed, put back");
    TempDir d;
    JournalWriter w = open_writer(d.path);
    Written written;
    const auto add = [&](std::uint64_t id) {
      const auto s = sample_settle(id);
      auto p = w.append_settle(Kind::delivered, s);
      ASSERT_TRUE(p);
      written.add(Kind::delivered, settle_bytes(s), *p);
    };
    add(1);
    add(2);
    std::vector<std::byte> batch;
    w.take_batch(batch);
    EXPECT_EQ(w.taken_bytes(), 80u);
    EXPECT_EQ(w.buffered_bytes(), 0u);
    EXPECT_EQ(w.file_bytes(), 64u + 80u);  // the batch still counts for the file
    add(3);
    EXPECT_FALSE(w.flush()) << "a flush while a batch is out would write over it";
    if (written_first) {
      ASSERT_TRUE(w.write_taken(batch));
    }
    w.end_taken(batch, written_first);
    EXPECT_EQ(w.taken_bytes(), 0u);
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(w.buffered_bytes(), written_first ? 40u : 120u);
    add(4);
    ASSERT_TRUE(w.sync());
    EXPECT_EQ(fs::file_size(w.segment_path()), 64u + 160u);
    const ReadBack r = read_dir_records(d.path);
    EXPECT_TRUE(r.damage.empty());
    EXPECT_TRUE(r.torn.empty());
    EXPECT_EQ(r.records, written.records);
  }
}

// JournalOptions::direct: batches of every size (one record, several blocks,
// a record that ends on a block's end, one longer than a block), through
// flush(), take_batch() / write_taken() and a roll, read back as written, each
// flushed batch readable while the file is open (the zeros after it end the
// file), and every file cut back to its records at the roll and the close.
TEST(Journal, DirectWritesReadBackAsWrittenAtEveryOffset) {
  TempDir d;
  JournalOptions o;
  o.direct = true;
  o.preallocate = 64 << 10;
  JournalWriter w = open_writer(d.path, o);
  if (!w.writes_direct()) GTEST_SKIP() << d.path << ": its file system does not take O_DIRECT";
  Written written;
  std::mt19937_64 rng(7);
  // Settle records take 40 bytes, after the 64 of the header.
  const auto settles = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const auto st = sample_settle(rng());
      auto p = w.append_settle(Kind::delivered, st);
      ASSERT_TRUE(p) << p.error().message;
      written.add(Kind::delivered, settle_bytes(st), *p);
    }
  };
  const auto expect_all_read = [&](const char* when) {
    const ReadBack r = read_dir_records(d.path);
    EXPECT_TRUE(r.damage.empty()) << when;
    EXPECT_TRUE(r.torn.empty()) << when;
    EXPECT_EQ(r.records, written.records) << when;
  };
  settles(1);
  ASSERT_TRUE(w.flush());
  expect_all_read("one record");
  settles(100);
  ASSERT_TRUE(w.flush());
  ASSERT_EQ(w.file_bytes(), 64u + 101u * 40u);  // 4,104: across the first block's end
  expect_all_read("across a block's end");
  settles(99);
  ASSERT_TRUE(w.flush());
  settles(3);  // 8,184: inside the block the last batch ended in
  ASSERT_TRUE(w.flush());
  expect_all_read("inside a block");
  settles(205);
  ASSERT_TRUE(w.flush());
  ASSERT_EQ(w.file_bytes(), 4u * 4096u);  // 64 + 408 x 40: on a block's end
  expect_all_read("on a block's end");
  for (int i = 0; i < 40; ++i) append_random(w, written, rng, 9000);  // payloads beyond a block
  std::vector<std::byte> batch;
  w.take_batch(batch);
  settles(5);  // appended behind the batch taken out
  ASSERT_TRUE(w.write_taken(batch));
  w.end_taken(batch, true);
  ASSERT_TRUE(w.sync());
  expect_all_read("a batch taken out, then the records behind it");
  const std::string first = w.file_path();
  const std::uint64_t first_bytes = w.file_bytes();
  ASSERT_TRUE(w.roll());
  EXPECT_EQ(fs::file_size(first), first_bytes) << "rolled: cut to its records";
  EXPECT_TRUE(w.writes_direct()) << "the next file too";
  settles(7);
  for (int i = 0; i < 10; ++i) append_random(w, written, rng, 5000);
  ASSERT_TRUE(w.flush());
  expect_all_read("the second file");
  const std::uint64_t second_bytes = w.file_bytes();
  ASSERT_TRUE(w.close());
  EXPECT_EQ(fs::file_size(w.file_path()), second_bytes) << "closed: cut to its records";
  expect_all_read("closed");
}

// The aligned copy a direct write goes through grows with the largest batch;
// one grown past JournalWriter::staging_kept_max by a rare big batch goes
// back to a block at the next file, and what was written reads back whole.
TEST(Journal, DirectWritesGiveBackTheCopyABigBatchGrewAtTheNextFile) {
  TempDir d;
  JournalOptions o;
  o.direct = true;
  JournalWriter w = open_writer(d.path, o);
  if (!w.writes_direct()) GTEST_SKIP() << d.path << ": its file system does not take O_DIRECT";
  Written written;
  const auto message = [&](std::size_t payload_len, std::uint64_t id) {
    RecordHeader h = sample_header(static_cast<std::uint32_t>(payload_len));
    h.id = id;
    const Bytes payload(payload_len, std::byte{0x42});
    auto p = w.append_message(h, payload);
    ASSERT_TRUE(p) << p.error().message;
    written.add(Kind::message, message_body(h, payload), *p);
  };
  ASSERT_NO_FATAL_FAILURE(message(100, 1));
  ASSERT_TRUE(w.flush());
  const std::size_t small = w.staging_capacity();
  EXPECT_GT(small, 0u);
  EXPECT_LE(small, JournalWriter::staging_kept_max);
  ASSERT_NO_FATAL_FAILURE(message(6u << 20, 2));  // one 6 MiB batch
  ASSERT_TRUE(w.flush());
  EXPECT_GT(w.staging_capacity(), JournalWriter::staging_kept_max) << "the copy holds the big batch";
  ASSERT_NO_FATAL_FAILURE(message(100, 3));
  ASSERT_TRUE(w.flush());
  EXPECT_GT(w.staging_capacity(), JournalWriter::staging_kept_max) << "kept while the file lasts";
  ASSERT_TRUE(w.roll());
  EXPECT_LE(w.staging_capacity(), JournalWriter::staging_kept_max) << "given back at the next file";
  ASSERT_NO_FATAL_FAILURE(message(100, 4));
  ASSERT_TRUE(w.close());
  const ReadBack r = read_dir_records(d.path);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_TRUE(r.torn.empty());
  EXPECT_EQ(r.records, written.records);
}

// tmpfs: before Linux 6.6 it refuses O_DIRECT (the writer then writes
// buffered), since then it takes it; either way the records read back.
TEST(Journal, DirectWritesOnTmpfsReadBackAsWritten) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string dir = "/dev/shm/courier-journal-direct-" + std::to_string(::getpid());
  fs::remove_all(dir);
  {
    JournalOptions o;
    o.direct = true;
    JournalWriter w = open_writer(dir, o);
    std::cout << "/dev/shm: " << (w.writes_direct() ? "O_DIRECT" : "buffered, O_DIRECT refused") << "\n";
    Written written;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 50; ++i) append_random(w, written, rng, 6000);
    ASSERT_TRUE(w.sync());
    ASSERT_TRUE(w.close());
    const ReadBack r = read_dir_records(dir);
    EXPECT_TRUE(r.damage.empty());
    EXPECT_EQ(r.records, written.records);
  }
  fs::remove_all(dir);
}

TEST(Journal, AppendRefusesRecordsTheFormatCannotHold) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  const Bytes b24(24), b10(10);
  auto r = w.append(static_cast<Kind>(9), b24);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_FALSE(w.append(Kind::delivered, b10));
  EXPECT_FALSE(w.append(Kind::message, b10));  // shorter than a RecordHeader
  RecordHeader h = sample_header(5);           // payload_len says 5, 3 given
  r = w.append_message(h, to_bytes("abc"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("payload_len"), std::string::npos) << r.error().message;
  const Bytes huge(logfmt::max_body + 1 - sizeof(RecordHeader));
  h = sample_header(static_cast<std::uint32_t>(huge.size()));
  EXPECT_FALSE(w.append_message(h, huge));
  EXPECT_EQ(w.buffered_bytes(), 0u);
  EXPECT_FALSE(JournalWriter::open(d.sub("x"), {.segment_size = 100}));
}

// append_message checks a message on its header (a fast path); what it refuses, and how, is append()'s.
TEST(Journal, AppendMessageRefusesWhatAppendRefuses) {
  TempDir d;
  JournalWriter w = open_writer(d.path);
  for (std::uint32_t said : {0u, 2u, 4u, 0xFFFFFFFFu}) {  // 3 payload bytes given
    const RecordHeader h = sample_header(said);
    auto fast = w.append_message(h, to_bytes("abc"));
    auto slow = w.append(Kind::message, std::as_bytes(std::span(&h, 1)), to_bytes("abc"));
    ASSERT_FALSE(fast) << said;
    ASSERT_FALSE(slow) << said;
    EXPECT_EQ(fast.error().message, slow.error().message) << said;
  }
  EXPECT_EQ(w.buffered_bytes(), 0u);
  const RecordHeader ok = sample_header(3);
  const auto p = w.append_message(ok, to_bytes("abc"));
  ASSERT_TRUE(p);
  EXPECT_EQ(w.buffered_bytes(), logfmt::record_span(logfmt::message_min_body + 3));
  ASSERT_TRUE(w.close());
  auto closed = w.append_message(ok, to_bytes("abc"));
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().message.find("closed"), std::string::npos) << closed.error().message;
}

// LevelDB's TruncatedTrailingRecordIsIgnored, at every byte: a writer that died
// inside the last record leaves either a shorter file or zeros after what it wrote.
}  // namespace
}  // namespace courier
