// cli/log.cpp — `courier log BUS --log DIR stat|dump|verify`: the journals of a
// bus read directly, through the public LogInspector (courier/log_inspect.hpp).
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common.hpp"
#include "courier/log_inspect.hpp"

namespace courier::cli {
namespace {

// Reads every record of a bus's journals, failing on an error of the OS.
class Scan {
 public:
  explicit Scan(const std::string& dir) : log_(or_fail(LogInspector::open(dir))) {}

  // The next record into record(), or false after the last one.
  bool next() { return or_fail(log_.next(record_)); }
  const LogRecord& record() const noexcept { return record_; }
  const LogInspector& log() const noexcept { return log_; }

  // The name the current segment gives `id`, or "#ID" when it names none.
  std::string label(std::uint32_t id) const {
    const std::string* n = log_.name_of(id);
    return n != nullptr ? *n : id_label(id);
  }

 private:
  LogInspector log_;
  LogRecord record_;
};

bool is_settle(LogRecordKind k) {
  return k == LogRecordKind::delivered || k == LogRecordKind::read || k == LogRecordKind::expired;
}

// The key of a settlement: (sender name, id, recipient name); recipient ""
// stands for every recipient (an expired record with recipient 0).
std::string settle_key(const std::string& sender, std::uint64_t id, const std::string& recipient) {
  std::string k = sender;
  k += '\0';
  k.append(reinterpret_cast<const char*>(&id), sizeof id);
  k += recipient;
  return k;
}

struct LogStat {
  std::string dir;
  std::uint64_t segments = 0, bytes = 0, records = 0;
  std::uint64_t file_bytes = 0;  // the files' sizes (bytes: what the writers wrote of them)
  std::uint64_t unnamed = 0;  // settle records naming an id their segment does not name (matched by id)
  std::uint64_t by_kind[std::size(log_record_kinds) + 1] = {};
  std::vector<LogRegion> damage, torn;
  std::uint64_t unsettled = 0, past_expiry = 0;  // past_expiry: of the unsettled, those past their deadline
  struct Oldest {
    std::uint64_t id = 0, timestamp_ns = 0, expires_ns = 0, offset = 0;
    std::uint8_t priority = 0;
    std::string from, to, file;
  };
  std::optional<Oldest> oldest;
};

// Whether message `m` (its segment's names in `scan`) has a settlement in
// `settled`: for its recipient or for every recipient, keyed by names, or by
// ids where the settle's segment named none.
bool is_settled(const std::unordered_set<std::string>& settled, const Scan& scan, const LogRecord& m) {
  for (const std::string& from : {scan.label(m.from), id_label(m.from)})
    for (const std::string& to : {scan.label(m.to), id_label(m.to), std::string()})
      if (settled.contains(settle_key(from, m.id, to))) return true;
  return false;
}

// Two passes: the settlements first (into a set of keys: a settle may be in
// another writer's segment, read before or after its message), then the
// message records that no settlement matches.
LogStat log_stat(const std::string& dir) {
  LogStat s;
  s.dir = dir;
  std::unordered_set<std::string> settled;
  {
    Scan scan(dir);
    while (scan.next()) {
      const LogRecord& rec = scan.record();
      ++s.records;
      ++s.by_kind[static_cast<std::uint8_t>(rec.kind)];
      if (!is_settle(rec.kind) || !rec.error.empty()) continue;
      const bool to_all = rec.recipient == no_endpoint;
      if (scan.log().name_of(rec.sender) == nullptr || (!to_all && scan.log().name_of(rec.recipient) == nullptr))
        ++s.unnamed;
      settled.insert(settle_key(scan.label(rec.sender), rec.id, to_all ? "" : scan.label(rec.recipient)));
    }
    s.segments = scan.log().files().size();
    s.bytes = scan.log().record_bytes();  // not the files' sizes: a live or killed writer's preallocated zeros
    s.file_bytes = scan.log().bytes();
    s.damage = scan.log().damage();
    s.torn = scan.log().torn_tails();
  }
  Scan scan(dir);
  const std::uint64_t now = now_realtime_ns();
  while (scan.next()) {
    const LogRecord& m = scan.record();
    if (m.kind != LogRecordKind::message || !m.error.empty() || is_settled(settled, scan, m)) continue;
    ++s.unsettled;
    if (m.expires_ns < now) ++s.past_expiry;
    if (!s.oldest || m.timestamp_ns < s.oldest->timestamp_ns)
      s.oldest = LogStat::Oldest{m.id,       m.timestamp_ns,     m.expires_ns,     m.offset,
                                 m.priority, scan.label(m.from), scan.label(m.to), std::string(m.file)};
  }
  return s;
}

Json log_stat_json(const LogStat& s) {
  Json by_kind = Json::object();
  for (LogRecordKind k : log_record_kinds)
    by_kind[std::string(log_record_kind_name(k))] = s.by_kind[static_cast<std::uint8_t>(k)];
  Json oldest;  // null when there is none
  if (s.oldest) {
    const LogStat::Oldest& o = *s.oldest;
    oldest = Json{{"id", id_json(o.id)},
                  {"from", o.from},
                  {"to", o.to},
                  {"priority", o.priority},
                  {"timestamp_ns", o.timestamp_ns},
                  {"expires_ns", o.expires_ns},
                  {"file", o.file},
                  {"offset", o.offset}};
  }
  return Json{{"directory", s.dir},
              {"segments", s.segments},
              {"bytes", s.bytes},
              {"file_bytes", s.file_bytes},
              {"records", s.records},
              {"by_kind", std::move(by_kind)},
              {"damaged", s.damage.size()},
              {"damage", regions_json(s.damage, true)},
              {"torn", s.torn.size()},
              {"torn_tails", regions_json(s.torn, false)},
              {"unnamed_settles", s.unnamed},
              {"unsettled", s.unsettled},
              {"unsettled_past_expiry", s.past_expiry},
              {"oldest_unsettled", std::move(oldest)}};
}

std::string log_stat_text(const LogStat& s, const std::string& bus) {
  std::vector<std::vector<std::string>> rows{
      {"journals:", s.dir},
      {"segments:", std::to_string(s.segments) + " (" + size_text(s.bytes) + " written" +
                        (s.file_bytes > s.bytes ? ", files " + size_text(s.file_bytes) + " with preallocated space" : "") +
                        ")"},
      {"records:", std::to_string(s.records)},
  };
  for (LogRecordKind k : log_record_kinds)
    rows.push_back(
        {"  " + std::string(log_record_kind_name(k)) + ":", std::to_string(s.by_kind[static_cast<std::uint8_t>(k)])});
  const std::string listed = s.damage.empty() && s.torn.empty() ? "" : "  (courier log " + bus + " verify lists them)";
  rows.push_back({"damaged:", counted(s.damage.size(), "region", "regions") + listed});
  rows.push_back({"torn:", counted(s.torn.size(), "tail", "tails")});
  if (s.unnamed > 0)
    rows.push_back({"unnamed:", counted(s.unnamed, "settle record", "settle records") +
                                    " name ids their segment does not name (matched by id)"});
  rows.push_back({"unsettled:", counted(s.unsettled, "message", "messages") +
                                    " (no delivered, read or expired record for its recipient), " +
                                    std::to_string(s.past_expiry) + " of them past their expiry"});
  std::string oldest = "-";
  if (s.oldest) {
    const LogStat::Oldest& o = *s.oldest;
    const bool past = o.expires_ns != 0 && o.expires_ns < now_realtime_ns();
    oldest = "id " + std::to_string(o.id) + " from " + single_quoted(o.from) + " to " + single_quoted(o.to) +
             ", sent " + utc_text(o.timestamp_ns) + ", " + (past ? "expired " : "expires ") + utc_text(o.expires_ns) +
             " (" + o.file + " at offset " + std::to_string(o.offset) + ")";
  }
  rows.push_back({"oldest unsettled:", oldest});
  return table_text(rows, 2);
}

// "KEY": the name the record's segment gives `id`, or null; "KEY_id": the id.
void add_name_field(Json& j, const Scan& scan, const std::string& key, std::uint32_t id, bool group) {
  const std::string* n = id == 0 ? nullptr : scan.log().name_of(id, group);
  j[key] = n != nullptr ? Json(*n) : Json();
  j[key + "_id"] = id;
}

// One line of `log dump`.
std::string record_line(const Scan& scan) {
  const LogRecord& rec = scan.record();
  Json j{{"file", rec.file}, {"offset", rec.offset}, {"kind", log_record_kind_name(rec.kind)}, {"length", rec.length}};
  if (!rec.error.empty()) {
    j["error"] = rec.error;
  } else if (rec.kind == LogRecordKind::message) {
    j["id"] = id_json(rec.id);
    add_name_field(j, scan, "from", rec.from, false);
    add_name_field(j, scan, "to", rec.to, false);
    add_name_field(j, scan, "group", rec.group, true);
    j["priority"] = rec.priority;
    j["type"] = rec.type;
    j["flags"] = rec.flags;
    j["timestamp_ns"] = rec.timestamp_ns;
    j["expires_ns"] = rec.expires_ns;
    j["payload_len"] = rec.payload_len;
    add_payload(j, rec.payload);
  } else if (is_settle(rec.kind)) {
    j["id"] = id_json(rec.id);
    add_name_field(j, scan, "sender", rec.sender, false);
    add_name_field(j, scan, "recipient", rec.recipient, false);
    j["at_ns"] = rec.at_ns;
  } else if (rec.kind == LogRecordKind::membership) {
    j["change"] = rec.change;
    j["group"] = rec.group_name;
    j["member"] = rec.member.empty() ? Json() : Json(rec.member);
    j["at_ns"] = rec.at_ns;
  } else {
    j["id"] = rec.id;
    j["what"] = rec.names_group ? "group" : "endpoint";
    j["name"] = rec.name;
  }
  return json_line(j);
}

int log_dump(Scan& scan, const std::string& bus) {
  std::string out;
  while (scan.next()) {
    out += record_line(scan);
    if (out.size() >= (64u << 10)) {
      write_out(out);
      out.clear();
    }
  }
  write_out(out);
  if (const std::size_t damaged = scan.log().damage().size(); damaged > 0)
    note(counted(damaged, "damaged region", "damaged regions") + " skipped (courier log " + bus +
         " verify lists them)");
  return 0;
}

int log_verify(Scan& scan, const std::string& dir, const std::string& bus, bool json) {
  std::uint64_t records = 0;
  while (scan.next()) ++records;
  const std::vector<LogRegion> damage = scan.log().damage(), torn = scan.log().torn_tails();
  const std::size_t segments = scan.log().files().size();
  std::string out;
  if (json) {
    out = json_line(Json{{"directory", dir},
                         {"segments", segments},
                         {"records", records},
                         {"damaged", damage.size()},
                         {"damage", regions_json(damage, true)},
                         {"torn", torn.size()},
                         {"torn_tails", regions_json(torn, false)}});
  } else {
    // Each region, then "3 segments, 40 valid records: no damage, 1 torn tail (not damage)".
    out = region_lines(damage, "damaged: ", false) + region_lines(torn, "torn tail: ", true) +
          counted(segments, "segment", "segments") + ", " + counted(records, "valid record", "valid records") + ": " +
          (damage.empty() ? "no damage" : counted(damage.size(), "damaged region", "damaged regions"));
    if (!torn.empty()) out += ", " + counted(torn.size(), "torn tail", "torn tails") + " (not damage)";
    out += '\n';
  }
  write_out(out);
  if (!damage.empty())
    throw Failure(counted(damage.size(), "damaged region", "damaged regions") + " in the journals of bus " +
                  single_quoted(bus) + " (" + dir + ")");
  return 0;
}

}  // namespace

int run_log(const Invocation& inv) {
  const std::string log = required_log_option(inv.args, "log");
  const std::string& bus = bus_operand(inv);
  const std::string& action = inv.operands[1];
  if (action != "stat" && action != "dump" && action != "verify")
    throw UsageError("log: unknown action " + single_quoted(action) + " (stat, dump or verify)");
  const std::string dir = Bus::log_directory_for(log, bus);
  if (action == "stat") {
    const LogStat s = log_stat(dir);
    write_out(inv.args.flag("json") ? json_line(log_stat_json(s)) : log_stat_text(s, bus));
    return 0;
  }
  Scan scan(dir);
  return action == "dump" ? log_dump(scan, bus) : log_verify(scan, dir, bus, inv.args.flag("json"));
}

}  // namespace courier::cli
