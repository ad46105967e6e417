// bench/journal_rates.cpp — JournalWriter alone (bench_log's "journal" part):
// encode_journal_record, append_message, append + flush() / sync() per batch.
#include "journal_rates.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "courier/detail/journal.hpp"

namespace journal_rates {
namespace {

std::uint64_t clock_ns(clockid_t clock) noexcept {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

courier::RecordHeader message_header(std::uint64_t id, std::uint64_t now, std::uint64_t payload) {
  courier::RecordHeader h{};
  h.id = id;
  h.timestamp_ns = now;
  h.expires_ns = now + 30'000'000'000ull;
  h.from = courier::make_endpoint_id(0, 1);
  h.to = courier::make_endpoint_id(1, 1);
  h.type = 1;
  h.payload_len = static_cast<std::uint32_t>(payload);
  h.priority = courier::default_priority;
  return h;
}

}  // namespace

std::uint64_t record_bytes(std::uint64_t payload) { return 16 + sizeof(courier::RecordHeader) + payload; }

bool append_rate(const std::string& dir, std::uint64_t n, std::uint64_t payload_len, std::uint64_t batch, Every every,
                 double cap_s, double& rate, std::string& err) {
  courier::JournalOptions jo;
  jo.segment_size = 1ull << 30;  // no roll (and its fdatasync) inside the measurement
  auto w = courier::JournalWriter::open(dir, jo);
  if (!w) return err = "JournalWriter::open " + dir + ": " + w.error().message, false;
  const std::vector<std::byte> payload(payload_len, std::byte{0x6c});
  const std::uint64_t stamp = clock_ns(CLOCK_REALTIME);
  const std::uint64_t cap = static_cast<std::uint64_t>(cap_s * 1e9);
  const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  std::uint64_t i = 0;
  for (; i < n; ++i) {
    if (auto r = w->append_message(message_header(i + 1, stamp, payload_len), payload); !r)
      return err = "append: " + r.error().message, false;
    if (every != Every::nothing && w->buffered_bytes() >= batch) {
      auto r = every == Every::flush ? w->flush() : w->sync();
      if (!r) return err = "flush/sync: " + r.error().message, false;
      if (every == Every::sync && clock_ns(CLOCK_MONOTONIC) - t0 > cap) {
        ++i;
        break;
      }
    }
  }
  auto r = every == Every::sync ? w->sync() : w->flush();
  if (!r) return err = "flush: " + r.error().message, false;
  const std::uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
  (void)w->close();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  rate = static_cast<double>(i) * 1e9 / static_cast<double>(t1 - t0);
  return true;
}

bool read_rate(const std::string& dir, unsigned rounds, double& rate, std::uint64_t& records, std::string& err) {
  auto buffer = std::make_shared<courier::detail::ReadBuffer>();
  std::vector<double> rates;
  for (unsigned k = 0; k < rounds; ++k) {
    courier::JournalReaderOptions ro;
    ro.buffer = buffer;
    const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    auto rd = courier::JournalReader::open_directory(dir, ro);
    if (!rd) return err = rd.error().message, false;
    courier::JournalRecord rec;
    std::uint64_t n = 0;
    for (;;) {
      auto more = rd->next(rec);
      if (!more) return err = more.error().message, false;
      if (!*more) break;
      ++n;
    }
    const std::uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
    records = n;
    rates.push_back(static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0 ? t1 - t0 : 1));
  }
  if (rates.empty()) return err = "no rounds", false;
  std::sort(rates.begin(), rates.end());
  rate = rates[rates.size() / 2];
  return true;
}

double encode_rate(std::uint64_t n, std::uint64_t payload_len, std::uint64_t batch) {
  std::vector<std::byte> out;
  out.reserve(batch + 4096);
  const std::vector<std::byte> payload(payload_len);
  const std::uint64_t stamp = clock_ns(CLOCK_REALTIME);
  std::uint64_t offset = 64;
  const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  for (std::uint64_t i = 0; i < n; ++i) {
    const courier::RecordHeader h = message_header(i + 1, stamp, payload_len);
    courier::encode_journal_record(out, 0x0123456789abcdefull, offset + out.size(), courier::logfmt::Kind::message,
                                   std::as_bytes(std::span(&h, 1)), payload);
    if (out.size() >= batch) {
      offset += out.size();
      out.clear();
    }
  }
  const std::uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
  return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

}  // namespace journal_rates
