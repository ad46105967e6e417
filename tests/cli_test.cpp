// Tests of the `courier` command-line tool: the real binary (COURIER_CLI_PATH),
// run as child processes on a bus of its own per test.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/clock.hpp"

namespace {

using namespace std::chrono_literals;
using namespace courier::test::cli;

class CliTest : public ::testing::Test {
 protected:
  CliTest() {
    std::random_device rd;
    bus_ = "cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  }
  ~CliTest() override { (void)courier::Bus::remove(bus_); }

  // `courier send BUS --from alice --to TO EXTRA... [DATA]`.
  Output send(const std::string& to, std::vector<std::string> extra, std::optional<std::string> data = std::nullopt,
              std::string_view input = {}) {
    std::vector<std::string> args{"send", bus_, "--from", "alice", "--to", to};
    args.insert(args.end(), extra.begin(), extra.end());
    if (data) args.push_back(*data);
    return run(args, input);
  }

  // `courier create BUS EXTRA...` (only create makes a bus).
  void create(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"create", bus_};
    args.insert(args.end(), extra.begin(), extra.end());
    const Output o = run(args);
    ASSERT_EQ(o.status, 0) << o.err;
  }

  // `courier endpoint add BUS NAME`, after `courier create BUS EXTRA...` when
  // the bus does not exist yet.
  void add_endpoint(const std::string& name, std::vector<std::string> extra = {}) {
    if (!courier::Bus::exists(bus_)) create(extra);
    const Output o = run({"endpoint", "add", bus_, name});
    ASSERT_EQ(o.status, 0) << o.err;
  }

  // This endpoint's object in `courier stat --json`, or "" (no bus, no endpoint).
  std::string endpoint_stat(const std::string& name) {
    const Output o = run({"stat", bus_, "--json"});
    const std::size_t at = o.out.find("{\"name\":\"" + name + "\"");
    if (o.status != 0 || at == std::string::npos) return {};
    return o.out.substr(at, o.out.find('}', at) + 1 - at);
  }

  // Poll `courier stat` until `name` has (or has not) a receiver attached.
  bool wait_receiver(const std::string& name, bool attached = true) {
    const std::string want = attached ? "\"receiver_attached\":true" : "\"receiver_attached\":false";
    for (const auto deadline = Clock::now() + patience; Clock::now() < deadline;)
      if (endpoint_stat(name).find(want) != std::string::npos) return true;
    return false;
  }

  std::string bus_;
};

// ------------------------------------------------------------ send and recv

TEST_F(CliTest, twoProcessesExchangeARealTimeMessage) {
  create();
  Child receiver({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_TRUE(wait_receiver("bob"));
  const std::uint64_t before = courier::realtime_ns();
  const Output sent = send("bob", {"--id", "42", "--type", "7", "--priority", "3"}, "hello");
  const std::uint64_t after = courier::realtime_ns();
  EXPECT_EQ(sent.status, 0) << sent.err;
  EXPECT_EQ(sent.out, "42 sent\n");
  EXPECT_EQ(sent.err, "");

  const std::optional<std::string> line = receiver.read_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(json_id(*line), "42");
  EXPECT_EQ(json_field(*line, "from"), "\"alice\"");
  EXPECT_EQ(json_field(*line, "to"), "\"bob\"");
  EXPECT_EQ(json_field(*line, "group"), "null");
  EXPECT_EQ(json_field(*line, "priority"), "3");
  EXPECT_EQ(json_field(*line, "type"), "7");
  EXPECT_EQ(json_field(*line, "expires_ns"), "0");
  EXPECT_EQ(json_field(*line, "redelivered"), "false");
  EXPECT_EQ(json_field(*line, "data"), "\"hello\"");
  EXPECT_EQ(json_field(*line, "data_b64"), "<absent>");
  const std::uint64_t ts = json_number(*line, "timestamp_ns");
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
  EXPECT_EQ(line->front(), '{');
  EXPECT_EQ(line->back(), '}');

  const Output done = receiver.finish();
  EXPECT_EQ(done.status, 0) << done.err;
  EXPECT_EQ(done.out, "");                   // exactly one line
  EXPECT_TRUE(wait_receiver("bob", false));  // the lease was given back
}

TEST_F(CliTest, highestPriorityComesFirstAndOrderIsKeptWithinAPriority) {
  add_endpoint("bob");
  const std::pair<const char*, const char*> messages[] = {{"5", "a"}, {"1", "b"},  {"5", "c"},
                                                          {"0", "d"}, {"15", "e"}, {"1", "f"}};
  for (auto [priority, data] : messages) {
    const Output o = send("bob", {"--expiry", "1m", "--priority", priority}, data);
    ASSERT_EQ(o.status, 0) << o.err;
  }
  const Output got = run({"recv", bus_, "bob", "--count", "6", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  std::vector<std::string> order;
  for (const std::string& l : lines_of(got.out)) order.push_back(json_field(l, "data"));
  EXPECT_EQ(order, (std::vector<std::string>{"\"d\"", "\"b\"", "\"f\"", "\"a\"", "\"c\"", "\"e\""}));
}

TEST_F(CliTest, storedMessageWaitsForAReceiverThatAttachesLater) {
  add_endpoint("bob");
  const Output sent = send("bob", {"--expiry", "10m"}, "stored");
  ASSERT_EQ(sent.status, 0) << sent.err;
  ASSERT_TRUE(sent.out.ends_with(" sent\n")) << sent.out;
  const std::string id = sent.out.substr(0, sent.out.find(' '));
  EXPECT_NE(id, "0");  // generated: the message is tracked

  const Output got = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  const std::vector<std::string> lines = lines_of(got.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json_id(lines[0]), id);
  EXPECT_EQ(json_field(lines[0], "data"), "\"stored\"");
  EXPECT_EQ(json_field(lines[0], "priority"), "8");  // courier::default_priority
  EXPECT_EQ(json_number(lines[0], "expires_ns") - json_number(lines[0], "timestamp_ns"), 600'000'000'000ull);
}

TEST_F(CliTest, realTimeMessageToAnEndpointWithoutReceiverIsOffline) {
  add_endpoint("bob");
  const Output o = send("bob", {}, "now or never");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "0 offline\n");
  EXPECT_NE(o.err.find("offline"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(endpoint_stat("bob").find("\"offline\":1"), std::string::npos);
}

TEST_F(CliTest, unknownDestinationIsInvalidAndNotRegistered) {
  create();
  const Output o = send("nobody", {"--expiry", "1m"}, "x");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(o.out.ends_with(" invalid_destination\n")) << o.out;
  EXPECT_NE(o.err.find("nobody"), std::string::npos) << o.err;
  const Output ls = run({"endpoint", "ls", bus_});
  EXPECT_EQ(ls.out, "alice\n");  // the sender was registered, the destination not
}

TEST_F(CliTest, binaryPayloadComesOutAsBase64) {
  add_endpoint("bob");
  const std::string bytes("\x00\xff\xfe\x01", 4);
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, std::nullopt, bytes).status, 0);
  const Output got = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_field(got.out, "data_b64"), "\"AP/+AQ==\"");
  EXPECT_EQ(json_field(got.out, "data"), "<absent>");
}

TEST_F(CliTest, payloadIsReadFromStdinWithoutDataOrWithDash) {
  add_endpoint("bob");
  const std::string text = "line one\nline two \"quoted\" \\ \x01 \xC3\xA9\n";
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, std::nullopt, text).status, 0);
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, "-", text).status, 0);
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, std::nullopt, "").status, 0);  // empty payload
  const Output got = run({"recv", bus_, "bob", "--count", "3", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  const std::vector<std::string> lines = lines_of(got.out);
  ASSERT_EQ(lines.size(), 3u);
  const std::string escaped = "\"line one\\nline two \\\"quoted\\\" \\\\ \\u0001 \xC3\xA9\\n\"";
  EXPECT_EQ(json_field(lines[0], "data"), escaped);
  EXPECT_EQ(json_field(lines[1], "data"), escaped);
  EXPECT_EQ(json_field(lines[2], "data"), "\"\"");
}

TEST_F(CliTest, tooLargePayloadIsRefused) {
  add_endpoint("bob", {"--lane-capacity", "64KiB", "--max-payload", "1000"});
  const Output big = send("bob", {"--expiry", "1m"}, std::string(1001, 'x'));
  EXPECT_EQ(big.status, 1);
  EXPECT_TRUE(big.out.ends_with(" too_large\n")) << big.out;
  EXPECT_NE(big.err.find("the payload (1001 bytes) is larger than the bus's max_payload (1000 bytes)"),
            std::string::npos)
      << big.err;
  // From stdin: refused after reading max_payload + 1 bytes, not all of them.
  const Output piped = send("bob", {"--expiry", "1m"}, std::nullopt, std::string(1 << 20, 'y'));
  EXPECT_EQ(piped.status, 1);
  EXPECT_TRUE(piped.out.ends_with(" too_large\n")) << piped.out;
  EXPECT_NE(piped.err.find("the payload (over 1000 bytes)"), std::string::npos) << piped.err;
  const Output fits = send("bob", {"--expiry", "1m"}, std::string(1000, 'x'));
  EXPECT_EQ(fits.status, 0) << fits.err;
}

TEST_F(CliTest, sendWaitsForRoomInAFullLaneUpToTheTimeout) {
  add_endpoint("bob", {"--lane-capacity", "4KiB"});
  const std::string kilobyte(1000, 'k');
  int stored = 0;
  Output o;
  while ((o = send("bob", {"--expiry", "1m"}, kilobyte)).status == 0 && stored < 100) ++stored;
  ASSERT_TRUE(o.out.ends_with(" full\n")) << o.out;
  ASSERT_GT(stored, 0);

  const Output full = send("bob", {"--expiry", "1m", "--timeout", "20ms"}, kilobyte);
  EXPECT_EQ(full.status, 1);
  EXPECT_TRUE(full.out.ends_with(" full\n")) << full.out;
  EXPECT_NE(full.err.find("waited 20ms"), std::string::npos) << full.err;

  // A patient sender gets in once a receiver makes room.
  Child patient({"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "1m", "--timeout", "10s", "last"});
  const Output got = run({"recv", bus_, "bob", "--count", std::to_string(stored + 1), "--timeout", "10s"});
  EXPECT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_field(lines_of(got.out).back(), "data"), "\"last\"");
  const Output p = patient.finish();
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_TRUE(p.out.ends_with(" sent\n")) << p.out;
}

TEST_F(CliTest, recvWithCountFailsWhenTheTimeoutPassesFirst) {
  create();
  const Output o = run({"recv", bus_, "bob", "--count", "2", "--timeout", "50ms"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "courier: timeout: received 0 of 2\n");
  const Output plain = run({"recv", bus_, "bob", "--timeout", "50ms"});  // no count: the timeout is the end
  EXPECT_EQ(plain.status, 0) << plain.err;
}

TEST_F(CliTest, recvStopsCleanlyOnSigtermAndSigint) {
  create();
  for (int sig : {SIGTERM, SIGINT}) {
    Child receiver({"recv", bus_, "bob"});
    ASSERT_TRUE(wait_receiver("bob"));
    receiver.signal(sig);
    const Output o = receiver.finish();
    EXPECT_EQ(o.status, 0) << strsignal(sig) << ": " << o.err;
    EXPECT_NE(endpoint_stat("bob").find("\"receiver_attached\":false"), std::string::npos);  // lease released
  }
}

TEST_F(CliTest, messageThatCouldNotBeWrittenIsRedeliveredToTheNextReceiver) {
  create();
  Child receiver({"recv", bus_, "bob", "--timeout", "10s"});
  receiver.close_stdout();  // its first line will meet a broken pipe
  ASSERT_TRUE(wait_receiver("bob"));
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, "precious").status, 0);
  const Output broken = receiver.finish();
  EXPECT_EQ(broken.status, 128 + SIGPIPE);  // a closed pipe ends it as it ends other filters: by SIGPIPE, silently
  EXPECT_EQ(broken.err, "");

  const Output again = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(json_field(again.out, "data"), "\"precious\"");
  EXPECT_EQ(json_field(again.out, "redelivered"), "true");
}

TEST_F(CliTest, secondReceiverOfAnEndpointIsRefused) {
  create();
  Child first({"recv", bus_, "bob", "--timeout", "10s"});
  ASSERT_TRUE(wait_receiver("bob"));
  const Output second = run({"recv", bus_, "bob", "--count", "1", "--timeout", "1s"});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("already has a receiver (pid " + std::to_string(first.pid()) + ")"), std::string::npos)
      << second.err;
  first.signal(SIGTERM);
  EXPECT_EQ(first.finish().status, 0);
}

// ------------------------------------------------------------ groups, tracked messages, statuses

TEST_F(CliTest, groupsAreCreatedListedAndRemoved) {
  create();
  const Output created = run({"group", "add", bus_, "team", "bob", "carol"});
  ASSERT_EQ(created.status, 0) << created.err;
  EXPECT_EQ(created.out, "");
  EXPECT_EQ(run({"group", "ls", bus_}).out, "team: bob carol\n");
  std::vector<std::string> endpoints = lines_of(run({"endpoint", "ls", bus_}).out);
  std::sort(endpoints.begin(), endpoints.end());
  EXPECT_EQ(endpoints, (std::vector<std::string>{"bob", "carol"}));  // registered by group add

  ASSERT_EQ(run({"group", "add", bus_, "team", "bob"}).status, 0);  // a member twice: no-op
  ASSERT_EQ(run({"group", "add", bus_, "ops", "alice"}).status, 0);
  EXPECT_EQ(run({"group", "ls", bus_}).out, "team: bob carol\nops: alice\n");
  const std::vector<std::string> json = lines_of(run({"group", "ls", bus_, "--json"}).out);
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json_field(json[0], "name"), "\"team\"");
  EXPECT_NE(json[0].find("\"members\":[\"bob\",\"carol\"]"), std::string::npos) << json[0];
  EXPECT_NE(json[1].find("\"members\":[\"alice\"]"), std::string::npos) << json[1];

  EXPECT_EQ(run({"group", "rm", bus_, "team", "carol"}).status, 0);
  EXPECT_EQ(run({"group", "ls", bus_}).out, "team: bob\nops: alice\n");
  const Output not_member = run({"group", "rm", bus_, "team", "carol"});
  EXPECT_EQ(not_member.status, 1);
  EXPECT_NE(not_member.err.find("not a member"), std::string::npos) << not_member.err;
  EXPECT_EQ(run({"group", "rm", bus_, "ops"}).status, 0);
  EXPECT_EQ(run({"group", "ls", bus_}).out, "team: bob\n");
  const Output gone = run({"group", "rm", bus_, "ops"});
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("no group named 'ops'"), std::string::npos) << gone.err;
  EXPECT_EQ(std::count(gone.err.begin(), gone.err.end(), '\n'), 1) << gone.err;
  EXPECT_EQ(lines_of(run({"endpoint", "ls", bus_}).out).size(), 3u);  // members stay endpoints
}

TEST_F(CliTest, groupSendReachesEveryMemberExactlyOnce) {
  create();
  ASSERT_EQ(run({"group", "add", bus_, "team", "bob", "carol"}).status, 0);
  const Output sent = run({"send", bus_, "--from", "alice", "--group", "team", "--expiry", "1m", "hello"});
  ASSERT_EQ(sent.status, 0) << sent.err;
  ASSERT_TRUE(sent.out.ends_with(" sent\n")) << sent.out;
  EXPECT_EQ(sent.err, "");  // every member took it: no note
  const std::string id = sent.out.substr(0, sent.out.find(' '));
  // A marker sent afterwards to each member comes right after the one copy.
  for (const std::string member : {"bob", "carol"}) ASSERT_EQ(send(member, {"--expiry", "1m"}, "marker").status, 0);

  for (const std::string member : {"bob", "carol"}) {
    const Output got = run({"recv", bus_, member, "--count", "2", "--timeout", "10s"});
    ASSERT_EQ(got.status, 0) << member << ": " << got.err;
    const std::vector<std::string> lines = lines_of(got.out);
    ASSERT_EQ(lines.size(), 2u) << got.out;
    EXPECT_EQ(json_id(lines[0]), id) << member;
    EXPECT_EQ(json_field(lines[0], "group"), "\"team\"") << member;
    EXPECT_EQ(json_field(lines[0], "to"), "\"" + member + "\"");
    EXPECT_EQ(json_field(lines[0], "data"), "\"hello\"");
    EXPECT_EQ(json_field(lines[1], "group"), "null") << member;
    EXPECT_EQ(json_field(lines[1], "data"), "\"marker\"") << member;
  }
  const Output status = run({"status", bus_, "--from", "alice", id});
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_EQ(status.out, "delivered\nbob delivered\ncarol delivered\n");
}

TEST_F(CliTest, groupSendNotesHowManyMembersTookIt) {
  create();
  ASSERT_EQ(run({"group", "add", bus_, "team", "bob", "carol"}).status, 0);
  // Real-time: nobody attached, nobody takes it.
  const Output none = run({"send", bus_, "--from", "alice", "--group", "team", "now"});
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "0 offline\n");
  EXPECT_NE(none.err.find("no member of group 'team' has a receiver attached"), std::string::npos) << none.err;

  Child bob({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_TRUE(wait_receiver("bob"));
  const Output some = run({"send", bus_, "--from", "alice", "--group", "team", "now"});
  EXPECT_EQ(some.status, 0) << some.err;
  EXPECT_EQ(some.out, "0 sent\n");
  EXPECT_EQ(some.err, "courier: note: delivered to lanes of 1 of 2 members\n");
  const std::optional<std::string> line = bob.read_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(json_field(*line, "group"), "\"team\"");
  EXPECT_EQ(bob.finish().status, 0);

  const Output unknown = run({"send", bus_, "--from", "alice", "--group", "nobody", "--expiry", "1m", "x"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_TRUE(unknown.out.ends_with(" invalid_destination\n")) << unknown.out;
  EXPECT_NE(unknown.err.find("no group named 'nobody'"), std::string::npos) << unknown.err;
}

TEST_F(CliTest, resendOfATrackedIdIsADuplicateAndIsNotEnqueuedAgain) {
  add_endpoint("bob");
  const Output first = send("bob", {"--id", "77", "--expiry", "1m"}, "first");
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.out, "77 sent\n");
  EXPECT_EQ(first.err, "");
  const Output again = send("bob", {"--id", "77", "--expiry", "1m"}, "second");
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, "77 sent\n");  // the original's status
  EXPECT_EQ(again.err, "courier: note: duplicate of an earlier send: not enqueued again\n");
  ASSERT_EQ(send("bob", {"--expiry", "1m"}, "marker").status, 0);

  const Output got = run({"recv", bus_, "bob", "--count", "2", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  const std::vector<std::string> lines = lines_of(got.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json_field(lines[0], "data"), "\"first\"");
  EXPECT_EQ(json_field(lines[1], "data"), "\"marker\"");  // no second copy in between
  EXPECT_NE(endpoint_stat("alice").find("\"duplicates\":1"), std::string::npos) << endpoint_stat("alice");

  const Output delivered = send("bob", {"--id", "77", "--expiry", "1m"}, "third");
  EXPECT_EQ(delivered.status, 0) << delivered.err;
  EXPECT_EQ(delivered.out, "77 delivered\n");  // the original's status now
}

TEST_F(CliTest, sendWaitsUntilAConcurrentReceiverTookTheMessage) {
  add_endpoint("bob");
  Child sender({"send", bus_, "--from", "alice", "--to", "bob", "--expiry", "30s", "--wait", "delivered", "--timeout",
                "10s", "waited for"});
  const Output got = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  const Output s = sender.finish();
  EXPECT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, json_id(got.out) + " delivered\n");
  EXPECT_EQ(s.err, "");
}

TEST_F(CliTest, sendWaitingForReadIsSatisfiedByRecvRead) {
  add_endpoint("bob");
  Child sender({"send", bus_, "--from", "alice", "--to", "bob", "--id", "5", "--expiry", "30s", "--wait", "read", "x"});
  const Output got = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s", "--read"});
  ASSERT_EQ(got.status, 0) << got.err;
  const Output s = sender.finish();
  EXPECT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, "5 read\n");
}

TEST_F(CliTest, sendWaitTimesOutWithoutAReceiver) {
  add_endpoint("bob");
  const auto start = Clock::now();
  const Output o = send("bob", {"--expiry", "30s", "--wait", "delivered", "--timeout", "100ms"}, "x");
  EXPECT_GE(Clock::now() - start, 100ms);  // it did wait
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(o.out.ends_with(" sent\n")) << o.out;  // the last status
  EXPECT_NE(o.out, "0 sent\n");
  EXPECT_NE(o.err.find("timeout: the message is still sent after 100ms (--wait delivered)"), std::string::npos)
      << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  // --wait sent is reached as soon as the message is in the lane.
  const Output sent = send("bob", {"--expiry", "30s", "--wait", "sent", "--timeout", "0"}, "y");
  EXPECT_EQ(sent.status, 0) << sent.err;
  EXPECT_TRUE(sent.out.ends_with(" sent\n")) << sent.out;
}

TEST_F(CliTest, sendWaitEndsWithAnErrorStatus) {
  add_endpoint("bob");
  Child sender({"send", bus_, "--from", "alice", "--to", "bob", "--id", "9", "--expiry", "30s", "--wait", "delivered",
                "--timeout", "10s", "x"});
  bool waiting = false;
  for (const auto deadline = Clock::now() + patience; !waiting && Clock::now() < deadline;)
    waiting = endpoint_stat("bob").find("\"waiting_total\":1") != std::string::npos;
  ASSERT_TRUE(waiting);
  ASSERT_EQ(run({"endpoint", "rm", bus_, "bob"}).status, 0);  // tracked messages waiting for bob: invalid_destination
  const Output s = sender.finish();
  EXPECT_EQ(s.status, 1);
  EXPECT_EQ(s.out, "9 invalid_destination\n");
  EXPECT_NE(s.err.find("ended invalid_destination before it was delivered"), std::string::npos) << s.err;
}

TEST_F(CliTest, recvReadAndNoAckShowInTheSendersStatus) {
  add_endpoint("bob");
  ASSERT_EQ(send("bob", {"--id", "5", "--expiry", "1m"}, "a").status, 0);
  EXPECT_EQ(run({"status", bus_, "--from", "alice", "5"}).out, "sent\n");
  const Output read = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s", "--read"});
  ASSERT_EQ(read.status, 0) << read.err;
  EXPECT_EQ(json_field(read.out, "status"), "\"read\"");
  const Output status = run({"status", bus_, "--from", "alice", "5"});
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_EQ(status.out, "read\n");

  ASSERT_EQ(send("bob", {"--id", "6", "--expiry", "1m"}, "b").status, 0);
  const Output unacked = run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s", "--no-ack"});
  ASSERT_EQ(unacked.status, 0) << unacked.err;
  EXPECT_EQ(json_field(unacked.out, "status"), "\"new\"");
  EXPECT_EQ(run({"status", bus_, "--from", "alice", "6"}).out, "sent\n");  // taken, not acknowledged

  ASSERT_EQ(send("bob", {"--id", "7", "--expiry", "1m"}, "c").status, 0);
  ASSERT_EQ(run({"recv", bus_, "bob", "--count", "1", "--timeout", "10s"}).status, 0);
  EXPECT_EQ(run({"status", bus_, "--from", "alice", "7"}).out, "delivered\n");
  const Output json = run({"status", bus_, "--from", "alice", "7", "--json"});
  EXPECT_EQ(json_field(json.out, "status"), "\"delivered\"");
  EXPECT_EQ(json_field(json.out, "to"), "\"bob\"");
  EXPECT_EQ(json_field(json.out, "group"), "null");
}

TEST_F(CliTest, statusOfAnUnknownMessageOrSenderFails) {
  add_endpoint("bob");
  ASSERT_EQ(send("bob", {"--id", "5", "--expiry", "1m"}, "a").status, 0);
  const Output unknown = run({"status", bus_, "--from", "alice", "12345"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_NE(unknown.err.find("no status of message 12345 from 'alice'"), std::string::npos) << unknown.err;
  EXPECT_EQ(std::count(unknown.err.begin(), unknown.err.end(), '\n'), 1) << unknown.err;
  const Output other = run({"status", bus_, "--from", "bob", "5"});  // the id, but another sender
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("no status of message 5 from 'bob'"), std::string::npos) << other.err;
  const Output nobody = run({"status", bus_, "--from", "nobody", "5"});
  EXPECT_EQ(nobody.status, 1);
  EXPECT_NE(nobody.err.find("no endpoint named 'nobody'"), std::string::npos) << nobody.err;
}

TEST_F(CliTest, sweepReportsMessagesThatExpiredInALane) {
  add_endpoint("bob");
  ASSERT_EQ(send("bob", {"--id", "3", "--expiry", "1ms"}, "short-lived").status, 0);
  // Poll until the expiry has passed and the sweep has found it.
  Output swept;
  for (const auto deadline = Clock::now() + patience; Clock::now() < deadline;)
    if ((swept = run({"sweep", bus_})).out != "expired 0 retired 0\n") break;
  EXPECT_EQ(swept.status, 0) << swept.err;
  EXPECT_EQ(swept.out, "expired 1 retired 0\n");
  EXPECT_EQ(run({"status", bus_, "--from", "alice", "3"}).out, "expired\n");
  EXPECT_EQ(run({"sweep", bus_}).out, "expired 0 retired 0\n");  // reported once
  EXPECT_EQ(run({"sweep", bus_ + "-none"}).status, 1);           // does not create a bus
}

TEST_F(CliTest, statShowsTrackedTrafficCountersTrackerAndGroups) {
  create({"--tracker-capacity", "128", "--max-groups", "4"});
  const Output created = run({"group", "add", bus_, "team", "bob", "carol"});
  ASSERT_EQ(created.status, 0) << created.err;
  ASSERT_EQ(send("bob", {"--id", "1", "--expiry", "1m"}, "a").status, 0);
  ASSERT_EQ(send("bob", {"--id", "1", "--expiry", "1m"}, "a").status, 0);  // a duplicate
  ASSERT_EQ(run({"send", bus_, "--from", "alice", "--group", "team", "--expiry", "1m", "b"}).status, 0);
  ASSERT_EQ(run({"recv", bus_, "bob", "--count", "2", "--timeout", "10s", "--read"}).status, 0);

  const Output json = run({"stat", bus_, "--json"});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_NE(json.out.find("\"max_groups\":4"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"tracker_capacity\":128"), std::string::npos) << json.out;
  // Entries: alice's id 1, and the group send's total and one per member.
  EXPECT_NE(json.out.find("\"tracker\":{\"used\":4,\"capacity\":128,\"full_events\":0,\"retired\":0}"),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"groups\":[{\"name\":\"team\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"member_count\":2,\"members\":[\"bob\",\"carol\"]"), std::string::npos) << json.out;
  const std::string alice = endpoint_stat("alice");
  for (const char* counter : {"\"sent\":3", "\"duplicates\":1", "\"tracker_full\":0", "\"status_dropped\":0"})
    EXPECT_NE(alice.find(counter), std::string::npos) << counter << " in " << alice;
  const std::string bob = endpoint_stat("bob");
  for (const char* counter : {"\"received\":2", "\"delivered\":2", "\"read\":2", "\"expired\":0", "\"full\":0"})
    EXPECT_NE(bob.find(counter), std::string::npos) << counter << " in " << bob;
  EXPECT_NE(endpoint_stat("carol").find("\"delivered\":0"), std::string::npos);

  const Output table = run({"stat", bus_});
  ASSERT_EQ(table.status, 0) << table.err;
  for (const char* text :
       {"DELIVERED", "READ", "SENDER", "SENT", "DUPLICATES", "TRACKER_FULL", "STATUS_DROPPED",
        "tracker:        4 of 128 entries used, 0 full events, 0 retired", "GROUP", "team         2  bob carol"})
    EXPECT_NE(table.out.find(text), std::string::npos) << text << " in\n" << table.out;
}

// ------------------------------------------------------------ bad arguments

TEST_F(CliTest, badArgumentsExitWith2AndNameTheArgument) {
  const std::string b = bus_;
  const UsageCase cases[] = {
      {{"send", b, "--from", "a", "--to", "b", "--priority", "16", "x"}, "courier: --priority: must be 0..15, got 16"},
      {{"send", b, "--from", "a", "--to", "b", "--expiry", "10parsecs", "x"}, "courier: --expiry: bad duration"},
      {{"send", b, "--from", "a", "--to", "b", "--expiry", "10", "x"}, "--expiry: bad duration '10': missing unit"},
      {{"send", b, "--from", "a", "--to", "b", "--timeout", "-1s", "x"}, "--timeout: bad duration"},
      {{"send", b, "--from", "a", "--to", "b", "--type", "seven", "x"}, "--type: not a non-negative integer"},
      {{"send", b, "--from", "a", "--to", "b", "--type", "4294967296", "x"}, "--type: must be"},
      {{"send", b, "--from", "a", "--to", "b", "--id", "-1", "x"}, "--id: not a non-negative integer"},
      {{"send", "a/b", "--from", "a", "--to", "b", "x"}, "BUS 'a/b': bus name has a character outside"},
      {{"send", "..", "--from", "a", "--to", "b", "x"}, "BUS '..': bus name may not be"},
      {{"stat", std::string(65, 'n')}, "longer than 64"},
      {{"send", b, "--from", "a b", "--to", "b", "x"}, "--from 'a b': endpoint name has a character outside"},
      {{"send", b, "--from", "a", "--to", "b/c", "x"}, "--to 'b/c': endpoint name"},
      {{"recv", b, "x/y"}, "NAME 'x/y': endpoint name"},
      {{"send", b, "--to", "b", "x"}, "--from: required"},
      {{"send", b, "--from", "a", "--to", "b", "--bogus", "x"}, "--bogus: unknown option"},
      {{"send", b, "--from", "a", "--to", "b", "--priority"}, "--priority: missing value"},
      {{"send", b, "--from", "a", "--to", "b", "--priority", "1", "--priority", "2"},
       "--priority: given more than once"},
      {{"send", b, "--from", "a", "--to", "b", "x", "y"}, "send: unexpected argument 'y'"},
      {{"stat", b, "--count", "1"}, "--count: not an option of 'stat'"},
      {{"stat", b, "--json=yes"}, "--json: takes no value"},
      {{"recv", b}, "recv: missing NAME"},
      {{"recv", b, "bob", "--count", "0"}, "--count: must be at least 1, got 0"},
      {{"endpoint", "add", b, "x", "--lane-capacity", "5000"}, "--lane-capacity: must be a power of two"},
      {{"endpoint", "add", b, "x", "--lane-capacity", "4 KiB"}, "--lane-capacity: not a size"},
      {{"endpoint", "add", b, "x", "--max-payload", "1GiB"}, "--max-payload: must fit in half a lane"},
      {{"endpoint", "add", b, "x", "--max-endpoints", "0"}, "--max-endpoints: must be 1..4096, got 0"},
      {{"endpoint", "add", b, "x", "--claim-timeout", "2h"}, "--claim-timeout: must be 1ms..1h"},
      {{"endpoint", "frob", b, "x"}, "endpoint: unknown subcommand 'frob'"},
      {{"frob", b}, "unknown command 'frob'"},
      {{"send", b, "-p", "3"}, "-p: unknown option"},
      {{"help", "frob"}, "help: unknown command 'frob'"},
      {{"send", b, "--from", "a", "--to", "b", "--group", "g", "x"}, "--to, --group: give one of them, not both"},
      {{"send", b, "--from", "a", "x"}, "--to or --group: required"},
      {{"send", b, "--from", "a", "--group", "g/h", "x"}, "--group 'g/h': group name has a character outside"},
      {{"send", b, "--from", "a", "--to", "b", "--id", "3", "--wait", "bogus", "x"},
       "--wait: must be sent, delivered or read, got 'bogus'"},
      {{"send", b, "--from", "a", "--to", "b", "--id", "3", "--wait", "expired", "x"}, "--wait: must be"},
      {{"send", b, "--from", "a", "--to", "b", "--wait", "delivered", "x"},
       "--wait needs a tracked message: give --expiry or --id"},
      {{"send", b, "--from", "a", "--to", "b", "--id", "3", "--wait", "read", "--timeout", "1", "x"},
       "--timeout: bad duration"},
      {{"recv", b, "bob", "--wait", "read"}, "--wait: not an option of 'recv'"},
      {{"status", b, "--from", "a", "abc"}, "ID: not a positive integer: 'abc'"},
      {{"status", b, "--from", "a", "0"}, "ID: not a positive integer: '0'"},
      {{"status", b, "--from", "a", "-5"}, "-5: unknown option"},
      {{"status", b, "5"}, "--from: required"},
      {{"status", b, "--from", "a"}, "status: missing ID"},
      {{"group", "add", b, "team"}, "group add: missing MEMBER"},
      {{"group", "add", b, "te/am", "x"}, "GROUP 'te/am': group name"},
      {{"group", "add", b, "team", "x", "y/z"}, "MEMBER 'y/z': endpoint name"},
      {{"group", "add", b, "team", "x", "--max-groups", "5000"}, "--max-groups: must be 0..4096, got 5000"},
      {{"group", "add", b, "team", "x", "--tracker-capacity", "100"}, "--tracker-capacity: must be a power of two"},
      {{"group", "add", b, "team", "x", "--tracker-capacity", "32"}, "--tracker-capacity: must be 64..67108864"},
      {{"group", "add", b, "team", "x", "--max-group-members", "0"}, "--max-group-members: must be 1..4096"},
      {{"group", "ls", b, "--long"}, "--long: not an option of 'group ls'"},
      {{"group", "frob", b}, "group: unknown subcommand 'frob'"},
      {{"group"}, "group: missing subcommand"},
      {{"sweep", b, "extra"}, "sweep: unexpected argument 'extra'"},
  };
  expect_usage_errors(cases);
  EXPECT_EQ(run({"stat", bus_}).status, 1);  // none of them created the bus
}

TEST_F(CliTest, helpAndVersion) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"}, {"help"}}) {
    const Output o = run(args);
    EXPECT_EQ(o.status, 0);
    EXPECT_TRUE(o.out.starts_with("usage: courier")) << o.out;
    for (const char* cmd :
         {"send BUS", "recv BUS NAME", "endpoint add", "endpoint rm", "endpoint ls", "stat BUS", "rm BUS",
          "status BUS --from NAME ID", "group add BUS GROUP MEMBER", "group rm BUS GROUP", "group ls BUS", "sweep BUS",
          "--group GROUP", "--wait sent|delivered|read", "--no-ack", "--read", "--max-groups", "--tracker-capacity"})
      EXPECT_NE(o.out.find(cmd), std::string::npos) << cmd;
  }
  const Output group = run({"help", "group"});
  EXPECT_EQ(group.status, 0);
  for (const char* cmd : {"group add", "group rm", "group ls"})
    EXPECT_NE(group.out.find(cmd), std::string::npos) << cmd;
  EXPECT_EQ(group.out.find("  endpoint add BUS"), std::string::npos);
  const Output one = run({"help", "recv"});
  EXPECT_EQ(one.status, 0);
  EXPECT_TRUE(one.out.starts_with("  recv BUS NAME")) << one.out;
  EXPECT_TRUE(run({"send", "-h"}).out.starts_with("  send BUS")) << run({"send", "-h"}).out;
  const Output endpoint = run({"endpoint", "--help"});
  EXPECT_EQ(endpoint.status, 0);
  for (const char* cmd : {"endpoint add", "endpoint rm", "endpoint ls"})
    EXPECT_NE(endpoint.out.find(cmd), std::string::npos) << cmd;
  const Output version = run({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_TRUE(version.out.starts_with("courier ")) << version.out;
  const Output none = run({});
  EXPECT_EQ(none.status, 2);
  EXPECT_TRUE(none.err.starts_with("usage: courier COMMAND")) << none.err;  // the commands, not a complaint
  EXPECT_EQ(none.out, "");
}

// ------------------------------------------------------------ endpoints, stat, rm

TEST_F(CliTest, commandsThatOnlyLookDoNotCreateAMissingBus) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"stat", bus_},
                                               {"stat", bus_, "--json"},
                                               {"endpoint", "ls", bus_},
                                               {"endpoint", "rm", bus_, "bob"},
                                               {"rm", bus_}}) {
    const Output o = run(args);
    EXPECT_EQ(o.status, 1) << args[0];
    EXPECT_NE(o.err.find("no bus named '" + bus_ + "'"), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  }
  EXPECT_EQ(run({"stat", bus_}).status, 1);
}

TEST_F(CliTest, endpointsAreAddedListedAndRemoved) {
  add_endpoint("alice");
  add_endpoint("bob");
  // Adding an endpoint that exists does nothing, and a note says so (issue 12).
  const Output again = run({"endpoint", "add", bus_, "alice"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;

  std::vector<std::string> names = lines_of(run({"endpoint", "ls", bus_}).out);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob"}));

  EXPECT_EQ(run({"endpoint", "rm", bus_, "alice"}).status, 0);
  EXPECT_EQ(run({"endpoint", "ls", bus_}).out, "bob\n");
  const Output gone = run({"endpoint", "rm", bus_, "alice"});
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("no endpoint named 'alice'"), std::string::npos) << gone.err;

  const std::vector<std::string> table = lines_of(run({"endpoint", "ls", bus_, "--long"}).out);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_TRUE(table[0].starts_with("NAME")) << table[0];
  EXPECT_TRUE(table[1].starts_with("bob ")) << table[1];
}

TEST_F(CliTest, endpointWithAReceiverCannotBeRemoved) {
  create();
  Child receiver({"recv", bus_, "bob", "--timeout", "10s"});
  ASSERT_TRUE(wait_receiver("bob"));
  const Output o = run({"endpoint", "rm", bus_, "bob"});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("has a receiver attached"), std::string::npos) << o.err;
  receiver.signal(SIGTERM);
  EXPECT_EQ(receiver.finish().status, 0);
  EXPECT_EQ(run({"endpoint", "rm", bus_, "bob"}).status, 0);
}

TEST_F(CliTest, statShowsGeometryWaitingMessagesAndCounters) {
  // Options before the command are the bus's geometry when it is created.
  const Output created = run({"--lane-capacity", "64K", "--max-payload", "1KiB", "--max-endpoints", "8",
                              "--claim-timeout", "50ms", "create", bus_});
  ASSERT_EQ(created.status, 0) << created.err;
  add_endpoint("bob");
  ASSERT_EQ(send("bob", {"--expiry", "1m", "--priority", "2"}, "x").status, 0);
  ASSERT_EQ(send("bob", {"--expiry", "1m", "--priority", "2"}, "y").status, 0);
  ASSERT_EQ(send("bob", {"--expiry", "1m", "--priority", "9"}, "z").status, 0);

  const Output json = run({"stat", bus_, "--json"});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_EQ(lines_of(json.out).size(), 1u);
  EXPECT_NE(json.out.find("\"geometry\":{\"max_endpoints\":8,\"lane_capacity\":65536,\"max_payload\":1024,"
                          "\"claim_timeout_ns\":50000000,\"max_groups\":16,\"max_group_members\":64,"
                          "\"tracker_capacity\":65536,"),
            std::string::npos)
      << json.out;
  const std::string bob = endpoint_stat("bob");
  EXPECT_NE(bob.find("\"waiting_total\":3,\"waiting\":[0,0,2,0,0,0,0,0,0,1,0,0,0,0,0,0]"), std::string::npos) << bob;
  EXPECT_NE(bob.find("\"receiver_attached\":false,\"receiver_pid\":null"), std::string::npos) << bob;

  const Output table = run({"stat", bus_});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("lane capacity:  64 KiB"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("p2:2 p9:1"), std::string::npos) << table.out;
  for (const char* column :
       {"ENDPOINT", "RECEIVER", "RECEIVED", "EXPIRED", "STALE", "REVOKED", "CORRUPT", "REDELIVERED", "FULL", "OFFLINE"})
    EXPECT_NE(table.out.find(column), std::string::npos) << column;

  // A setting given for an existing bus of another geometry is refused, naming both values (issue 12 item 1).
  const Output later = run({"endpoint", "add", bus_, "carol", "--lane-capacity", "1MiB"});
  EXPECT_EQ(later.status, 1) << later.err;
  EXPECT_NE(later.err.find("was created with lane_capacity 65536; this open asks for 1048576"), std::string::npos)
      << later.err;
}

TEST_F(CliTest, rmRemovesTheBus) {
  add_endpoint("bob");
  const Output rm = run({"rm", bus_});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(run({"stat", bus_}).status, 1);
  const Output again = run({"rm", bus_});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("no bus named"), std::string::npos) << again.err;
}

}  // namespace
