// larder get: one get_online_features call through a pure reader (OnlineReader), printed as the
// HTTP feature server's JSON; --repeat N also times N more calls.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <set>

#include "wire/response_json.h"
#include "larder/feature_store.h"
#include "tools/cli/commands.h"

namespace larder::cli {

namespace {

constexpr std::string_view kCmd = "get";

}  // namespace

// Join key name → its type, from every view of the registry.
std::map<std::string, ScalarType> JoinKeyTypes(const RepoConfig& registry) {
  std::map<std::string, ScalarType> types;
  for (const FeatureViewDef& v : registry.views) {
    for (const JoinKeyDef& k : v.join_keys) types.emplace(k.name, k.type);
  }
  return types;
}

namespace {

// The cell for an entity value typed on the command line: text for String and Bytes keys
// (Bytes as base64, as in JSON requests), an integer when the text is one, else text (which the
// engine refuses with a message naming the value and the key's type).
Cell EntityCell(const std::string& key, const std::string& text,
                const std::map<std::string, ScalarType>& key_types) {
  auto it = key_types.find(key);
  if (it != key_types.end() &&
      (it->second == ScalarType::kString || it->second == ScalarType::kBytes)) {
    return Cell::String(text);
  }
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto res = std::from_chars(text.data(), end, v);
  if (!text.empty() && res.ec == std::errc() && res.ptr == end) return Cell::Int(v);
  return Cell::String(text);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

// Builds the request's column-major entity frame from "k1=v1,k2=v2" rows. Every row must give
// the same keys (in any order); columns follow the first row's order.
Result<Frame> EntityFrame(const std::vector<std::string>& rows,
                          const std::map<std::string, ScalarType>& key_types) {
  Frame frame;
  frame.origin = "--entity";
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::string& row = rows[r];
    const std::string where = "--entity '" + row + "' (entity row " + std::to_string(r + 1) + ")";
    std::map<std::string, std::string> kv;
    std::vector<std::string> order;
    size_t start = 0;
    while (start <= row.size()) {
      size_t comma = std::min(row.find(',', start), row.size());
      std::string part = row.substr(start, comma - start);
      size_t eq = part.find('=');
      if (eq == std::string::npos || eq == 0) {
        return InvalidArgument(where + ": '" + part + "' is not of the form KEY=VALUE");
      }
      std::string key = part.substr(0, eq);
      if (!kv.emplace(key, part.substr(eq + 1)).second) {
        return InvalidArgument(where + ": key '" + key + "' is given twice");
      }
      order.push_back(key);
      start = comma + 1;
    }
    if (r == 0) {
      frame.names = order;
      frame.columns.resize(order.size());
    } else {
      std::set<std::string> want(frame.names.begin(), frame.names.end());
      std::set<std::string> got(order.begin(), order.end());
      if (want != got) {
        return InvalidArgument(where + " gives keys " + JoinNames(order) +
                               " but entity row 1 gives " + JoinNames(frame.names) +
                               "; every entity row must give the same keys");
      }
    }
    for (size_t c = 0; c < frame.names.size(); ++c) {
      const std::string& key = frame.names[c];
      frame.columns[c].push_back(EntityCell(key, kv[key], key_types));
    }
  }
  return frame;
}

namespace {

// Times `repeat` calls and prints "lookup latency over N runs: median X ns, p99 Y ns, min Z ns".
Status TimeLookups(const OnlineReader& reader, const OnlineRequest& request, uint64_t repeat) {
  std::vector<int64_t> ns;
  ns.reserve(repeat);
  for (uint64_t i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto resp = reader.GetOnlineFeatures(request);
    auto t1 = std::chrono::steady_clock::now();
    if (!resp.ok()) return resp.status();
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  const size_t n = ns.size();
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto rank = [&](size_t percent) { return ns[std::max<size_t>(1, (n * percent + 99) / 100) - 1]; };
  std::cerr << "lookup latency over " << n << " runs: median " << rank(50) << " ns, p99 "
            << rank(99) << " ns, min " << ns.front() << " ns\n";
  return Status::Ok();
}

}  // namespace

int RunGet(const GetOptions& options) {
  auto config = LoadRepoConfig(options.repo);
  if (!config.ok()) return Fail(kCmd, config.status());
  auto reader = OnlineReader::AttachTo(*config);
  if (!reader.ok()) return Fail(kCmd, reader.status());
  auto registry = (*reader)->Registry();
  if (!registry.ok()) return Fail(kCmd, registry.status());

  OnlineRequest request;
  request.features = options.features;
  request.feature_service = options.feature_service;
  request.full_feature_names = options.full_feature_names;
  auto entities = EntityFrame(options.entities, JoinKeyTypes(*registry));
  if (!entities.ok()) return Fail(kCmd, entities.status());
  request.entities = std::move(entities).value();

  auto response = (*reader)->GetOnlineFeatures(request);
  if (!response.ok()) return Fail(kCmd, response.status());
  std::cout << OnlineResponseToJson(*response) << "\n" << std::flush;

  if (options.repeat > 0) {
    Status st = TimeLookups(**reader, request, options.repeat);
    if (!st.ok()) return Fail(kCmd, st);
  }
  return 0;
}

}  // namespace larder::cli
