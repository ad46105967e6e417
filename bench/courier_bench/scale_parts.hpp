// bench/courier_bench/scale_parts.hpp — what the parts of the scale section
// (scale_*.cpp, see scale.hpp) share: a scratch bus, a sender/receiver loop on
// one thread, the part functions run_scale_section calls in turn.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "courier/bus.hpp"
#include "scale.hpp"
#include "transports.hpp"

namespace cbench::scale_parts {

constexpr std::size_t payload = 64;

// A bus for one part of the section: "cbench-<pid>-<n>-<what>", removed when
// done (and by the signal handlers / the next start if we die).
class ScratchBus {
 public:
  ScratchBus() = default;
  ScratchBus(const ScratchBus&) = delete;
  ScratchBus& operator=(const ScratchBus&) = delete;
  ~ScratchBus() { close(); }

  bool create(const std::string& what, courier::Options o, std::string& err) {
    std::string t = unique_tag();
    for (char& c : t)
      if (c == '.') c = '-';
    name_ = "cbench-" + t + "-" + what;
    if (courier::Bus::exists(name_)) {
      err = "bus '" + name_ + "' exists already";
      name_.clear();
      return false;
    }
    cleanup::register_bus(name_);
    o.create = true;
    auto b = courier::Bus::open(name_, o);
    if (!b) {
      err = b.error().message;
      return false;
    }
    bus_.emplace(std::move(*b));
    return true;
  }
  void close() noexcept {
    bus_.reset();
    if (!name_.empty()) {
      (void)courier::Bus::remove(name_);
      cleanup::unregister_bus(name_);
      name_.clear();
    }
  }
  courier::Bus& bus() { return *bus_; }
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::optional<courier::Bus> bus_;
};

// One receiving endpoint ("dst") and a sender on the same thread.
struct Loop {
  std::optional<courier::Receiver> rx;
  std::optional<courier::Endpoint> tx;
  courier::SendOptions so{};

  bool open(courier::Bus& bus, const char* rx_name, const char* tx_name, std::string& err) {
    courier::ReceiverOptions ro;
    ro.idle = courier::IdleStrategy{.spin_ns = 0, .park = false};
    auto r = bus.attach(rx_name, ro);
    if (!r) {
      err = r.error().message;
      return false;
    }
    rx.emplace(std::move(*r));
    auto t = bus.endpoint(tx_name);
    if (!t) {
      err = t.error().message;
      return false;
    }
    tx.emplace(std::move(*t));
    auto d = tx->resolve(rx_name);
    if (!d) {
      err = d.error().message;
      return false;
    }
    so.to = *d;
    so.priority = courier::default_priority;
    so.expiry = std::chrono::nanoseconds{0};
    return true;
  }
};

// A bus of two endpoints, 256 KiB lanes, and a Loop on it ("src" sends to
// "dst"): what the lanes and tracked parts measure on.
bool open_loop_bus(ScratchBus& bus, Loop& loop, const char* what, std::string& err);
ScaleRow failed_row(const char* test, const std::string& label, const char* metric, const std::string& why);

// A benchmark sends far more tracked messages than a tracker keeps: an entry
// lives until the message's expiry + status retention (30 s + 10 s here), so a
// table of 65,536 entries holds 1,638 tracked messages a second (docs/design.md).
// Between batches, with nothing in flight, the table is emptied as if every
// deadline had passed (Bus::retire_all_tracked_for_benchmark), untimed, whenever
// the next batch would take it past half full: the timed sends see a table
// between 0 and 50% full.
struct TrackState {
  std::uint64_t in_tracker = 0;  // entries inserted since the table was last emptied
  std::uint64_t retired_runs = 0;
  void make_room(courier::Bus& bus, std::uint64_t need) {
    if (in_tracker + need <= bus.settings().tracker_capacity / 2) return;
    bus.retire_all_tracked_for_benchmark();
    in_tracker = 0;
    ++retired_runs;
  }
};

inline constexpr auto tracked_expiry = std::chrono::seconds(30);  // tracked and groups

// The parts, in the order they run; each appends its rows to out.
void endpoints_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);  // scale_endpoints.cpp
void lanes_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);      // scale_endpoints.cpp
void tracked_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);    // scale_tracked.cpp
void groups_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);     // scale_groups.cpp
void inproc_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);     // scale_inproc.cpp
void urgent_part(const ScaleOptions& so, unsigned rounds, ScaleOutcome& out);     // scale_urgent.cpp
// The urgent part's pace and the receiver's work per flood message (the settings line).
inline constexpr std::uint64_t urgent_pace_ns = 20'000;  // one urgent message every 20 us
inline constexpr std::uint64_t urgent_work_ns = 200;     // the receiver's work per flood message

}  // namespace cbench::scale_parts
