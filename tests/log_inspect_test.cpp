// Tests of LogInspector (courier/log_inspect.hpp): the records of a bus's
// journals as a program reads them, with names resolved from their segment.
#include "courier/log_inspect.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "courier/bus.hpp"

namespace courier {
namespace {

using namespace std::chrono_literals;

class LogInspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/courier-log-inspect-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    log_dir_ = tmpl;
  }
  void TearDown() override {
    (void)Bus::remove(bus_);
    std::filesystem::remove_all(log_dir_);
  }
  std::string journals() const { return log_dir_ + "/" + bus_; }

  std::string bus_ = "log-inspect-" + std::to_string(::getpid());
  std::string log_dir_;
};

std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

TEST_F(LogInspectTest, yieldsMessagesSettlesAndNamesOfTheirSegment) {
  std::uint64_t id = 0;
  {
    Options o;
    o.log_dir = log_dir_;
    auto bus = Bus::open(bus_, o);
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_endpoint("bob"));
    auto alice = bus->endpoint("alice");
    ASSERT_TRUE(alice);
    SendOptions s;
    s.to = peer("bob");
    s.expiry = 1min;
    s.type = 7;
    const SendResult r = alice->send(s, std::string("hello"));
    ASSERT_TRUE(r);
    id = r.id;
    auto rx = bus->attach("bob");
    ASSERT_TRUE(rx);
    ASSERT_TRUE(rx->receive(1s));  // acknowledged as taken: a delivered record
    (void)rx->receive(0ns);        // releases it
    ASSERT_TRUE(bus->flush_log());
  }

  auto log = LogInspector::open(journals());
  ASSERT_TRUE(log) << log.error().message;
  std::vector<LogRecordKind> kinds;
  bool saw_message = false, saw_delivered = false;
  LogRecord r;
  for (;;) {
    auto more = log->next(r);
    ASSERT_TRUE(more) << more.error().message;
    if (!*more) break;
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(r.file.starts_with(journals())) << r.file;
    EXPECT_GT(r.length, 0u);
    if (r.kind == LogRecordKind::message) {
      saw_message = true;
      EXPECT_EQ(r.id, id);
      EXPECT_EQ(r.type, 7u);
      EXPECT_EQ(text(r.payload), "hello");
      EXPECT_EQ(r.payload_len, 5u);
      ASSERT_NE(log->name_of(r.from), nullptr);
      EXPECT_EQ(*log->name_of(r.from), "alice");
      ASSERT_NE(log->name_of(r.to), nullptr);
      EXPECT_EQ(*log->name_of(r.to), "bob");
      EXPECT_GT(r.expires_ns, r.timestamp_ns);
    } else if (r.kind == LogRecordKind::delivered) {
      saw_delivered = true;
      EXPECT_EQ(r.id, id);
      ASSERT_NE(log->name_of(r.sender), nullptr);
      EXPECT_EQ(*log->name_of(r.sender), "alice");
      ASSERT_NE(log->name_of(r.recipient), nullptr);
      EXPECT_EQ(*log->name_of(r.recipient), "bob");
      EXPECT_GT(r.at_ns, 0u);
    } else if (r.kind == LogRecordKind::name) {
      EXPECT_FALSE(r.names_group);
      EXPECT_TRUE(r.name == "alice" || r.name == "bob") << r.name;
    }
  }
  EXPECT_TRUE(saw_message);
  EXPECT_TRUE(saw_delivered);
  EXPECT_FALSE(log->files().empty());
  EXPECT_GT(log->bytes(), 0u);
  EXPECT_TRUE(log->damage().empty());
  EXPECT_EQ(log_record_kind_name(LogRecordKind::expired), "expired");
}

TEST_F(LogInspectTest, yieldsGroupChangesByName) {
  {
    Options o;
    o.log_dir = log_dir_;
    auto bus = Bus::open(bus_, o);
    ASSERT_TRUE(bus) << bus.error().message;
    ASSERT_TRUE(bus->add_group("team"));
    ASSERT_TRUE(bus->add_member("team", "ann"));
    ASSERT_TRUE(bus->remove_member("team", "ann"));
    ASSERT_TRUE(bus->remove_group("team"));
  }
  auto log = LogInspector::open(journals());
  ASSERT_TRUE(log) << log.error().message;
  std::vector<std::string> changes;
  std::uint64_t last_at = 0;
  LogRecord r;
  for (;;) {
    auto more = log->next(r);
    ASSERT_TRUE(more) << more.error().message;
    if (!*more) break;
    ASSERT_TRUE(r.error.empty()) << r.error;
    if (r.kind != LogRecordKind::membership) continue;
    EXPECT_GE(r.at_ns, last_at) << "one writer's changes are in time order";
    last_at = r.at_ns;
    changes.push_back(std::string(r.change) + " " + r.group_name + (r.member.empty() ? "" : " " + r.member));
  }
  EXPECT_EQ(changes,
            (std::vector<std::string>{"group_created team", "joined team ann", "left team ann", "group_removed team"}));
  EXPECT_GT(last_at, 0u);
  EXPECT_EQ(log_record_kind_name(LogRecordKind::membership), "membership");
}

TEST_F(LogInspectTest, aMissingDirectoryIsNotFound) {
  auto log = LogInspector::open(journals());
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, Errc::not_found);
  EXPECT_NE(log.error().message.find("no journals in '" + journals() + "'"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace courier
