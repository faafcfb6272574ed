#include "redis/results_reader.h"

#include <charconv>

#include <fmt/format.h>

#include "util/json_escape.h"

namespace sluice::redis {
namespace {
std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string_view field(const redisReply& fields, std::string_view name) {
  const redisReply* v = reply_field(fields, name);
  return v ? reply_str(*v) : std::string_view();
}

void append_string(std::string& out, std::string_view key, std::string_view value) {
  fmt::format_to(std::back_inserter(out), R"(,"{}":")", key);
  append_json_escaped(out, value);
  out += '"';
}
}  // namespace

ResultsReader::ResultsReader(const RedisUrl& url, StreamLayout layout, ResultsReaderOptions options,
                             ConnectionOptions connection)
    : layout_(std::move(layout)), options_(std::move(options)) {
  for (int p = 0; p < layout_.partitions; ++p) {
    conns_.push_back(std::make_unique<RedisConnection>(url, connection));
    positions_.push_back(options_.from == "$" ? "$" : options_.from);
  }
}

std::string ResultsReader::key(int p) const {
  return options_.dead_letters ? layout_.dead_key(p) : layout_.results_key(p);
}

Status ResultsReader::start() {
  for (int p = 0; p < layout_.partitions; ++p) {
    auto& pos = positions_[static_cast<std::size_t>(p)];
    if (pos != "$") continue;
    RedisCommand last("XREVRANGE");
    last.add(key(p)).add("+").add("-").add("COUNT").add(std::uint64_t{1});
    auto reply = conns_[static_cast<std::size_t>(p)]->run(last);
    if (!reply) return reply.status();
    if (auto st = reply_status(**reply, "XREVRANGE " + key(p)); !st) return st;
    const redisReply* entry = reply_at(**reply, 0);
    const redisReply* id = entry ? reply_at(*entry, 0) : nullptr;
    pos = id ? std::string(reply_str(*id)) : "0-0";
  }
  return Status::ok();
}

Result<std::vector<StoredLine>> ResultsReader::poll(bool meta) {
  std::vector<StoredLine> out;
  for (int p = 0; p < layout_.partitions; ++p) {
    auto& pos = positions_[static_cast<std::size_t>(p)];
    RedisCommand read("XREAD");
    read.add("COUNT").add(static_cast<std::uint64_t>(options_.count)).add("STREAMS").add(key(p)).add(pos);
    auto reply = conns_[static_cast<std::size_t>(p)]->run(read);
    if (!reply) return reply.status();
    if (auto st = reply_status(**reply, "XREAD " + key(p)); !st) return st;
    const redisReply* stream = reply_at(**reply, 0);
    const redisReply* entries = stream ? reply_at(*stream, 1) : nullptr;
    if (entries == nullptr) continue;
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* id = reply_at(*entries->element[i], 0);
      const redisReply* fields = reply_at(*entries->element[i], 1);
      if (id == nullptr || fields == nullptr) continue;
      pos = std::string(reply_str(*id));
      StoredLine line;
      line.stream = to_u64(field(*fields, "stream"));
      line.seq = to_u64(field(*fields, "seq"));
      if (options_.dead_letters) {
        line.json = fmt::format(R"({{"stream":{},"seq":{})", line.stream, line.seq);
        append_string(line.json, "name", field(*fields, "name"));
        append_string(line.json, "entry", field(*fields, "entry"));
        fmt::format_to(std::back_inserter(line.json), R"(,"partition":{},"deliveries":{})", p,
                       to_u64(field(*fields, "deliveries")));
        append_string(line.json, "reason", field(*fields, "reason"));
        fmt::format_to(std::back_inserter(line.json), R"(,"payload_bytes":{}}})",
                       field(*fields, "payload").size());
      } else {
        line.json = std::string(field(*fields, "line"));
        if (meta && line.json.size() >= 2 && line.json.back() == '}') {
          line.json.pop_back();
          append_string(line.json, "worker", field(*fields, "worker"));
          append_string(line.json, "entry", field(*fields, "entry"));
          fmt::format_to(std::back_inserter(line.json),
                         R"(,"partition":{},"deliveries":{},"result_id":"{}"}})", p,
                         to_u64(field(*fields, "deliveries")), reply_str(*id));
        }
      }
      out.push_back(std::move(line));
    }
  }
  return out;
}

}  // namespace sluice::redis
