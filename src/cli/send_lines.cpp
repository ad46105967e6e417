// cli/send_lines.cpp — `courier send --lines`: one message per line of stdin,
// sent without waiting for each one's status. With --wait, a bounded window of
// messages in flight is followed through the endpoint's status ring and, for
// what the ring does not tell (an event dropped, or another process consuming
// the ring), by asking the tracker. docs/design.md, "courier send --lines".
#include <time.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "line_reader.hpp"
#include "send.hpp"

namespace courier::cli {
namespace {

constexpr std::uint64_t ms = 1'000'000;                       // ns
constexpr std::uint64_t bytes_per_status_event = 64;          // a status ring's record (options.hpp)
constexpr std::size_t max_window = 4096;                      // messages followed at once, at most
constexpr std::size_t held_max = 4096;                        // results held for line order without --wait
constexpr std::uint64_t ask_after = 10 * ms;                  // a message the ring said nothing of this long: ask
constexpr std::uint64_t min_nap = 1 * ms, max_nap = 10 * ms;  // naps while waiting, growing when nothing moves
constexpr std::size_t out_flush_bytes = 64 << 10;

void nap_ns(std::uint64_t ns) {
  timespec ts{static_cast<std::time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  ::nanosleep(&ts, nullptr);
}

// ------------------------------------------------------------ stdout and the tally

// stdout is gone (EPIPE): reading stops.
struct OutputGone : Failure {
  using Failure::Failure;
};

// "<id> <status>" lines, written in batches: at the latest before every wait.
class Out {
 public:
  explicit Out(bool json) : json_(json) {}
  void add(std::uint64_t id, Status s) { append_result(buf_, id, s, json_); }
  void flush() {
    if (buf_.empty()) return;
    if (!try_write_out(buf_)) throw OutputGone(write_error());
    buf_.clear();
  }
  void flush_if_large() {
    if (buf_.size() >= out_flush_bytes) flush();
  }

 private:
  bool json_;
  std::string buf_;
};

struct Tally {
  std::uint64_t lines = 0;                 // lines sent (or refused)
  std::uint64_t duplicates = 0;            // of an earlier send of the same --id: not enqueued again
  std::uint64_t timed_out = 0;             // still short of the --wait status at their deadline
  std::uint64_t forgotten = 0;             // the bus no longer knew them (retired)
  std::uint64_t ended[status_count] = {};  // refused, or ended, with this status
  std::uint64_t failed() const {
    std::uint64_t n = timed_out + forgotten;
    for (std::uint64_t e : ended) n += e;
    return n;
  }
};

// ------------------------------------------------------------ following statuses (--wait)

// The messages sent and not yet at the --wait status, by id. Ids grow with
// the line number (generated ids come from a counter that only grows; with
// --id, line k has id + k - 1), so the first is the oldest, the first to time out.
class Follower {
 public:
  Follower(Endpoint& me, Status target, std::uint64_t timeout_ns, std::size_t window, Out& out, Tally& t)
      : me_(me), target_(target), timeout_(timeout_ns), window_(window), out_(out), t_(t) {
    on_event_ = [this](const StatusEvent& e) {
      if (auto it = pending_.find(e.id); it != pending_.end()) {
        if (it->second.group)
          ask(it);  // the group's total is in the tracker
        else
          advance(it, e.status);
      }
    };
    poll();  // takes the status lease before the first send, so that every send of this run is followed
  }

  bool full() const noexcept { return pending_.size() >= window_; }
  // The first message that timed out, in words ("" while none has).
  const std::string& first_timeout() const noexcept { return first_timeout_; }
  bool empty() const noexcept { return pending_.empty(); }

  // A message just sent, with the status its send returned (`duplicate`: of
  // an earlier send, which this handle does not follow).
  void add(std::uint64_t id, Status s, bool group, bool duplicate, std::uint64_t sent_ns, std::uint64_t line) {
    auto [it, fresh] = pending_.try_emplace(id, Pending{sent_ns, line, Status::outbox, group, ring_ && !duplicate});
    if (!fresh) return;  // a duplicate line of one this run still follows: reported once
    advance(it, s);
  }

  // Between sends: the ring's events, the deadlines passed, and a question to
  // the tracker about messages the ring said nothing of for a while and whose
  // events poll_status does not promise (docs/design.md, "No status lost"):
  // duplicates of earlier sends, and all of them when another process holds
  // the endpoint's status ring.
  void check() {
    poll();
    const std::uint64_t now = now_monotonic_ns();
    expire(now);
    if (now - last_ask_ >= ask_after) ask_old(now);
  }

  // While waiting (the window is full, stdin has nothing, or the end): check,
  // then nap unless something finished; stdin (when given) cuts the nap short.
  void wait(const LineReader* in) {
    const std::uint64_t before = finished_;
    check();
    if (finished_ != before) {
      nap_ = min_nap;
      return;
    }
    out_.flush();
    std::uint64_t nap = nap_;
    if (!pending_.empty()) {
      const std::uint64_t now = now_monotonic_ns(), due = pending_.begin()->second.sent_ns + timeout_;
      nap = std::min(nap, due > now ? due - now : 0);
    }
    if (in != nullptr)
      (void)in->readable(nap);
    else
      nap_ns(nap);
    nap_ = std::min(nap_ * 2, max_nap);
  }

 private:
  struct Pending {
    std::uint64_t sent_ns;
    std::uint64_t line;
    Status last;
    bool group;
    bool followed;  // sent by this handle while it held the status ring: poll_status reports every step
  };
  using Iter = std::map<std::uint64_t, Pending>::iterator;

  void poll() {
    if (!ring_) return;
    if (auto r = me_.poll_status(on_event_); !r) {
      ring_ = false;  // from now on the tracker is asked (ask_old), every ask_after
      note(r.error().message + ": following statuses by asking the bus instead");
    }
  }

  // Forward only; at the --wait status or an error the message is done.
  void advance(Iter it, Status s) {
    Pending& p = it->second;
    if (!moves_forward(p.last, s)) return;
    p.last = s;
    if (is_error(s))
      ++t_.ended[static_cast<unsigned>(s)];
    else if (status_rank(s) < status_rank(target_))
      return;
    finish(it);
  }
  void finish(Iter it) {
    out_.add(it->first, it->second.last);
    pending_.erase(it);
    ++finished_;
  }

  // The tracker's word (the truth: a status is there even when its event was dropped).
  void ask(Iter it) {
    auto r = me_.status(it->first);
    if (r) return advance(it, r->status);
    ++t_.forgotten;  // retired past its expiry + retention before we saw it end
    finish(it);
  }
  void ask_old(std::uint64_t now) {
    last_ask_ = now;
    for (auto it = pending_.begin(); it != pending_.end() && it->second.sent_ns + ask_after <= now;) {
      if (ring_ && it->second.followed)
        ++it;
      else
        ask(it++);
    }
  }

  // Messages past their deadline: asked once more, then printed with their last status.
  void expire(std::uint64_t now) {
    while (!pending_.empty() && pending_.begin()->second.sent_ns + timeout_ <= now) {
      const std::uint64_t id = pending_.begin()->first;
      ask(pending_.begin());
      if (auto it = pending_.find(id); it != pending_.end()) {
        if (++t_.timed_out == 1)
          first_timeout_ = "line " + std::to_string(it->second.line) + " (id " + std::to_string(id) + ") was still " +
                           std::string(status_name(it->second.last)) + " after --timeout " +
                           format_duration(std::chrono::nanoseconds(timeout_));
        finish(it);
      }
    }
  }

  Endpoint& me_;
  const Status target_;
  const std::uint64_t timeout_;
  const std::size_t window_;
  Out& out_;
  Tally& t_;
  std::map<std::uint64_t, Pending> pending_;
  std::string first_timeout_;
  std::function<void(const StatusEvent&)> on_event_;
  bool ring_ = true;  // this process consumes the endpoint's status ring
  std::uint64_t finished_ = 0, last_ask_ = 0, nap_ = min_nap;
};

// How many messages to follow at once: what the status ring holds of their
// events (sent when logged, delivered, read; once per member and for the
// total of a group), with room to spare, and a small part of the tracker.
std::size_t window_size(const Bus& bus, const SendCommand& c) {
  const BusSettings s = bus.settings();
  std::uint64_t events = 2 + (bus.has_log() && c.options.expiry.count() > 0 ? 1 : 0);
  if (c.options.to.is_group) {
    std::uint64_t members = s.max_group_members;
    for (const GroupEntry& g : bus.groups())
      if (g.name == c.options.to.name) members = g.members.size();
    events *= members + 1;
  }
  const std::uint64_t w =
      std::min<std::uint64_t>(s.status_capacity / bytes_per_status_event / (events + 1), s.tracker_capacity / 4);
  return static_cast<std::size_t>(std::clamp<std::uint64_t>(w, 1, max_window));
}

// ------------------------------------------------------------ line order (without --wait)

// Without --wait, "<id> <status>" for each line in line order, as `courier
// send` says it: a stored message is outbox until its log batch is written,
// so such results are held, the log flushed, and then said sent (or the error).
class InOrder {
 public:
  InOrder(Bus& bus, Endpoint& me, Out& out, Tally& t) : bus_(bus), me_(me), out_(out), t_(t) {}

  void add(std::uint64_t id, Status s) {
    if (s != Status::outbox && held_.empty()) return out_.add(id, s);
    held_.push_back({id, s});
    if (held_.size() >= held_max) settle();
  }
  void settle() {
    if (held_.empty()) return;
    const auto flushed = bus_.flush_log();
    for (Held& h : held_) {
      if (h.status == Status::outbox) {  // (refusals held behind one were counted when sent)
        if (auto now = flushed ? me_.status(h.id) : Result<StatusReport>(flushed.error());
            now && now->status != Status::outbox)
          h.status = is_error(now->status) ? now->status : Status::sent;
        if (h.status != Status::sent) ++t_.ended[static_cast<unsigned>(h.status)];
      }
      out_.add(h.id, h.status);
    }
    held_.clear();
    if (!flushed) throw Failure("messages are not known to be in the log (still outbox): " + flushed.error().message);
  }

 private:
  struct Held {
    std::uint64_t id;
    Status status;
  };
  Bus& bus_;
  Endpoint& me_;
  Out& out_;
  Tally& t_;
  std::vector<Held> held_;
};

// ------------------------------------------------------------ the run

std::string summary(const Tally& t, std::string_view target, std::uint64_t timeout_ns) {
  std::string s = std::to_string(t.failed()) + " of " + std::to_string(t.lines) + " messages did not reach " +
                  std::string(target) + ":";
  const char* sep = " ";
  for (unsigned i = 0; i < status_count; ++i)
    if (t.ended[i] > 0) s += sep + std::to_string(t.ended[i]) + " " + std::string(status_name(Status(i))), sep = ", ";
  if (t.timed_out > 0)
    s += sep + std::to_string(t.timed_out) + " still short of it after --timeout " +
         format_duration(std::chrono::nanoseconds(timeout_ns)),
        sep = ", ";
  if (t.forgotten > 0) s += sep + std::to_string(t.forgotten) + " no longer known to the bus";
  return s;
}

class LinesRun {
 public:
  LinesRun(const SendCommand& c, Bus& bus, Endpoint& me)
      : c_(c), o_(c.options), bus_(bus), me_(me), in_(bus.settings().max_payload), order_(bus, me, out_, t_) {
    if (c.wait)
      follow_.emplace(me, *c.wait, static_cast<std::uint64_t>(o_.timeout.count()), window_size(bus, c), out_, t_);
  }

  // Read and send every line; returns why reading stopped early ("" at the
  // end of stdin): a line refused or too long, or a message short of the --wait
  // status at its deadline (then the others may take as long: waiting for each
  // in turn would have no bound).
  std::string send_all() {
    std::string_view line;
    for (;;) {
      if (follow_ && !follow_->first_timeout().empty()) return follow_->first_timeout() + ", so reading stopped";
      if (follow_ && follow_->full()) {
        follow_->wait(nullptr);
        continue;
      }
      LineReader::Got got = in_.next(false, line);
      if (got == LineReader::Got::not_ready) {
        if (follow_ && !follow_->empty()) {
          follow_->wait(&in_);
          continue;
        }
        order_.settle();  // a reader of our output may be waiting for it before writing more
        out_.flush();
        got = in_.next(true, line);
      }
      if (got == LineReader::Got::end) return {};
      last_read_ = in_.number();
      sent_last_ = false;
      if (got == LineReader::Got::too_long)
        return "line " + std::to_string(in_.number()) + ": longer than the bus's max_payload (" +
               std::to_string(bus_.settings().max_payload) + " bytes)";
      ++t_.lines;
      if (std::string stop = send_line(line); !stop.empty()) return stop;
      sent_last_ = true;
      if (follow_ && t_.lines % 64 == 0) follow_->check();
      out_.flush_if_large();
    }
  }

  // After the last line: wait for the messages in flight, write what is left.
  void finish() {
    order_.settle();
    if (follow_)
      while (!follow_->empty()) follow_->wait(nullptr);
    out_.flush();
  }

  const Tally& tally() const noexcept { return t_; }
  // The lines read and given to the bus are those before this one.
  std::uint64_t first_unsent() const noexcept { return std::max<std::uint64_t>(1, last_read_ + (sent_last_ ? 1 : 0)); }

 private:
  std::string send_line(std::string_view line) {
    const std::uint64_t n = in_.number();
    if (c_.options.id != 0) {
      if (n - 1 > ~std::uint64_t{0} - c_.options.id) return "line " + std::to_string(n) + ": --id + line - 1 overflows";
      o_.id = c_.options.id + (n - 1);
    }
    const std::uint64_t start = follow_ ? now_monotonic_ns() : 0;
    SendResult r = me_.send(o_, line);
    // The tracker frees entries only past their expiry + retention: wait for room, as for a full lane.
    const std::uint64_t give_up = r.status == Status::tracker_full ? now_monotonic_ns() + limit() : 0;
    for (std::uint64_t nap = min_nap; r.status == Status::tracker_full && now_monotonic_ns() < give_up;) {
      if (!told_tracker_full_)
        note(
            "the bus's tracker of messages in flight is full: waiting for entries to retire (each is kept for "
            "its expiry + the status retention; see courier stat, create --tracker-capacity)");
      told_tracker_full_ = true;
      if (follow_) follow_->check();
      order_.settle();
      out_.flush();
      nap_ns(nap);
      nap = std::min(nap * 2, max_nap);
      r = me_.send(o_, line);
    }
    if (r.duplicate) ++t_.duplicates;
    if (!r) {
      const std::string why = "line " + std::to_string(n) + ": not sent (" + std::string(status_name(r.status)) +
                              "): " + why_not_sent(r, o_, std::to_string(line.size()) + " bytes", bus_);
      if (r.id != 0) add_result(r.id, r.status);
      return why;  // the lines sent are exactly those before it
    }
    if (follow_)
      follow_->add(r.id, r.status, o_.to.is_group, r.duplicate, start, n);
    else
      order_.add(r.id, r.status);
    return {};
  }

  void add_result(std::uint64_t id, Status s) {
    if (follow_)
      out_.add(id, s);
    else
      order_.add(id, s);
  }
  std::uint64_t limit() const noexcept { return static_cast<std::uint64_t>(o_.timeout.count()); }

  const SendCommand& c_;
  SendOptions o_;
  Bus& bus_;
  Endpoint& me_;
  LineReader in_;
  Out out_{c_.json};
  Tally t_;
  InOrder order_;
  std::optional<Follower> follow_;
  bool told_tracker_full_ = false;
  std::uint64_t last_read_ = 0;  // the number of the last line read
  bool sent_last_ = false;       // and it was given to the bus
};

}  // namespace

int run_send_lines(const Invocation& inv, const SendCommand& cmd) {
  Bus bus = open_bus(inv, Missing::rebuild_from_log);
  Endpoint me = or_fail(bus.endpoint(cmd.from));
  LinesRun run(cmd, bus, me);
  std::string stop;
  try {
    stop = run.send_all();
    run.finish();
  } catch (const OutputGone& e) {
    throw Failure(std::string(e.what()) + ", so reading stopped; lines from " + std::to_string(run.first_unsent()) +
                  " on were not sent");
  }
  const Tally& t = run.tally();
  if (t.duplicates > 0)
    note(std::to_string(t.duplicates) + " of the lines were duplicates of earlier sends: not enqueued again");
  const std::string target(status_name(cmd.wait.value_or(Status::sent)));
  if (t.failed() > 0) {
    const std::string s = summary(t, target, static_cast<std::uint64_t>(cmd.options.timeout.count()));
    if (stop.empty()) throw Failure(s);
    note(s);
  }
  if (!stop.empty()) throw Failure(stop + "; lines from " + std::to_string(run.first_unsent()) + " on were not sent");
  return 0;
}

}  // namespace courier::cli
