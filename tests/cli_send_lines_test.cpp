// Tests of `courier send --lines` (issue 12 item 3): one message per line of
// stdin, pipelined, with --wait following every message's status. The real
// binary (COURIER_CLI_PATH) runs as child processes: senders and receivers.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_support.hpp"
#include "support.hpp"

namespace {

using namespace courier::test::cli;

class CliSendLinesTest : public ::testing::Test {
 protected:
  // `courier create BUS EXTRA...`, then `courier endpoint add BUS bob`.
  void create(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"create", bus(), "--max-endpoints", "8", "--lane-capacity", "1MiB"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Output o = run(args);
    ASSERT_EQ(o.status, 0) << o.err;
    ASSERT_EQ(run({"endpoint", "add", bus(), "bob"}).status, 0);
  }

  // `courier send BUS --from FROM --to bob --lines EXTRA...` with `input` on stdin.
  Output send_lines(const std::string& from, std::vector<std::string> extra, std::string_view input) {
    std::vector<std::string> args{"send", bus(), "--from", from, "--to", "bob", "--lines"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, input);
  }

  // bob's object in `courier stat --json`.
  std::string bob_stat() {
    const Output o = run({"stat", bus(), "--json"});
    const std::size_t at = o.out.find("{\"name\":\"bob\"");
    return at == std::string::npos ? std::string() : o.out.substr(at, o.out.find('}', at) + 1 - at);
  }

  const std::string& bus() const { return bus_.name; }
  courier::test::BusName bus_{courier::test::unique_bus_name("cli-lines")};
};

// "<id> <status>" lines: the ids, each line checked to end in `status`.
std::vector<std::uint64_t> ids_with(const std::string& out, const std::string& status) {
  std::vector<std::uint64_t> ids;
  for (const std::string& l : lines_of(out)) {
    EXPECT_EQ(l.substr(l.find(' ') + 1), status) << l;
    ids.push_back(std::stoull(l.substr(0, l.find(' '))));
  }
  return ids;
}

std::string numbered(const std::string& prefix, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += prefix + std::to_string(i) + "\n";
  return s;
}

TEST_F(CliSendLinesTest, tenThousandLinesArriveCompleteAndInOrderPerPriority) {
  create();
  Child receiver({"recv", bus(), "bob", "--count", "10000", "--timeout", "60s"});
  const Output a = send_lines("alice", {"--priority", "2", "--expiry", "1m"}, numbered("a", 5000));
  const Output c = send_lines("carol", {"--priority", "9", "--expiry", "1m"}, numbered("c", 5000));
  for (const Output* o : {&a, &c}) {
    EXPECT_EQ(o->status, 0) << o->err;
    EXPECT_EQ(o->err, "");
    const std::vector<std::uint64_t> ids = ids_with(o->out, "sent");
    EXPECT_EQ(ids.size(), 5000u);
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));  // without --wait: in line order, ids growing
    EXPECT_EQ(std::set<std::uint64_t>(ids.begin(), ids.end()).size(), ids.size());
  }
  const Output r = receiver.finish();
  ASSERT_EQ(r.status, 0) << r.err;
  std::map<std::pair<std::string, std::string>, int> next;  // (from, priority) -> the next line expected
  for (const std::string& l : lines_of(r.out)) {
    const std::string from = json_field(l, "from"), priority = json_field(l, "priority");
    const std::string prefix = from == "\"alice\"" ? "a" : "c";
    EXPECT_EQ(priority, from == "\"alice\"" ? "2" : "9") << l;
    int& n = next[{from, priority}];
    EXPECT_EQ(json_field(l, "data"), "\"" + prefix + std::to_string(n) + "\"") << l;
    ++n;
  }
  EXPECT_EQ((next[{"\"alice\"", "2"}]), 5000);
  EXPECT_EQ((next[{"\"carol\"", "9"}]), 5000);
}

TEST_F(CliSendLinesTest, waitDeliveredAndWaitReadPrintEveryMessageOnce) {
  create();
  for (const std::string status : {"delivered", "read"}) {
    std::vector<std::string> recv{"recv", bus(), "bob", "--count", "300", "--timeout", "60s"};
    if (status == "read") recv.push_back("--read");
    Child receiver(recv);
    Output r;
    std::thread drain([&] { r = receiver.finish(); });  // read as it writes: it acknowledges once written
    const Output o = send_lines("alice", {"--expiry", "1m", "--wait", status}, numbered("m", 300));
    drain.join();
    EXPECT_EQ(o.status, 0) << status << ": " << o.err;
    EXPECT_EQ(o.err, "");
    std::vector<std::uint64_t> ids = ids_with(o.out, status);
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::uint64_t> received;
    for (const std::string& l : lines_of(r.out)) received.push_back(std::stoull(json_id(l)));
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, received) << status;  // each message once, and the ones bob got
  }
}

TEST_F(CliSendLinesTest, aSenderRefusedTheStatusRingAsksTheBusAndSeesEveryStatus) {
  create();
  ASSERT_EQ(run({"endpoint", "add", bus(), "carol"}).status, 0);
  // The first sender as alice waits for carol, who has no receiver yet: it
  // holds alice's status ring meanwhile.
  Child first({"send", bus(), "--from", "alice", "--to", "carol", "--lines", "--expiry", "1m", "--wait", "delivered"});
  Output o1;
  std::thread first_done([&] { o1 = first.finish("for carol\n"); });
  bool waiting = false;
  for (const auto deadline = Clock::now() + patience; !waiting && Clock::now() < deadline;) {
    const Output st = run({"stat", bus(), "--json"});
    waiting = st.out.find("{\"name\":\"carol\"") != std::string::npos &&
              st.out.find("\"waiting_total\":1,", st.out.find("{\"name\":\"carol\"")) != std::string::npos;
  }
  ASSERT_TRUE(waiting);

  Child receiver({"recv", bus(), "bob", "--count", "200", "--timeout", "60s"});
  Output r;
  std::thread drain([&] { r = receiver.finish(); });  // read as it writes: it acknowledges once written
  const Output o2 = send_lines("alice", {"--expiry", "1m", "--wait", "delivered"}, numbered("y", 200));
  drain.join();
  EXPECT_EQ(o2.status, 0) << o2.err;
  EXPECT_EQ(ids_with(o2.out, "delivered").size(), 200u);
  EXPECT_NE(o2.err.find("following statuses by asking the bus instead"), std::string::npos) << o2.err;
  EXPECT_EQ(r.status, 0) << r.err;

  EXPECT_EQ(run({"recv", bus(), "carol", "--count", "1", "--timeout", "10s"}).status, 0);
  first_done.join();
  EXPECT_EQ(o1.status, 0) << o1.err;
  EXPECT_EQ(ids_with(o1.out, "delivered").size(), 1u);
}

TEST_F(CliSendLinesTest, aMessageShortOfTheStatusAtItsTimeoutIsPrintedWithItsLastStatusAndStopsReading) {
  create();  // and no receiver: nothing is delivered
  // More lines than it follows at once (the window): it is still reading when the first times out.
  const Output o =
      send_lines("alice", {"--expiry", "1m", "--wait", "delivered", "--timeout", "1s"}, numbered("", 5000));
  EXPECT_EQ(o.status, 1);
  const std::vector<std::uint64_t> ids = ids_with(o.out, "sent");  // the last status of each
  ASSERT_GE(ids.size(), 1u);
  EXPECT_LT(ids.size(), 5000u);
  EXPECT_NE(o.err.find("messages did not reach delivered: " + std::to_string(ids.size()) +
                       " still short of it after --timeout 1s"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("so reading stopped; lines from " + std::to_string(ids.size() + 1) + " on were not sent\n"),
            std::string::npos)
      << o.err;
}

TEST_F(CliSendLinesTest, aRefusedLineIsNamedAndStopsReading) {
  create();  // a real-time message to bob, who has no receiver: offline
  const Output o = send_lines("alice", {"--id", "500"}, "1\n2\n");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "500 offline\n");
  EXPECT_TRUE(o.err.starts_with("courier: line 1: not sent (offline): 'bob' has no receiver attached")) << o.err;
  EXPECT_NE(o.err.find("; lines from 1 on were not sent\n"), std::string::npos) << o.err;
}

TEST_F(CliSendLinesTest, aLineLongerThanMaxPayloadIsNamedAndNothingFromItOnIsSent) {
  create({"--max-payload", "1KiB"});
  const std::string input = std::string(1024, 'x') + "\n" + std::string(1025, 'y') + "\nz\n";
  const Output o = send_lines("alice", {"--expiry", "1m"}, input);
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(ids_with(o.out, "sent").size(), 1u);  // exactly max_payload is a message
  EXPECT_EQ(o.err, "courier: line 2: longer than the bus's max_payload (1024 bytes); lines from 2 on were not sent\n");
  EXPECT_NE(bob_stat().find("\"waiting_total\":1,"), std::string::npos) << bob_stat();
}

TEST_F(CliSendLinesTest, emptyLinesAndALastLineWithoutNewlineAreMessages) {
  create();
  const Output o = send_lines("alice", {"--expiry", "1m"}, "a\n\nc");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ids_with(o.out, "sent").size(), 3u);
  const Output r = run({"recv", bus(), "bob", "--count", "3", "--timeout", "10s"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> got = lines_of(r.out);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(json_field(got[0], "data"), "\"a\"");
  EXPECT_EQ(json_field(got[1], "data"), "\"\"");
  EXPECT_EQ(json_field(got[2], "data"), "\"c\"");

  const Output none = send_lines("alice", {"--expiry", "1m", "--wait", "sent"}, "");
  EXPECT_EQ(none.status, 0) << none.err;
  EXPECT_EQ(none.out, "");
}

TEST_F(CliSendLinesTest, idGivesEachLineItsOwnAndARerunIsNotEnqueuedAgain) {
  create();
  const Output first = send_lines("alice", {"--expiry", "1m", "--id", "1000"}, "a\nb\nc\n");
  EXPECT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.out, "1000 sent\n1001 sent\n1002 sent\n");
  const Output again = send_lines("alice", {"--expiry", "1m", "--id", "1000"}, "a\nb\nc\n");
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, "1000 sent\n1001 sent\n1002 sent\n");
  EXPECT_EQ(again.err, "courier: note: 3 of the lines were duplicates of earlier sends: not enqueued again\n");
  EXPECT_NE(bob_stat().find("\"waiting_total\":3,"), std::string::npos) << bob_stat();
}

TEST_F(CliSendLinesTest, aClosedStdoutStopsReading) {
  create();
  Child sender({"send", bus(), "--from", "alice", "--to", "bob", "--lines", "--expiry", "1m"});
  sender.close_stdout();
  const Output o = sender.finish("1\n2\n3\n");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(o.err.starts_with("courier: writing to stdout: Broken pipe, so reading stopped; lines from ")) << o.err;
}

TEST_F(CliSendLinesTest, linesWithDataOrWithoutATrackedMessageForWaitIsAUsageError) {
  create();
  const UsageCase cases[] = {
      {{"send", bus(), "--from", "a", "--to", "bob", "--lines", "hello"},
       "--lines: the messages are the lines of stdin"},
      {{"send", bus(), "--from", "a", "--to", "bob", "--lines", "-"}, "no DATA or '-' with it (got '-')"},
      {{"send", bus(), "--from", "a", "--to", "bob", "--lines", "--wait", "read"}, "--wait needs a tracked message"},
      {{"send", bus(), "--from", "a", "--to", "bob", "--lines=yes"}, "--lines: takes no value"},
  };
  expect_usage_errors(cases);
}

TEST_F(CliSendLinesTest, aMissingBusIsRefusedAndNothingIsRead) {
  const Output o = run({"send", bus(), "--from", "a", "--to", "bob", "--lines"}, "1\n");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_TRUE(o.err.starts_with("courier: no bus named '" + bus() + "' on this host")) << o.err;
}

}  // namespace
