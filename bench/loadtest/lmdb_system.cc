// LMDB under test: an mmap'ed B-tree that many processes read, as the obvious alternative for
// a shared-memory store on one host. Key = Larder's entity key bytes (Int64, 8 bytes LE);
// value = Larder's FlatBuffer row, so reads verify and decode exactly as Larder's read path
// does (VerifyRowForView unless --no-verify, then IsNullFeature / DecodeFeature per feature). The database file
// lives next to the Larder segment (/dev/shm by default: memory, like the segment).
//
// Readers keep one read-only transaction handle and renew / reset it per request (LMDB's
// recommended pattern for readers); mdb_get returns a pointer into the map, 2-byte aligned:
// a row that is not 8-aligned is copied to an aligned buffer before it is decoded (FlatBuffers
// reads 8-byte scalars in place).
#include <cstdio>
#include <cstring>
#include <numeric>

#include "bench/loadtest/loadtest.h"
#include "engine/rows/row_codec.h"

#if LARDER_HAVE_LMDB
#include <lmdb.h>
#endif

namespace larder::loadtest {

#if LARDER_HAVE_LMDB

namespace {

std::string MdbError(const char* what, int rc) {
  return std::string("lmdb: ") + what + ": " + mdb_strerror(rc);
}

uint64_t MapSize(const Config& c) {
  return static_cast<uint64_t>(c.entities) * (400 + 16 * c.float_features + 64 * c.string_features) +
         (uint64_t{256} << 20);
}

class LmdbClient : public Client {
 public:
  LmdbClient(const Config& c, const ViewInfo* view, MDB_env* env, MDB_txn* txn, MDB_dbi dbi)
      : cfg_(c), view_(view), env_(env), txn_(txn), dbi_(dbi) {}
  ~LmdbClient() override {
    mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }

  int64_t Lookup(const int64_t* ids, size_t n) override {
    PrepareResponse(cfg_, n, &resp_);
    if (int rc = mdb_txn_renew(txn_); rc != 0) {
      error_ = MdbError("mdb_txn_renew", rc);
      return -1;
    }
    int64_t found = 0;
    for (size_t r = 0; r < n; ++r) {
      Value& key_value = resp_.results[0].values[r];
      key_value.is_null = false;
      key_value.i64 = ids[r];
      int64_t id = ids[r];
      MDB_val key{sizeof(id), &id};
      MDB_val data{};
      int rc = mdb_get(txn_, dbi_, &key, &data);
      if (rc == MDB_NOTFOUND) continue;
      if (rc != 0) {
        error_ = MdbError("mdb_get", rc);
        mdb_txn_reset(txn_);
        return -1;
      }
      const auto* p = static_cast<const uint8_t*>(data.mv_data);
      if ((reinterpret_cast<uintptr_t>(p) & 7) != 0) {
        aligned_.resize((data.mv_size + 7) / 8);
        std::memcpy(aligned_.data(), p, data.mv_size);
        p = reinterpret_cast<const uint8_t*>(aligned_.data());
      }
      if (cfg_.verify_rows && !VerifyRowForView(p, data.mv_size, *view_)) {
        for (size_t k = 1; k < resp_.results.size(); ++k) {
          resp_.results[k].statuses[r] = FieldStatus::kInvalid;
        }
        continue;
      }
      const fb::Row* row = RowFromBuffer(p);
      const TimestampMicros ts = row->event_ts();
      for (const FeatureInfo& f : view_->features) {
        FeatureColumn& col = resp_.results[1 + f.index];
        col.event_timestamps[r] = ts;
        if (IsNullFeature(row, f)) {
          col.statuses[r] = FieldStatus::kNullValue;
        } else if (!DecodeFeature(row, f, &col.values[r])) {
          col.statuses[r] = FieldStatus::kInvalid;
        } else {
          col.statuses[r] = FieldStatus::kPresent;
        }
      }
      ++found;
    }
    mdb_txn_reset(txn_);
    return found;
  }

  bool Check(size_t r, int64_t id) const override { return CheckResponseRow(cfg_, resp_, r, id); }

 private:
  Config cfg_;
  const ViewInfo* view_;
  MDB_env* env_;
  MDB_txn* txn_;
  MDB_dbi dbi_;
  OnlineResponse resp_;
  std::vector<uint64_t> aligned_;
};

}  // namespace

bool LmdbAvailable() { return true; }

std::string BuildLmdb(const Env& env, LmdbBuild* out) {
  const Config& c = env.cfg;
  const ViewInfo* view = env.catalog ? env.catalog->FindView(kView) : nullptr;
  if (view == nullptr) return "lmdb: no catalog (build Larder first)";
  int major = 0, minor = 0, patch = 0;
  mdb_version(&major, &minor, &patch);
  out->version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  MDB_env* menv = nullptr;
  int rc = mdb_env_create(&menv);
  if (rc != 0) return MdbError("mdb_env_create", rc);
  auto fail = [&](const char* what, int code) {
    mdb_env_close(menv);
    return MdbError(what, code);
  };
  if ((rc = mdb_env_set_mapsize(menv, MapSize(c))) != 0) return fail("mdb_env_set_mapsize", rc);
  // NOSYNC: the file is in tmpfs and this is a bulk load; readers see committed data either way.
  if ((rc = mdb_env_open(menv, env.lmdb_path.c_str(), MDB_NOSUBDIR | MDB_NOSYNC, 0640)) != 0) {
    return fail("mdb_env_open", rc);
  }
  const int64_t t0 = NowNs();
  // Keys in LMDB's (memcmp) order, appended: pages fill up as a bulk load would leave them.
  std::vector<int64_t> ids(static_cast<size_t>(c.entities));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  std::sort(ids.begin(), ids.end(), [](int64_t a, int64_t b) {
    return __builtin_bswap64(static_cast<uint64_t>(a)) < __builtin_bswap64(static_cast<uint64_t>(b));
  });
  RowEncoder enc;
  std::vector<Value> values(view->features.size());
  MDB_dbi dbi = 0;
  constexpr size_t kTxnRows = 100000;
  for (size_t first = 0; first < ids.size(); first += kTxnRows) {
    MDB_txn* txn = nullptr;
    if ((rc = mdb_txn_begin(menv, nullptr, 0, &txn)) != 0) return fail("mdb_txn_begin", rc);
    if ((rc = mdb_dbi_open(txn, nullptr, 0, &dbi)) != 0) {
      mdb_txn_abort(txn);
      return fail("mdb_dbi_open", rc);
    }
    for (size_t i = first; i < std::min(ids.size(), first + kTxnRows); ++i) {
      int64_t id = ids[i];
      for (const FeatureInfo& f : view->features) {
        values[f.index] = f.index < static_cast<uint32_t>(c.float_features)
                              ? Value::Float32(FloatValue(id, static_cast<int>(f.index)))
                              : Value::String(StringValue(id, static_cast<int>(f.index) - c.float_features));
      }
      std::string_view row = enc.Encode(*view, kBaseSeconds * 1'000'000, 0, values.data());
      MDB_val key{sizeof(id), &id};
      MDB_val data{row.size(), const_cast<char*>(row.data())};
      if ((rc = mdb_put(txn, dbi, &key, &data, MDB_APPEND)) != 0) {
        mdb_txn_abort(txn);
        return fail("mdb_put", rc);
      }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) return fail("mdb_txn_commit", rc);
    std::fprintf(stderr, "\r[build] lmdb: %zu / %zu entities",
                 std::min(ids.size(), first + kTxnRows), ids.size());
  }
  out->seconds = static_cast<double>(NowNs() - t0) / 1e9;
  std::fprintf(stderr, " (%.1f s)\n", out->seconds);
  MDB_envinfo info{};
  MDB_stat st{};
  mdb_env_info(menv, &info);
  mdb_env_stat(menv, &st);
  out->depth = st.ms_depth;
  out->bytes_per_entity = static_cast<double>(info.me_last_pgno + 1) * st.ms_psize /
                          static_cast<double>(c.entities);
  mdb_env_close(menv);
  return "";
}

std::unique_ptr<Client> MakeLmdbClient(const Env& env, std::string* error) {
  const ViewInfo* view = env.catalog->FindView(kView);
  MDB_env* menv = nullptr;
  int rc = mdb_env_create(&menv);
  if (rc != 0) {
    *error = MdbError("mdb_env_create", rc);
    return nullptr;
  }
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  if ((rc = mdb_env_set_mapsize(menv, MapSize(env.cfg))) != 0 ||
      (rc = mdb_env_open(menv, env.lmdb_path.c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0640)) != 0 ||
      (rc = mdb_txn_begin(menv, nullptr, MDB_RDONLY, &txn)) != 0 ||
      (rc = mdb_dbi_open(txn, nullptr, 0, &dbi)) != 0) {
    *error = MdbError("open for reading", rc);
    if (txn != nullptr) mdb_txn_abort(txn);
    mdb_env_close(menv);
    return nullptr;
  }
  mdb_txn_reset(txn);
  return std::make_unique<LmdbClient>(env.cfg, view, menv, txn, dbi);
}

#else  // !LARDER_HAVE_LMDB

bool LmdbAvailable() { return false; }
std::string BuildLmdb(const Env&, LmdbBuild*) { return "built without LMDB"; }
std::unique_ptr<Client> MakeLmdbClient(const Env&, std::string* error) {
  *error = "built without LMDB";
  return nullptr;
}

#endif

}  // namespace larder::loadtest
