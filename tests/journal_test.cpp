// The journal (include/courier/journal.hpp, docs/log-format.md): CRC-32C, the
// pinned bytes of the format, round trips, torn tails, damage in the middle,
// random truncation and corruption, rolling.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "courier/detail/crc32c.hpp"
#include "courier/detail/journal.hpp"
#include "courier/detail/log_format.hpp"

namespace courier {
namespace {

namespace fs = std::filesystem;
using logfmt::Kind;
using Bytes = std::vector<std::byte>;

// ---------------------------------------------------------------- helpers

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/courier-journal-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string sub(const std::string& name) const { return path + "/" + name; }
};

Bytes to_bytes(std::string_view s) {
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

std::string hex(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(b[i]));
    if (i != 0) s += (i % 16 == 0) ? "\n" : " ";
    s += buf;
  }
  return s;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

void write_file(const std::string& path, std::span<const std::byte> b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

struct Rec {
  Kind kind;
  Bytes body;
  std::uint64_t sequence;
  std::uint64_t offset;
  bool operator==(const Rec&) const = default;
};

struct ReadBack {
  std::vector<Rec> records;
  std::vector<JournalDamage> damage;
  std::vector<JournalTornTail> torn;
};

ReadBack drain(Result<JournalReader> r) {
  ReadBack out;
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return out;
  JournalRecord rec;
  for (;;) {
    auto more = r->next(rec);
    EXPECT_TRUE(more) << more.error().message;
    if (!more || !*more) break;
    out.records.push_back(Rec{rec.kind, Bytes(rec.body.begin(), rec.body.end()), rec.segment->sequence, rec.offset});
  }
  out.damage = r->damage();
  out.torn = r->torn_tails();
  return out;
}
ReadBack read_file_records(const std::string& path) { return drain(JournalReader::open_file(path)); }
ReadBack read_dir_records(const std::string& dir) { return drain(JournalReader::open_directory(dir)); }

RecordHeader sample_header(std::uint32_t payload_len) {
  RecordHeader h{};
  h.frame = 0xdeadbeef;  // the lane's word: written as 0 in the log
  h.id = 0x1122334455667788ull;
  h.timestamp_ns = 1700000000000000000ull;
  h.expires_ns = h.timestamp_ns + 30'000'000'000ull;
  h.from = 0x00010001;
  h.to = 0x00010002;
  h.type = 7;
  h.payload_len = payload_len;
  h.priority = 2;
  return h;
}

logfmt::SettleBody sample_settle(std::uint64_t id) {
  return logfmt::SettleBody{id, 0x00010001, 0x00010002, 1700000000000000123ull};
}

// The body the reader should return for a message appended with `h`.
Bytes message_body(RecordHeader h, std::span<const std::byte> payload) {
  h.frame = 0;
  Bytes b(sizeof h + payload.size());
  std::memcpy(b.data(), &h, sizeof h);
  if (!payload.empty()) std::memcpy(b.data() + sizeof h, payload.data(), payload.size());
  return b;
}
Bytes settle_bytes(const logfmt::SettleBody& s) {
  Bytes b(sizeof s);
  std::memcpy(b.data(), &s, sizeof s);
  return b;
}

// A writer's records as they were appended, for comparison with a read.
struct Written {
  std::vector<Rec> records;
  void add(Kind k, Bytes body, const JournalPosition& p) {
    records.push_back(Rec{k, std::move(body), p.sequence, p.offset});
  }
};

// Appends a random record: a message with a payload of 0..max_payload bytes, or a settle.
void append_random(JournalWriter& w, Written& written, std::mt19937_64& rng, std::uint32_t max_payload) {
  const auto kind = static_cast<Kind>(1 + rng() % 4);
  if (kind == Kind::message) {
    Bytes payload(rng() % (max_payload + 1));
    for (auto& b : payload) b = static_cast<std::byte>(rng());
    RecordHeader h = sample_header(static_cast<std::uint32_t>(payload.size()));
    h.id = rng();
    auto p = w.append_message(h, payload);
    ASSERT_TRUE(p) << p.error().message;
    written.add(kind, message_body(h, payload), *p);
  } else {
    const auto s = sample_settle(rng());
    auto p = w.append_settle(kind, s);
    ASSERT_TRUE(p) << p.error().message;
    written.add(kind, settle_bytes(s), *p);
  }
}

JournalWriter open_writer(const std::string& dir, JournalOptions o = {}) {
  auto w = JournalWriter::open(dir, o);
  if (!w) {
    ADD_FAILURE() << w.error().message;
    std::abort();
  }
  return std::move(w).value();
}

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

// LevelDB's TruncatedTrailingRecordIsIgnored, at every byte: a writer that died
// inside the last record leaves either a shorter file or zeros after what it wrote.
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
      const bool tail_left = zeros ? true : (cut > last && !whole);
      const bool zeros_after_whole = zeros && whole;  // padding zeros after the last record: nothing torn
      if (tail_left && !zeros_after_whole) {
        ASSERT_EQ(r.torn.size(), 1u);
        EXPECT_EQ(r.torn[0].offset, last);
        EXPECT_EQ(r.torn[0].file, path);
      } else if (!zeros) {
        EXPECT_TRUE(r.torn.empty());
      }
    }
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

}  // namespace
}  // namespace courier
