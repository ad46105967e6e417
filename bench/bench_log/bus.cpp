// bench/bench_log/bus.cpp — reliable sends through the Bus, one producer, per
// sync policy: send() rate, the rate at which messages become `sent`, and the
// time from send() to `sent`; each run in a child process.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "bench_log.hpp"
#include "courier/detail/log.hpp"
#include "courier/limits.hpp"
#include "courier_bench/children.hpp"
#include "courier_bench/harness.hpp"
#include "journal_rates.hpp"

namespace blog {

std::uint64_t tracker_for(std::uint64_t messages) {
  std::uint64_t cap = 1u << 12;
  while (static_cast<double>(cap) * 0.6 < static_cast<double>(messages) && cap < (1ull << 24)) cap <<= 1;
  return cap;
}

// The status ring of every bus unless --status-ring names one: room for the
// events of two full batches (group_commit_bytes of the run's journal records)
// and one poll's sends, 64 bytes each, as a power of two of at least 64 KiB.
// Not larger: a ring far larger than the events in flight makes each event's
// line one not touched for a whole wrap (a page walk away); 64 MiB here made
// the flusher's events cost 2x (bench/results/2026-12-07-status-ring-s27.md).
// At most max_status_capacity: a --group-bytes above ~75 MB would
// otherwise ask for a ring Bus::open refuses.
std::uint64_t status_ring_for(const Config& c) {
  if (c.status_ring != 0) return c.status_ring;
  const std::uint64_t events = 2 * (c.group_bytes / journal_rates::record_bytes(payload_size) + c.poll_every);
  const std::uint64_t ring = std::max<std::uint64_t>(64 << 10, std::bit_ceil(events * 64));
  return std::min(courier::max_status_capacity, ring);
}

courier::Options bus_options(const Config& c, Sync sync, std::uint64_t messages, unsigned endpoints) {
  courier::Options o;
  o.max_endpoints = endpoints;
  o.max_groups = 1;
  o.lane_capacity = c.lane_capacity;
  o.max_payload = 4096;
  o.tracker_capacity = tracker_for(messages);
  o.status_capacity = status_ring_for(c);
  o.log_dir = c.log_dir;
  o.sync = sync;
  o.group_commit_interval = c.interval;
  o.group_commit_bytes = c.group_bytes;
  if (c.log_cpu >= 0) o.log_cpus = {static_cast<unsigned>(c.log_cpu)};
  return o;
}

unsigned g_bus_serial = 0;
std::string next_bus_name() { return "cblog-" + std::to_string(::getpid()) + "-" + std::to_string(++g_bus_serial); }

void set_current_bus(const std::string& name) { cbench::cleanup::register_bus(name); }

// The bus's shared memory and its journals (LOG_DIR/BUS, Options::log_dir).
void remove_bus(const Config& c, const std::string& name) {
  (void)courier::Bus::remove(name);
  if (auto r = courier::Bus::remove_log(c.log_dir, name); !r)
    std::fprintf(stderr, "bench_log: removing the log of %s: %s\n", name.c_str(), r.error().message.c_str());
  cbench::cleanup::unregister_bus(name);
}

bool open_producer(const std::string& name, const courier::Options& o, Producer& p, char (&error)[256],
                   const std::string& src) {
  auto bus = courier::Bus::open(name, o);
  if (!bus) return set_error(error, "Bus::open: " + bus.error().message), false;
  p.bus.emplace(std::move(*bus));
  if (auto r = p.bus->add_endpoint("dst"); !r) return set_error(error, "add_endpoint: " + r.error().message), false;
  auto ep = p.bus->endpoint(src);
  if (!ep) return set_error(error, "endpoint: " + ep.error().message), false;
  p.ep.emplace(std::move(*ep));
  auto to = p.ep->resolve("dst");
  if (!to) return set_error(error, "resolve: " + to.error().message), false;
  p.to = *to;
  return true;
}

// Allocate the shared-memory pages a run of n messages will write (the
// destination's lane, the sender's status ring; the tracker is populated by
// Bus::open, Options::prefault_tracker) without changing their contents: a bus
// that has run for a while has them, a fresh one takes a page fault per 4 KiB
// on the send path.
void prefault(courier::Bus& bus, const courier::Endpoint& ep, const courier::Destination& to,
              std::uint64_t lane_messages, std::uint64_t ring_messages) {
  constexpr std::uint64_t lane_record_bytes =
      courier::message_header_bytes + payload_size;  // 64 B units: no padding at 64 B
  constexpr std::uint64_t status_event_bytes = 64;   // Options::status_capacity: 64 bytes per event
  static_assert(payload_size == 64);
  bus.prefault_lane(to.id, courier::default_priority, lane_messages * lane_record_bytes);
  bus.prefault_status_ring(ep.id(), ring_messages * status_event_bytes);
}

const courier::EndpointStats* stats_of(const courier::BusStats& s, const std::string& name) {
  for (const courier::EndpointStats& e : s.endpoints)
    if (e.name == name) return &e;
  return nullptr;
}

namespace {

// The first n stamps (stamp_now()) in CLOCK_REALTIME: on the line through
// (s0, real0) and (s1, real1), read together at the loop's ends (the counter
// runs at a constant rate; CLOCK_REALTIME, slewed or not, is close to a line
// over one loop). Where stamp_now() is CLOCK_REALTIME already, as they are.
void to_realtime(std::vector<std::uint64_t>& t, std::uint64_t n, std::uint64_t s0, std::uint64_t s1,
                 std::uint64_t real0, std::uint64_t real1) {
#if defined(__x86_64__)
  const long double per = s1 > s0 ? static_cast<long double>(real1 - real0) / static_cast<long double>(s1 - s0) : 0.0L;
  for (std::uint64_t k = 0; k < n; ++k)
    t[k] = real0 + static_cast<std::uint64_t>(static_cast<long double>(static_cast<std::int64_t>(t[k] - s0)) * per);
#else
  (void)t, (void)n, (void)s0, (void)s1, (void)real0, (void)real1;
#endif
}

}  // namespace

void produce(const Config& c, Sync sync, courier::Bus& bus, courier::Endpoint& ep, const courier::Destination& to,
             std::uint64_t n, ProducerRun& r, char (&error)[256], bool lone) {
  r.t_send.assign(n, 0);
  r.t_sent.assign(n, 0);
  r.t_stamp.assign(n, 0);
  r.returned.assign(n, Status::invalid_argument);
  std::uint64_t poll_now = 0;
  const std::function<void(const courier::StatusEvent&)> on_event = [&](const courier::StatusEvent& e) {
    if (e.status != Status::sent || e.id == 0 || e.id > n || r.t_sent[e.id - 1] != 0) {
      ++r.other;
      return;
    }
    r.t_sent[e.id - 1] = poll_now;
    r.t_stamp[e.id - 1] = e.time_ns;
    ++r.seen;
  };
  auto drain = [&] {
    poll_now = real_ns();
    (void)ep.poll_status(on_event);
  };
  std::array<std::byte, payload_size> payload{};
  payload.fill(std::byte{0x70});
  courier::SendOptions o{.to = to, .priority = courier::default_priority, .expiry = 30s, .type = 1};

  const std::uint64_t cap = static_cast<std::uint64_t>(c.cap_s * 1e9);
  r.real0 = real_ns();
  const std::uint64_t stamp0 = stamp_now();
  r.loop0 = now_ns();
  std::uint64_t i = 0;
  for (; i < n; ++i) {
    o.id = i + 1;
    r.t_send[i] = stamp_now();
    const courier::SendResult s = ep.send(o, payload);
    r.returned[i] = s.status;
    if (s.status == Status::sent) {
      r.t_sent[i] = real_ns();
      ++r.sent_now;
    } else if (s.status == Status::outbox) {
      ++r.awaited;
    }
    ++r.by_status[static_cast<unsigned>(s.status) < courier::status_count ? static_cast<unsigned>(s.status) : 0];
    if (lone) {
      const std::uint64_t give_up = now_ns() + 1'000'000'000ull;
      while (r.seen < r.awaited && now_ns() < give_up) drain();
      if (c.lone_gap_us != 0) ::usleep(static_cast<useconds_t>(c.lone_gap_us));  // the pause is the subject
    } else if ((i + 1) % c.poll_every == 0) {
      drain();
    }
    if ((sync == Sync::always || lone) && (i & 15) == 15 && now_ns() - r.loop0 > cap) {
      ++i;
      break;
    }
  }
  r.loop1 = now_ns();
  const std::uint64_t stamp1 = stamp_now();
  r.real1 = real_ns();
  r.count = i;  // always stops at the cap
  to_realtime(r.t_send, i, stamp0, stamp1, r.real0, r.real1);

  // Wait for the `sent` of everything in the outbox: first as the log does it
  // by itself, then with flush_log() (the brief's "at the end").
  const std::uint64_t natural = now_ns() + 2 * static_cast<std::uint64_t>(c.interval.count()) * 1000 + 50'000'000ull;
  while (r.seen < r.awaited && now_ns() < natural) {
    drain();
    ::usleep(50);
  }
  if (r.seen < r.awaited) r.flush_forced = true;
  if (auto f = bus.flush_log(); !f) set_error(error, "flush_log: " + f.error().message);
  const std::uint64_t give_up = now_ns() + 3'000'000'000ull;
  while (r.seen < r.awaited && now_ns() < give_up) {
    drain();
    ::usleep(100);
  }
}

void count_missing(const courier::Endpoint& ep, ProducerRun& r) {
  for (std::uint64_t k = 0; k < r.count; ++k)
    if (r.t_sent[k] == 0 && r.returned[k] == Status::outbox && ++r.missing <= 10000) {  // asks about the first 10,000
      auto st = ep.status(k + 1);
      if (st && st->status != Status::outbox) ++r.missing_sent;
    }
}

// In the child: open the bus, send c.messages (always: always_messages) and
// wait for every `sent`.
void bus_child(const Config& c, const std::string& name, Sync sync, bool lone, BusRound& out) {
  const std::uint64_t n = sync == Sync::always || lone ? c.always_messages : c.messages;
  Producer pr;
  if (!open_producer(name, bus_options(c, sync, n), pr, out.error)) return;
  if (c.prefault) prefault(*pr.bus, *pr.ep, pr.to, n, n);
  if (c.producer_cpu >= 0 && !cbench::pin_to_cpu(c.producer_cpu))
    return set_error(out.error, "pinning the producer to CPU " + std::to_string(c.producer_cpu) + " failed");
  ProducerRun r;
  const courier::detail::LogThreadCounts before = courier::detail::log_thread_counts();
  produce(c, sync, *pr.bus, *pr.ep, pr.to, n, r, out.error, lone);
  const courier::detail::LogThreadCounts after = courier::detail::log_thread_counts();
  count_missing(*pr.ep, r);
  if (const auto batches = after.flusher_batches - before.flusher_batches; batches > 0) {
    const double b = static_cast<double>(batches);
    out.batches = b;
    out.batch_write_sync_us = static_cast<double>(after.flusher_write_sync_ns - before.flusher_write_sync_ns) / b / 1e3;
    out.batch_post_us = static_cast<double>(after.flusher_post_ns - before.flusher_post_ns) / b / 1e3;
  }

  std::vector<double> lat, stamp;
  lat.reserve(r.count);
  std::uint64_t first = r.t_send[0], last = 0;
  for (std::uint64_t k = 0; k < r.count; ++k) {
    if (r.t_sent[k] == 0) continue;
    last = std::max(last, r.t_sent[k]);
    lat.push_back(static_cast<double>(r.t_sent[k] - r.t_send[k]));
    if (r.t_stamp[k] != 0) stamp.push_back(static_cast<double>(r.t_stamp[k]) - static_cast<double>(r.t_send[k]));
  }
  const courier::BusStats st = pr.bus->stat();
  if (const courier::EndpointStats* e = stats_of(st, "src")) {
    out.dropped = static_cast<double>(e->status_dropped);
    out.tracker_full = static_cast<double>(e->tracker_full);
  }
  const double count = static_cast<double>(r.count), loop = static_cast<double>(r.loop1 - r.loop0);
  out.messages = count;
  out.flush_forced = r.flush_forced ? 1 : 0;
  out.per_msg_us = loop / count / 1e3;
  out.send_per_s = count * 1e9 / loop;
  out.sent_per_s = last > first ? static_cast<double>(lat.size()) * 1e9 / static_cast<double>(last - first) : 0;
  cbench::Percentiles p = cbench::summarize_ns(lat);
  out.p50_us = p.p50 / 1e3;
  out.p90_us = p.p90 / 1e3;
  out.p99_us = p.p99 / 1e3;
  out.p999_us = p.p999 / 1e3;
  out.max_us = p.max / 1e3;
  if (!stamp.empty()) {
    cbench::Percentiles s = cbench::summarize_ns(stamp);
    out.stamp_p50_us = s.p50 / 1e3;
    out.stamp_p99_us = s.p99 / 1e3;
  } else {
    out.stamp_p50_us = out.stamp_p99_us = NAN;
  }
  for (unsigned s = 0; s < courier::status_count; ++s) out.returned[s] = static_cast<double>(r.by_status[s]);
  out.events = static_cast<double>(r.seen);
  out.other_events = static_cast<double>(r.other);
  out.missing = static_cast<double>(r.missing);
  out.missing_sent = static_cast<double>(r.missing_sent);
  if (r.sent_now + r.awaited == 0 && out.error[0] == '\0') set_error(out.error, "no send succeeded");
}

std::string returned_text(const BusRound& r) {
  std::string s;
  for (unsigned k = 0; k < courier::status_count; ++k)
    if (r.returned[k] > 0)
      s += (s.empty() ? "" : ", ") + std::string(courier::status_name(static_cast<Status>(k))) + " " +
           num(r.returned[k]);
  return s;
}

BusRound run_bus(const Config& c, Sync sync, bool lone) {
  const std::string name = next_bus_name();
  set_current_bus(name);
  BusRound r{};
  rusage ru{};
  std::string err;
  if (!cbench::in_child([&](BusRound& out) { bus_child(c, name, sync, lone, out); }, r, ru, err))
    set_error(r.error, err);
  r.preempted = static_cast<double>(ru.ru_nivcsw);
  remove_bus(c, name);
  const std::string what = std::string(courier::sync_name(sync)) + (lone ? " one at a time" : "");
  if (r.error[0] != '\0')
    std::fprintf(stderr, "  bus %s: FAILED: %s\n", what.c_str(), r.error);
  else
    std::fprintf(stderr, "  bus %s: send() %s msgs/s, sent %s msgs/s, send->sent p50 %s us p99 %s us (%s)\n",
                 what.c_str(), num(r.send_per_s).c_str(), num(r.sent_per_s).c_str(),
                 fix(r.p50_us).c_str(), fix(r.p99_us).c_str(), returned_text(r).c_str());
  return r;
}

}  // namespace blog
