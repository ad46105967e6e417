// A log that cannot write says why: Bus::log_error() names the file and the
// system's reason. The failure is a real one: a child process whose file size
// limit (RLIMIT_FSIZE) is below the record it logs gets EFBIG from the kernel.
// A message already in its lane when the sync fails is delivered, never
// reported log_failed (log_failed means never delivered: docs/design.md, "No
// wedged ids"; tests/wedge_test.cpp has the sends that are log_failed).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "courier/bus.hpp"
#include "support.hpp"

using namespace courier;
using namespace courier::test;

namespace {

// In the child: 0 when the send was not reported sent, the log says why
// (EFBIG's text), and the message, in its lane, is received once and ends
// delivered (not log_failed); else a code naming the first check that did not hold.
int send_past_the_file_size_limit(const std::string& bus_name, const std::string& dir) {
  Options o;
  o.log_dir = dir;
  o.sync = Sync::always;
  o.housekeeping_interval = std::chrono::milliseconds(0);
  o.prefault_tracker = false;
  auto bus = Bus::open(bus_name, o);
  if (!bus) {
    std::fprintf(stderr, "open: %s\n", bus.error().message.c_str());
    return 12;
  }
  if (bus->log_error()) return 13;  // nothing failed yet
  auto alice = bus->endpoint("alice");
  if (!alice || !bus->add_endpoint("bob")) return 14;
  // Only now (the shared memory is sized by then): a file may not grow past 64 KiB.
  std::signal(SIGXFSZ, SIG_IGN);  // the write then fails with EFBIG instead of killing us
  rlimit lim{};
  if (::getrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
  lim.rlim_cur = 64 * 1024;
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 11;
  const std::string big(200 * 1024, 'x');  // its record is larger than the limit
  const SendResult r = alice->send({.to = peer("bob"), .expiry = std::chrono::seconds(60)}, big);
  if (r.status != Status::outbox) {  // not durable: never `sent`
    std::fprintf(stderr, "send: %s\n", std::string(status_name(r.status)).c_str());
    return 15;
  }
  const std::optional<Error> why = bus->log_error();
  if (!why) return 16;
  std::fprintf(stderr, "log_error: %s\n", why->message.c_str());
  if (why->message.find(std::strerror(EFBIG)) == std::string::npos) return 17;
  if (why->message.find(dir) == std::string::npos) return 18;  // it names the file
  auto bob = bus->attach("bob");
  if (!bob) return 19;
  auto m = bob->try_receive();
  if (!m || m->id() != r.id) return 20;
  m.reset();
  if (bob->try_receive()) return 21;  // once
  auto st = bus->status("alice", r.id);
  if (!st || st->status != Status::delivered) return 22;
  return 0;
}

TEST(LogError, AWriteTheSystemRefusesIsNotSentAndSaysItsCause) {
  BusName name;
  char tmpl[] = "/tmp/courier-logerr-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  ASSERT_NE(dir, nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(send_past_the_file_size_limit(name.name, dir));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check " << WEXITSTATUS(status) << " failed (see the child's stderr)";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(LogError, ABusWithoutALogHasNoLogError) {
  BusName name;
  auto bus = Bus::open(name.name, small_options());
  ASSERT_TRUE(bus);
  EXPECT_FALSE(bus->log_error());
}

}  // namespace

COURIER_TEST_MAIN
