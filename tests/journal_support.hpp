// The helpers of the journal tests (journal_test.cpp, journal_reader_test.cpp):
// a temporary directory, bytes, sample records, reading a directory back.
#pragma once

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

namespace courier::journal_testing {

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

inline Bytes to_bytes(std::string_view s) {
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

inline std::string hex(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(b[i]));
    if (i != 0) s += (i % 16 == 0) ? "\n" : " ";
    s += buf;
  }
  return s;
}

inline Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

inline void write_file(const std::string& path, std::span<const std::byte> b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::vector<std::string> segment_files(const std::string& dir) {
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
  bool stopped = false;  // JournalReader::stopped_at_write (a live read)
};

inline ReadBack drain(Result<JournalReader> r) {
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
  out.stopped = r->stopped_at_write();
  return out;
}
inline ReadBack read_file_records(const std::string& path) { return drain(JournalReader::open_file(path)); }
inline ReadBack read_dir_records(const std::string& dir) { return drain(JournalReader::open_directory(dir)); }

inline RecordHeader sample_header(std::uint32_t payload_len) {
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

inline logfmt::SettleBody sample_settle(std::uint64_t id) {
  return logfmt::SettleBody{id, 0x00010001, 0x00010002, 1700000000000000123ull};
}

// The body the reader should return for a message appended with `h`.
inline Bytes message_body(RecordHeader h, std::span<const std::byte> payload) {
  h.frame = 0;
  Bytes b(sizeof h + payload.size());
  std::memcpy(b.data(), &h, sizeof h);
  if (!payload.empty()) std::memcpy(b.data() + sizeof h, payload.data(), payload.size());
  return b;
}
inline Bytes settle_bytes(const logfmt::SettleBody& s) {
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
inline void append_random(JournalWriter& w, Written& written, std::mt19937_64& rng, std::uint32_t max_payload) {
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

inline JournalWriter open_writer(const std::string& dir, JournalOptions o = {}) {
  auto w = JournalWriter::open(dir, o);
  if (!w) {
    ADD_FAILURE() << w.error().message;
    std::abort();
  }
  return std::move(w).value();
}

// A closed journal file of `n` random records (append_random from `seed`,
// payloads up to `max_payload` bytes) by a new writer in `dir`: its path and
// what was written.
struct RandomJournal {
  std::string path;
  Written written;
};
inline RandomJournal random_journal(const std::string& dir, std::uint64_t seed, int n, std::uint32_t max_payload) {
  JournalWriter w = open_writer(dir);
  RandomJournal j;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < n; ++i) append_random(w, j.written, rng, max_payload);
  EXPECT_TRUE(w.close());
  j.path = w.segment_path();
  return j;
}

}  // namespace courier::journal_testing
