// bench/journal_rates.hpp — JournalWriter alone, the rates bench_log prints
// ("journal" part). Measured in journal_rates.cpp, which like bench_journal is
// a micro-benchmark of the journal and the one bench_log source that includes
// courier/detail/journal.hpp.
#pragma once

#include <cstdint>
#include <string>

namespace journal_rates {

// One journal record of a `payload`-byte message: frame + RecordHeader + payload.
std::uint64_t record_bytes(std::uint64_t payload);

// Records/s of encode_journal_record alone: the frame, the CRC and the copy,
// into a buffer reused every `batch` bytes.
double encode_rate(std::uint64_t n, std::uint64_t payload, std::uint64_t batch);

enum class Every { nothing, flush, sync };
// Records/s of JournalWriter::append_message (+ flush() or sync() every `batch`
// bytes) into a fresh journal in `dir` (removed after). A synced run stops
// after cap_s seconds. false: err says why.
bool append_rate(const std::string& dir, std::uint64_t n, std::uint64_t payload, std::uint64_t batch, Every every,
                 double cap_s, double& rate, std::string& err);

// Records/s of JournalReader alone over every journal file of `dir` (each
// file read whole, every CRC checked: what bench_journal's BM_Journal_Read
// measures), the median of `rounds` reads with one buffer kept between them;
// `records`: the records of one read. false: err says why.
bool read_rate(const std::string& dir, unsigned rounds, double& rate, std::uint64_t& records, std::string& err);

}  // namespace journal_rates
