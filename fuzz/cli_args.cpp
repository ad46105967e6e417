// fuzz/cli_args.cpp — the input is a `courier` command line: its arguments
// (argv[1..]) separated by NUL bytes. The target runs the parse step only,
// nothing that opens a bus or touches a file: Args::parse (CLI11 under our
// words), allow_only for every command, and the typed readers the commands
// apply to options and operands (sizes, integers, durations, names, the
// options of a bus to open). A bad command line must end in a UsageError
// (exit status 2); any other exception escapes and is a finding, as are
// crashes and sanitizer reports.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using courier::cli::Args;
using courier::cli::UsageError;

constexpr unsigned command_bits[] = {
    courier::cli::cmd_send,        courier::cli::cmd_recv,        courier::cli::cmd_endpoint_add,
    courier::cli::cmd_endpoint_rm, courier::cli::cmd_endpoint_ls, courier::cli::cmd_stat,
    courier::cli::cmd_rm,          courier::cli::cmd_status,      courier::cli::cmd_group_add,
    courier::cli::cmd_group_rm,    courier::cli::cmd_group_ls,    courier::cli::cmd_sweep,
    courier::cli::cmd_recover,     courier::cli::cmd_log,         courier::cli::cmd_create,
};

// f(), with a bad command line (UsageError) as an expected outcome.
template <class F>
void usage_ok(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    if (e.what()[0] == '\0') std::fputc('\0', stderr);  // every refusal says something; read it
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // argv as main sees it: NUL-terminated strings (a trailing NUL ends the last one).
  std::vector<std::string> words;
  std::string cur;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());

  usage_ok([&] {
    const Args args = Args::parse(argv, courier::cli::option_specs);
    for (unsigned bit : command_bits) usage_ok([&] { args.allow_only(bit, "command"); });
    usage_ok([&] { (void)courier::cli::bus_options(args, true); });
    usage_ok([&] { (void)courier::cli::bus_options(args, false); });
    for (const char* d : {"expiry", "timeout", "claim-timeout"}) usage_ok([&] { (void)args.duration(d); });
    usage_ok([&] { (void)args.uint<std::uint8_t>("priority", 0, 15); });
    usage_ok([&] { (void)args.uint<std::uint32_t>("type"); });
    usage_ok([&] { (void)args.uint<std::uint64_t>("id", 1); });
    usage_ok([&] { (void)args.uint<std::uint64_t>("count", 1); });
    usage_ok([&] { (void)args.bytes("max-payload"); });
    for (const char* o : {"from", "to"}) usage_ok([&] { (void)courier::cli::required_endpoint_option(args, o); });
    usage_ok([&] {
      if (auto g = args.value("group")) (void)courier::cli::checked_group(*g, "--group");
    });
    usage_ok([&] { (void)courier::cli::required_log_option(args, "log"); });
    const courier::cli::Invocation inv{args, args.operands()};
    if (!inv.operands.empty()) usage_ok([&] { (void)courier::cli::bus_operand(inv); });
    if (inv.operands.size() >= 2) usage_ok([&] { (void)courier::cli::name_operand(inv); });
    for (const std::string& w : inv.operands) {
      usage_ok([&] { (void)courier::cli::checked_endpoint(w, "NAME"); });
      usage_ok([&] { (void)courier::cli::checked_group(w, "GROUP"); });
    }
  });
  return 0;
}
