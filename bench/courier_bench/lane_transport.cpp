// bench/courier_bench/lane_transport.cpp — courier.lane: courier's lane protocol
// alone, without the bus around it (a diagnostic row, not in the default run).
//
// One lane per direction in a shared-memory region, driven by the library's
// own LaneWriter and LaneReader: the sender reserves with the tail CAS,
// writes a full record header (bus-stamped time included) and the payload,
// and commits with the frame CAS; the receiver spins on the frame at its head
// (a pause between looks, as courier.spin and the floors) and releases the
// record after its reply is committed, as courier's receive does. What
// courier.spin adds over this row is the bus: destination, lease and expiry
// checks, counters, the priority bitmap and its notification, the Message.
// What this row adds over floor.spsc is the lane's protocol.
#include <cstring>
#include <string>

#include "courier/detail/clock.hpp"
#include "courier/detail/lane_reader.hpp"
#include "courier/detail/lane_writer.hpp"
#include "transports.hpp"

namespace cbench {
namespace {

constexpr std::size_t lane_bytes = sizeof(courier::LaneData) + ring_capacity;
constexpr std::size_t lane_stride = (lane_bytes + 4095) & ~std::size_t(4095);

class LaneAlone {
 public:
  const char* name() const noexcept { return "courier.lane"; }
  const char* description() const noexcept {
    return "courier's lane alone: claim, full header, commit; receiver spinning on the frame (no bus; diagnostic)";
  }
  std::size_t max_payload() const noexcept { return ring_capacity / 2 - sizeof(courier::RecordHeader); }

  // Lane 0 carries parent -> child, lane 1 child -> parent.
  bool setup(const RunConfig& cfg, std::string& err) { return owner_.create(shm_name(cfg), 2 * lane_stride, err); }
  bool parent_attach(std::string&) {
    bind(owner_.data(), 0);
    return true;
  }
  bool child_attach(const RunConfig& cfg, std::string& err) {
    if (!mine_.open(shm_name(cfg), 2 * lane_stride, err)) return false;
    bind(mine_.data(), 1);
    return true;
  }
  void child_detach() noexcept { mine_.unmap(); }
  void teardown() noexcept {
    owner_.unmap();
    owner_.remove();
  }

  bool ping(const std::byte* msg, std::byte* reply, std::size_t n, Watchdog& wd, std::string& err) {
    if (!send(msg, n, wd, err)) return false;
    const courier::LaneRecord r = wait(wd, err);
    if (!r) return false;
    const std::size_t got = payload_len(r);
    if (got != n) {
      err = "reply of " + std::to_string(got) + " bytes, expected " + std::to_string(n);
      return false;
    }
    std::memcpy(reply, r.payload(), n);
    in_.release(r);
    return true;
  }
  bool pong(Watchdog& wd, std::string& err) {
    const courier::LaneRecord r = wait(wd, err);
    if (!r) return false;
    if (!send(r.payload(), payload_len(r), wd, err)) return false;  // echo: lane to lane
    in_.release(r);
    return true;
  }

 private:
  void bind(std::byte* base, unsigned side) {
    out_ = courier::LaneWriter(courier::LaneView::over(base + side * lane_stride, ring_capacity));
    in_ = courier::LaneReader(courier::LaneView::over(base + (1 - side) * lane_stride, ring_capacity),
                              courier::min_claim_timeout_ns);
    me_ = side + 1;
  }

  bool send(const std::byte* p, std::size_t n, Watchdog& wd, std::string& err) {
    courier::LaneClaim c;
    courier::ClaimResult cr = out_.try_claim(courier::record_bytes(n), c);
    if (cr == courier::ClaimResult::full) {
      wd.begin();
      while ((cr = out_.try_claim(courier::record_bytes(n), c)) == courier::ClaimResult::full) {
        cpu_relax();
        if (!wd.spin_ok()) {
          err = "lane full (" + wd.reason() + ")";
          return false;
        }
      }
    }
    if (cr != courier::ClaimResult::ok) {
      err = "claim failed";
      return false;
    }
    courier::RecordHeader& h = *c.header;  // the frame word stays the lane's
    h.id = 0;
    h.timestamp_ns = courier::fast_realtime_ns();
    h.expires_ns = 0;
    h.from = me_;
    h.to = 3 - me_;
    h.group = 0;
    h.type = 0;
    h.payload_len = static_cast<std::uint32_t>(n);
    h.priority = 8;
    h.flags = 0;
    h.reserved0 = 0;
    h.lease = 0;
    std::memcpy(c.payload(), p, n);
    if (!out_.commit(c)) {
      err = "commit revoked";
      return false;
    }
    return true;
  }

  // The record's payload length, read once: the lane is shared memory and the
  // header may change after peek checked it. Within the record, else 0.
  static std::size_t payload_len(const courier::LaneRecord& r) noexcept {
    const std::uint64_t len = r.header->payload_len;
    return len <= r.units * courier::record_unit - sizeof(courier::RecordHeader) ? len : 0;
  }

  courier::LaneRecord wait(Watchdog& wd, std::string& err) {
    if (courier::LaneRecord r = in_.peek()) return r;
    wd.begin();
    for (;;) {
      cpu_relax();
      if (courier::LaneRecord r = in_.peek()) return r;
      if (!wd.spin_ok()) {
        err = "no record (" + wd.reason() + ")";
        return {};
      }
    }
  }

  static std::string shm_name(const RunConfig& cfg) { return "/cbench." + cfg.tag + ".lane"; }

  ShmRegion owner_, mine_;
  courier::LaneWriter out_;
  courier::LaneReader in_;
  std::uint32_t me_ = 0;
};

}  // namespace

std::unique_ptr<Transport> make_courier_lane() { return std::make_unique<Adapter<LaneAlone>>(); }

}  // namespace cbench
