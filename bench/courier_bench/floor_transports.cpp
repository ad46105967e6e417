// bench/courier_bench/floor_transports.cpp — the floors: what the hardware and
// the kernel cost before any library does anything.
//
//   floor.cacheline  one 64-byte line bounced between the processes: a sequence
//                    number and up to 56 payload bytes; each side spins until the
//                    number moves. Nothing can be faster across two cores.
//   floor.spsc       a minimal single-producer / single-consumer copying ring of
//                    variable-length records (length word + payload, 64-byte
//                    aligned, padding at the wrap); one ring per direction;
//                    head and tail on their own lines, each side caching the
//                    other's index (rigtorp's SPSCQueue idea). Busy-spin.
//   floor.spsc.batch the same ring, its consumer storing head once per drain:
//                    it consumes every record up to the tail it last loaded and
//                    publishes head only when it has caught up (before it loads
//                    tail again); the producer reads head only when the ring
//                    looks full. The ceiling of one-way throughput through a
//                    ring here (Aeron's poll(handler, limit) releases a batch so).
//   floor.futex      the same ring with a parked consumer: it sleeps in
//                    FUTEX_WAIT as soon as its ring is empty; the producer wakes
//                    it (FUTEX_WAKE) only when it is parked. No spinning.
//   floor.fdatasync  the floor of a durable message: floor.spsc, but each side
//                    first appends the message (length word + payload) to a
//                    file of its own with write() and fdatasync()s it, then
//                    passes it on: the peer never sees a message that is not
//                    on disk. A round trip is two syncs, one per process, one
//                    after the other. The reference of courier.log.always.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "cache_line.hpp"
#include "transports.hpp"

namespace cbench {
namespace {

constexpr std::size_t line = 64;

void futex_wait(std::atomic<std::uint32_t>& w, std::uint32_t expected, std::uint64_t timeout_ns) noexcept {
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000ull), static_cast<long>(timeout_ns % 1'000'000'000ull)};
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAIT, expected, &ts, nullptr, 0);
}
void futex_wake(std::atomic<std::uint32_t>& w) noexcept {
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// ------------------------------------------------------------ floor.cacheline
class CacheLineFloor {
 public:
  const char* name() const noexcept { return "floor.cacheline"; }
  const char* description() const noexcept { return "one 64-byte cache line bounced (sequence number + <= 56 bytes)"; }
  std::size_t max_payload() const noexcept { return sizeof(CacheLine::payload); }

  bool setup(const RunConfig& cfg, std::string& err) { return owner_.create(shm_name(cfg), 4096, err); }
  bool parent_attach(std::string&) {
    ex_.attach(reinterpret_cast<CacheLine*>(owner_.data()));  // a fresh object: zeros
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    if (!mine_.open(shm_name(cfg), 4096, err)) return false;
    ex_.attach(reinterpret_cast<CacheLine*>(mine_.data()));
    return true;
  }
  void child_detach() noexcept { mine_.unmap(); }
  void teardown() noexcept {
    owner_.unmap();
    owner_.remove();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string&) {
    return ex_.ping(msg, reply, n, wd);
  }
  bool pong(Watchdog& wd, std::string&) { return ex_.pong(wd); }

 private:
  static std::string shm_name(const RunConfig& cfg) { return "/cbench." + cfg.tag + ".line"; }
  ShmRegion owner_, mine_;
  LineExchange ex_;
};

// ------------------------------------------------------------ the SPSC ring
// Control block (3 lines), then `ring_capacity` bytes of records:
//   tail   u64 (line 0): bytes ever written; producer stores (release / seq_cst)
//   head   u64 (line 1): bytes ever consumed; consumer stores (release)
//   parked u32 (line 2): futex word, 1 while the consumer sleeps or is about to
// Record: u64 length (or pad_marker: skip to the ring's start), payload,
// rounded up to 64 bytes; never wraps.
struct RingCtl {
  alignas(line) std::atomic<std::uint64_t> tail;
  alignas(line) std::atomic<std::uint64_t> head;
  alignas(line) std::atomic<std::uint32_t> parked;
};
static_assert(sizeof(RingCtl) == 3 * line);
constexpr std::uint64_t pad_marker = ~0ull;
constexpr std::size_t ring_stride = (sizeof(RingCtl) + ring_capacity + 4095) & ~std::size_t(4095);

constexpr std::uint64_t record_size(std::size_t n) noexcept { return (8 + n + line - 1) & ~std::uint64_t(line - 1); }

template <bool Park>
class RingProducer {
 public:
  RingProducer() = default;
  explicit RingProducer(std::byte* base) noexcept
      : ctl_(reinterpret_cast<RingCtl*>(base)), data_(base + sizeof(RingCtl)) {}

  // Copy n bytes in as one record. false: no room (the caller waits).
  bool try_push(const std::byte* p, std::size_t n) noexcept {
    const std::uint64_t rec = record_size(n);
    const std::uint64_t to_end = ring_capacity - (tail_ & (ring_capacity - 1));
    const std::uint64_t need = rec > to_end ? rec + to_end : rec;
    if (tail_ + need - cached_head_ > ring_capacity) {
      // SYNC POINT READ: head, partner of the consumer's release store: it
      // is done with every byte before head.
      cached_head_ = ctl_->head.load(std::memory_order_acquire);
      if (tail_ + need - cached_head_ > ring_capacity) return false;
    }
    if (rec > to_end) {
      std::memcpy(data_ + (tail_ & (ring_capacity - 1)), &pad_marker, 8);
      tail_ += to_end;
    }
    std::byte* r = data_ + (tail_ & (ring_capacity - 1));
    const std::uint64_t len = n;
    std::memcpy(r, &len, 8);
    std::memcpy(r + 8, p, n);
    tail_ += rec;
    if constexpr (Park) {
      // SYNC POINT WRITE: records up to tail. seq_cst: the store must not pass
      // the load of parked below (Dekker with the consumer going to sleep).
      ctl_->tail.store(tail_, std::memory_order_seq_cst);
      if (ctl_->parked.load(std::memory_order_seq_cst) != 0 && ctl_->parked.exchange(0, std::memory_order_seq_cst) != 0)
        futex_wake(ctl_->parked);
    } else {
      // SYNC POINT WRITE: records up to tail, partner of the consumer's acquire load.
      ctl_->tail.store(tail_, std::memory_order_release);
    }
    return true;
  }

 private:
  RingCtl* ctl_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t tail_ = 0;
  std::uint64_t cached_head_ = 0;
};

// Batch: pop() leaves head unpublished until the records known are drained.
template <bool Park, bool Batch = false>
class RingConsumer {
 public:
  RingConsumer() = default;
  explicit RingConsumer(std::byte* base) noexcept
      : ctl_(reinterpret_cast<RingCtl*>(base)), data_(base + sizeof(RingCtl)) {}

  // The next record's payload (n = its length), or nullptr when empty. A
  // length that no producer could have written is reported as corrupt.
  const std::byte* peek(std::size_t& n, bool& corrupt) noexcept {
    for (;;) {
      if (head_ == cached_tail_) {
        if constexpr (Batch) publish();  // caught up: release the whole drain with one store
        // SYNC POINT READ: tail, partner of the producer's store (records are visible).
        cached_tail_ = ctl_->tail.load(std::memory_order_acquire);
        if (head_ == cached_tail_) return nullptr;
      }
      const std::byte* r = data_ + (head_ & (ring_capacity - 1));
      std::uint64_t len = 0;
      std::memcpy(&len, r, 8);
      if (len == pad_marker) {
        head_ += ring_capacity - (head_ & (ring_capacity - 1));
        continue;
      }
      if (len > ring_capacity / 2) {
        corrupt = true;
        return nullptr;
      }
      n = static_cast<std::size_t>(len);
      return r + 8;
    }
  }
  void pop(std::size_t n) noexcept {
    head_ += record_size(n);
    if constexpr (!Batch) publish();
  }

  // Wait until a record is there: spin (Park = false) or sleep on the futex.
  bool wait(Watchdog& wd, std::string& err) noexcept {
    wd.begin();
    for (;;) {
      std::size_t n = 0;
      bool corrupt = false;
      if (peek(n, corrupt) != nullptr) return true;
      if (corrupt) {
        err = "corrupt record length in the ring";
        return false;
      }
      if constexpr (Park) {
        // SYNC POINT WRITE: parked, then re-check tail (seq_cst both): a
        // producer that published before our store sees parked = 1 and wakes
        // us; one that publishes after our load is seen by this load.
        ctl_->parked.store(1, std::memory_order_seq_cst);
        if (ctl_->tail.load(std::memory_order_seq_cst) == head_) futex_wait(ctl_->parked, 1, 100'000'000ull);
        ctl_->parked.store(0, std::memory_order_relaxed);  // relaxed: only ever cancels our own park
        if (ctl_->tail.load(std::memory_order_acquire) == head_ && !wd.check()) return false;
      } else {
        cpu_relax();
        if (!wd.spin_ok()) return false;
      }
    }
  }

 private:
  void publish() noexcept {
    if (published_ == head_) return;  // nothing consumed since the last store: no write to the shared line
    published_ = head_;
    // SYNC POINT WRITE: head, partner of the producer's acquire load.
    ctl_->head.store(head_, std::memory_order_release);
  }

  RingCtl* ctl_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint64_t head_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t cached_tail_ = 0;
};

// What floor.fdatasync adds to the ring: each side's file, one append +
// fdatasync per message it sends.
class SyncedFile {
 public:
  SyncedFile() = default;
  SyncedFile(const SyncedFile&) = delete;
  SyncedFile& operator=(const SyncedFile&) = delete;
  ~SyncedFile() { close(); }

  bool open(const std::string& path, std::string& err) {
    close();
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      err = "open(" + path + "): " + std::strerror(errno);
      return false;
    }
    return true;
  }
  // Length word + payload, one write(), then fdatasync().
  bool append_synced(const std::byte* p, std::size_t n, std::string& err) {
    buf_.resize(8 + n);
    const std::uint64_t len = n;
    std::memcpy(buf_.data(), &len, 8);
    std::memcpy(buf_.data() + 8, p, n);
    std::size_t done = 0;
    while (done < buf_.size()) {
      const ssize_t w = ::write(fd_, buf_.data() + done, buf_.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = std::string("write: ") + std::strerror(errno);
        return false;
      }
      done += static_cast<std::size_t>(w);
    }
    int rc = 0;
    do rc = ::fdatasync(fd_);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      err = std::string("fdatasync: ") + std::strerror(errno);
      return false;
    }
    return true;
  }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::vector<std::byte> buf_;
};

template <bool Park, bool Disk = false, bool Batch = false>
class RingFloor {
 public:
  const char* name() const noexcept {
    return Disk ? "floor.fdatasync" : Park ? "floor.futex" : Batch ? "floor.spsc.batch" : "floor.spsc";
  }
  const char* description() const noexcept {
    if (Disk) return "SPSC copying ring, each message appended + fdatasync'ed by its sender first, busy-spin";
    if (Batch) return "SPSC copying ring, head stored once per drain, busy-spin";
    return Park ? "SPSC copying ring, consumer parked in FUTEX_WAIT (no spinning)" : "SPSC copying ring, busy-spin";
  }
  // floor.fdatasync is measured at 64 B, the size of the durable rows it is the reference of.
  std::size_t max_payload() const noexcept { return Disk ? 64 : ring_capacity / 2 - line; }

  // Ring 0 carries parent -> child, ring 1 child -> parent.
  bool setup(const RunConfig& cfg, std::string& err) {
    if constexpr (Disk) {
      for (const char* side : {"parent", "child"}) {
        paths_.push_back(file_path(cfg, side));
        cleanup::register_path(paths_.back());
      }
    }
    return owner_.create(shm_name(cfg), 2 * ring_stride, err);
  }
  bool parent_attach(std::string& err) {
    if constexpr (Disk) {
      if (paths_.empty() || !file_.open(paths_.front(), err)) return false;
    }
    out_ = RingProducer<Park>(owner_.data());
    in_ = RingConsumer<Park, Batch>(owner_.data() + ring_stride);
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    if constexpr (Disk) {
      if (!file_.open(file_path(cfg, "child"), err)) return false;
    }
    if (!mine_.open(shm_name(cfg), 2 * ring_stride, err)) return false;
    in_ = RingConsumer<Park, Batch>(mine_.data());
    out_ = RingProducer<Park>(mine_.data() + ring_stride);
    return true;
  }
  void child_detach() noexcept {
    mine_.unmap();
    file_.close();
  }
  void teardown() noexcept {
    owner_.unmap();
    owner_.remove();
    file_.close();
    for (const std::string& p : paths_) {
      ::unlink(p.c_str());
      cleanup::unregister_path(p);
    }
    paths_.clear();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    if (!push(msg, n, wd, err)) return false;
    if (!in_.wait(wd, err)) return false;
    std::size_t len = 0;
    bool corrupt = false;
    const std::byte* p = in_.peek(len, corrupt);
    if (len != n) {
      err = "reply of " + std::to_string(len) + " bytes, expected " + std::to_string(n);
      return false;
    }
    std::memcpy(reply, p, n);
    in_.pop(len);
    return true;
  }

  bool pong(Watchdog& wd, std::string& err) {
    if (!in_.wait(wd, err)) return false;
    std::size_t len = 0;
    bool corrupt = false;
    const std::byte* p = in_.peek(len, corrupt);
    if (!push(p, len, wd, err)) return false;  // echo: one copy, ring to ring
    in_.pop(len);
    return true;
  }

  bool send_one(const std::byte* msg, std::size_t n, Watchdog& wd, std::string& err) { return push(msg, n, wd, err); }

  bool recv_one(std::byte* into, std::size_t n, Watchdog& wd, std::string& err) {
    if (!in_.wait(wd, err)) return false;
    std::size_t len = 0;
    bool corrupt = false;
    const std::byte* p = in_.peek(len, corrupt);
    std::memcpy(into, p, len < n ? len : n);
    in_.pop(len);
    return true;
  }

 private:
  bool push(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    if constexpr (Disk) {
      if (!file_.append_synced(p, n, err)) return false;
    } else {
      (void)err;
    }
    if (out_.try_push(p, n)) return true;
    wd.begin();
    while (!out_.try_push(p, n)) {
      cpu_relax();
      if (!wd.spin_ok()) return false;
    }
    return true;
  }
  static std::string shm_name(const RunConfig& cfg) { return "/cbench." + cfg.tag + ".ring"; }
  // "cbench.<pid>..." like every name of ours (cleanup::sweep_stale knows it).
  static std::string file_path(const RunConfig& cfg, const char* side) {
    return cfg.disk_dir + "/cbench." + cfg.tag + "." + side + ".fdatasync";
  }

  ShmRegion owner_, mine_;
  SyncedFile file_;                 // Disk: this side's file
  std::vector<std::string> paths_;  // Disk, parent: both sides' files (removed in teardown)
  RingProducer<Park> out_;
  RingConsumer<Park, Batch> in_;
};

}  // namespace

std::unique_ptr<Transport> make_floor_cacheline() { return std::make_unique<Adapter<CacheLineFloor>>(); }
std::unique_ptr<Transport> make_floor_spsc() { return std::make_unique<Adapter<RingFloor<false>>>(); }
std::unique_ptr<Transport> make_floor_spsc_batch() {
  return std::make_unique<Adapter<RingFloor<false, false, true>>>();
}
std::unique_ptr<Transport> make_floor_futex() { return std::make_unique<Adapter<RingFloor<true>>>(); }
std::unique_ptr<Transport> make_floor_fdatasync() { return std::make_unique<Adapter<RingFloor<false, true>>>(); }

}  // namespace cbench
