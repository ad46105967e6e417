// bench/bench_journal.cpp — micro-benchmarks of the durable log's writer and
// reader (Google Benchmark, one thread). The disk is measured by bench_log;
// here the cost of the format itself.
//
//   BM_Journal_Encode/payload:N   encode_journal_record of a message with an
//                                 N-byte payload into a reused buffer (frame,
//                                 copy, CRC32C over salt + offset + body)
//   BM_Journal_Append/payload:N   JournalWriter::append_message, flushed to
//                                 the page cache (one pwrite) every 64 KiB;
//                                 no sync. A segment file under /var/tmp
//                                 (rolled at 64 MiB, deleted at the end)
//   BM_Journal_Read/payload:N     JournalReader::next over a segment of such
//                                 records (whole-file read, CRC check, decode)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "courier/detail/journal.hpp"

namespace {

courier::RecordHeader header_of(std::size_t payload) {
  courier::RecordHeader h{};
  h.id = 1;
  h.timestamp_ns = 1'700'000'000'000'000'000ull;
  h.expires_ns = h.timestamp_ns + 30'000'000'000ull;
  h.from = 0x10001;
  h.to = 0x10002;
  h.priority = 8;
  h.payload_len = static_cast<std::uint32_t>(payload);
  return h;
}

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/var/tmp/courier-bench-journal-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (p == nullptr) std::abort();
    path = p;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void BM_Journal_Encode(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  courier::RecordHeader h = header_of(n);
  std::vector<std::byte> payload(n, std::byte{0x5a}), out;
  out.reserve(1u << 20);
  std::uint64_t offset = 64;
  for (auto _ : state) {
    if (out.size() > (1u << 20) - 4096) out.clear();
    ++h.id;
    courier::encode_journal_record(out, 0x0123456789abcdefull, offset, courier::logfmt::Kind::message,
                                   std::as_bytes(std::span(&h, 1)), payload);
    offset += courier::logfmt::record_span(static_cast<std::uint32_t>(sizeof h + n));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (sizeof h + n)));
}
BENCHMARK(BM_Journal_Encode)->ArgName("payload")->Arg(16)->Arg(64)->Arg(1024);

void BM_Journal_Append(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  courier::JournalOptions jo;
  jo.buffer_limit = 64u << 10;  // one pwrite per 64 KiB
  auto w = courier::JournalWriter::open(dir.path, jo);
  if (!w) {
    state.SkipWithError(w.error().message.c_str());
    return;
  }
  courier::RecordHeader h = header_of(n);
  std::vector<std::byte> payload(n, std::byte{0x5a});
  for (auto _ : state) {
    ++h.id;
    if (!w->append_message(h, payload)) {
      state.SkipWithError("append failed");
      break;
    }
  }
  (void)w->close();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (sizeof h + n)));
}
BENCHMARK(BM_Journal_Append)->ArgName("payload")->Arg(16)->Arg(64)->Arg(1024);

void BM_Journal_Read(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  constexpr int records = 100'000;
  {
    auto w = courier::JournalWriter::open(dir.path);
    if (!w) {
      state.SkipWithError(w.error().message.c_str());
      return;
    }
    courier::RecordHeader h = header_of(n);
    std::vector<std::byte> payload(n, std::byte{0x5a});
    for (int i = 0; i < records; ++i) {
      ++h.id;
      (void)w->append_message(h, payload);
    }
    (void)w->close();
  }
  auto buffer = std::make_shared<courier::detail::ReadBuffer>();
  std::int64_t read = 0;
  for (auto _ : state) {
    courier::JournalReaderOptions ro;
    ro.buffer = buffer;
    auto rd = courier::JournalReader::open_directory(dir.path, ro);
    courier::JournalRecord rec;
    while (true) {
      auto more = rd->next(rec);
      if (!more || !*more) break;
      benchmark::DoNotOptimize(rec.body.data());
      ++read;
    }
  }
  state.SetItemsProcessed(read);
}
BENCHMARK(BM_Journal_Read)->ArgName("payload")->Arg(64)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
