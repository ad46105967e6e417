// bench/courier_bench/report.cpp — results over rounds, the targets, markdown and JSON (plot.cpp: the plot).
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "format.hpp"

namespace cbench {

Percentiles ItemResult::agg() const {
  Percentiles a;
  if (rounds.empty()) return a;
  std::vector<double> p50, p90, p99, p999, mean;
  for (const Percentiles& r : rounds) {
    p50.push_back(r.p50);
    p90.push_back(r.p90);
    p99.push_back(r.p99);
    p999.push_back(r.p999);
    mean.push_back(r.mean);
    a.max = std::max(a.max, r.max);
    a.count += r.count;
  }
  a.p50 = median(p50);
  a.p90 = median(p90);
  a.p99 = median(p99);
  a.p999 = median(p999);
  a.mean = median(mean);
  return a;
}

double ItemResult::ratio_lo() const {
  return ratios.empty() ? std::nan("") : *std::min_element(ratios.begin(), ratios.end());
}
double ItemResult::ratio_hi() const {
  return ratios.empty() ? std::nan("") : *std::max_element(ratios.begin(), ratios.end());
}

std::vector<double> ItemResult::curve() const {
  std::vector<double> c;
  if (curves.empty()) return c;
  for (std::size_t i = 0; i < curves.front().size(); ++i) {
    std::vector<double> col;
    for (const auto& r : curves)
      if (i < r.size()) col.push_back(r[i]);
    c.push_back(median(col));
  }
  return c;
}

bool is_floor_reference(const std::string& transport) {
  return transport == "floor.cacheline" || transport == "inproc.floor.cacheline" || transport == "floor.fdatasync";
}

const char* floor_of(const ItemResult& r) {
  return r.durable ? "floor.fdatasync" : r.threads ? "inproc.floor.cacheline" : "floor.cacheline";
}

// ------------------------------------------------------------ targets
std::vector<Target> Report::targets(std::size_t payload) const {
  auto find = [payload](const std::vector<ItemResult>& v, const std::string& name) -> const ItemResult* {
    for (const ItemResult& r : v)
      if (r.transport == name && r.payload == payload) return &r;
    return nullptr;
  };
  // a / b per round, both normalised by the floor next to them in that round
  // (so the drift of the machine between the two runs cancels); the median.
  auto by_round = [](const ItemResult* a, const ItemResult* b) {
    std::vector<double> q;
    if (a == nullptr || b == nullptr) return q;
    for (std::size_t i = 0; i < a->ratio_by_round.size() && i < b->ratio_by_round.size(); ++i)
      if (std::isfinite(a->ratio_by_round[i]) && std::isfinite(b->ratio_by_round[i]) && b->ratio_by_round[i] > 0)
        q.push_back(a->ratio_by_round[i] / b->ratio_by_round[i]);
    return q;
  };
  auto paired = [&](const ItemResult* a, const ItemResult* b) {
    const std::vector<double> q = by_round(a, b);
    return q.empty() ? std::nan("") : median(q);
  };
  // The largest per-round quotient over the smallest: how far a ratio moves from round to round.
  auto spread = [&](const ItemResult* a, const ItemResult* b) {
    const std::vector<double> q = by_round(a, b);
    if (q.size() < 2) return std::nan("");
    const auto [lo, hi] = std::minmax_element(q.begin(), q.end());
    return *lo > 0 ? *hi / *lo : std::nan("");
  };
  const std::string at = " (" + std::to_string(payload) + " B)";
  std::vector<Target> t;
  auto add = [&](std::string what, bool at_most, double limit, double measured, std::string how) {
    Target x;
    x.what = std::move(what) + at;
    char b[32];
    std::snprintf(b, sizeof b, "%s %.2f×", at_most ? "≤" : "≥", limit);
    x.limit = b;
    x.limit_value = limit;
    x.at_most = at_most;
    x.measured = measured;
    x.met = std::isfinite(measured) && (at_most ? measured <= limit : measured >= limit);
    x.how = std::move(how);
    t.push_back(std::move(x));
  };
  const ItemResult* spin = find(latency, "courier.spin");
  const ItemResult* park = find(latency, "courier.park");
  const ItemResult* futex = find(latency, "floor.futex");
  // The round-trip and one-way limits are issue 14's ("Lanes at Aeron's speed").
  add("courier.spin round trip p50 / floor.cacheline p50", true, 1.4, spin ? spin->ratio() : std::nan(""),
      "median over rounds of p50 / geometric mean of the two floor runs around it");
  add("courier.spin round trip p99 / floor.cacheline p99", true, 2.0, spin ? spin->ratio_p99() : std::nan(""),
      "the same with p99");
  add("courier.spin round trip p50 / floor.spsc p50", true, 1.1, paired(spin, find(latency, "floor.spsc")),
      "median over rounds of the two floor-normalised p50s' quotient");
  for (const char* peer : {"boost.mq", "posix.mq", "unix.seqpacket", "zmq.ipc"})
    add(std::string(peer) + " p50 / courier.spin p50", false, 20.0, paired(find(latency, peer), spin),
        "median over rounds of the two floor-normalised p50s' quotient");
  const ItemResult* spin_stream = find(throughput, "courier.spin");
  add("courier.spin one-way msgs/s / floor.spsc msgs/s", false, 0.8,
      spin_stream && !spin_stream->ratios.empty() ? spin_stream->ratio() : std::nan(""),
      "median over rounds; both streams in the same round");
  add("courier.spin one-way msgs/s / floor.spsc.batch msgs/s", false, 0.8,
      paired(spin_stream, find(throughput, "floor.spsc.batch")),
      "median over rounds of the two spsc-normalised rates' quotient");
  add("spread of courier.spin one-way / floor.spsc.batch over rounds", true, 1.5,
      spread(spin_stream, find(throughput, "floor.spsc.batch")),
      "the largest per-round quotient of the row above over the smallest");
  add("courier.park round trip p50 / floor.futex p50", true, 1.2, paired(park, futex),
      "median over rounds of the two floor-normalised p50s' quotient");
  auto info_now = [&](std::string what, double measured, std::string how) {
    Target x;
    x.what = std::move(what) + at;
    x.limit = "–";
    x.limit_value = std::nan("");
    x.measured = measured;
    x.how = std::move(how);
    x.informational = true;
    t.push_back(std::move(x));
  };
  // Where courier.spin's round trip goes: the lane protocol alone (courier.lane) over a ring, the bus over its lanes.
  const ItemResult* lane = find(latency, "courier.lane");
  info_now("courier.lane round trip p50 / floor.spsc p50", paired(lane, find(latency, "floor.spsc")),
           "the lane protocol alone (claim CAS, full header, commit CAS, no bus) against a minimal ring: median over "
           "rounds of the two floor-normalised p50s' quotient");
  info_now("courier.spin round trip p50 / courier.lane p50", paired(spin, lane),
           "what the bus adds to its lanes (destination, lease, expiry, counters, bitmap, the Message): median over "
           "rounds of the two floor-normalised p50s' quotient");
  // Reliable sends (the log's rows). No limit here: issue 4's (`always`
  // within 1.2x of write + fdatasync per message) is bench_log's, per send.
  // A round trip of courier.log.always syncs four times (each message and
  // each acknowledgement), floor.fdatasync twice (the messages).
  const ItemResult* always = find(latency, "courier.log.always");
  info_now("courier.log.always round trip p50 / floor.fdatasync p50",
           always && !always->ratios.empty() ? always->ratio() : std::nan(""),
           "median over rounds of p50 / geometric mean of the two floor.fdatasync runs around it; courier syncs "
           "each message and each acknowledgement (4 per round trip), the floor each message (2)");
  for (const char* row : {"courier.log.group", "courier.log.os"})
    info_now(std::string(row) + " round trip p50 / courier.spin p50", paired(find(latency, row), spin),
             "what storing every message costs the delivery path: median over rounds of the two floor-normalised "
             "p50s' quotient");
  const ItemResult* group_stream = find(throughput, "courier.log.group");
  info_now("courier.log.group one-way msgs/s / courier.spin msgs/s",
           group_stream && spin_stream ? paired(group_stream, spin_stream) : std::nan(""),
           "median over rounds of the two spsc-normalised rates' quotient (group ends with its last batch on disk)");
  const ItemResult* drain_stream = find(throughput, "courier.spin.drain");
  info_now("courier.spin.drain one-way msgs/s / courier.spin msgs/s", paired(drain_stream, spin_stream),
           "the batched receive (Receiver::drain, 64 a batch) against receive() per message: median over rounds "
           "of the two spsc-normalised rates' quotient");
  info_now("courier.spin.drain one-way msgs/s / floor.spsc.batch msgs/s",
           paired(drain_stream, find(throughput, "floor.spsc.batch")),
           "median over rounds of the two spsc-normalised rates' quotient");
  // The scale section (64 B too): costs that must not grow, an urgent message that must overtake.
  auto scale_p50 = [&](const char* test, const char* label_start, const char* metric) {
    for (const ScaleRow& r : scale)
      if (r.test == test && r.label.rfind(label_start, 0) == 0 && r.metric == metric && r.pct.count != 0)
        return r.pct.p50;
    return std::nan("");
  };
  if (!scale.empty()) {
    add("receive ns/msg, 1,000 / 1 endpoints registered", true, 1.1,
        scale_p50("endpoints", "1000 ", "receive ns/msg") / scale_p50("endpoints", "1 endpoint", "receive ns/msg"),
        "scale: quotient of the p50s (must not grow; 10% for noise)");
    add("receive ns/msg, 1 lane under 15 empty lanes still flagged / with the bitmap exact", true, 1.1,
        scale_p50("lanes", "1 lane holding messages (lane 15) right after", "receive ns/msg") /
            scale_p50("lanes", "1 lane holding messages (lane 15), 15 empty", "receive ns/msg"),
        "scale: quotient of the p50s (must not grow with empty lanes; 10% for noise)");
    add("urgent message p50 during a priority-15 flood / without", true, 2.0,
        scale_p50("urgent", "urgent (priority 0) during", "send→receive ns") /
            scale_p50("urgent", "urgent (priority 0), no flood", "send→receive ns"),
        "scale: quotient of the p50s (it must overtake the backlog; our limit, the issue names none)");
    // Tracking, group fan-out, in-process round trip.
    auto& info = info_now;
    add("tracked send / fire-and-forget send, ns/msg", true, 2.0,
        scale_p50("tracked", "tracked", "send ns/msg") / scale_p50("tracked", "fire-and-forget", "send ns/msg"),
        "scale: quotient of the p50s (expiry 30 s vs 0); what tracking costs the sender (issue 14's limit)");
    info("tracked / fire-and-forget, send + receive + status ns/msg",
         scale_p50("tracked", "tracked", "send+receive+status ns/msg") /
             scale_p50("tracked", "fire-and-forget", "send+receive+status ns/msg"),
         "scale: quotient of the p50s; the receiver's ack and the sender's status poll included");
    for (const char* kind : {"fire-and-forget", "tracked"})
      for (const char* n : {"1 member", "4 members", "16 members", "64 members"})
        add(std::string("group fan-out send ns per member / a single send, ") + n + ", " + kind, true, 1.5,
            scale_p50("groups", (std::string("group of ") + n + ", " + kind).c_str(), "send ns/member") /
                scale_p50("groups", (std::string("single send to 1 endpoint, ") + kind).c_str(), "send ns/msg"),
            "scale: quotient of the p50s (batch of 16 group sends / 16 x members, vs 16 sends to one endpoint)");
    info("inproc.courier (Options.in_process) round trip p50 / inproc.floor.cacheline p50",
         scale_p50("inproc", "inproc.courier:", "round trip ns") /
             scale_p50("inproc", "inproc.floor.cacheline", "round trip ns"),
         "scale: quotient of the pooled p50s (two threads on CPUs A and B, runs interleaved)");
  }
  return t;
}

// ------------------------------------------------------------ markdown
std::string Report::markdown() const {
  std::ostringstream o;
  o << "## courier-bench " << date << "\n\n";
  o << machine.line() << "\n\n";
  o << settings << "\n\n";
  o << "### Round trip (median of rounds; ratio = p50 / p50 of the floor runs next to it in the same round: "
       "floor.cacheline for two processes, inproc.floor.cacheline for two threads, floor.fdatasync for the durable "
       "rows)\n\n";
  o << "| transport | payload B | ratio to floor | ratio range | p99 ratio | p50 ns | p90 ns | p99 ns | p99.9 ns "
       "| max ns | rounds | preempted/run |\n";
  o << "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  bool threads_header = false, durable_header = false;
  for (const ItemResult& r : latency) {
    if (r.threads && !threads_header) {
      o << "| *two threads of one process* | | | | | | | | | | | |\n";
      threads_header = true;
    }
    if (r.durable && !durable_header) {
      o << "| *durable: every message fdatasync'ed before its send completes (two processes)* | | | | | | | | | | | "
           "|\n";
      durable_header = true;
    }
    if (r.rounds.empty()) {
      o << "| " << r.transport << " | " << r.payload << " | FAILED | " << (r.errors.empty() ? "" : r.errors.front())
        << " | | | | | | | 0 | |\n";
      continue;
    }
    const Percentiles a = r.agg();
    std::string ratio = fmt(r.ratio(), 2) + "×", range = fmt(r.ratio_lo(), 2) + "–" + fmt(r.ratio_hi(), 2);
    std::string ratio99 = r.ratios_p99.empty() ? "–" : fmt(r.ratio_p99(), 2) + "×";
    if (is_floor_reference(r.transport)) {
      ratio = "1.00×";
      ratio99 = "1.00×";
      double lo = 1e300, hi = 0;
      for (const Percentiles& p : r.rounds) {
        lo = std::min(lo, p.p50);
        hi = std::max(hi, p.p50);
      }
      range = "p50 " + fmt(lo) + "–" + fmt(hi) + " ns over " + std::to_string(r.rounds.size()) + " runs";
    }
    o << "| " << r.transport << " | " << r.payload << " | " << ratio << " | " << range << " | " << ratio99 << " | "
      << fmt(a.p50) << " | " << fmt(a.p90) << " | " << fmt(a.p99) << " | " << fmt(a.p999) << " | " << fmt(a.max)
      << " | " << r.rounds.size() << (r.errors.empty() ? "" : " (" + std::to_string(r.errors.size()) + " failed)")
      << " | " << fmt(median(r.preemptions)) << " |\n";
  }
  if (!throughput.empty()) {
    o << "\n### One-way throughput (producer streams, consumer counts; msgs/s = median over 1% windows of the run, "
         "median of rounds; whole run = all messages over the whole run; ratio = msgs/s / msgs/s of the floor.spsc "
         "runs next to it in the same round, also for the inproc.* rows)\n\n";
    o << "| transport | payload B | msgs/s | MB/s | whole run msgs/s | ratio to floor.spsc | ratio range | rounds "
         "| preempted/run |\n";
    o << "|---|---:|---:|---:|---:|---:|---|---:|---:|\n";
    for (const ItemResult& r : throughput) {
      if (r.transport == "floor.spsc" && !r.msgs_per_s.empty()) {  // the reference: ran around every other stream
        const auto [lo, hi] = std::minmax_element(r.msgs_per_s.begin(), r.msgs_per_s.end());
        o << "| " << r.transport << " | " << r.payload << " | " << grouped(r.rate()) << " | "
          << fmt(r.rate() * static_cast<double>(r.payload) / 1e6, 1) << " | " << grouped(r.rate_wall()) << " | 1.00× | "
          << grouped(*lo) << "–" << grouped(*hi) << " msgs/s over " << r.msgs_per_s.size() << " runs | "
          << r.msgs_per_s.size() << (r.errors.empty() ? "" : " (" + std::to_string(r.errors.size()) + " failed)")
          << " | " << fmt(median(r.preemptions)) << " |\n";
        continue;
      }
      if (r.msgs_per_s.empty()) {
        o << "| " << r.transport << " | " << r.payload << " | FAILED | " << (r.errors.empty() ? "" : r.errors.front())
          << " | | | | 0 | |\n";
        continue;
      }
      o << "| " << r.transport << " | " << r.payload << " | " << grouped(r.rate()) << " | "
        << fmt(r.rate() * static_cast<double>(r.payload) / 1e6, 1) << " | " << grouped(r.rate_wall()) << " | "
        << (r.ratios.empty() ? "–" : fmt(r.ratio(), 2) + "×") << " | "
        << (r.ratios.empty() ? "" : fmt(r.ratio_lo(), 2) + "–" + fmt(r.ratio_hi(), 2)) << " | " << r.msgs_per_s.size()
        << (r.errors.empty() ? "" : " (" + std::to_string(r.errors.size()) + " failed)") << " | "
        << fmt(median(r.preemptions)) << " |\n";
    }
  }
  o << "\npreempted/run: involuntary context switches of both processes (threads) during one run (median of "
       "rounds); each is a stall of up to a scheduler slice, and what p99.9 and max mostly measure on a shared host.\n";
  if (!scale.empty()) {
    o << "\n### Scale (" << scale_settings << ")\n\n";
    o << "| test | case | sample | p50 ns | p90 ns | p99 ns | p99.9 ns | max ns | samples | note |\n";
    o << "|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
    for (const ScaleRow& r : scale) {
      if (r.pct.count == 0) {
        o << "| " << r.test << " | " << r.label << " | " << r.metric << " | FAILED | | | | | 0 | " << r.note << " |\n";
        continue;
      }
      const int prec = r.pct.p50 < 100 ? 1 : 0;
      o << "| " << r.test << " | " << r.label << " | " << r.metric << " | " << fmt(r.pct.p50, prec) << " | "
        << fmt(r.pct.p90, prec) << " | " << fmt(r.pct.p99, prec) << " | " << fmt(r.pct.p999, prec) << " | "
        << fmt(r.pct.max, prec) << " | " << grouped(static_cast<double>(r.pct.count)) << " | " << r.note << " |\n";
    }
  }
  const std::vector<Target> ts = targets();
  bool any = false;
  for (const Target& t : ts) any = any || std::isfinite(t.measured);
  if (any) {
    o << "\n### Targets (64 B, ratios from the same rounds)\n\n";
    o << "| target | limit | measured | result | how |\n|---|---|---:|---|---|\n";
    for (const Target& t : ts) {
      std::string res = "not measured";
      if (std::isfinite(t.measured)) {
        if (t.informational) {
          res = "shown (no limit)";
        } else if (t.met) {
          res = "met";
        } else {
          const double by = t.at_most ? t.measured / t.limit_value - 1 : t.limit_value / t.measured - 1;
          res = "**missed** by " + fmt(by * 100, 0) + "%";
        }
      }
      o << "| " << t.what << " | " << t.limit << " | " << (std::isfinite(t.measured) ? fmt(t.measured, 2) + "×" : "–")
        << " | " << res << " | " << t.how << " |\n";
    }
  }
  o << "\n" << machine.line() << "\n";
  return o.str();
}

// ------------------------------------------------------------ JSON lines
std::vector<std::string> Report::json_lines() const {
  std::vector<std::string> out;
  auto find_stream = [&](const ItemResult& l) -> const ItemResult* {
    for (const ItemResult& t : throughput)
      if (t.transport == l.transport && t.payload == l.payload) return &t;
    return nullptr;
  };
  auto nums = [](const std::vector<double>& v, int prec) {
    std::string a = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i != 0) a += ',';
      a += jnum(v[i], prec);
    }
    return a + "]";
  };
  auto stream_fields = [&](const ItemResult* t) {
    if (t == nullptr || t->msgs_per_s.empty())
      return std::string(
          ",\"msgs_per_s\":null,\"msgs_per_s_whole_run\":null,\"bytes_per_s\":null,"
          "\"throughput_ratio_to_floor_spsc\":null");
    return ",\"msgs_per_s\":" + jnum(t->rate(), 0) + ",\"msgs_per_s_whole_run\":" + jnum(t->rate_wall(), 0) +
           ",\"bytes_per_s\":" + jnum(t->rate() * static_cast<double>(t->payload), 0) +
           ",\"throughput_ratio_to_floor_spsc\":" +
           (t->transport == "floor.spsc" ? std::string("1.000")
                                         : (t->ratios.empty() ? std::string("null") : jnum(t->ratio(), 3))) +
           ",\"throughput_ratio_by_round\":" + nums(t->ratio_by_round, 3) +
           ",\"msgs_per_s_by_run\":" + nums(t->msgs_per_s, 0);
  };
  auto p50s = [&](const ItemResult& r) {
    std::vector<double> v;
    for (const Percentiles& p : r.rounds) v.push_back(p.p50);
    return nums(v, 0);
  };
  auto errors = [](const ItemResult& r) {
    std::string e = "[";
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
      if (i != 0) e += ',';
      e += jstr(r.errors[i]);
    }
    return e + "]";
  };
  for (const ItemResult& r : latency) {
    const Percentiles a = r.agg();
    const bool ok = !r.rounds.empty();
    const bool floor = is_floor_reference(r.transport);
    std::string j = "{\"section\":\"round_trip\",\"date\":" + jstr(date) + ",\"transport\":" + jstr(r.transport) +
                    ",\"topology\":" + (r.threads ? "\"threads\"" : "\"processes\"") +
                    ",\"floor\":" + jstr(floor_of(r)) + ",\"payload\":" + std::to_string(r.payload) +
                    ",\"rounds\":" + std::to_string(r.rounds.size()) + ",\"samples\":" + std::to_string(a.count) +
                    ",\"p50_ns\":" + (ok ? jnum(a.p50) : "null") + ",\"p90_ns\":" + (ok ? jnum(a.p90) : "null") +
                    ",\"p99_ns\":" + (ok ? jnum(a.p99) : "null") + ",\"p999_ns\":" + (ok ? jnum(a.p999) : "null") +
                    ",\"max_ns\":" + (ok ? jnum(a.max) : "null") + ",\"mean_ns\":" + (ok ? jnum(a.mean) : "null") +
                    ",\"round_trips_per_s\":" + (ok && a.mean > 0 ? jnum(1e9 / a.mean, 0) : "null") +
                    stream_fields(find_stream(r)) + ",\"ratio_to_floor\":" +
                    (floor ? std::string("1.000") : (r.ratios.empty() ? "null" : jnum(r.ratio(), 3))) +
                    ",\"ratio_p99_to_floor\":" +
                    (floor ? std::string("1.000") : (r.ratios_p99.empty() ? "null" : jnum(r.ratio_p99(), 3))) +
                    ",\"ratio_min\":" + (floor || r.ratios.empty() ? "null" : jnum(r.ratio_lo(), 3)) +
                    ",\"ratio_max\":" + (floor || r.ratios.empty() ? "null" : jnum(r.ratio_hi(), 3)) +
                    ",\"ratio_by_round\":" + nums(r.ratio_by_round, 3) + ",\"p50_ns_by_run\":" + p50s(r) +
                    ",\"preemptions_per_run\":" + jnum(median(r.preemptions), 0) + ",\"errors\":" + errors(r) +
                    ",\"settings\":" + jstr(settings) + ",\"machine\":" + machine.json() + "}";
    out.push_back(j);
  }
  // Throughput-only items (no round-trip row for that transport and payload).
  for (const ItemResult& t : throughput) {
    bool merged = false;
    for (const ItemResult& l : latency) merged = merged || (l.transport == t.transport && l.payload == t.payload);
    if (merged) continue;
    out.push_back("{\"section\":\"throughput\",\"date\":" + jstr(date) + ",\"transport\":" + jstr(t.transport) +
                  ",\"topology\":" + (t.threads ? "\"threads\"" : "\"processes\"") +
                  ",\"payload\":" + std::to_string(t.payload) + ",\"rounds\":" + std::to_string(t.msgs_per_s.size()) +
                  ",\"p50_ns\":null,\"p90_ns\":null,\"p99_ns\":null,\"p999_ns\":null,\"max_ns\":null" +
                  stream_fields(&t) + ",\"ratio_to_floor\":null,\"errors\":" + errors(t) +
                  ",\"settings\":" + jstr(settings) + ",\"machine\":" + machine.json() + "}");
  }
  for (const ScaleRow& r : scale) {
    const bool ok = r.pct.count != 0;
    out.push_back("{\"section\":\"scale\",\"date\":" + jstr(date) + ",\"test\":" + jstr(r.test) +
                  ",\"case\":" + jstr(r.label) + ",\"sample\":" + jstr(r.metric) +
                  ",\"samples\":" + std::to_string(r.pct.count) + ",\"p50_ns\":" + (ok ? jnum(r.pct.p50) : "null") +
                  ",\"p90_ns\":" + (ok ? jnum(r.pct.p90) : "null") + ",\"p99_ns\":" + (ok ? jnum(r.pct.p99) : "null") +
                  ",\"p999_ns\":" + (ok ? jnum(r.pct.p999) : "null") +
                  ",\"max_ns\":" + (ok ? jnum(r.pct.max) : "null") + ",\"note\":" + jstr(r.note) +
                  ",\"settings\":" + jstr(scale_settings) + ",\"machine\":" + machine.json() + "}");
  }
  for (const Target& t : targets()) {
    out.push_back("{\"section\":\"target\",\"date\":" + jstr(date) + ",\"target\":" + jstr(t.what) +
                  ",\"limit\":" + jnum(t.limit_value, 2) + ",\"at_most\":" + (t.at_most ? "true" : "false") +
                  ",\"measured\":" + jnum(t.measured, 3) +
                  ",\"met\":" + (std::isfinite(t.measured) && !t.informational ? (t.met ? "true" : "false") : "null") +
                  ",\"how\":" + jstr(t.how) + ",\"machine\":" + machine.json() + "}");
  }
  return out;
}

}  // namespace cbench
