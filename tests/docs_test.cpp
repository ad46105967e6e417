// docs/layout.md and docs/log-format.md against the code: every table of the two
// pages is read and each offset, size, bit range, value and constant compared
// with offsetof / sizeof / the constants of the detail headers. A table belongs
// to the nearest heading above it; the heading's text up to " (" is its key and,
// for a structure, "(N bytes" its sizeof. Table kinds, by their first column:
//   off | size | field ...   a structure, one member per row, padding included
//   bits | field ...         bit fields of a word: "LO..HI" or one bit
//   value | name ...         the values of an enumeration
//   constant | value ...     named constants
//   kind | name | length ... the journal's record kinds
// A table the test does not know, a member or constant a page leaves out, and a
// path under include/ or tests/ that does not exist all fail.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "courier/bus.hpp"
#include "courier/detail/layout.hpp"
#include "courier/detail/log_format.hpp"
#include "courier/detail/process.hpp"
#include "courier/detail/tracker.hpp"

#ifndef COURIER_DOCS_DIR
#error "COURIER_DOCS_DIR must name the docs directory (tests/CMakeLists.txt sets it)"
#endif

namespace courier {
namespace {

// ------------------------------------------------------------- the pages

struct Row {
  int line = 0;
  std::vector<std::string> cells;
};

struct Table {
  std::string key;                     // heading text up to " ("
  std::optional<std::uint64_t> bytes;  // "(N bytes" in the heading
  int line = 0;                        // of the table's first row
  std::vector<std::string> header;
  std::vector<Row> rows;
};

struct Page {
  std::string path;
  std::string text;
  std::vector<std::string> lines;
  std::vector<Table> tables;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string without_backticks(std::string s) {
  std::erase(s, '`');
  return trim(s);
}

// The cells of "| a | b | c |", as Markdown splits them: at every '|' not escaped as "\\|".
std::vector<std::string> split_row(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cur += line[++i];
    } else if (line[i] == '|') {
      cells.push_back(without_backticks(cur));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return cells;
}

Page read_page(const std::string& name) {
  Page p;
  p.path = std::string(COURIER_DOCS_DIR) + "/" + name;
  std::ifstream in(p.path);
  EXPECT_TRUE(in.good()) << "cannot read " << p.path;
  std::stringstream ss;
  ss << in.rdbuf();
  p.text = ss.str();
  std::istringstream ls(p.text);
  for (std::string l; std::getline(ls, l);) p.lines.push_back(l);

  std::string key;
  std::optional<std::uint64_t> bytes;
  bool fence = false;
  static const std::regex bytes_re(R"(\((\d+) bytes)");
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    const std::string& l = p.lines[i];
    if (l.rfind("```", 0) == 0) fence = !fence;
    if (fence) continue;
    if (l.rfind("#", 0) == 0) {
      const std::string h = trim(l.substr(l.find_first_not_of('#')));
      key = without_backticks(h.substr(0, h.find(" (")));
      std::smatch m;
      bytes = std::regex_search(h, m, bytes_re) ? std::optional<std::uint64_t>(std::stoull(m[1])) : std::nullopt;
      continue;
    }
    if (l.rfind("|", 0) != 0) continue;
    Table t;
    t.key = key;
    t.bytes = bytes;
    t.line = int(i) + 1;
    t.header = split_row(l);
    ++i;
    EXPECT_TRUE(i < p.lines.size() && std::regex_match(p.lines[i], std::regex(R"(\|[-:| ]+\|?\s*)")))
        << p.path << ":" << i + 1 << ": a table's second line must be its |---| separator";
    for (++i; i < p.lines.size() && p.lines[i].rfind("|", 0) == 0; ++i)
      t.rows.push_back({int(i) + 1, split_row(p.lines[i])});
    --i;
    p.tables.push_back(std::move(t));
  }
  return p;
}

// A decimal or 0x hex number, and nothing else.
std::optional<std::uint64_t> number(const std::string& s) {
  static const std::regex re(R"((0x[0-9A-Fa-f]+|[0-9]+))");
  if (!std::regex_match(s, re)) return std::nullopt;
  return std::stoull(s, nullptr, 0);
}

// "LO..HI" or "N" as a mask of those bits.
std::optional<std::uint64_t> bit_range(const std::string& s) {
  static const std::regex re(R"((\d+)(?:\.\.(\d+))?)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  const unsigned lo = unsigned(std::stoul(m[1]));
  const unsigned hi = m[2].matched ? unsigned(std::stoul(m[2])) : lo;
  if (lo > hi || hi > 63) return std::nullopt;
  const std::uint64_t upto = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;
  return upto & ~((1ull << lo) - 1);
}

// ------------------------------------------------------------- the code

struct Field {
  std::uint64_t off = 0;
  std::uint64_t size = 0;
};
struct Struct {
  std::uint64_t size = 0;
  std::map<std::string, Field> fields;
};
using Named = std::map<std::string, std::uint64_t>;

// What one page must document: its tables by key.
struct Expected {
  std::map<std::string, Struct> structs;
  std::map<std::string, Named> bits;
  std::map<std::string, Named> values;
  std::map<std::string, Named> constants;
  std::string kinds;  // key of the journal's record-kind table, if the page has one
};

// A member of the structure T in scope: its name, offset and size.
// clang-format off
#define M(m) {#m, Field{offsetof(T, m), sizeof(T::m)}}
// clang-format on

Expected layout_expected() {
  Expected e;
  {
    using T = SegmentHeader;
    e.structs["SegmentHeader"] = {sizeof(T),
                                  {M(magic),
                                   M(init_owner),
                                   M(layout_version),
                                   M(header_size),
                                   M(layout_hash),
                                   M(total_size),
                                   M(max_endpoints),
                                   M(lane_count),
                                   M(lane_capacity),
                                   M(max_payload),
                                   M(mode),
                                   M(dir_offset),
                                   M(inbox_offset),
                                   M(inbox_stride),
                                   M(claim_timeout_ns),
                                   M(created_ns),
                                   M(group_offset),
                                   M(tracker_offset),
                                   M(max_groups),
                                   M(max_group_members),
                                   M(next_id),
                                   M(recovery_owner),
                                   M(housekeeper),
                                   M(removed),
                                   M(pad2),
                                   M(dir_mutex),
                                   M(pad3),
                                   M(dir_changes),
                                   M(pad4),
                                   M(group_stride),
                                   M(tracker_capacity),
                                   M(status_capacity),
                                   M(status_retention_ns),
                                   M(reserved_tail),
                                   M(sync),
                                   M(reserved_log0),
                                   M(log_dir_len),
                                   M(reserved_log1),
                                   M(group_commit_interval_ns),
                                   M(group_commit_bytes),
                                   M(reserved_log2),
                                   M(log_dir)}};
  }
  {
    using T = EndpointSlot;
    e.structs["EndpointSlot"] = {
        sizeof(T), {M(id), M(generation), M(name_len), M(reserved0), M(name), M(created_ns), M(reserved1)}};
  }
  {
    using T = GroupSlot;
    e.structs["GroupSlot"] = {sizeof(T),
                              {M(id), M(generation), M(name_len), M(used_words), M(name), M(created_ns), M(reserved1)}};
  }
  {
    using T = TrackerHeader;
    e.structs["TrackerHeader"] = {sizeof(T), {M(capacity), M(reserved0), M(full_events), M(retired), M(pad1)}};
  }
  {
    using T = TrackerEntry;
    e.structs["TrackerEntry"] = {
        sizeof(T),
        {M(id), M(sender), M(recipient), M(dest), M(role), M(status), M(flags), M(recipients), M(follower),
         M(delivered), M(read), M(failed), M(deadline_ns), M(expires_ns), M(updated_ns)}};
  }
  {
    using T = InboxData;
    e.structs["InboxData"] = {
        sizeof(T),
        {M(nonempty),     M(parked),    M(pad0),  M(lease),   M(lease_since_ns), M(attaches),     M(pad1),
         M(received),     M(expired),   M(stale), M(revoked), M(corrupt),        M(redelivered),  M(pad2),
         M(full),         M(offline),   M(pad3),  M(sent),    M(duplicates),     M(tracker_full), M(status_dropped),
         M(status_lease), M(delivered), M(read),  M(pad4),    M(spilled),        M(forwarded)}};
  }
  {
    using T = LaneData;
    e.structs["LaneData"] = {sizeof(T), {M(tail), M(pad0), M(head), M(handed), M(pad1)}};
  }
  {
    using T = RecordHeader;
    e.structs["RecordHeader"] = {sizeof(T),
                                 {M(frame), M(id), M(timestamp_ns), M(expires_ns), M(from), M(to), M(group), M(type),
                                  M(payload_len), M(priority), M(flags), M(reserved0), M(lease)}};
  }

  e.bits["Endpoint id"] = {{"slot", make_endpoint_id(0xffffu, 0)}, {"generation", make_endpoint_id(0, 0xffffu)}};
  e.bits["Tracker tag word"] = {
      {"state", tag::make(3, 0, 0)}, {"pid", tag::make(0, ~0ull, 0)}, {"hash", tag::make(0, 0, (1ull << 40) - 1)}};
  e.bits["Tracker entry flags"] = {{"committed", tracker_flag::committed}, {"in_lane", tracker_flag::in_lane},
                                   {"spilled", tracker_flag::spilled},     {"counted", tracker_flag::counted},
                                   {"copied", tracker_flag::copied},       {"priority", tracker_flag::priority_mask}};
  e.bits["Lease word"] = {{"pid", lease_word({pid_t(lease_pid_mask), 0})},
                          {"start", lease_word({0, lease_start_mask})},
                          {"nonce", lease_word({0, 0}, 0xffffu)}};
  e.bits["Frame word"] = {{"state", frame::state_mask},
                          {"units", frame::make(frame::none, frame::units_mask, 0)},
                          {"tag", frame::make(frame::none, 0, frame::tag_mask << 6)}};
  e.bits["Record flags"] = {{"redelivered", record_flag::redelivered},
                            {"read", record_flag::read},
                            {"forwarded", record_flag::forwarded},
                            {"one_member", record_flag::one_member}};

  e.values["Tracker tag states"] = {{"claiming", tag::claiming}, {"ready", tag::ready}, {"killed", tag::killed}};
  e.values["Tracker roles"] = {{"endpoint", tracker_role::endpoint},
                               {"group", tracker_role::group},
                               {"member", tracker_role::member},
                               {"group_one", tracker_role::group_one}};
  e.values["Frame states"] = {
      {"none", frame::none}, {"committed", frame::committed}, {"padding", frame::padding}, {"revoked", frame::revoked}};
  for (unsigned s = 0; s < status_count; ++s) e.values["Status"][std::string(status_name(Status(s)))] = s;

  e.constants["Constants"] = {
      {"segment_magic", segment_magic},
      {"layout_version", layout_version},
      {"layout_hash", layout_hash()},
      {"header_size", sizeof(SegmentHeader)},
      {"lane_count", priority_levels},
      {"default_priority", default_priority},
      {"record_unit", record_unit},
      {"min_lane_capacity", min_lane_capacity},
      {"max_lane_capacity", max_lane_capacity},
      {"max_endpoints_limit", max_endpoints_limit},
      {"max_groups_limit", max_groups_limit},
      {"max_group_members_limit", max_group_members_limit},
      {"min_tracker_capacity", min_tracker_capacity},
      {"max_tracker_capacity", max_tracker_capacity},
      {"tracker_bucket_slots", tracker_bucket_slots},
      {"page_size", page_size},
      {"max_name_len", max_name_len},
      {"header_log_dir_bytes", header_log_dir_bytes},
  };
  const Options o;  // the library's defaults
  const Geometry g{{.max_endpoints = o.max_endpoints,
                    .lane_capacity = o.lane_capacity,
                    .max_payload = o.max_payload,
                    .max_groups = o.max_groups,
                    .max_group_members = o.max_group_members,
                    .tracker_capacity = o.tracker_capacity,
                    .status_capacity = o.status_capacity}};
  e.constants["Default geometry"] = {
      {"dir_offset", g.dir_offset()},       {"group_stride", g.group_stride()},
      {"group_offset", g.group_offset()},   {"tracker_offset", g.tracker_offset()},
      {"tracker_bytes", g.tracker_bytes()}, {"inbox_offset", g.inbox_offset()},
      {"lane_stride", g.lane_stride()},     {"status_offset_in_inbox", g.status_offset_in_inbox()},
      {"inbox_stride", g.inbox_stride()},   {"total_size", g.total_size()},
  };
  return e;
}

Expected log_format_expected() {
  using namespace logfmt;
  Expected e;
  {
    using T = logfmt::FileHeader;
    e.structs["FileHeader"] = {
        sizeof(T),
        {M(magic), M(format_version), M(header_size), M(writer_pid), M(reserved0), M(writer_start_ticks),
         M(writer_epoch_ns), M(sequence), M(salt), M(reserved1), M(header_crc)}};
  }
  {
    using T = RecordFrame;
    e.structs["RecordFrame"] = {sizeof(T), {M(marker), M(crc), M(length), M(kind), M(flags), M(reserved)}};
  }
  {
    using T = SettleBody;
    e.structs["SettleBody"] = {sizeof(T), {M(id), M(sender), M(recipient), M(at_ns)}};
  }
  {
    using T = NameBody;
    e.structs["NameBody"] = {sizeof(T), {M(id), M(what), M(reserved), M(name_len)}};
  }
  e.values["NameBody what"] = {{"endpoint", name_what::endpoint}, {"group", name_what::group}};
  {
    using T = MembershipBody;
    e.structs["MembershipBody"] = {sizeof(T),
                                   {M(at_ns), M(change), M(reserved0), M(group_len), M(endpoint_len), M(reserved1)}};
  }
  e.values["MembershipBody change"] = {{"joined", membership_change::joined},
                                       {"left", membership_change::left},
                                       {"group_created", membership_change::group_created},
                                       {"group_removed", membership_change::group_removed}};
  e.constants["Constants"] = {
      {"format_version", format_version},     {"oldest_readable_format_version", oldest_readable_format_version},
      {"file_magic", logfmt::file_magic},     {"file_header_size", file_header_size},
      {"record_marker", record_marker},       {"record_frame_size", record_frame_size},
      {"record_alignment", record_alignment}, {"max_body", max_body},
      {"message_min_body", message_min_body}, {"settle_body_size", settle_body_size},
      {"max_name_len", logfmt::max_name_len}, {"file_name_length", file_name_length},
  };
  e.kinds = "Record kinds";
  return e;
}

#undef M

// ------------------------------------------------------------- the checks

std::string at(const Page& p, int line) { return p.path + ":" + std::to_string(line) + ": "; }

void check_struct(const Page& p, const Table& t, const Struct& s) {
  ASSERT_GE(t.header.size(), 3u) << at(p, t.line) << "a structure table starts with off | size | field";
  EXPECT_EQ(t.header[0], "off") << at(p, t.line);
  EXPECT_EQ(t.header[1], "size") << at(p, t.line);
  EXPECT_EQ(t.header[2], "field") << at(p, t.line);
  if (!t.bytes)
    ADD_FAILURE() << at(p, t.line) << "the heading of " << t.key << " must say (" << s.size << " bytes";
  else
    EXPECT_EQ(*t.bytes, s.size) << at(p, t.line) << "sizeof(" << t.key << ")";
  std::uint64_t end = 0;
  std::set<std::string> seen;
  for (const Row& r : t.rows) {
    ASSERT_GE(r.cells.size(), 3u) << at(p, r.line) << "too few cells";
    const auto off = number(r.cells[0]);
    const auto size = number(r.cells[1]);
    const std::string& name = r.cells[2];
    if (!off || !size) {
      ADD_FAILURE() << at(p, r.line) << "offset and size must be plain numbers";
      continue;
    }
    EXPECT_EQ(*off, end) << at(p, r.line) << t.key << "." << name << " does not start where the row above ends";
    end = *off + *size;
    const auto f = s.fields.find(name);
    if (f == s.fields.end()) {
      ADD_FAILURE() << at(p, r.line) << t.key << " has no member '" << name << "'";
      continue;
    }
    EXPECT_TRUE(seen.insert(name).second) << at(p, r.line) << name << " twice";
    EXPECT_EQ(*off, f->second.off) << at(p, r.line) << "offsetof(" << t.key << ", " << name << ")";
    EXPECT_EQ(*size, f->second.size) << at(p, r.line) << "sizeof(" << t.key << "::" << name << ")";
  }
  EXPECT_EQ(end, s.size) << at(p, t.line) << "the rows of " << t.key << " do not end at its size";
  for (const auto& [name, f] : s.fields)
    EXPECT_TRUE(seen.count(name)) << at(p, t.line) << t.key << "." << name << " (offset " << f.off
                                  << ") is not documented";
}

// Rows of (key cell, value cell) against a name -> value map; parse turns a cell into a value.
template <typename Parse>
void check_named(const Page& p, const Table& t, const Named& want, std::size_t name_col, std::size_t value_col,
                 Parse parse) {
  std::set<std::string> seen;
  for (const Row& r : t.rows) {
    ASSERT_GT(r.cells.size(), std::max(name_col, value_col)) << at(p, r.line) << "too few cells";
    const std::string& name = r.cells[name_col];
    const auto v = parse(r.cells[value_col]);
    if (!v) {
      ADD_FAILURE() << at(p, r.line) << "cannot read '" << r.cells[value_col] << "'";
      continue;
    }
    const auto w = want.find(name);
    if (w == want.end()) {
      ADD_FAILURE() << at(p, r.line) << t.key << " has no '" << name << "' in the code";
      continue;
    }
    EXPECT_TRUE(seen.insert(name).second) << at(p, r.line) << name << " twice";
    EXPECT_EQ(*v, w->second) << at(p, r.line) << t.key << ": " << name << std::hex << " (0x" << *v << " documented, 0x"
                             << w->second << " in the code)";
  }
  for (const auto& [name, v] : want)
    EXPECT_TRUE(seen.count(name)) << at(p, t.line) << t.key << ": " << name << " is not documented";
}

// "A .. B" or "N": the lengths a kind allows, checked at and just past each end.
void check_kind_lengths(const Page& p, const Row& r, logfmt::Kind k) {
  static const std::regex re(R"((\d+)(?: \.\. (\d+))?)");
  std::smatch m;
  const std::string cell = r.cells[2];
  if (!std::regex_match(cell, m, re)) {
    ADD_FAILURE() << at(p, r.line) << "length must be N or A .. B, not '" << cell << "'";
    return;
  }
  const auto lo = std::uint32_t(std::stoul(m[1]));
  const auto hi = m[2].matched ? std::uint32_t(std::stoul(m[2])) : lo;
  EXPECT_TRUE(logfmt::length_fits_kind(k, lo)) << at(p, r.line) << lo;
  EXPECT_TRUE(logfmt::length_fits_kind(k, hi)) << at(p, r.line) << hi;
  EXPECT_FALSE(lo > 0 && logfmt::length_fits_kind(k, lo - 1)) << at(p, r.line) << lo - 1 << " is allowed too";
  EXPECT_FALSE(logfmt::length_fits_kind(k, hi + 1)) << at(p, r.line) << hi + 1 << " is allowed too";
}

void check_kinds(const Page& p, const Table& t) {
  ASSERT_GE(t.header.size(), 3u);
  EXPECT_EQ(t.header[1], "name") << at(p, t.line);
  EXPECT_EQ(t.header[2], "length") << at(p, t.line);
  std::set<unsigned> seen;
  for (const Row& r : t.rows) {
    ASSERT_GE(r.cells.size(), 3u) << at(p, r.line);
    const auto k = number(r.cells[0]);
    if (!k || *k < logfmt::min_kind || *k > logfmt::max_kind) {
      ADD_FAILURE() << at(p, r.line) << "kind '" << r.cells[0] << "' is not a kind of the code ("
                    << int(logfmt::min_kind) << ".." << int(logfmt::max_kind) << ")";
      continue;
    }
    EXPECT_TRUE(seen.insert(unsigned(*k)).second) << at(p, r.line) << "kind " << *k << " twice";
    const auto kind = static_cast<logfmt::Kind>(*k);
    EXPECT_EQ(r.cells[1], logfmt::kind_name(kind)) << at(p, r.line) << "kind " << *k;
    check_kind_lengths(p, r, kind);
  }
  for (unsigned k = logfmt::min_kind; k <= logfmt::max_kind; ++k)
    EXPECT_TRUE(seen.count(k)) << at(p, t.line) << "kind " << k << " (" << logfmt::kind_name(logfmt::Kind(k))
                               << ") is not documented";
}

void check_page(const Page& p, const Expected& e) {
  std::set<std::string> keys;
  for (const Table& t : p.tables) {
    SCOPED_TRACE(p.path + " table '" + t.key + "' at line " + std::to_string(t.line));
    ASSERT_FALSE(t.header.empty());
    EXPECT_TRUE(keys.insert(t.key).second) << at(p, t.line) << "a second table under '" << t.key << "'";
    const std::string& kind = t.header[0];
    if (kind == "off" && e.structs.count(t.key)) {
      check_struct(p, t, e.structs.at(t.key));
    } else if (kind == "bits" && e.bits.count(t.key)) {
      check_named(p, t, e.bits.at(t.key), 1, 0, bit_range);
    } else if (kind == "value" && e.values.count(t.key)) {
      check_named(p, t, e.values.at(t.key), 1, 0, number);
    } else if (kind == "constant" && e.constants.count(t.key)) {
      check_named(p, t, e.constants.at(t.key), 0, 1, number);
    } else if (kind == "kind" && t.key == e.kinds) {
      check_kinds(p, t);
    } else {
      ADD_FAILURE() << at(p, t.line) << "a '" << kind << "' table under '" << t.key
                    << "' that tests/docs_test.cpp does not know (add it there, or fix the heading)";
    }
  }
  auto all_there = [&](const auto& m) {
    for (const auto& kv : m)
      EXPECT_TRUE(keys.count(kv.first)) << p.path << ": no table under a heading '" << kv.first << "'";
  };
  all_there(e.structs);
  all_there(e.bits);
  all_there(e.values);
  all_there(e.constants);
  if (!e.kinds.empty()) {
    EXPECT_TRUE(keys.count(e.kinds)) << p.path << ": no table of record kinds";
  }
}

// Every "WORD N" in the text (the title's version, say) names the code's value.
void check_mentions(const Page& p, const std::string& word, std::uint64_t value) {
  const std::regex re(word + R"( (\d+))");
  int n = 0;
  for (auto it = std::sregex_iterator(p.text.begin(), p.text.end(), re); it != std::sregex_iterator(); ++it, ++n)
    EXPECT_EQ(std::stoull((*it)[1]), value) << p.path << ": '" << it->str() << "'";
  EXPECT_GT(n, 0) << p.path << " never says '" << word << " " << value << "'";
}

// Every path under include/ or tests/ that a page names exists.
void check_paths(const Page& p) {
  static const std::regex re(R"(\b((?:include/courier|tests)/[A-Za-z0-9_./-]+\.(?:hpp|cpp)))");
  const std::string root = std::string(COURIER_DOCS_DIR) + "/..";
  for (auto it = std::sregex_iterator(p.text.begin(), p.text.end(), re); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(std::ifstream(root + "/" + (*it)[1].str()).good())
        << p.path << " names " << (*it)[1] << ", which does not exist";
}

TEST(Docs, LayoutPageMatchesTheCode) {
  const Page p = read_page("layout.md");
  ASSERT_FALSE(p.tables.empty());
  check_page(p, layout_expected());
  check_mentions(p, "layout_version", layout_version);
  EXPECT_EQ(p.lines.front(), "# Shared-memory layout (layout_version " + std::to_string(layout_version) + ")");
  check_paths(p);
}

TEST(Docs, LogFormatPageMatchesTheCode) {
  const Page p = read_page("log-format.md");
  ASSERT_FALSE(p.tables.empty());
  check_page(p, log_format_expected());
  check_mentions(p, "format_version", logfmt::format_version);
  EXPECT_EQ(p.lines.front(), "# Journal format (format_version " + std::to_string(logfmt::format_version) + ")");
  check_paths(p);
}

// The reader itself: cells (an escaped '|' is text), bit ranges, numbers.
TEST(Docs, TheTableReaderReadsWhatThePagesUse) {
  EXPECT_EQ(split_row("| 0 | 4 | `id` | a \\| b |"), (std::vector<std::string>{"0", "4", "id", "a | b"}));
  EXPECT_EQ(bit_range("0..2"), 7u);
  EXPECT_EQ(bit_range("3"), 8u);
  EXPECT_EQ(bit_range("24..63"), ~0ull << 24);
  EXPECT_EQ(bit_range("2..1"), std::nullopt);
  EXPECT_EQ(number("0x1F"), 31u);
  EXPECT_EQ(number("4 096"), std::nullopt);
  EXPECT_EQ(number("8 x 2"), std::nullopt);
}

}  // namespace
}  // namespace courier
