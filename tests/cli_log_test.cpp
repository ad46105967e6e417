// Tests of the `courier` command line with a durable log (issue 4): --log and
// --sync on the commands that open a bus, rm --purge, recover, and
// log stat|dump|verify. The real binary (COURIER_CLI_PATH) runs as child
// processes, on a bus and a log directory of its own per test.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "courier/bus.hpp"
#include "courier/detail/log_format.hpp"
#include "courier/endpoint.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace courier::test::cli;

// A JSON string field without its quotes (the CLI's paths and names need no escapes).
std::string json_text(const std::string& line, const std::string& key) {
  const std::string v = json_field(line, key);
  return v.size() >= 2 && v.front() == '"' ? v.substr(1, v.size() - 2) : v;
}

// Where a record lies, from a line of `courier log dump`.
struct Place {
  std::string file;
  std::uint64_t offset = 0, length = 0;  // length: of the body
};

void flip_byte(const std::string& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0xFF));
  ASSERT_TRUE(f) << file << " at " << offset;
}

class CliLogTest : public ::testing::Test {
 protected:
  CliLogTest() {
    std::string tmpl = (fs::temp_directory_path() / "courier-cli-log-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    log_ = tmpl;
  }
  ~CliLogTest() override {
    std::error_code ec;
    fs::remove_all(log_, ec);
  }

  const std::string& bus() const { return bus_.name; }
  // LOG_DIR/BUS: where the bus's journals are.
  std::string journals() const { return log_ + "/" + bus(); }

  // `courier ARGS... --log LOG_DIR`.
  Output courier(std::vector<std::string> args, std::string_view input = {}) {
    args.insert(args.end(), {"--log", log_});
    return run(args, input);
  }

  // `courier send BUS --from alice --to bob --expiry 10m --sync always EXTRA... [DATA]`: its id.
  std::string send(const std::string& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"send", bus(),      "--from", "alice",  "--to",
                                  "bob",  "--expiry", "10m",    "--sync", "always"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(data);
    const Output o = courier(args);
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(o.out.ends_with(" sent\n")) << o.out;
    return o.out.substr(0, o.out.find(' '));
  }

  // `courier endpoint add BUS bob --log DIR`, after `courier create BUS --log
  // DIR` when the bus does not exist yet (only create makes a bus).
  void add_bob() {
    if (!courier::Bus::exists(bus())) {
      const Output created = courier({"create", bus(), "--sync", "always"});  // the sync policy send() names
      ASSERT_EQ(created.status, 0) << created.err;
    }
    const Output o = courier({"endpoint", "add", bus(), "bob"});
    ASSERT_EQ(o.status, 0) << o.err;
  }

  // `courier log BUS ACTION --log DIR EXTRA...`.
  Output log(const std::string& action, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"log", bus(), action};
    args.insert(args.end(), extra.begin(), extra.end());
    return courier(args);
  }

  // The bus opened in the test process with its log (Sync::always): a
  // journal writer of its own, alive while the result lives. No housekeeping:
  // its compaction would delete settled files (the CLI's name-only ones)
  // while the test compares the directory with what `log` reported.
  courier::Result<courier::Bus> open_in_this_process() {
    courier::Options o;
    o.create = false;
    o.log_dir = log_;
    o.sync = courier::Sync::always;
    o.housekeeping_interval = std::chrono::milliseconds(0);
    return courier::Bus::open(bus(), o);
  }

  // Bob's object in `courier stat --json`, or "".
  std::string bob_stat() {
    const Output o = run({"stat", bus(), "--json"});
    const std::size_t at = o.out.find("{\"name\":\"bob\"");
    if (o.status != 0 || at == std::string::npos) return {};
    return o.out.substr(at, o.out.find('}', at) + 1 - at);
  }

  // Every record, from `courier log dump`, by file in file order.
  std::map<std::string, std::vector<Place>> records_by_file() {
    const Output o = log("dump");
    EXPECT_EQ(o.status, 0) << o.err;
    std::map<std::string, std::vector<Place>> files;
    for (const std::string& l : lines_of(o.out))
      files[json_text(l, "file")].push_back(
          Place{json_text(l, "file"), json_number(l, "offset"), json_number(l, "length")});
    return files;
  }

  bool has_segments() const {
    if (!fs::exists(journals())) return false;
    for (const fs::directory_entry& e : fs::directory_iterator(journals()))
      if (e.path().extension() == ".journal") return true;
    return false;
  }

  courier::test::BusName bus_{courier::test::unique_bus_name("cli-log")};
  std::string log_;
};

// ------------------------------------------------------------ bad arguments

TEST_F(CliLogTest, badLogArgumentsExitWith2AndNameTheArgument) {
  const std::string b = bus(), d = log_;
  const UsageCase cases[] = {
      {{"send", b, "--from", "a", "--to", "b", "--sync", "always", "x"}, "--sync: needs --log DIR"},
      {{"recv", b, "bob", "--sync", "os"}, "--sync: needs --log DIR"},
      {{"send", b, "--from", "a", "--to", "b", "--log", d, "--sync", "sometimes", "x"},
       "--sync: must be always, group or os, got 'sometimes'"},
      {{"recover", b, "--log", d, "--sync", "never"}, "--sync: must be always, group or os, got 'never'"},
      {{"recv", b, "bob", "--log="}, "--log: empty"},
      {{"rm", b, "--purge"}, "--purge: needs --log DIR"},
      {{"rm", b, "--log", d}, "--log: rm keeps the journals (as a reboot would); add --purge"},
      {{"rm", b, "--log", d, "--purge", "--sync", "os"}, "--sync: not an option of 'rm'"},
      {{"send", b, "--from", "a", "--to", "b", "--purge", "x"}, "--purge: not an option of 'send'"},
      {{"recover", b}, "--log: required by 'recover'"},
      {{"recover", b, "--log", d, "extra"}, "recover: unexpected argument 'extra'"},
      {{"log", b, "stat"}, "--log: required by 'log'"},
      {{"log", b, "--log", d}, "log: missing ACTION"},
      {{"log", b, "frob", "--log", d}, "log: unknown action 'frob' (stat, dump or verify)"},
      {{"log", "a/b", "stat", "--log", d}, "BUS 'a/b': bus name has a character outside"},
      {{"log", b, "verify", "--log", d, "--sync", "always"}, "--sync: not an option of 'log'"},
      {{"log", b, "stat", "--log", d, "--count", "1"}, "--count: not an option of 'log'"},
  };
  expect_usage_errors(cases);
  EXPECT_EQ(run({"stat", bus()}).status, 1);  // none of them created the bus
  EXPECT_FALSE(fs::exists(journals()));       // nor its log
}

TEST_F(CliLogTest, helpNamesTheLogOptionsAndCommands) {
  const Output o = run({"--help"});
  EXPECT_EQ(o.status, 0);
  for (const char* s : {"--log DIR", "--sync always|group|os", "recover BUS --log DIR", "log BUS --log DIR",
                        "rm BUS [--log DIR --purge]", "verify", "data_b64"})
    EXPECT_NE(o.out.find(s), std::string::npos) << s;
  EXPECT_TRUE(run({"help", "log"}).out.starts_with("  log BUS")) << run({"help", "log"}).out;
}

TEST_F(CliLogTest, logAndRecoverOfABusWithoutJournalsFail) {
  for (const char* action : {"stat", "dump", "verify"}) {
    const Output o = log(action);
    EXPECT_EQ(o.status, 1) << action;
    EXPECT_NE(o.err.find("no journals in '" + journals() + "'"), std::string::npos) << action << ": " << o.err;
  }
  const Output o = courier({"recover", bus()});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("no journals of bus '" + bus() + "' in '" + journals() + "'"), std::string::npos) << o.err;
  EXPECT_EQ(run({"stat", bus()}).status, 1);  // nothing was created
  EXPECT_FALSE(fs::exists(journals()));
}

// ------------------------------------------------------------ send with a log

TEST_F(CliLogTest, sendWithGroupCommitOrOsSaysSentOnceTheBatchIsWritten) {
  // The sync policy is the bus's (issue 12 item 1): one bus per policy; a send
  // that names it and one that names none both use it.
  for (const char* sync : {"group", "os"}) {
    const courier::test::BusName b{courier::test::unique_bus_name(std::string("cli-log-") + sync)};
    ASSERT_EQ(courier({"create", b.name, "--sync", sync}).status, 0) << sync;
    ASSERT_EQ(courier({"endpoint", "add", b.name, "bob"}).status, 0) << sync;
    const Output named =
        courier({"send", b.name, "--from", "alice", "--to", "bob", "--expiry", "1m", "--sync", sync, sync});
    EXPECT_EQ(named.status, 0) << named.err;
    EXPECT_TRUE(named.out.ends_with(" sent\n")) << sync << ": " << named.out;
    const Output sent = run({"send", b.name, "--from", "alice", "--to", "bob", "--expiry", "1m", "default"});
    EXPECT_EQ(sent.status, 0) << sent.err;
    EXPECT_TRUE(sent.out.ends_with(" sent\n")) << sent.out;
    // Each of them is in the log when its send has exited.
    const Output stat = courier({"log", b.name, "stat", "--json"});
    ASSERT_EQ(stat.status, 0) << stat.err;
    EXPECT_EQ(json_number(stat.out, "message"), 2u) << stat.out;
  }
}

// --no-log-direct-io (Options::log_direct_io = false): the command's journal
// goes through the page cache. Without it a synced send's batch is written
// with O_DIRECT, so none of its journal file is cached once it has exited.
TEST_F(CliLogTest, noLogDirectIoWritesTheCommandsJournalThroughThePageCache) {
  if (!courier::test::takes_direct_io(log_)) GTEST_SKIP() << log_ << ": its file system does not take O_DIRECT";
  add_bob();  // --sync always
  const auto journal_set = [&] {
    std::vector<std::string> v;
    for (const fs::directory_entry& e : fs::directory_iterator(journals()))
      if (e.path().extension() == ".journal") v.push_back(e.path().string());
    std::sort(v.begin(), v.end());
    return v;
  };
  for (const bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "default" : "--no-log-direct-io");
    const std::vector<std::string> before = journal_set();
    send(direct ? "direct" : "cached",
         direct ? std::vector<std::string>{} : std::vector<std::string>{"--no-log-direct-io"});
    std::vector<std::string> added;
    for (const std::string& f : journal_set())
      if (!std::binary_search(before.begin(), before.end(), f)) added.push_back(f);
    ASSERT_EQ(added.size(), 1u) << "the send's own journal file";
    const std::uint64_t bytes = fs::file_size(added[0]);
    ASSERT_GT(bytes, 0u);
    const std::size_t pages = (bytes + 4095) / 4096;
    const std::size_t cached = courier::test::resident_pages(added[0], bytes);
    if (direct)
      EXPECT_EQ(cached, 0u) << "of " << pages;
    else
      EXPECT_EQ(cached, pages);
  }
  EXPECT_EQ(run({"send", bus(), "--no-log-direct-io=1", "--from", "a", "--to", "bob", "x"}).status, 2)
      << "a flag takes no value";
}

// ------------------------------------------------------------ log stat, dump, verify

TEST_F(CliLogTest, statDumpAndVerifyReadWhatSendsWrote) {
  add_bob();
  const std::string first = send("first", {"--priority", "2", "--type", "7"});
  const std::string second = send("second");
  const Output binary =
      courier({"send", bus(), "--from", "alice", "--to", "bob", "--expiry", "10m", "--sync", "always", "-"},
              std::string("\x01\xff\x00", 3));
  ASSERT_EQ(binary.status, 0) << binary.err;

  Output stat = log("stat", {"--json"});
  ASSERT_EQ(stat.status, 0) << stat.err;
  EXPECT_EQ(lines_of(stat.out).size(), 1u);
  EXPECT_GE(json_number(stat.out, "segments"), 1u);
  EXPECT_GT(json_number(stat.out, "bytes"), 0u);
  EXPECT_EQ(json_number(stat.out, "message"), 3u);
  EXPECT_EQ(json_number(stat.out, "delivered"), 0u);
  EXPECT_GE(json_number(stat.out, "name"), 2u);  // alice and bob, in each segment that mentions them
  EXPECT_EQ(json_number(stat.out, "damaged"), 0u);
  EXPECT_EQ(json_number(stat.out, "torn"), 0u) << stat.out;
  EXPECT_EQ(json_number(stat.out, "unsettled"), 3u);
  EXPECT_EQ(json_number(stat.out, "unsettled_past_expiry"), 0u);
  const std::string oldest = stat.out.substr(stat.out.find("\"oldest_unsettled\":"));
  EXPECT_EQ(json_id(oldest), first) << stat.out;
  EXPECT_EQ(json_field(oldest, "from"), "\"alice\"");
  EXPECT_EQ(json_field(oldest, "to"), "\"bob\"");

  const Output dump = log("dump");
  ASSERT_EQ(dump.status, 0) << dump.err;
  EXPECT_EQ(dump.err, "");
  std::vector<std::string> messages, names;
  for (const std::string& l : lines_of(dump.out)) {
    EXPECT_EQ(l.front(), '{');
    EXPECT_EQ(l.back(), '}');
    EXPECT_TRUE(json_text(l, "file").starts_with(journals() + "/")) << l;
    const std::string kind = json_text(l, "kind");
    if (kind == "message") messages.push_back(l);
    if (kind == "name") names.push_back(json_text(l, "what") + " " + json_text(l, "name"));
  }
  ASSERT_EQ(messages.size(), 3u) << dump.out;
  const std::string& m = messages[0];  // the first send's segment comes first in name order
  EXPECT_EQ(json_id(m), first);
  EXPECT_EQ(json_field(m, "from"), "\"alice\"");
  EXPECT_EQ(json_field(m, "to"), "\"bob\"");
  EXPECT_EQ(json_field(m, "group"), "null");
  EXPECT_EQ(json_field(m, "group_id"), "0");
  EXPECT_EQ(json_field(m, "priority"), "2");
  EXPECT_EQ(json_field(m, "type"), "7");
  EXPECT_EQ(json_field(m, "payload_len"), "5");
  EXPECT_EQ(json_field(m, "length"), "69");  // the 64-byte header and the payload
  EXPECT_EQ(json_field(m, "data"), "\"first\"");
  EXPECT_EQ(json_number(m, "expires_ns") - json_number(m, "timestamp_ns"), 600'000'000'000ull);
  EXPECT_GE(json_number(m, "offset"), 64u);  // after the segment header
  EXPECT_EQ(json_id(messages[1]), second);
  EXPECT_EQ(json_field(messages[2], "data_b64"), "\"Af8A\"");
  EXPECT_EQ(json_field(messages[2], "data"), "<absent>");
  EXPECT_NE(std::find(names.begin(), names.end(), "endpoint alice"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "endpoint bob"), names.end());

  const Output verify = log("verify");
  EXPECT_EQ(verify.status, 0) << verify.err;
  EXPECT_NE(verify.out.find("no damage"), std::string::npos) << verify.out;

  // A receiver's acknowledgement is a delivered record in its own segment:
  // the message it settles (the highest priority, the first) is no longer unsettled.
  const Output got = courier({"recv", bus(), "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_id(got.out), first);
  stat = log("stat", {"--json"});
  ASSERT_EQ(stat.status, 0) << stat.err;
  EXPECT_EQ(json_number(stat.out, "delivered"), 1u);
  EXPECT_EQ(json_number(stat.out, "unsettled"), 2u);
  EXPECT_EQ(json_id(stat.out.substr(stat.out.find("\"oldest_unsettled\":"))), second) << stat.out;
  const Output settle = log("dump");
  EXPECT_NE(settle.out.find("\"kind\":\"delivered\",\"length\":24,\"id\":\"" + first + "\","), std::string::npos)
      << settle.out;

  // The journals are read without the shared memory.
  ASSERT_EQ(run({"rm", bus()}).status, 0);
  const Output text = log("stat");
  EXPECT_EQ(text.status, 0) << text.err;
  for (const std::string& s : std::vector<std::string>{
           "journals:", "segments:", "message:", "delivered:", "damaged:", "torn:", "unsettled:         2 messages",
           "oldest unsettled:  id " + second + " from 'alice' to 'bob'"})
    EXPECT_NE(text.out.find(s), std::string::npos) << s << "\n" << text.out;
}

// A living writer's journal file is preallocated (fallocate, 8 MiB steps) and
// only cut back to its records when it closes: `log stat` reports the bytes
// written (headers, records), not those zeros (its old "bytes" was the files'
// sizes, 8 MiB here); "file_bytes" keeps the sizes.
TEST_F(CliLogTest, statReportsTheBytesWrittenNotALiveWritersPreallocatedZeros) {
  add_bob();
  auto live = open_in_this_process();  // its writer lives until the end of the test
  ASSERT_TRUE(live) << live.error().message;
  auto alice = live->endpoint("alice");
  ASSERT_TRUE(alice);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(alice->send({.to = courier::peer("bob"), .expiry = std::chrono::minutes(10)}, "live").status,
              courier::Status::sent);

  const Output stat = log("stat", {"--json"});
  ASSERT_EQ(stat.status, 0) << stat.err;
  const auto files = records_by_file();
  std::uint64_t written = 0, sizes = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(journals())) {
    if (e.path().extension() != ".journal") continue;
    const std::uint64_t size = fs::file_size(e.path());
    sizes += size;
    const auto f = files.find(e.path().string());
    written += f == files.end() ? std::min<std::uint64_t>(size, courier::logfmt::file_header_size)
                                : f->second.back().offset +
                                      courier::logfmt::record_span(f->second.back().length);
  }
  ASSERT_GT(sizes, written + (1u << 20)) << "the living writer's file is preallocated";
  EXPECT_EQ(json_number(stat.out, "bytes"), written) << stat.out;
  EXPECT_EQ(json_number(stat.out, "file_bytes"), sizes) << stat.out;
  const Output text = log("stat");
  EXPECT_NE(text.out.find("written, files "), std::string::npos) << text.out;
}

TEST_F(CliLogTest, verifyNamesAFlippedByteAndTakesATornTailForNoDamage) {
  add_bob();
  send("one");
  send("two");
  ASSERT_EQ(courier({"recv", bus(), "bob", "--count", "2", "--timeout", "10s"}).status, 0);

  // A record followed by another in its file: damage in the middle of a segment.
  const std::map<std::string, std::vector<Place>> files = records_by_file();
  const Place* middle = nullptr;
  for (const auto& [file, records] : files)
    if (records.size() >= 2) middle = &records[0];
  ASSERT_NE(middle, nullptr) << "no segment with two records";
  flip_byte(middle->file, middle->offset + 16);  // the first byte of its body: the CRC fails

  Output verify = log("verify");
  EXPECT_EQ(verify.status, 1);
  EXPECT_NE(verify.out.find("damaged: " + middle->file + " at offset " + std::to_string(middle->offset) + ", "),
            std::string::npos)
      << verify.out;
  EXPECT_NE(verify.out.find("CRC"), std::string::npos) << verify.out;
  EXPECT_NE(verify.err.find("1 damaged region in the journals of bus '" + bus() + "'"), std::string::npos)
      << verify.err;
  const Output json = log("verify", {"--json"});
  EXPECT_EQ(json.status, 1);
  EXPECT_EQ(json_number(json.out, "damaged"), 1u) << json.out;
  EXPECT_NE(json.out.find("{\"file\":\"" + middle->file + "\",\"offset\":" + std::to_string(middle->offset) + ","),
            std::string::npos)
      << json.out;
  const Output stat = log("stat", {"--json"});
  EXPECT_EQ(stat.status, 0) << stat.err;
  EXPECT_EQ(json_number(stat.out, "damaged"), 1u) << stat.out;
  const Output dump = log("dump");
  EXPECT_EQ(dump.status, 0) << dump.err;
  EXPECT_NE(dump.err.find("1 damaged region skipped"), std::string::npos) << dump.err;
  EXPECT_EQ(dump.out.find("{\"file\":\"" + middle->file + "\",\"offset\":" + std::to_string(middle->offset) + ","),
            std::string::npos)
      << dump.out;

  flip_byte(middle->file, middle->offset + 16);  // mended
  verify = log("verify");
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;

  // A writer that died in the middle of its last record: a torn tail, cut, not damage.
  const Place& last = files.begin()->second.back();
  fs::resize_file(last.file, last.offset + 16 + last.length / 2);
  verify = log("verify");
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("torn tail: " + last.file + " at offset " + std::to_string(last.offset)), std::string::npos)
      << verify.out;
  EXPECT_NE(verify.out.find("no damage, 1 torn tail (not damage)"), std::string::npos) << verify.out;
  EXPECT_EQ(json_number(log("stat", {"--json"}).out, "torn"), 1u);
}

// ------------------------------------------------------------ rm --purge

TEST_F(CliLogTest, rmPurgeDeletesTheJournalsAndTheSharedMemory) {
  add_bob();
  send("doomed");
  ASSERT_TRUE(has_segments());
  const Output purged = courier({"rm", bus(), "--purge"});
  EXPECT_EQ(purged.status, 0) << purged.err;
  EXPECT_EQ(purged.err, "");
  EXPECT_FALSE(fs::exists(journals()));
  const Output gone = run({"stat", bus()});
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("no bus named"), std::string::npos) << gone.err;

  // rm alone keeps the journals (a reboot); --purge then deletes them, and says
  // the shared memory was gone already.
  add_bob();
  send("kept");
  ASSERT_EQ(run({"rm", bus()}).status, 0);
  EXPECT_TRUE(has_segments());
  const Output after_reboot = courier({"rm", bus(), "--purge"});
  EXPECT_EQ(after_reboot.status, 0) << after_reboot.err;
  EXPECT_NE(after_reboot.err.find("had no shared memory"), std::string::npos) << after_reboot.err;
  EXPECT_FALSE(fs::exists(journals()));

  const Output nothing = courier({"rm", bus(), "--purge"});
  EXPECT_EQ(nothing.status, 1);
  EXPECT_NE(nothing.err.find("no bus named '" + bus() + "'"), std::string::npos) << nothing.err;
  EXPECT_NE(nothing.err.find("and no journals in"), std::string::npos) << nothing.err;
}

// ------------------------------------------------------------ recover

TEST_F(CliLogTest, recoverAfterTheSharedMemoryIsGonePutsTheMessageBackOnce) {
  add_bob();
  const std::string id = send("survivor");
  ASSERT_EQ(run({"rm", bus()}).status, 0);  // the shared memory is gone, as after a reboot

  const Output rec = courier({"recover", bus(), "--json"});
  ASSERT_EQ(rec.status, 0) << rec.err;
  EXPECT_EQ(rec.err, "");  // no progress bar: stderr is not a terminal
  EXPECT_EQ(lines_of(rec.out).size(), 1u);
  EXPECT_EQ(json_field(rec.out, "at_open"), "true") << rec.out;
  EXPECT_EQ(json_number(rec.out, "messages"), 1u) << rec.out;
  EXPECT_EQ(json_number(rec.out, "owed"), 1u) << rec.out;
  EXPECT_EQ(json_number(rec.out, "injected"), 1u) << rec.out;
  EXPECT_EQ(json_number(rec.out, "expired"), 0u) << rec.out;
  EXPECT_EQ(json_number(rec.out, "damaged"), 0u) << rec.out;
  EXPECT_NE(rec.out.find("\"damage\":[]"), std::string::npos) << rec.out;
  EXPECT_NE(bob_stat().find("\"waiting_total\":1,"), std::string::npos) << bob_stat();

  const Output got = courier({"recv", bus(), "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  ASSERT_EQ(lines_of(got.out).size(), 1u) << got.out;
  EXPECT_EQ(json_id(got.out), id);
  EXPECT_EQ(json_field(got.out, "data"), "\"survivor\"");
  EXPECT_NE(bob_stat().find("\"waiting_total\":0,"), std::string::npos) << bob_stat();  // nothing else for bob
}

TEST_F(CliLogTest, recoverPrintsWhatItFoundAndTheDamage) {
  add_bob();
  send("a");
  send("b");
  const std::map<std::string, std::vector<Place>> files = records_by_file();
  const Place* middle = nullptr;
  for (const auto& [file, records] : files)
    if (records.size() >= 2) middle = &records[0];
  ASSERT_NE(middle, nullptr) << "no segment with two records";
  flip_byte(middle->file, middle->offset + 16);
  ASSERT_EQ(run({"rm", bus()}).status, 0);

  const Output rec = courier({"recover", bus()});
  EXPECT_EQ(rec.status, 0) << rec.err;  // damage is reported, not an error
  for (const char* s :
       {"bus:", "journals:", "segments:", "records:", "owed:", "expired:", "retired:", "torn:", "elapsed:",
        "(reading and tracking ", ", putting back ", "damaged:", "1 region (the records there are lost"})
    EXPECT_NE(rec.out.find(s), std::string::npos) << s << "\n" << rec.out;
  EXPECT_NE(rec.out.find("  damaged: " + middle->file + " at offset " + std::to_string(middle->offset) + ", "),
            std::string::npos)
      << rec.out;
  EXPECT_NE(rec.err.find("1 damaged region in the journals"), std::string::npos) << rec.err;

  // On a live bus, recover runs in place (Bus::recover) and puts back nothing twice.
  const Output again = courier({"recover", bus(), "--json"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(json_field(again.out, "at_open"), "false") << again.out;
  EXPECT_EQ(json_number(again.out, "injected"), 0u) << again.out;
  // Where the time went: the reads that track, the read that puts back, within the whole.
  EXPECT_GT(json_number(again.out, "load_ns"), 0u) << again.out;
  EXPECT_GT(json_number(again.out, "put_back_ns"), 0u) << again.out;
  EXPECT_LE(json_number(again.out, "load_ns") + json_number(again.out, "put_back_ns"),
            json_number(again.out, "elapsed_ns"))
      << again.out;
}

// Exactly once across reboots: a message a receiver took is not put back by a
// later recovery, on the live bus or after the shared memory is gone again.
// Journal files are read in the order of their writers' start: here bob's
// receiving process starts its writer before the sending CLI, so the rebuild
// reads bob's acknowledgement before the message it settles. It must still
// settle it (recovery keeps such a settle until every message is loaded).
TEST_F(CliLogTest, anAcknowledgementReadBeforeItsMessageStillSettlesItAfterAReboot) {
  add_bob();
  {
    auto live = open_in_this_process();  // bob's writer: older than the sender's below
    ASSERT_TRUE(live) << live.error().message;
    auto bob = live->attach("bob");
    ASSERT_TRUE(bob);
    const std::string id = send("early");
    auto m = bob->receive(std::chrono::seconds(10));
    ASSERT_TRUE(m);
    EXPECT_EQ(std::to_string(m->id()), id);
    ASSERT_TRUE(bob->ack(*m));
    ASSERT_TRUE(live->flush_log());
  }
  std::string ack_file, message_file;
  const Output dump = log("dump");
  for (const std::string& l : lines_of(dump.out)) {
    if (json_text(l, "kind") == "delivered") ack_file = json_text(l, "file");
    if (json_text(l, "kind") == "message") message_file = json_text(l, "file");
  }
  ASSERT_FALSE(ack_file.empty()) << dump.out;
  ASSERT_LT(ack_file, message_file) << "the acknowledgement is in a file read first";

  ASSERT_EQ(run({"rm", bus()}).status, 0);
  const Output rebooted = courier({"recover", bus(), "--json"});
  ASSERT_EQ(rebooted.status, 0) << rebooted.err;
  EXPECT_EQ(json_number(rebooted.out, "owed"), 0u) << rebooted.out;
  EXPECT_EQ(json_number(rebooted.out, "injected"), 0u) << rebooted.out;
  EXPECT_EQ(json_number(rebooted.out, "settled"), 1u) << rebooted.out;
  EXPECT_NE(bob_stat().find("\"waiting_total\":0,"), std::string::npos) << bob_stat();
}

TEST_F(CliLogTest, deliveredMessageIsNotPutBackByALaterRecovery) {
  add_bob();
  const std::string id = send("once");
  ASSERT_EQ(run({"rm", bus()}).status, 0);
  ASSERT_EQ(courier({"recover", bus()}).status, 0);
  const Output got = courier({"recv", bus(), "bob", "--count", "1", "--timeout", "10s"});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(json_id(got.out), id);

  const Output live = courier({"recover", bus(), "--json"});
  ASSERT_EQ(live.status, 0) << live.err;
  EXPECT_EQ(json_number(live.out, "owed"), 0u) << live.out;
  EXPECT_EQ(json_number(live.out, "injected"), 0u) << live.out;
  EXPECT_NE(bob_stat().find("\"waiting_total\":0,"), std::string::npos) << bob_stat();

  ASSERT_EQ(run({"rm", bus()}).status, 0);
  const Output rebooted = courier({"recover", bus(), "--json"});
  ASSERT_EQ(rebooted.status, 0) << rebooted.err;
  EXPECT_EQ(json_number(rebooted.out, "owed"), 0u) << rebooted.out;
  EXPECT_EQ(json_number(rebooted.out, "injected"), 0u) << rebooted.out;
  EXPECT_NE(bob_stat().find("\"waiting_total\":0,"), std::string::npos) << bob_stat();
}

}  // namespace
