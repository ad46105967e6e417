// cli/top.cpp — `courier top BUS`: a live view of a bus, one every second:
// per endpoint the messages sent and received per second (from the counters
// of two snapshots of Bus::stat), those waiting per lane and its receiver; the
// tracker's fill and the status events dropped. On a terminal each view
// replaces the last; otherwise (or with --json) views are appended as lines.
// It ends after --count views, on q (when standard input is a terminal: read
// key by key, without echo, while it runs), or on SIGINT/SIGTERM, with exit
// status 0 and the terminal as it was (its modes, the cursor shown).
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"
#include "inspect.hpp"

namespace courier::cli {
namespace {

constexpr std::uint64_t interval_ns = 1'000'000'000;  // one view a second
constexpr std::string_view clear_screen = "\033[H\033[2J";

struct Rates {
  double sent = 0, received = 0;  // per second since the last view
};

// Per endpoint id, the rates between snapshots `before` and `now`, `ns` apart.
std::map<EndpointId, Rates> rates_between(const BusStats& before, const BusStats& now, std::uint64_t ns) {
  std::map<EndpointId, const EndpointStats*> old;
  for (const EndpointStats& e : before.endpoints) old[e.id] = &e;
  std::map<EndpointId, Rates> r;
  const double seconds = static_cast<double>(ns) / 1e9;
  for (const EndpointStats& e : now.endpoints) {
    auto it = old.find(e.id);
    if (it == old.end() || seconds <= 0) {
      r[e.id] = {};  // new since the last view: no rate yet
      continue;
    }
    // Counters only grow; a smaller one (the endpoint was replaced) counts as none.
    auto delta = [](std::uint64_t a, std::uint64_t b) { return b >= a ? static_cast<double>(b - a) : 0.0; };
    r[e.id] = {delta(it->second->sent, e.sent) / seconds, delta(it->second->received, e.received) / seconds};
  }
  return r;
}

std::string rate_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 && v != 0 ? "%.1f" : "%.0f", v);
  return buf;
}

std::uint64_t status_dropped(const BusStats& s) {
  std::uint64_t n = 0;
  for (const EndpointStats& e : s.endpoints) n += e.status_dropped;
  return n;
}

std::string view_text(const BusStats& s, const std::map<EndpointId, Rates>& rates, std::uint64_t at_ns) {
  const TrackerUsage& t = s.tracker;
  std::string out =
      "bus " + single_quoted(s.name) + "  " + utc_text(at_ns) + "  tracker " + std::to_string(t.used) + "/" +
      std::to_string(t.capacity) + " (" + std::to_string(t.capacity == 0 ? 0 : t.used * 100 / t.capacity) + "%, " +
      std::to_string(t.full_events) + " full)  status dropped " + std::to_string(status_dropped(s)) + "\n";
  std::vector<std::vector<std::string>> rows{{"ENDPOINT", "SENT/S", "RECV/S", "WAITING", "LANES", "RECEIVER"}};
  for (const EndpointStats& e : s.endpoints) {
    const Rates r = rates.count(e.id) != 0 ? rates.at(e.id) : Rates{};
    rows.push_back({printable(e.name), rate_text(r.sent), rate_text(r.received), std::to_string(e.waiting_total),
                    waiting_lanes_text(e), receiver_text(e)});
  }
  return out + table_text(rows, 1, 4);
}

Json view_json(const BusStats& s, const std::map<EndpointId, Rates>& rates, std::uint64_t at_ns) {
  Json endpoints = Json::array();
  for (const EndpointStats& e : s.endpoints) {
    const Rates r = rates.count(e.id) != 0 ? rates.at(e.id) : Rates{};
    endpoints.push_back(Json{{"name", e.name},
                             {"sent_per_s", r.sent},
                             {"received_per_s", r.received},
                             {"waiting_total", e.waiting_total},
                             {"waiting", e.waiting},
                             {"receiver_pid", e.receiver_attached ? Json(e.receiver_pid) : Json()},
                             {"status_dropped", e.status_dropped}});
  }
  return Json{
      {"bus", s.name},
      {"at_ns", at_ns},
      {"tracker", {{"used", s.tracker.used}, {"capacity", s.tracker.capacity}, {"full_events", s.tracker.full_events}}},
      {"status_dropped", status_dropped(s)},
      {"endpoints", std::move(endpoints)}};
}

volatile std::sig_atomic_t stop_signal = 0;
void on_stop(int sig) { stop_signal = sig; }

constexpr std::string_view hide_cursor = "\033[?25l";
constexpr std::string_view show_cursor = "\033[?25h";

// While a view is on a terminal: SIGINT and SIGTERM blocked except inside the
// wait between views (so no write is interrupted, and one that comes before
// the wait ends it at once: ppoll's mask is set atomically); standard input,
// when a terminal, without line buffering and echo so that q is read at once.
// The destructor puts back the modes, the cursor and the signal mask, also
// when a view fails (the bus removed).
class Screen {
 public:
  explicit Screen(bool terminal) : terminal_(terminal) {
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stops, &wait_mask_);
    sigdelset(&wait_mask_, SIGINT);  // the wait admits them, whatever the caller's mask
    sigdelset(&wait_mask_, SIGTERM);
    if (!terminal_) return;
    keys_ = ::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (keys_) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG kept: Ctrl-C is still SIGINT
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      keys_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    (void)try_write_out(hide_cursor);
  }
  ~Screen() {
    if (terminal_) {
      if (keys_) (void)::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
      (void)try_write_out(show_cursor);
    }
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    ::pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  // Waits until the monotonic clock reaches deadline_ns (the views' pace, not
  // a synchronisation); false when it should end instead: q typed, SIGINT or
  // SIGTERM.
  bool wait_until(std::uint64_t deadline_ns) {
    for (std::uint64_t now = now_monotonic_ns(); now < deadline_ns; now = now_monotonic_ns()) {
      if (stop_signal != 0) return false;
      const std::uint64_t ns = deadline_ns - now;
      const timespec ts{static_cast<std::time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      pollfd in{STDIN_FILENO, POLLIN, 0};
      const int r = ::ppoll(&in, keys_ ? 1 : 0, &ts, &wait_mask_);
      if (r < 0 && errno != EINTR) throw Failure(std::string("top: ppoll: ") + std::strerror(errno));
      if (r > 0 && !key_allows_going_on()) return false;
    }
    return stop_signal == 0;
  }

 private:
  // Reads what was typed; false on q or Q, or when input has ended.
  bool key_allows_going_on() {
    char buf[64];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      keys_ = false;  // no more keys (hung up or closed): go on with signals and --count only
      return true;
    }
    for (ssize_t i = 0; i < n; ++i)
      if (buf[i] == 'q' || buf[i] == 'Q') return false;
    return true;
  }

  bool terminal_;
  bool keys_ = false;
  termios saved_{};
  sigset_t wait_mask_{};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace

int run_top(const Invocation& inv) {
  std::optional<std::uint64_t> count = inv.args.uint<std::uint64_t>("count", 1);
  if (inv.args.flag("once")) {
    if (count) throw UsageError("--once, --count: give one of them, not both");
    count = 1;
  }
  const bool json = inv.args.flag("json");
  const bool terminal = !json && ::isatty(STDOUT_FILENO) == 1;
  const Bus bus = open_operand_to_look(inv);
  Screen screen(terminal);
  BusStats before = bus.stat();
  std::uint64_t before_ns = now_monotonic_ns();
  for (std::uint64_t shown = 0; !count || shown < *count; ++shown) {
    if (!screen.wait_until(before_ns + interval_ns)) break;  // the rates' interval: a view a second
    if (bus.removed()) throw Failure("bus " + single_quoted(bus.name()) + " was removed");
    BusStats now = bus.stat();
    const std::uint64_t now_ns = now_monotonic_ns();
    const auto rates = rates_between(before, now, now_ns - before_ns);
    const std::uint64_t at = now_realtime_ns();
    if (json)
      write_out(json_line(view_json(now, rates, at)));
    else
      write_out((terminal ? std::string(clear_screen) : shown > 0 ? "\n" : "") + view_text(now, rates, at));
    before = std::move(now);
    before_ns = now_ns;
  }
  return 0;
}

}  // namespace courier::cli
