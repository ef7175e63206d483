// larder inspect (figures of the segment, as text or JSON) and larder check (its invariants).
// Both attach as a pure reader: they need read access to the segment only (`check --repair`
// opens it for writing).
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>

#include "larder/feature_store.h"
#include "tools/cli/cmd_offline.h"
#include "tools/cli/commands.h"
#include "wire/response_json.h"

namespace larder::cli {

namespace {

Result<std::unique_ptr<OnlineReader>> AttachRepo(const std::string& repo) {
  LARDER_ASSIGN_OR_RETURN(RepoConfig config, LoadRepoConfig(repo));
  return OnlineReader::AttachTo(config);
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(n);
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// "3650d", "2h", "90m", "45s"; 0 → "none" (never expires).
std::string HumanTtl(int64_t s) {
  if (s == 0) return "none";
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// Fraction of index words in use.
double LoadFactor(const StoreInfo& info) {
  return info.index_words == 0
             ? 0
             : static_cast<double>(info.index_entries) / static_cast<double>(info.index_words);
}

// Prints rows as left-aligned columns, two spaces apart, indented by two.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t c = 0; c < row.size(); ++c) {
      line += " " + row[c];
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 1, ' ');
    }
    std::cout << line << "\n";
  }
}

void PrintText(const StoreInfo& info) {
  const uint64_t self = static_cast<uint64_t>(::getpid());
  auto field = [](const char* name, const std::string& value) {
    std::cout << std::left << std::setw(16) << name << " " << value << "\n";
  };
  char load[32];
  std::snprintf(load, sizeof(load), "%.3f", LoadFactor(info));
  field("project", info.project);
  field("path", info.path);
  field("memory limit",
        HumanBytes(info.file_size) + " (" + std::to_string(info.file_size) + " bytes)");
  field("arena", "used " + HumanBytes(info.arena_used) + ", free " +
                     HumanBytes(info.free_list_bytes) + ", limbo " + HumanBytes(info.limbo_bytes));
  field("index", std::to_string(info.index_buckets) + " buckets, capacity " +
                     std::to_string(info.index_capacity) + " entries, " +
                     std::to_string(info.index_entries) + " entries (" +
                     std::to_string(info.index_withdrawn_rows) +
                     " withdrawn by recovery), load factor " + load + ", " +
                     std::to_string(info.index_growths) + " growths, " +
                     HumanBytes(info.index_bytes));
  field("registry", "generation " + std::to_string(info.registry_generation));
  field("epoch", std::to_string(info.global_epoch));
  field("visible batch", std::to_string(info.visible_batch));
  field("write batches", std::to_string(info.write_batches));
  field("rows", "written " + std::to_string(info.rows_written) + ", skipped " +
                    std::to_string(info.rows_skipped_older) + " as older than stored rows");
  std::string recoveries = std::to_string(info.recoveries);
  if (info.recoveries > 0) {
    recoveries += " (last took " + std::to_string(info.last_recovery_micros) + " µs)";
  }
  field("recoveries", recoveries);
  field("stuck readers", std::to_string(info.stuck_reader_reports) +
                             " holds withdrawn after the writers' grace period");
  if (info.writer_pid != 0) {
    field("writer", "pid " + std::to_string(info.writer_pid) +
                        " (a batch is in progress, or its writer died)");
  }

  std::cout << "\nfeature views:\n";
  std::vector<std::vector<std::string>> views = {
      {"NAME", "ID", "ROWS", "BYTES", "IN RUNS", "TTL", "SOURCE"}};
  for (const ViewStats& v : info.views) {
    char in_runs[16] = "-";
    if (v.rows > 0) {
      std::snprintf(in_runs, sizeof in_runs, "%.0f%%",
                    100.0 * static_cast<double>(v.rows_in_runs) / static_cast<double>(v.rows));
    }
    views.push_back({v.name, std::to_string(v.id), std::to_string(v.rows), HumanBytes(v.row_bytes),
                     in_runs, HumanTtl(v.ttl_seconds), v.source});
  }
  PrintTable(views);

  std::cout << "\nreaders:\n";
  std::vector<std::vector<std::string>> readers = {
      {"SLOT", "PID", "TID", "EPOCH", "LOOKUPS", "ALIVE", "HOLDS BACK"}};
  for (const ReaderInfo& r : info.readers) {
    std::string epoch = std::to_string(r.epoch);
    if (r.withdrawn) epoch += " (withdrawn: stuck in a lookup)";
    readers.push_back({std::to_string(r.slot),
                       std::to_string(r.pid) + (r.pid == self ? " (this command)" : ""),
                       std::to_string(r.tid), epoch, std::to_string(r.lookups),
                       r.alive ? "yes" : "no", HumanBytes(r.held_back_bytes)});
  }
  PrintTable(readers);
}

std::string InfoJson(const StoreInfo& info) {
  const uint64_t self = static_cast<uint64_t>(::getpid());
  JsonWriter w;
  w.BeginObject();
  w.Key("project").String(info.project);
  w.Key("path").String(info.path);
  w.Key("memory_limit").UInt(info.file_size);
  w.Key("arena_used").UInt(info.arena_used);
  w.Key("free_list_bytes").UInt(info.free_list_bytes);
  w.Key("limbo_bytes").UInt(info.limbo_bytes);
  w.Key("index").BeginObject();
  w.Key("buckets").UInt(info.index_buckets);
  w.Key("capacity").UInt(info.index_capacity);
  w.Key("entries").UInt(info.index_entries);
  w.Key("withdrawn_rows").UInt(info.index_withdrawn_rows);
  w.Key("load_factor").Double(LoadFactor(info));
  w.Key("growths").UInt(info.index_growths);
  w.Key("bytes").UInt(info.index_bytes);
  w.EndObject();
  w.Key("registry_generation").UInt(info.registry_generation);
  w.Key("epoch").UInt(info.global_epoch);
  w.Key("visible_batch").UInt(info.visible_batch);
  w.Key("write_batches").UInt(info.write_batches);
  w.Key("rows_written").UInt(info.rows_written);
  w.Key("rows_skipped_older").UInt(info.rows_skipped_older);
  w.Key("recoveries").UInt(info.recoveries);
  w.Key("last_recovery_micros").UInt(info.last_recovery_micros);
  w.Key("writer_pid").UInt(info.writer_pid);
  w.Key("stuck_reader_reports").UInt(info.stuck_reader_reports);
  w.Key("views").BeginArray();
  for (const ViewStats& v : info.views) {
    w.BeginObject();
    w.Key("name").String(v.name);
    w.Key("id").UInt(v.id);
    w.Key("rows").UInt(v.rows);
    w.Key("bytes").UInt(v.row_bytes);
    w.Key("rows_in_runs").UInt(v.rows_in_runs);
    w.Key("ttl_seconds").Int(v.ttl_seconds);
    w.Key("source").String(v.source);
    w.EndObject();
  }
  w.EndArray();
  w.Key("readers").BeginArray();
  for (const ReaderInfo& r : info.readers) {
    w.BeginObject();
    w.Key("slot").UInt(r.slot);
    w.Key("pid").UInt(r.pid);
    w.Key("tid").UInt(r.tid);
    w.Key("epoch").UInt(r.epoch);
    w.Key("lookups").UInt(r.lookups);
    w.Key("alive").Bool(r.alive);
    w.Key("withdrawn").Bool(r.withdrawn);
    w.Key("held_back_bytes").UInt(r.held_back_bytes);
    w.Key("this_process").Bool(r.pid == self);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

}  // namespace

int RunInspect(const std::string& repo, bool json) {
  auto reader = AttachRepo(repo);
  if (!reader.ok()) return Fail("inspect", reader.status());
  auto info = (*reader)->Inspect();
  if (!info.ok()) return Fail("inspect", info.status());
  if (json) {
    std::cout << InfoJson(*info) << "\n";
  } else {
    PrintText(*info);
  }
  return 0;
}

namespace {

// Where the arena's bytes are (every block is held by exactly one of these in a sound store).
void PrintAccount(const CheckReport& r) {
  if (!r.accounted) return;
  const ArenaAccount& a = r.bytes;
  std::cout << "arena: " << a.arena << " bytes = rows " << a.rows << " + index " << a.index
            << " + registry " << a.registry << " + free " << a.free << " + limbo " << a.limbo
            << " + pad " << a.pad;
  if (a.leaked != 0) std::cout << " + LEAKED " << a.leaked;
  std::cout << "\n";
}

}  // namespace

int RunCheck(const std::string& repo, bool repair) {
  if (repair) {
    auto fs = FeatureStore::Open(repo);
    if (!fs.ok()) return Fail("check --repair", fs.status());
    auto repaired = (*fs)->Repair();
    if (!repaired.ok()) return Fail("check --repair", repaired.status());
    std::cout << (*repaired ? "repaired: a writer had died mid-batch; its free lists were rebuilt\n"
                            : "no repair needed: no writer died mid-batch\n");
  }
  const int offline_violations = CheckOfflineStore(repo);  // the batch-source files
  auto reader = AttachRepo(repo);
  if (!reader.ok()) return Fail("check", reader.status());
  auto report = (*reader)->Check();
  if (!report.ok()) return Fail("check", report.status());
  if (report->ok() && offline_violations > 0) {
    std::cout << "check failed: " << offline_violations << " violation"
              << (offline_violations == 1 ? "" : "s")
              << " in batch-source files (online store: " << report->blocks << " blocks, "
              << report->rows << " rows, no violation)\n";
    return 1;
  }
  if (report->ok() && report->dead_writer_pid != 0) {
    std::cout << "a writer died mid-batch (pid " << report->dead_writer_pid
              << "); the next writer (or `larder check --repair`) repairs it. Published rows: "
              << report->blocks << " blocks, " << report->rows << " rows, no violation\n";
    return kCheckAwaitsRepair;
  }
  if (report->ok()) {
    std::cout << "ok: " << report->blocks << " blocks, " << report->rows
              << " rows, every invariant holds\n";
    PrintAccount(*report);
    return 0;
  }
  for (const std::string& v : report->violations) std::cout << "violation: " << v << "\n";
  PrintAccount(*report);
  if (report->dead_writer_pid != 0) {
    std::cout << "also: a writer died mid-batch (pid " << report->dead_writer_pid
              << "); its free lists were not checked\n";
  }
  std::cout << "check failed: " << report->violations.size() << " violation"
            << (report->violations.size() == 1 ? "" : "s") << " (" << report->blocks << " blocks, "
            << report->rows << " rows)\n";
  return 1;
}

}  // namespace larder::cli
