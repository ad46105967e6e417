// bench/bench_log/recovery.cpp — N records stored with Sync::os, the shared
// memory removed, Bus::open(recover) timed in a fresh process (page cache
// warm, then evicted); the RSS of the producer, of an attaching process and
// of the recovering one; then the memory floor of such a recovery (floor (d),
// MemoryFloor in bench_log.hpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "bench_log.hpp"
#include "courier/detail/shm_space.hpp"
#include "courier_bench/children.hpp"
#include "journal_rates.hpp"

namespace blog {

namespace fs = std::filesystem;

constexpr double tracker_entry_bytes = 72;  // a tracker entry and its tag in the shared memory (docs/layout.md)

void log_size(const std::string& dir, double& bytes, double& files) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    bytes += static_cast<double>(e.file_size(ec));
    ++files;
  }
}

// Drop the log's pages from the page cache (the files were synced first).
void evict(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void store_child(const Config& c, const std::string& name, StoreResult& out) {
  Producer pr;
  if (!open_producer(name, bus_options(c, Sync::os, c.records), pr, out.error)) return;
  courier::Bus* bus = &*pr.bus;
  courier::Endpoint* ep = &*pr.ep;
  std::uint64_t events = 0;
  const std::function<void(const courier::StatusEvent&)> count = [&](const courier::StatusEvent& e) {
    events += e.status == Status::sent;
  };
  std::array<std::byte, payload_size> payload{};
  courier::SendOptions so{.to = pr.to, .priority = courier::default_priority, .expiry = 1h, .type = 1};
  std::uint64_t by_status[courier::status_count] = {};
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < c.records; ++i) {
    so.id = i + 1;
    so.priority = static_cast<std::uint8_t>(i % c.lanes);
    const courier::SendResult r = ep->send(so, payload);
    ++by_status[static_cast<unsigned>(r.status) < courier::status_count ? static_cast<unsigned>(r.status) : 0];
    if ((i + 1) % 4096 == 0) (void)ep->poll_status(count);
  }
  if (auto r = bus->flush_log(); !r) set_error(out.error, "flush_log: " + r.error().message);
  const std::uint64_t t1 = now_ns();
  const std::uint64_t want = by_status[static_cast<unsigned>(Status::outbox)];
  for (const std::uint64_t end = now_ns() + 3'000'000'000ull; events < want && now_ns() < end;) {
    (void)ep->poll_status(count);
    ::usleep(1000);
  }
  out.rss = read_rss();  // before stat(): stat() reads every tag of the tracker
  out.records = static_cast<double>(c.records);
  out.seconds = static_cast<double>(t1 - t0) / 1e9;
  out.per_s = out.records / out.seconds;
  for (unsigned s = 0; s < courier::status_count; ++s) out.returned[s] = static_cast<double>(by_status[s]);
  out.events = static_cast<double>(events);
  const courier::BusStats st = bus->stat();
  if (const courier::EndpointStats* e = stats_of(st, "dst")) out.waiting = static_cast<double>(e->waiting_total);
  out.tracker_used = static_cast<double>(st.tracker.used);
  out.tracker_capacity = static_cast<double>(bus->settings().tracker_capacity);
  out.tracker_bytes = out.tracker_capacity * tracker_entry_bytes;
  out.segment_bytes = static_cast<double>(st.segment_bytes);
  log_size(bus->log_directory(), out.log_bytes, out.log_files);
}

void attach_child(const std::string& name, AttachResult& out) {
  courier::Options o;
  o.create = false;
  auto bus = courier::Bus::open(name, o);
  if (!bus) return set_error(out.error, "Bus::open (attach): " + bus.error().message);
  auto ep = bus->endpoint("src");
  if (!ep) return set_error(out.error, "endpoint: " + ep.error().message);
  out.rss = read_rss();
}

// Recovery refuses a log that fills more than half the tracker (safe fill,
// src/recovery.cpp); the producer's tracker (60 %, at most 16 Mi) is too small
// for 10 M records.
std::uint64_t recovering_tracker(const Config& c) {
  return std::max<std::uint64_t>(bus_options(c, Sync::os, c.records).tracker_capacity, std::bit_ceil(2 * c.records));
}

void recover_child(const Config& c, const std::string& name, RecoverResult& out) {
  courier::Options o = bus_options(c, Sync::os, c.records);
  o.recover = true;
  o.tracker_capacity = recovering_tracker(c);
  const std::uint64_t t0 = now_ns();
  auto bus = courier::Bus::open(name, o);
  const std::uint64_t t1 = now_ns();
  if (!bus) return set_error(out.error, "Bus::open (recover): " + bus.error().message);
  out.rss = read_rss();
  const courier::RecoveryReport& r = bus->recovery();
  if (!r.ran) set_error(out.error, "Bus::open did not recover (RecoveryReport::ran == false)");
  out.open_s = static_cast<double>(t1 - t0) / 1e9;
  out.n = {r.segments, r.bytes,   r.records, r.messages,     r.owed,       r.injected, r.left,
           r.expired,  r.damaged, r.torn,    r.tracker_full, r.elapsed_ns, r.load_ns,  r.put_back_ns};
  out.per_s = r.elapsed_ns > 0 ? static_cast<double>(r.records) * 1e9 / static_cast<double>(r.elapsed_ns) : 0;
}

// Floor (d), MemoryFloor: per prefetch window, a fresh object of `bytes` of
// shared memory populated, then `writes` random line writes into it. Fresh
// each time: on some hosts the first access of a page after its population
// costs as much again (a guest's page tables filled by its hypervisor on that
// access: 4.5 µs a page here), and a recovery pays that too.
void memory_floor_child(double bytes, std::uint64_t writes, MemoryFloor& out) {
  const std::size_t size = static_cast<std::size_t>(bytes) & ~std::size_t(4095);
  const std::uint64_t lines = size / 64;
  out.bytes = static_cast<double>(size);
  out.writes = static_cast<double>(writes);
  std::uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift64: a line of the table, uniformly
  const auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x % lines;
  };
  for (std::size_t k = 0; k < std::size(MemoryFloor::windows); ++k) {
    const std::string shm = "/cblog-mem-" + std::to_string(::getpid());
    const int fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return set_error(out.error, "shm_open " + shm + ": " + std::strerror(errno));
    (void)::shm_unlink(shm.c_str());  // nothing left behind, however this child ends
    void* m = ::ftruncate(fd, static_cast<off_t>(size)) == 0
                  ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                  : MAP_FAILED;
    ::close(fd);
    if (m == MAP_FAILED) return set_error(out.error, "sizing or mapping " + shm + ": " + std::strerror(errno));
    auto* p = static_cast<unsigned char*>(m);
    const std::uint64_t t0 = now_ns();
    // Populated and each page read once, on two threads, as recovery prepares its tracker
    // (detail::populate_and_map): the writes below start with every page mapped.
    courier::detail::populate_and_map(p, size);
    const std::uint64_t t1 = now_ns();
    const unsigned w = MemoryFloor::windows[k];
    static_assert(MemoryFloor::windows[2] <= 32);
    // w lines at a time: their prefetches issued together, then their writes
    // (prefetches spread among other work walk their page tables one at a
    // time on some CPUs: docs/design.md, "Recovery asks for its tracker lines
    // a batch at a time").
    std::uint64_t batch[32];
    for (std::uint64_t i = 0; i < writes; i += w) {
      const std::uint64_t n = std::min<std::uint64_t>(w, writes - i);
      for (std::uint64_t j = 0; j < n; ++j) __builtin_prefetch(p + (batch[j] = next()) * 64, 1);
      for (std::uint64_t j = 0; j < n; ++j) {
        volatile std::uint64_t* const line = reinterpret_cast<std::uint64_t*>(p + batch[j] * 64);
        *line = *line + i + j;  // a read-modify-write, as an insert's claim
      }
    }
    const std::uint64_t t2 = now_ns();
    ::munmap(m, size);
    const double populate_s = static_cast<double>(t1 - t0) / 1e9, write_s = static_cast<double>(t2 - t1) / 1e9;
    out.writes_per_s[k] = out.writes / write_s;
    if (out.writes / (populate_s + write_s) > out.records_per_s) {
      out.records_per_s = out.writes / (populate_s + write_s);
      out.populate_s = populate_s;
      out.best_per_s = out.writes_per_s[k];
    }
  }
}

RecoveryPart run_recovery(const Config& c) {
  RecoveryPart part;
  part.ran = true;
  const std::string name = next_bus_name();
  set_current_bus(name);
  std::string err;
  rusage ru{};
  std::fprintf(stderr, "recovery: sending %s records (Sync::os, expiry 1 h) ...\n",
               num(static_cast<double>(c.records)).c_str());
  const bool stored = cbench::in_child([&](StoreResult& out) { store_child(c, name, out); }, part.store, ru, err);
  part.store_maxrss = ru.ru_maxrss;
  if (!stored || part.store.error[0] != '\0') {
    part.error = err.empty() ? part.store.error : err;
    remove_bus(c, name);
    return part;
  }
  std::fprintf(stderr, "  stored in %s s (%s/s); %s\n", fix(part.store.seconds, 2).c_str(),
               num(part.store.per_s).c_str(), rss_text(part.store.rss).c_str());
  if (!cbench::in_child([&](AttachResult& out) { attach_child(name, out); }, part.attach, ru, err))
    set_error(part.attach.error, err);
  const std::string log = (fs::path(c.log_dir) / name).string();  // Options::log_dir: LOG_DIR/BUS
  auto recover_once = [&](RecoverResult& out, long& maxrss, const char* label) {
    (void)courier::Bus::remove(name);  // a reboot: the shared memory is gone, the log is not
    if (!cbench::in_child([&](RecoverResult& r) { recover_child(c, name, r); }, out, ru, err))
      set_error(out.error, err);
    maxrss = ru.ru_maxrss;
    if (out.error[0] != '\0')
      std::fprintf(stderr, "  recovery (%s): FAILED: %s\n", label, out.error);
    else
      std::fprintf(stderr, "  recovery (%s): %s records in %s s: %s records/s, peak RSS %s\n", label,
                   num(static_cast<double>(out.n.records)).c_str(),
                   fix(static_cast<double>(out.n.elapsed_ns) / 1e9, 2).c_str(), num(out.per_s).c_str(),
                   mib(static_cast<double>(maxrss) * 1024).c_str());
  };
  for (unsigned k = 0; k < c.recovery_rounds; ++k) {
    part.warm.emplace_back();
    part.warm_maxrss.push_back(0);
    recover_once(part.warm.back(), part.warm_maxrss.back(), "page cache warm");
  }
  // The raw read rate of this log, page cache warm as for the rounds above
  // (in this process: the reader allocates nothing the rounds would see).
  if (!journal_rates::read_rate(log, 3, part.raw_read_per_s, part.raw_records, part.raw_error))
    std::fprintf(stderr, "  raw journal read: FAILED: %s\n", part.raw_error.c_str());
  else
    std::fprintf(stderr, "  raw journal read (JournalReader alone): %s records/s\n", num(part.raw_read_per_s).c_str());
  if (c.cold) {
    evict(log);
    part.cold_ran = true;
    recover_once(part.cold, part.cold_maxrss, "log evicted from the page cache");
  }
  remove_bus(c, name);
  const double tracker_bytes = static_cast<double>(recovering_tracker(c)) * tracker_entry_bytes;
  if (!cbench::in_child([&](MemoryFloor& out) { memory_floor_child(tracker_bytes, c.records, out); }, part.memory, ru,
                        err))
    set_error(part.memory.error, err);
  if (part.memory.error[0] != '\0')
    std::fprintf(stderr, "  memory floor (d): FAILED: %s\n", part.memory.error);
  else
    std::fprintf(stderr, "  memory floor (d): %s populated in %s s; random line writes %s/s (best window): %s records/s\n",
                 mib(part.memory.bytes).c_str(), fix(part.memory.populate_s, 2).c_str(),
                 num(part.memory.best_per_s).c_str(), num(part.memory.records_per_s).c_str());
  return part;
}

}  // namespace blog
