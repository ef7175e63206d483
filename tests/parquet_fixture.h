// Helpers of the Parquet offline tests (tests/parquet_offline_test.cc, parquet_push_test.cc):
// Feast's driver_stats repo over a Parquet or CSV path, Parquet files read back as CSV text, and
// a fixture pairing a Parquet source with the same rows as CSV.
#pragma once

#include <gtest/gtest.h>

#include <charconv>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/parquet/parquet_file.h"
#include "larder/timestamp.h"
#include "tests/offline_fixture.h"

namespace larder::testing {

inline std::string Fixture(const std::string& name) {
  return std::string(LARDER_SOURCE_DIR) + "/tests/data/parquet/" + name;
}

// Feast's driver_stats example: view `driver_hourly_stats` over source `driver_stats` at `path`.
inline std::string DriverRepo(const std::string& path, const std::string& conv_dtype = "Float32",
                              const std::string& ttl = "0") {
  return "entities:\n"
         "  - name: driver\n"
         "    join_keys: [driver_id]\n"
         "    value_type: Int64\n"
         "sources:\n"
         "  - name: driver_stats\n"
         "    type: file\n"
         "    path: " +
         path +
         "\n"
         "    timestamp_field: event_timestamp\n"
         "    created_timestamp_column: created\n"
         "  - name: driver_stats_push\n"
         "    type: push\n"
         "    batch_source: driver_stats\n"
         "feature_views:\n"
         "  - name: driver_hourly_stats\n"
         "    entities: [driver]\n"
         "    ttl: " +
         ttl +
         "\n"
         "    source: driver_stats\n"
         "    schema:\n"
         "      - {name: conv_rate, dtype: " +
         conv_dtype +
         "}\n"
         "      - {name: acc_rate, dtype: Float32}\n"
         "      - {name: avg_daily_trips, dtype: Int64}\n";
}

inline const std::vector<std::string> kColumns = {"event_timestamp", "created",  "driver_id",
                                                  "conv_rate",       "acc_rate", "avg_daily_trips"};

// The rows of Parquet files as CSV text (kColumns), converted with Larder's Parquet reader:
// timestamps as RFC 3339, floats as the shortest text that reads back to the same float.
inline std::string ParquetAsCsv(const std::vector<std::string>& files, std::set<int64_t>* ids) {
  std::string csv;
  for (size_t c = 0; c < kColumns.size(); ++c) csv += (c ? "," : "") + kColumns[c];
  csv += "\n";
  for (const std::string& path : files) {
    auto f = parquet::ParquetFile::Open(path);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return csv;
    for (size_t rg = 0; rg < (*f)->num_row_groups(); ++rg) {
      std::vector<parquet::Column> cols;
      for (const std::string& name : kColumns) {
        const parquet::Field* field = (*f)->FindField(name);
        EXPECT_NE(field, nullptr) << name;
        if (field == nullptr) return csv;
        auto col = (*f)->ReadColumn(rg, *field);
        EXPECT_TRUE(col.ok()) << col.status().ToString();
        if (!col.ok()) return csv;
        cols.push_back(std::move(*col));
      }
      for (size_t r = 0; r < cols[0].rows; ++r) {
        for (size_t c = 0; c < cols.size(); ++c) {
          if (c > 0) csv += ",";
          const parquet::Column& col = cols[c];
          if (!col.valid[r]) continue;
          char buf[64];
          switch (col.kind) {
            case parquet::ValueKind::kTimestamp:
              csv += FormatTimestamp(col.i64[r]);
              break;
            case parquet::ValueKind::kInt:
              csv += std::to_string(col.i64[r]);
              break;
            case parquet::ValueKind::kFloat: {
              auto res = std::to_chars(buf, buf + sizeof buf, static_cast<float>(col.f64[r]));
              csv.append(buf, res.ptr);
              break;
            }
            case parquet::ValueKind::kDouble: {
              auto res = std::to_chars(buf, buf + sizeof buf, col.f64[r]);
              csv.append(buf, res.ptr);
              break;
            }
            default:
              ADD_FAILURE() << "unexpected kind in column " << kColumns[c];
          }
        }
        csv += "\n";
        ids->insert(cols[2].i64[r]);
      }
    }
  }
  return csv;
}

struct Online {
  std::vector<Value> values;
  std::vector<FieldStatus> statuses;
  std::vector<TimestampMicros> ts;
};

// Every feature of the view for `ids`, read online.
inline Online ReadAll(FeatureStore& fs, const std::set<int64_t>& ids) {
  Online out;
  std::vector<int64_t> v(ids.begin(), ids.end());
  auto r = fs.GetOnlineFeatures(
      Features({"driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                "driver_hourly_stats:avg_daily_trips"},
               MakeFrame({{"driver_id", Ints(v)}})));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  for (size_t i = 1; i < r->results.size(); ++i) {
    for (size_t k = 0; k < v.size(); ++k) {
      out.values.push_back(r->results[i].values[k]);
      out.statuses.push_back(r->results[i].statuses[k]);
      out.ts.push_back(r->results[i].event_timestamps[k]);
    }
  }
  return out;
}

class ParquetSourceTest : public ::testing::Test {
 protected:
  // A repo reading `path` (relative to the repo), applied.
  std::unique_ptr<FeatureStore> OpenRepo(Repo& repo, const std::string& path,
                                         const std::string& conv_dtype = "Float32",
                                         const std::string& ttl = "0") {
    repo.Write(DriverRepo(path, conv_dtype, ttl));
    auto fs = repo.OpenApplied();
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    return fs.ok() ? std::move(*fs) : nullptr;
  }
  static void Copy(const std::string& from, const std::string& to) {
    std::filesystem::create_directories(std::filesystem::path(to).parent_path());
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  }

  // Feast's example file as the source of `pq`, and the same rows as CSV as that of `csv`.
  void OpenFeastPair(Repo& pq, Repo& csv, std::set<int64_t>* ids,
                     std::unique_ptr<FeatureStore>* fs_pq, std::unique_ptr<FeatureStore>* fs_csv) {
    Spit(csv.dir() + "/data/driver_stats.csv",
         ParquetAsCsv({Fixture("feast_driver_stats.parquet")}, ids));
    *fs_pq = OpenRepo(pq, "data/driver_stats.parquet");
    *fs_csv = OpenRepo(csv, "data/driver_stats.csv");
    ASSERT_TRUE(*fs_pq && *fs_csv);
    Copy(Fixture("feast_driver_stats.parquet"), pq.dir() + "/data/driver_stats.parquet");
  }

  // Materializes [start, end] from `parquet_files` laid out as `layout` (a file or a directory
  // under the repo) and from the same rows as CSV; expects the same results and online rows.
  void ExpectSameAsCsv(const std::vector<std::string>& parquet_files, const std::string& layout,
                       TimestampMicros start, TimestampMicros end) {
    Repo pq, csv;
    std::set<int64_t> ids;
    Spit(csv.dir() + "/data/driver_stats.csv", ParquetAsCsv(parquet_files, &ids));
    ASSERT_GT(ids.size(), 1u);
    auto fs_pq = OpenRepo(pq, layout);
    auto fs_csv = OpenRepo(csv, "data/driver_stats.csv");
    ASSERT_TRUE(fs_pq && fs_csv);
    if (parquet_files.size() == 1 && layout.ends_with(".parquet")) {
      Copy(parquet_files[0], pq.dir() + "/" + layout);
    } else {
      for (size_t i = 0; i < parquet_files.size(); ++i) {
        Copy(parquet_files[i], pq.dir() + "/" + layout + "/part-" + std::to_string(i) + ".parquet");
      }
      Spit(pq.dir() + "/" + layout + "/_SUCCESS", "");              // skipped
      Spit(pq.dir() + "/" + layout + "/.part-0.parquet.crc", "x");  // skipped
    }
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult a, fs_pq->Materialize(start, end, {}));
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult b, fs_csv->Materialize(start, end, {}));
    ASSERT_EQ(a.views.size(), 1u);
    ASSERT_EQ(b.views.size(), 1u);
    EXPECT_GT(a.views[0].rows_read, 0u);
    EXPECT_GT(a.views[0].rows_written, 1u);
    EXPECT_EQ(a.views[0].rows_read, b.views[0].rows_read);
    EXPECT_EQ(a.views[0].rows_written, b.views[0].rows_written);
    EXPECT_EQ(a.views[0].rows_skipped, b.views[0].rows_skipped);
    Online x = ReadAll(*fs_pq, ids);
    Online y = ReadAll(*fs_csv, ids);
    ASSERT_EQ(x.values.size(), y.values.size());
    size_t present = 0;
    for (size_t i = 0; i < x.values.size(); ++i) {
      EXPECT_EQ(x.values[i], y.values[i]) << i;
      EXPECT_EQ(x.statuses[i], y.statuses[i]) << i;
      EXPECT_EQ(x.ts[i], y.ts[i]) << i;
      present += x.statuses[i] == FieldStatus::kPresent;
    }
    EXPECT_GT(present, 0u);
  }
};

// `repo_yaml` (DriverRepo) with the view reading the push source, so that pushes reach it online.
inline std::string ViewOnPushSource(std::string repo_yaml) {
  const std::string from = "    source: driver_stats\n";
  repo_yaml.replace(repo_yaml.find(from), from.size(), "    source: driver_stats_push\n");
  return repo_yaml;
}

// A cell's kind and text, for comparing frames cell by cell.
inline std::string CellText(const Cell& c) {
  return std::to_string(static_cast<int>(c.kind)) + DescribeCell(c);
}

// Joins the driver_hourly_stats features of `ids`, each at every time of `whens`, against `a`
// and `b`, and expects the same frames cell by cell, with more than the entity columns set.
inline void ExpectSameDriverHistory(FeatureStore& a, FeatureStore& b, const std::set<int64_t>& ids,
                                    const std::vector<const char*>& whens) {
  std::vector<Cell> id_cells, ts_cells;
  for (int64_t id : ids) {
    for (const char* when : whens) {
      id_cells.push_back(I(id));
      ts_cells.push_back(S(when));
    }
  }
  HistoricalRequest req;
  req.features = {"driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                  "driver_hourly_stats:avg_daily_trips"};
  req.entity_df = MakeFrame({{"driver_id", id_cells}, {"event_timestamp", ts_cells}});
  LARDER_ASSERT_OK_AND_ASSIGN(Frame x, a.GetHistoricalFeatures(req));
  LARDER_ASSERT_OK_AND_ASSIGN(Frame y, b.GetHistoricalFeatures(req));
  ASSERT_EQ(x.names, y.names);
  ASSERT_EQ(x.num_rows(), y.num_rows());
  size_t non_null = 0;
  for (size_t c = 0; c < x.columns.size(); ++c) {
    for (size_t r = 0; r < x.num_rows(); ++r) {
      EXPECT_EQ(CellText(x.columns[c][r]), CellText(y.columns[c][r])) << x.names[c] << " row " << r;
      non_null += x.columns[c][r].kind != Cell::Kind::kNull;
    }
  }
  EXPECT_GT(non_null, 2 * x.num_rows());  // more than the two entity columns
}

}  // namespace larder::testing
