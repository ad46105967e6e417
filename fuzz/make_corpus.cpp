// fuzz/make_corpus.cpp — writes the seed corpora of the fuzz targets, made by
// the library itself (docs/building.md, "Fuzzing"):
//
//   build-fuzz/fuzz/fuzz_make_corpus fuzz/corpus
//
// writes OUT/segment_attach/ (a real segment's bytes: new, with names, with
// messages and statuses), OUT/journal_reader/ (the journal files of a bus
// with a log: names, memberships, messages, settles), OUT/status_ring/ (a
// status ring and tracker of a real sender, and a ring of events posted by
// post_status for the target's own sends) and OUT/cli_args/ (command lines,
// arguments separated by NUL bytes). Trailing zero bytes are cut (the
// targets read missing bytes as zeros). It makes a bus in /dev/shm and a log
// directory under TMPDIR or /tmp, and removes both.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "courier/bus.hpp"
#include "courier/detail/status_ring.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::cerr << "fuzz_make_corpus: " << why << '\n';
  std::exit(1);
}

template <class T>
T must(courier::Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}

// `bytes` into DIR/NAME; with `trim`, without its trailing zeros (rounded up to 64 bytes).
void write_seed(const fs::path& dir, const std::string& name, std::vector<char> bytes, bool trim = true) {
  std::size_t n = bytes.size();
  while (trim && n > 0 && bytes[n - 1] == 0) --n;
  if (trim) bytes.resize(std::min(bytes.size(), (n + 63) / 64 * 64));
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) die("writing " + (dir / name).string());
  std::cout << (dir / name).string() << ": " << bytes.size() << " bytes\n";
}

std::vector<char> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) die("reading " + p.string());
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<char> bytes_at(const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  return std::vector<char>(c, c + n);
}

courier::Options small(bool create) {
  courier::Options o;
  o.create = create;
  o.max_endpoints = 2;
  o.lane_capacity = 4096;
  o.max_payload = 1024;
  o.max_groups = 1;
  o.max_group_members = 2;
  o.tracker_capacity = 64;
  o.status_capacity = 4096;
  o.prefault_tracker = false;
  o.housekeeping_interval = 0ms;
  return o;
}

// Names, a group, tracked and untracked messages, one of them received and
// read (so that the sender's status ring holds events).
void populate(courier::Bus& bus) {
  must(bus.add_endpoint("a"), "add a");
  must(bus.add_endpoint("b"), "add b");
  must(bus.add_group("g"), "add g");
  if (!bus.add_member("g", "a") || !bus.add_member("g", "b")) die("add_member");
  auto b = must(bus.endpoint("b"), "endpoint b");
  auto a = must(bus.attach("a"), "attach a");
  (void)b.send({.to = courier::peer("a"), .priority = 2, .expiry = 1h, .id = 7}, "tracked");
  (void)b.send({.to = courier::peer("a"), .priority = 0}, "plain");
  (void)b.send({.to = courier::peer("a"), .expiry = 1h, .type = 9, .id = 8}, "second");
  (void)b.send({.to = courier::group("g"), .expiry = 1h, .id = 9}, "to the group");
  if (auto m = a.try_receive()) (void)a.mark_read(*m);
  if (auto m = a.try_receive()) (void)a.ack(*m);
}

void segment_seeds(const fs::path& out) {
  const std::string name = "fuzz-seed-" + std::to_string(::getpid());
  const fs::path shm = "/dev/shm/courier." + name;
  {
    auto bus = must(courier::Bus::open(name, small(true)), "creating the seed bus");
    write_seed(out / "segment_attach", "new", read_file(shm));
    populate(bus);
    write_seed(out / "segment_attach", "messages", read_file(shm));
    // The sender's status ring and the tracker, laid out as fuzz/status_ring.cpp reads them.
    const courier::Segment& seg = bus.segment();
    const std::uint32_t b = courier::endpoint_slot(must(bus.find_endpoint("b"), "find b"));
    const courier::LaneView ring = seg.status_lane(b);
    std::vector<char> s = bytes_at(ring.ctl, sizeof(courier::LaneData));
    const std::vector<char> data = bytes_at(ring.data, ring.capacity);
    s.insert(s.end(), data.begin(), data.end());
    const std::uint64_t cap = seg.geometry().tracker_capacity;
    const std::vector<char> t =
        bytes_at(seg.tracker(), sizeof(courier::TrackerHeader) + cap * 8 + cap * sizeof(courier::TrackerEntry));
    s.insert(s.end(), t.begin(), t.end());
    const std::uint64_t drops = seg.inbox(b).status_dropped.load(std::memory_order_relaxed);  // relaxed: ours alone
    const std::vector<char> d = bytes_at(&drops, sizeof(drops));
    s.insert(s.end(), d.begin(), d.end());
    write_seed(out / "status_ring", "sender", s);
  }
  if (!courier::Bus::remove(name, {.force = true})) die("removing the seed bus");
}

// A ring of events posted for the sends fuzz/status_ring.cpp makes (ids 1..8 in slots 0..7).
void posted_ring_seed(const fs::path& out) {
  std::vector<courier::LaneData> ctl(1 + courier::min_status_capacity / sizeof(courier::LaneData));
  std::memset(static_cast<void*>(ctl.data()), 0, ctl.size() * sizeof(courier::LaneData));
  const courier::LaneView v{ctl.data(), reinterpret_cast<std::byte*>(ctl.data() + 1), courier::min_status_capacity};
  const courier::Status sts[] = {courier::Status::sent, courier::Status::delivered, courier::Status::read,
                                 courier::Status::expired};
  for (std::uint64_t slot = 0; slot < 8; ++slot) {
    const courier::StatusEvent e{slot == 5 || slot == 6 ? 5 : slot + 1, courier::EndpointId(0x10000 + slot), 0,
                                 sts[slot % 4], 1'000'000'000ull * (slot + 1)};
    if (!courier::post_status(v, 0x10001, e, slot)) die("post_status");
  }
  write_seed(out / "status_ring", "posted", bytes_at(ctl.data(), sizeof(courier::LaneData) + v.capacity));
}

void journal_seeds(const fs::path& out) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/courier-fuzz-seed-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) die("mkdtemp " + dir);
  const std::string name = "fuzz-seed-log-" + std::to_string(::getpid());
  {
    courier::Options o = small(true);
    o.log_dir = dir;
    o.sync = courier::Sync::always;
    auto bus = must(courier::Bus::open(name, o), "creating the seed bus with a log");
    populate(bus);
    if (!bus.flush_log()) die("flush_log");
  }
  if (!courier::Bus::remove(name, {.force = true})) die("removing the seed bus with a log");
  int n = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / name))
    if (e.path().extension() == ".journal") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) write_seed(out / "journal_reader", "journal-" + std::to_string(++n), read_file(f));
  if (n == 0) die("the seed bus wrote no journal file in " + dir);
  fs::remove_all(dir);
}

void cli_seeds(const fs::path& out) {
  const std::vector<std::vector<std::string>> lines = {
      {"send", "orders", "--from", "alice", "--to", "bob", "--expiry", "30s", "--priority", "2", "hello"},
      {"send", "orders", "--from", "a", "--group", "team", "--lines", "--wait", "read", "--id", "7", "--", "-x"},
      {"recv", "orders", "bob", "--count", "3", "--timeout", "1h30m", "--read"},
      {"create",
       "orders",
       "--max-endpoints",
       "16",
       "--lane-capacity",
       "64KiB",
       "--max-payload",
       "1K",
       "--claim-timeout",
       "250ms",
       "--tracker-capacity",
       "1024",
       "--max-groups",
       "4",
       "--max-group-members",
       "8",
       "--log",
       "/var/lib/courier",
       "--sync",
       "group"},
      {"group", "add", "orders", "team", "alice", "bob"},
      {"status", "orders", "--from", "alice", "42", "--json"},
      {"log", "orders", "--log=/tmp/x", "dump"},
      {"rm", "orders", "--log", "/tmp/x", "--purge", "--force"},
      {"endpoint", "ls", "orders", "--long"},
      {"help", "send"},
  };
  int n = 0;
  for (const auto& words : lines) {
    std::vector<char> bytes;
    for (const std::string& w : words) {
      bytes.insert(bytes.end(), w.begin(), w.end());
      bytes.push_back('\0');
    }
    write_seed(out / "cli_args", "argv-" + std::to_string(++n), bytes, false);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) die("usage: fuzz_make_corpus OUT_DIR (the repository's fuzz/corpus)");
  const fs::path out = argv[1];
  segment_seeds(out);
  posted_ring_seed(out);
  journal_seeds(out);
  cli_seeds(out);
  return 0;
}
