// bench/bench_log/journal.cpp — the "journal" part: JournalWriter alone, no bus
// (measured by bench/journal_rates.cpp, the journal's micro-benchmark).
#include <cstdio>

#include "bench_log.hpp"
#include "journal_rates.hpp"

namespace blog {

JournalRound run_journal(const Config& c, unsigned round) {
  using journal_rates::Every;
  JournalRound j;
  const std::string d = c.dir + "/journal-" + std::to_string(round);
  auto rate = [&](std::uint64_t n, Every every) {
    double v = 0;
    std::string err;
    if (!journal_rates::append_rate(d, n, payload_size, batch_bytes, every, c.cap_s, v, err)) die(err);
    return v;
  };
  j.encode = journal_rates::encode_rate(c.journal_records, payload_size, batch_bytes);
  j.append = rate(c.journal_records, Every::nothing);
  j.flush64 = rate(c.journal_records, Every::flush);
  j.sync64 = rate(c.journal_sync_records, Every::sync);
  std::fprintf(stderr, "  journal: encode %s/s, append %s/s, +flush/64K %s/s, +sync/64K %s/s\n", num(j.encode).c_str(),
               num(j.append).c_str(), num(j.flush64).c_str(), num(j.sync64).c_str());
  return j;
}

}  // namespace blog
