// bench/bench_log/recovery.cpp — N records stored with Sync::os, the shared
// memory removed, Bus::open(recover) timed in a fresh process (page cache
// warm, then evicted); the RSS of the producer, of an attaching process and
// of the recovering one.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "bench_log.hpp"
#include "courier_bench/children.hpp"

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

void recover_child(const Config& c, const std::string& name, RecoverResult& out) {
  courier::Options o = bus_options(c, Sync::os, c.records);
  o.recover = true;
  // Recovery refuses a log that fills more than half the tracker (safe fill,
  // src/recovery.cpp); the producer's tracker (60 %, at most 16 Mi) is too small
  // for 10 M records.
  o.tracker_capacity = std::max<std::uint64_t>(o.tracker_capacity, std::bit_ceil(2 * c.records));
  const std::uint64_t t0 = now_ns();
  auto bus = courier::Bus::open(name, o);
  const std::uint64_t t1 = now_ns();
  if (!bus) return set_error(out.error, "Bus::open (recover): " + bus.error().message);
  out.rss = read_rss();
  const courier::RecoveryReport& r = bus->recovery();
  if (!r.ran) set_error(out.error, "Bus::open did not recover (RecoveryReport::ran == false)");
  out.open_s = static_cast<double>(t1 - t0) / 1e9;
  out.n = {r.segments, r.bytes,   r.records, r.messages, r.owed,         r.injected,
           r.left,     r.expired, r.damaged, r.torn,     r.tracker_full, r.elapsed_ns};
  out.per_s = r.elapsed_ns > 0 ? static_cast<double>(r.records) * 1e9 / static_cast<double>(r.elapsed_ns) : 0;
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
  if (c.cold) {
    evict(log);
    part.cold_ran = true;
    recover_once(part.cold, part.cold_maxrss, "log evicted from the page cache");
  }
  remove_bus(c, name);
  return part;
}

}  // namespace blog
