// examples/chat — a messaging app's ticks: sent, delivered, read.
//
// Three users on one bus: alice, bob and carol, and a group "friends" of all
// three. Each user is a thread of this program with its own Receiver; alice
// also sends, and watches what happens to her messages:
//
//   1. alice sends bob "hi bob", kept 30 s (a tracked message: it gets an id
//      and a status). bob's receiver acknowledges it as he takes it
//      (ReceiverOptions::auto_ack), so alice sees `delivered`; a moment later
//      bob marks it read (Receiver::mark_read) and alice sees `read`.
//   2. alice sends it again with the same id: the bus reports it a duplicate
//      (SendResult::duplicate, with the original's status) and does not
//      deliver it twice.
//   3. alice sends to the group: one copy per member (alice included), each
//      with its own status, and the group's total when every member got there
//      ("delivered (3/3)", "read (3/3)").
//
// Every status change of alice's messages is printed as it comes: the send's
// outcome at once (Endpoint::on_status), the rest from her status ring
// (Endpoint::poll_status), e.g.
//
//   [alice] #1764130405123456789 to bob: sent
//   [alice] #1764130405123456789 to bob: delivered
//   [alice] #1764130405123456789 to bob: read
//   [alice] #1764130405123456790 to friends/carol: delivered
//   [alice] #1764130405123456790 to friends: delivered (3/3)
//
//   example_chat                  a bus in /dev/shm named after the pid, removed at the end
//   example_chat --in-process     the same on an in-process bus (Options::in_process: no /dev/shm)
//
// Ends by itself within a few seconds; exit status 0 when every expected
// status arrived. Uses the public API only (courier/bus.hpp).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "courier/bus.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::mutex g_print;
void say(const char* fmt, ...) {
  std::lock_guard<std::mutex> lock(g_print);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

char g_shm_path[128];  // removed by the signal handler: the bus must not outlive us
void on_signal(int sig) {
  if (g_shm_path[0] != '\0') unlink(g_shm_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string sv(std::string_view s) { return std::string(s); }

// ------------------------------------------------------------ bob and carol
// A member's thread: receive, show the message, read it a little later.
struct Reader {
  std::string name;
  std::chrono::milliseconds reading_time;  // between delivered and read
  std::optional<courier::Receiver> rx;
  std::atomic<unsigned> received{0}, marked_read{0};
  std::string error;
};

void reader_main(courier::Bus& bus, Reader& r, const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_acquire)) {  // acquire: pairs with main's release store
    auto m = r.rx->receive(50ms);                  // auto_ack: alice sees `delivered` as this returns
    if (!m) continue;
    ++r.received;
    const std::string from = r.rx->name_of(m->from());
    const std::string where = m->group() != 0 ? " in " + bus.group_name(m->group()) : std::string();
    say("  [%s] #%llu from %s%s: \"%.*s\" (%s)\n", r.name.c_str(), static_cast<unsigned long long>(m->id()),
        from.c_str(), where.c_str(), static_cast<int>(m->text().size()), m->text().data(),
        sv(courier::incoming_name(m->status())).c_str());
    std::this_thread::sleep_for(r.reading_time);  // the message stays in hand while it is being read
    if (!r.rx->mark_read(*m)) {
      r.error = "mark_read refused the message in hand";
      continue;
    }
    ++r.marked_read;
    say("  [%s] #%llu marked read (now %s)\n", r.name.c_str(), static_cast<unsigned long long>(m->id()),
        sv(courier::incoming_name(m->status())).c_str());
  }
}

// ------------------------------------------------------------ alice's view
// The last status alice saw per (message, recipient); recipient 0 is the
// message (the group total for group sends).
struct Seen {
  std::map<std::pair<std::uint64_t, courier::EndpointId>, courier::Status> last;
  // Whether the last status alice saw for (id, who) is `read`, the last a message reaches.
  bool saw_read(std::uint64_t id, courier::EndpointId who) const {
    auto it = last.find({id, who});
    return it != last.end() && it->second == courier::Status::read;
  }
};

int run(bool in_process) {
  const std::string name = "chat-example-" + std::to_string(getpid());
  courier::Options o;
  o.in_process = in_process;
  o.max_endpoints = 4;
  o.lane_capacity = 4096;  // small lanes: a chat sends little
  o.max_payload = 1024;
  o.max_groups = 1;
  o.max_group_members = 4;
  o.tracker_capacity = 64;
  o.status_capacity = 4096;
  if (!in_process) {
    std::snprintf(g_shm_path, sizeof g_shm_path, "/dev/shm/courier.%s", name.c_str());  // the bus (docs/layout.md)
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE}) signal(s, on_signal);
  }
  auto bus = courier::Bus::open(name, o);
  if (!bus) {
    std::fprintf(stderr, "chat: %s\n", bus.error().message.c_str());
    return 1;
  }
  struct Remove {
    std::string name;
    bool shm;
    ~Remove() {
      if (shm) (void)courier::Bus::remove(name);
      g_shm_path[0] = '\0';
    }
  } remove{name, !in_process};
  auto fail = [](const char* what, const courier::Error& e) {
    std::fprintf(stderr, "chat: %s: %s\n", what, e.message.c_str());
    return 1;
  };

  say("chat example: bus '%s'%s; alice, bob, carol; group friends = {alice, bob, carol}\n\n", name.c_str(),
      in_process ? " (in-process)" : " (/dev/shm)");
  if (auto g = bus->add_group("friends"); !g) return fail("add_group", g.error());
  for (const char* who : {"alice", "bob", "carol"})
    if (auto r = bus->add_member("friends", who); !r) return fail("add_member", r.error());

  // Receivers: alice's on this thread, bob's and carol's on their own.
  courier::ReceiverOptions ro;
  ro.auto_ack = true;
  ro.idle = courier::IdleStrategy{.spin_ns = 20'000, .park = true};
  auto alice_rx = bus->attach("alice", ro);
  if (!alice_rx) return fail("attach alice", alice_rx.error());
  Reader bob{"bob", 300ms, {}, {}, {}, {}}, carol{"carol", 150ms, {}, {}, {}, {}};
  for (Reader* r : {&bob, &carol}) {
    auto rx = bus->attach(r->name, ro);
    if (!rx) return fail("attach", rx.error());
    r->rx.emplace(std::move(*rx));
  }

  auto alice = bus->endpoint("alice");
  if (!alice) return fail("endpoint alice", alice.error());

  // Every status change of alice's tracked messages, as it happens.
  Seen seen;
  std::map<std::uint64_t, std::string> text_of;
  alice->on_status([&](const courier::StatusEvent& e) {
    seen.last[{e.id, e.recipient}] = e.status;
    std::string to;
    if (e.group != 0) {
      to = bus->group_name(e.group);
      if (e.recipient != courier::no_endpoint) {
        to.push_back('/');  // not to += "/" + name: a GCC 12 -Wrestrict false positive
        to.append(bus->endpoint_name(e.recipient));
      }
    } else {
      to = bus->endpoint_name(e.recipient);
    }
    std::string count;
    if (e.group != 0 && e.recipient == courier::no_endpoint) {  // the group total: how many members are there
      if (auto rep = alice->status(e.id)) {
        const std::uint32_t n = rep->recipients;
        char b[64];
        if (e.status == courier::Status::sent)
          std::snprintf(b, sizeof b, " (%u members)", n);
        else if (e.status == courier::Status::read)
          std::snprintf(b, sizeof b, " (%u/%u)", rep->read, n);
        else
          std::snprintf(b, sizeof b, " (%u/%u)", rep->delivered, n);
        count = b;
      }
    }
    say("[alice] #%llu to %s: %s%s\n", static_cast<unsigned long long>(e.id), to.c_str(),
        sv(courier::status_name(e.status)).c_str(), count.c_str());
  });

  std::atomic<bool> stop{false};
  std::thread bob_thread(reader_main, std::ref(*bus), std::ref(bob), std::cref(stop));
  std::thread carol_thread(reader_main, std::ref(*bus), std::ref(carol), std::cref(stop));
  struct Join {
    std::atomic<bool>& stop;
    std::thread &a, &b;
    ~Join() {
      stop.store(true, std::memory_order_release);  // release: the readers may leave
      if (a.joinable()) a.join();
      if (b.joinable()) b.join();
    }
  } join{stop, bob_thread, carol_thread};

  // alice's loop: her status ring and her own inbox, until `done` or the deadline.
  unsigned alice_got = 0;
  bool ok = true;
  auto pump = [&](const char* waiting_for, auto&& done) {
    const auto deadline = Clock::now() + 3s;
    while (!done()) {
      if (auto n = alice->poll_status(); !n) {
        std::fprintf(stderr, "chat: poll_status: %s\n", n.error().message.c_str());
        return ok = false;
      }
      if (auto m = alice_rx->try_receive()) {  // her copy of the group message: she read it as she wrote it
        ++alice_got;
        say("  [alice] #%llu from herself in %s: \"%.*s\" (%s)\n", static_cast<unsigned long long>(m->id()),
            bus->group_name(m->group()).c_str(), static_cast<int>(m->text().size()), m->text().data(),
            sv(courier::incoming_name(m->status())).c_str());
        alice_rx->mark_read(*m);
        continue;
      }
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "chat: gave up waiting for %s\n", waiting_for);
        return ok = false;
      }
      std::this_thread::sleep_for(2ms);
    }
    return true;
  };

  // 1. alice -> bob, kept 30 s.
  const std::string hi = "hi bob";
  courier::SendResult r1 = alice->send({.to = courier::peer("bob"), .expiry = 30s}, hi);
  if (!r1) {
    std::fprintf(stderr, "chat: send to bob: %s\n", sv(courier::status_name(r1.status)).c_str());
    return 1;
  }
  text_of[r1.id] = hi;
  const courier::EndpointId bob_id = *bus->find_endpoint("bob");
  pump("bob to read the message", [&] { return seen.saw_read(r1.id, bob_id); });

  // 2. The same message again (a retry after a crash would look like this): a duplicate.
  if (ok) {
    courier::SendResult again = alice->send({.to = courier::peer("bob"), .expiry = 30s, .id = r1.id}, hi);
    say("[alice] #%llu to bob: resent with the same id -> %s (status %s), not delivered again\n",
        static_cast<unsigned long long>(again.id), again.duplicate ? "duplicate" : "NOT a duplicate",
        sv(courier::status_name(again.status)).c_str());
    if (!again.duplicate) ok = false;
  }

  // 3. alice -> friends: each member once.
  courier::SendResult r2{};
  if (ok) {
    say("\n");
    const std::string hello = "hello friends";
    r2 = alice->send({.to = courier::group("friends"), .expiry = 30s}, hello);
    if (!r2) {
      std::fprintf(stderr, "chat: send to friends: %s\n", sv(courier::status_name(r2.status)).c_str());
      return 1;
    }
    text_of[r2.id] = hello;
    pump("every friend to read the group message", [&] { return seen.saw_read(r2.id, courier::no_endpoint); });
  }
  stop.store(true, std::memory_order_release);  // release: the readers may leave
  bob_thread.join();
  carol_thread.join();
  (void)alice->poll_status();  // anything that came in meanwhile

  // The tracker's view of both messages (Endpoint::status), like a message's "info" screen.
  say("\nmessage info (Endpoint::status):\n");
  for (std::uint64_t id : {r1.id, r2.id}) {
    if (id == 0) continue;
    auto rep = alice->status(id);
    if (!rep) {
      say("  #%llu: %s\n", static_cast<unsigned long long>(id), rep.error().message.c_str());
      ok = false;
      continue;
    }
    const std::string to = rep->group != 0 ? bus->group_name(rep->group) : bus->endpoint_name(rep->dest);
    say("  alice -> %-8s #%llu \"%s\"  %s  (recipients %u, delivered %u, read %u, failed %u)\n", to.c_str(),
        static_cast<unsigned long long>(id), text_of[id].c_str(), sv(courier::status_name(rep->status)).c_str(),
        rep->recipients, rep->delivered, rep->read, rep->failed);
    for (const courier::RecipientStatus& m : rep->members)
      say("      %-8s %s\n", bus->endpoint_name(m.recipient).c_str(), sv(courier::status_name(m.status)).c_str());
  }
  const courier::BusStats st = bus->stat();
  for (const courier::EndpointStats& e : st.endpoints)
    say("  %-6s sent %llu, duplicates %llu | received %llu, acknowledged %llu, marked read %llu\n", e.name.c_str(),
        static_cast<unsigned long long>(e.sent), static_cast<unsigned long long>(e.duplicates),
        static_cast<unsigned long long>(e.received), static_cast<unsigned long long>(e.delivered),
        static_cast<unsigned long long>(e.read));

  // What should have happened: bob got 2 messages (not the duplicate), carol 1, alice her copy.
  for (Reader* r : {&bob, &carol})
    if (!r->error.empty()) {
      std::fprintf(stderr, "chat: %s: %s\n", r->name.c_str(), r->error.c_str());
      ok = false;
    }
  if (bob.received != 2 || carol.received != 1 || alice_got != 1) {
    std::fprintf(stderr, "chat: unexpected deliveries: bob %u (want 2), carol %u (want 1), alice %u (want 1)\n",
                 bob.received.load(), carol.received.load(), alice_got);
    ok = false;
  }
  say("\n%s\n", ok ? "done: every status arrived" : "FAILED (see above)");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool in_process = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--in-process") == 0) {
      in_process = true;
    } else {
      std::fprintf(stderr, "usage: %s [--in-process]\n", argv[0]);
      return 2;
    }
  }
  return run(in_process);
}
