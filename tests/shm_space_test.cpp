// Memory faults are errors (issue 13, item 4; docs/design.md, "Memory faults").
//
// A full /dev/shm is made deterministic with a child in its own mount
// namespace and a 16 MiB tmpfs on /dev/shm (unshare + mount: root in CI; the
// test is skipped, saying why, where that is not permitted). Everything runs
// in real processes: the test's child, and the courier CLI it runs, which
// inherits the namespace. A child that dies of a signal fails the test.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/detail/segment.hpp"
#include "courier/detail/shm_space.hpp"
#include "support.hpp"

namespace courier::test {
namespace {

using cli::Output;
using cli::run;

constexpr int cannot_set_up = 77;

std::string shm_path(const std::string& bus) { return "/dev/shm/courier." + bus; }

std::uint64_t shm_free() {
  struct statvfs v {};
  return ::statvfs("/dev/shm", &v) == 0 ? std::uint64_t(v.f_bavail) * v.f_frsize : 0;
}

off_t size_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// Take all of /dev/shm's free space but `leave` bytes, in a file of its own.
bool fill_shm(std::uint64_t leave) {
  const int fd = ::open("/dev/shm/filler", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::uint64_t free = shm_free();
  const bool ok = free <= leave || ::fallocate(fd, 0, 0, static_cast<off_t>(free - leave)) == 0;
  ::close(fd);
  return ok && shm_free() <= leave + 4096;
}

// One line, no signal: what every refusal of the CLI must look like.
std::string one_line_failure(const Output& o, const std::string& what) {
  if (o.status != 1) return what + ": exit status " + std::to_string(o.status) + " (want 1), stderr: " + o.err;
  if (o.err.empty() || o.err.find('\n') != o.err.size() - 1) return what + ": not one line on stderr: " + o.err;
  return "";
}

struct Outcome {
  bool skipped = false;
  int status = 0;  // wait status of the child
  std::string message;
};

// Runs `body` in a child with a `mib` MiB tmpfs of its own on /dev/shm (mib
// 0: the host's /dev/shm). body returns "" when all its checks held, else what
// failed; the child's wait status says whether it survived.
Outcome in_child(unsigned mib, const std::function<std::string()>& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {false, -1, "pipe2 failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (mib != 0) {
      const std::string opts = "size=" + std::to_string(mib) + "m,mode=1777";
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("tmpfs", "/dev/shm", "tmpfs", 0, opts.c_str()) != 0) {
        const std::string why = std::string("unshare/mount: ") + std::strerror(errno);
        (void)!::write(p[1], why.data(), why.size());
        ::_exit(cannot_set_up);
      }
    }
    const std::string failed = body();
    (void)!::write(p[1], failed.data(), failed.size());
    ::_exit(failed.empty() ? 0 : 1);
  }
  ::close(p[1]);
  Outcome o;
  // The child's exit, then what it wrote (a process it forked may hold the pipe open).
  ::waitpid(pid, &o.status, 0);
  ::fcntl(p[0], F_SETFL, O_NONBLOCK);
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) o.message.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  o.skipped = WIFEXITED(o.status) && WEXITSTATUS(o.status) == cannot_set_up;
  return o;
}

// The test passes when the child exited 0; a signal or a failed check fails it.
#define EXPECT_CHILD_OK(outcome)                                                                         \
  do {                                                                                                   \
    const Outcome& oc_ = (outcome);                                                                      \
    if (oc_.skipped) GTEST_SKIP() << "needs a mount namespace (root): " << oc_.message;                  \
    EXPECT_FALSE(WIFSIGNALED(oc_.status)) << "the child died of signal " << WTERMSIG(oc_.status) << " (" \
                                          << strsignal(WTERMSIG(oc_.status)) << ") " << oc_.message;     \
    EXPECT_TRUE(WIFEXITED(oc_.status) && WEXITSTATUS(oc_.status) == 0) << oc_.message;                   \
  } while (0)

// The name of an object a test makes on the host's /dev/shm, unlinked when
// the test ends, however its child left it: dead by a signal, or the object
// truncated (BusName's removal would wait for an empty object to be sized).
struct HostObject {
  std::string name = unique_bus_name();
  HostObject() = default;
  HostObject(const HostObject&) = delete;
  HostObject& operator=(const HostObject&) = delete;
  ~HostObject() { (void)Segment::remove(name, /*not_courier_too=*/true); }
};

// A small bus that fits a 16 MiB /dev/shm: 8.8 MiB, 5 MiB of it fixed.
Options tiny_options() {
  Options o = small_options();
  o.max_endpoints = 4;
  o.open_timeout = std::chrono::milliseconds(200);
  return o;
}

TEST(ShmSpace, BusLargerThanShmCanEverHoldIsRefusedAndLeavesNothing) {
  EXPECT_CHILD_OK(in_child(16, [] {
    const std::string name = unique_bus_name();
    auto bus = Bus::open(name, Options{});  // 64 endpoints x 16 lanes x 4 MiB: 4 GiB
    if (bus) return std::string("a 4 GiB bus was created on a 16 MiB /dev/shm");
    if (bus.error().code != Errc::invalid_argument) return "wrong code: " + bus.error().message;
    if (bus.error().message.find("more than /dev/shm can ever hold (16 MiB)") == std::string::npos)
      return "no numbers in: " + bus.error().message;
    if (size_of(shm_path(name)) != -1) return std::string("the refused bus left its object behind");
    const Output o = run({"create", name});
    if (auto why = one_line_failure(o, "courier create"); !why.empty()) return why;
    if (o.err.find("4.0 GiB of shared memory") == std::string::npos) return "courier create said: " + o.err;
    return size_of(shm_path(name)) == -1 ? std::string() : std::string("courier create left an object");
  }));
}

TEST(ShmSpace, AbsurdGeometryIsRefusedInOneLine) {
  // On the host's /dev/shm: 4096 endpoints x 16 lanes x 1 GiB is 64 TiB.
  BusName name;
  const Output o = run({"create", name.name, "--max-endpoints", "4096", "--lane-capacity", "1GiB"});
  EXPECT_EQ(one_line_failure(o, "courier create"), "");
  EXPECT_NE(o.err.find("64.0 TiB of shared memory"), std::string::npos) << o.err;
  EXPECT_EQ(size_of(shm_path(name.name)), -1);
}

TEST(ShmSpace, FixedPartsLargerThanFreeSpaceAreRefusedAtCreation) {
  EXPECT_CHILD_OK(in_child(16, [] {
    if (!fill_shm(1 << 20)) return std::string("could not fill /dev/shm");
    const std::string name = unique_bus_name();
    auto bus = Bus::open(name, tiny_options());  // 8.8 MiB, 5 MiB fixed; 1 MiB free
    if (bus) return std::string("a bus was created whose fixed parts do not fit");
    if (bus.error().code != Errc::no_space) return "wrong code: " + bus.error().message;
    if (bus.error().message.find("1 MiB free") == std::string::npos) return "no numbers in: " + bus.error().message;
    return size_of(shm_path(name)) == -1 ? std::string() : std::string("the refused bus left its object behind");
  }));
}

TEST(ShmSpace, SendsIntoAFullShmAnswerFullAndEveryoneSurvives) {
  EXPECT_CHILD_OK(in_child(16, [] {
    const std::string name = unique_bus_name();
    auto bus = Bus::open(name, tiny_options());
    if (!bus) return "open: " + bus.error().message;
    if (!bus->add_endpoint("r")) return std::string("add_endpoint r");
    auto s = bus->endpoint("s");
    if (!s) return "endpoint s: " + s.error().message;
    if (!fill_shm(0)) return std::string("could not fill /dev/shm");
    // A new endpoint's inbox cannot be had: an error, not a SIGBUS at its first use.
    auto late = bus->add_endpoint("late");
    if (late || late.error().code != Errc::no_space) return std::string("add_endpoint on a full /dev/shm");
    const std::string payload(12000, 'x');
    const SendOptions to_r{.to = peer("r"), .expiry = std::chrono::hours(1)};
    for (int i = 0; i < 8; ++i) {
      const SendResult r = s->send(to_r, payload);
      if (r.status != Status::full) return "send " + std::to_string(i) + ": " + std::string(status_name(r.status));
    }
    // The CLI on the same full /dev/shm: stat shows it, send and recv answer.
    const Output st = run({"stat", name});
    if (st.status != 0 || st.err != "") return "courier stat: " + std::to_string(st.status) + " " + st.err;
    if (st.out.find("/dev/shm:       0 bytes free of 16 MiB") == std::string::npos) return "stat: " + st.out;
    const Output json = run({"stat", name, "--json"});
    if (json.out.find("\"shm\":{\"total_bytes\":16777216,\"free_bytes\":0}") == std::string::npos ||
        json.out.find("\"segment_fixed_bytes\":") == std::string::npos)
      return "stat --json: " + json.out;
    const Output sent = run({"send", name, "--from", "s", "--to", "r", "--expiry", "1h", payload});
    if (auto why = one_line_failure(sent, "courier send"); !why.empty()) return why;
    if (sent.err.find("or /dev/shm is (0 bytes free") == std::string::npos) return "courier send: " + sent.err;
    const Output recv = run({"recv", name, "r", "--timeout", "10ms"});
    if (WIFSIGNALED(recv.status) || recv.status >= 128) return "courier recv died: " + recv.err;
    // Room again: the same lane takes the message, and it arrives.
    ::unlink("/dev/shm/filler");
    if (const SendResult r = s->send(to_r, payload); r.status != Status::sent)
      return "after room was made: " + std::string(status_name(r.status));
    auto rx = bus->attach("r");
    if (!rx) return "attach: " + rx.error().message;
    auto m = rx->try_receive();
    if (!m || m->payload().size() != payload.size())
      return std::string("the message sent after room was made is missing");
    return std::string();
  }));
}

// The object shrunk under a process that has the bus open: its library calls
// answer "removed" and it lives on.
std::string truncated_under_us(const std::string& name, off_t keep) {
  auto bus = Bus::open(name, tiny_options());
  if (!bus) return "open: " + bus.error().message;
  auto rx = bus->attach("r");
  auto s = bus->endpoint("s");
  if (!rx || !s) return std::string("attach/endpoint");
  if (s->send({.to = peer("r"), .expiry = std::chrono::hours(1)}, "before").status != Status::sent)
    return std::string("first send");
  // Another process with the bus open, waiting for the truncation.
  int go[2], done[2];
  if (::pipe(go) != 0 || ::pipe(done) != 0) return std::string("pipe");
  const pid_t other = ::fork();
  if (other == 0) {
    ::close(go[1]);  // the test's child dying is an end of file here, not a wait for ever
    ::close(done[0]);
    auto b = Bus::open(name, tiny_options());
    auto e = b ? b->endpoint("other") : Result<Endpoint>(Error(Errc::system, "open"));
    char c = 0;
    (void)!::write(done[1], "r", 1);
    (void)!::read(go[0], &c, 1);
    if (!e) ::_exit(2);
    const SendResult r = e->send({.to = peer("r"), .expiry = std::chrono::hours(1)}, "from the other");
    ::_exit(b->removed() && r.status == Status::removed ? 0 : 3);
  }
  ::close(go[0]);
  ::close(done[1]);
  char c = 0;
  if (::read(done[0], &c, 1) != 1) return std::string("the other process did not start");
  const int fd = ::open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, keep) != 0) return std::string("truncate");
  ::close(fd);
  // A message already handed out may read as zeros; the calls must not kill us.
  if (auto m = rx->try_receive()) (void)m->payload().size();
  const SendResult r = s->send({.to = peer("r"), .expiry = std::chrono::hours(1)}, std::string(3000, 'y'));
  if (r.status != Status::removed) return "send after truncation: " + std::string(status_name(r.status));
  if (!bus->removed()) return std::string("Bus::removed() is false after the truncation was met");
  (void)bus->stat();
  auto added = bus->add_endpoint("late");
  if (added || added.error().code != Errc::removed) return std::string("add_endpoint did not answer removed");
  if (rx->try_receive()) return std::string("a receiver of a truncated bus handed out a message");
  (void)!::write(go[1], "g", 1);
  int st = 0;
  ::waitpid(other, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return "the other process: " + (WIFSIGNALED(st) ? std::string("signal ") + strsignal(WTERMSIG(st))
                                                    : "exit " + std::to_string(WEXITSTATUS(st)));
  return std::string();
}

TEST(ShmSpace, TruncatedToZeroUnderAnAttachedProcessIsAnErrorNotASignal) {
  const HostObject object;
  EXPECT_CHILD_OK(in_child(0, [&] { return truncated_under_us(object.name, 0); }));
}

TEST(ShmSpace, TruncatedPastTheHeaderTellsOtherProcessesToo) {
  const HostObject object;
  EXPECT_CHILD_OK(in_child(0, [&] { return truncated_under_us(object.name, 64 * 1024); }));
}

TEST(ShmSpace, ASigbusOutsideCourierMappingsStillKills) {
  const HostObject keep;  // the child dies by the signal: the parent removes its bus
  const Outcome o = in_child(0, [&] {
    // The default action, as a program without courier has it. (A sanitizer
    // build installs its own SIGBUS handler first, which the guard chains to:
    // it would report and exit instead of dying by the signal.)
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    if (::sigaction(SIGBUS, &dfl, nullptr) != 0) return std::string("sigaction");
    auto bus = Bus::open(keep.name, tiny_options());  // installs the guard
    if (!bus) return "open: " + bus.error().message;
    char path[] = "/tmp/courier-sigbus-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0 || ::ftruncate(fd, 8192) != 0) return std::string("mkstemp");
    ::unlink(path);
    auto* p = static_cast<volatile char*>(::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (::ftruncate(fd, 0) != 0) return std::string("ftruncate");
    p[4096] = 1;  // not courier's: SIGBUS, as without courier
    return std::string("survived a SIGBUS that was not courier's");
  });
  ASSERT_TRUE(WIFSIGNALED(o.status)) << o.message;
  EXPECT_EQ(WTERMSIG(o.status), SIGBUS);
}

TEST(ShmSpace, AnObjectSmallerThanAHeaderIsRefusedAndNotGrown) {
  EXPECT_CHILD_OK(in_child(16, [] {
    const std::string name = unique_bus_name();
    const int fd = ::open(shm_path(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const std::string junk(511, 'j');
    if (fd < 0 || ::write(fd, junk.data(), junk.size()) != 511) return std::string("could not write the object");
    ::close(fd);
    auto bus = Bus::open(name, tiny_options());  // creation allowed: it must still not take the object over
    if (bus) return std::string("a 511-byte object was taken for a bus");
    if (bus.error().code != Errc::corrupt || bus.error().message.find("511 bytes") == std::string::npos)
      return "wrong error: " + bus.error().message;
    const Output o = run({"stat", name});
    if (auto why = one_line_failure(o, "courier stat"); !why.empty()) return why;
    if (size_of(shm_path(name)) != 511)
      return "the object is now " + std::to_string(size_of(shm_path(name))) + " bytes";
    return std::string();
  }));
}

// How many of the pages overlapping [at, at + len) have a page table entry in
// this process (/proc/self/pagemap, bit 63; readable without privileges).
std::uint64_t present_pages(const void* at, std::uint64_t len) {
  const auto a = reinterpret_cast<std::uintptr_t>(at) & ~std::uintptr_t{4095};
  const auto e = reinterpret_cast<std::uintptr_t>(at) + len;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint64_t present = 0;
  for (std::uintptr_t q = a; q < e; q += 4096) {
    std::uint64_t entry = 0;
    if (::pread(fd, &entry, 8, static_cast<off_t>(q / 4096 * 8)) == 8 && (entry >> 63) != 0) ++present;
  }
  ::close(fd);
  return present;
}

// Recovery prepares the tracker and the lanes it rebuilds with
// populate_and_map: populated, then read once per page, on two threads for a
// large range. It must leave every page of the range mapped in this process
// and every byte as it was, whether it splits the range or not, for a range
// that starts and ends inside a page.
TEST(ShmSpace, PopulateAndMapLeavesEveryPagePresentAndEveryByteAsItWas) {
  struct Case {
    std::uint64_t offset, length;
  };
  for (const Case c : {Case{1000, 3 * 4096 + 100}, Case{3000, (65ull << 20) + 12345}}) {
    const std::string name = "/courier-test-populate-" + std::to_string(::getpid());
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ::shm_unlink(name.c_str());
    const std::uint64_t size = c.offset + c.length + 8192;
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    ASSERT_NE(m, MAP_FAILED);
    auto* base = static_cast<unsigned char*>(m);
    unsigned char* const at = base + c.offset;
    const std::uint64_t pages = (c.offset + c.length + 4095) / 4096 - c.offset / 4096;
    // A few bytes written (their pages now present), the rest never touched.
    const std::uint64_t marks[] = {0, c.length / 2, c.length - 1};
    for (std::uint64_t k = 0; k < 3; ++k) at[marks[k]] = static_cast<unsigned char>(0xa0 + k);
    ASSERT_LT(present_pages(at, c.length), pages) << "the untouched pages should not be mapped yet";

    detail::populate_and_map(at, c.length);

    EXPECT_EQ(present_pages(at, c.length), pages) << c.length << " bytes at offset " << c.offset;
    for (std::uint64_t k = 0; k < 3; ++k) EXPECT_EQ(at[marks[k]], 0xa0 + k) << "byte " << marks[k];
    std::uint64_t nonzero = 0;
    for (std::uint64_t o = 0; o < c.length; o += 4093) nonzero += (o != marks[0] && o != marks[1] && at[o] != 0);
    EXPECT_EQ(nonzero, 0u) << "populate_and_map wrote into the range";
    EXPECT_EQ(base[c.offset + c.length + 4096], 0) << "past the range";
    ::munmap(m, size);
  }
}

// Bus::prefault_lane (for benchmarks) leaves a lane's first `bytes` as a lane
// that has run that far has them: reserved (a sender's claims up to there ask
// for no more space: LaneWriter::room_limit wants the unit after a record
// too) and present, its contents unchanged; the rest of the lane untouched.
TEST(ShmSpace, PrefaultLaneReservesAndPopulatesWhatItNamesAndWritesNothing) {
  BusName name;
  Options o = tiny_options();
  o.lane_capacity = 1u << 20;  // well above the first reservation (detail::lane_reserve_step)
  auto bus = Bus::open(name, o);
  ASSERT_TRUE(bus) << bus.error().message;
  auto ep = bus->endpoint("dst");
  ASSERT_TRUE(ep) << ep.error().message;
  const LaneView lane = bus->segment().lane(endpoint_slot(ep->id()), 3);
  ASSERT_NE(lane.space, nullptr);
  const std::uint64_t bytes = lane.capacity / 2 + 4096;
  ASSERT_LT(lane.space->reserved.load(), bytes) << "the lane was reserved that far already";
  const auto first = reinterpret_cast<std::uintptr_t>(lane.data) / 4096;
  const std::uint64_t pages = (reinterpret_cast<std::uintptr_t>(lane.data) + bytes + 4095) / 4096 - first;
  ASSERT_LT(present_pages(lane.data, bytes), pages);

  bus->prefault_lane(ep->id(), 3, bytes);

  EXPECT_GE(lane.space->reserved.load(), bytes + record_unit);
  EXPECT_LT(lane.space->reserved.load(), lane.capacity) << "reserved the whole lane, not what was named";
  EXPECT_EQ(present_pages(lane.data, bytes), pages);
  std::uint64_t nonzero = 0;
  for (std::uint64_t o = 0; o < bytes; o += 512) nonzero += lane.data[o] != std::byte{0};
  EXPECT_EQ(nonzero, 0u) << "prefault_lane wrote into the lane";
  // Nothing else: another priority's lane, and past the end of a lane.
  EXPECT_EQ(bus->segment().lane(endpoint_slot(ep->id()), 2).space->reserved.load(), 0u);
  bus->prefault_lane(ep->id(), 4, lane.capacity * 4);
  EXPECT_EQ(bus->segment().lane(endpoint_slot(ep->id()), 4).space->reserved.load(), lane.capacity);
}

TEST(ShmSpace, StatShowsFreeSpaceAndFixedParts) {
  BusName name;
  auto bus = Bus::open(name, tiny_options());
  ASSERT_TRUE(bus) << bus.error().message;
  const BusStats s = bus->stat();
  EXPECT_GT(s.fixed_bytes, 0u);
  EXPECT_LT(s.fixed_bytes, s.segment_bytes);
  EXPECT_GT(s.shm_total_bytes, 0u);
  EXPECT_LE(s.shm_free_bytes, s.shm_total_bytes);
  const Output o = run({"stat", name.name});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("/dev/shm:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(" fixed: header, directory, tracker, an inbox per endpoint"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace courier::test
