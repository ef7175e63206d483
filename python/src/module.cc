// The `larder._larder` extension module: FeatureStore and OnlineReader over the C++ API.
// The pure-Python package (python/larder/) subclasses _Store and _Reader and adds the pandas
// conversions; reads go straight to the C++ methods here.
//
// The GIL is released around every engine call (lookups, pushes, apply, materialize, inspect),
// so threads read concurrently; Python objects are only touched with the GIL held.
#include <pybind11/stl.h>

#include <optional>
#include <type_traits>

#include "binding.h"
#include "larder/timestamp.h"

namespace larder::python {

namespace {

// ---- Engine results → Python ----

template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) ThrowStatus(r.status());
  return std::move(r).value();
}

void Check(const Status& st) {
  if (!st.ok()) ThrowStatus(st);
}

// Runs `call` (an engine call returning a Status or a Result<T>) with the GIL released, then
// raises its error or returns the T.
template <typename Fn>
auto WithoutGil(Fn&& call) {
  using R = std::invoke_result_t<Fn&>;
  std::optional<R> r;
  {
    py::gil_scoped_release nogil;
    r.emplace(call());
  }
  if constexpr (std::is_same_v<R, Status>) {
    Check(*r);
  } else {
    return Unwrap(std::move(*r));
  }
}

py::dict TagsDict(const Tags& tags) {
  py::dict d;
  for (const auto& [k, v] : tags) d[py::str(k)] = v;
  return d;
}

// A list of one dict per item, each filled by fill(item, dict).
template <typename T, typename Fill>
py::list DictList(const std::vector<T>& items, Fill&& fill) {
  py::list out;
  for (const T& item : items) {
    py::dict d;
    fill(item, d);
    out.append(d);
  }
  return out;
}

// The description, tags and owner that every definition of a repo carries.
template <typename Def>
void SetMetadata(const Def& def, py::dict& d) {
  d["description"] = def.description;
  d["tags"] = TagsDict(def.tags);
  d["owner"] = def.owner;
}

py::dict ConfigDict(const RepoConfig& c) {
  py::dict out;
  out["project"] = c.project;
  out["repo_path"] = c.repo_dir;
  py::dict os;
  os["path"] = c.online_store.path;
  os["initial_capacity"] = c.online_store.initial_capacity;
  os["memory_limit"] = c.online_store.memory_limit;
  os["owner"] = c.online_store.owner;
  out["online_store"] = os;
  out["entities"] = DictList(c.entities, [](const EntityDef& e, py::dict& d) {
    d["name"] = e.name;
    d["join_keys"] = e.join_keys;
    d["value_type"] = ScalarTypeName(e.value_type);
    SetMetadata(e, d);
  });
  out["sources"] = DictList(c.sources, [](const SourceDef& s, py::dict& d) {
    d["name"] = s.name;
    d["type"] = s.kind == SourceKind::kPush   ? "push"
                : s.kind == SourceKind::kFile ? "file"
                                              : "external";
    if (s.kind == SourceKind::kExternal) d["external_type"] = s.external_type;
    d["path"] = s.resolved_path.empty() ? s.path : s.resolved_path;
    d["timestamp_field"] = s.timestamp_field;
    d["created_timestamp_column"] = s.created_timestamp_column;
    d["batch_source"] = s.batch_source;
    SetMetadata(s, d);
  });
  out["feature_views"] = DictList(c.views, [](const FeatureViewDef& v, py::dict& d) {
    d["name"] = v.name;
    d["entities"] = v.entities;
    d["ttl_seconds"] = v.ttl_seconds;
    d["source"] = v.source;
    d["online"] = v.online;
    py::list features;
    for (const FieldDef& f : v.features)
      features.append(py::make_tuple(f.name, DTypeName(f.dtype)));
    d["features"] = features;
    py::list keys;
    for (const JoinKeyDef& k : v.join_keys)
      keys.append(py::make_tuple(k.name, ScalarTypeName(k.type)));
    d["join_keys"] = keys;
    SetMetadata(v, d);
  });
  out["feature_services"] = DictList(c.services, [](const FeatureServiceDef& s, py::dict& d) {
    d["name"] = s.name;
    d["projections"] =
        DictList(s.projections, [](const FeatureServiceDef::Projection& p, py::dict& pd) {
          pd["view"] = p.view;
          pd["features"] = p.features;
        });
    SetMetadata(s, d);
  });
  py::list intervals;
  for (const MaterializedInterval& i : c.intervals) {
    intervals.append(py::make_tuple(i.view, i.start, i.end));
  }
  out["materialized_intervals"] = intervals;
  return out;
}

py::dict StoreInfoDict(const StoreInfo& s) {
  py::dict d;
  d["path"] = s.path;
  d["project"] = s.project;
  d["file_size"] = s.file_size;
  d["arena_used"] = s.arena_used;
  d["free_list_bytes"] = s.free_list_bytes;
  d["limbo_bytes"] = s.limbo_bytes;
  d["index_buckets"] = s.index_buckets;
  d["index_capacity"] = s.index_capacity;
  d["index_entries"] = s.index_entries;
  d["index_withdrawn_rows"] = s.index_withdrawn_rows;
  d["index_bytes"] = s.index_bytes;
  d["index_growths"] = s.index_growths;
  d["registry_generation"] = s.registry_generation;
  d["global_epoch"] = s.global_epoch;
  d["visible_batch"] = s.visible_batch;
  d["write_batches"] = s.write_batches;
  d["rows_written"] = s.rows_written;
  d["rows_skipped_older"] = s.rows_skipped_older;
  d["recoveries"] = s.recoveries;
  d["last_recovery_micros"] = s.last_recovery_micros;
  d["writer_pid"] = s.writer_pid;
  d["stuck_reader_reports"] = s.stuck_reader_reports;
  d["lookups_retried"] = s.lookups_retried;
  d["views"] = DictList(s.views, [](const ViewStats& v, py::dict& vd) {
    vd["name"] = v.name;
    vd["id"] = v.id;
    vd["rows"] = v.rows;
    vd["row_bytes"] = v.row_bytes;
    vd["rows_in_runs"] = v.rows_in_runs;
    vd["ttl_seconds"] = v.ttl_seconds;
    vd["source"] = v.source;
  });
  d["readers"] = DictList(s.readers, [](const ReaderInfo& r, py::dict& rd) {
    rd["slot"] = r.slot;
    rd["pid"] = r.pid;
    rd["tid"] = r.tid;
    rd["epoch"] = r.epoch;
    rd["lookups"] = r.lookups;
    rd["alive"] = r.alive;
    rd["withdrawn"] = r.withdrawn;
    rd["held_back_bytes"] = r.held_back_bytes;
  });
  return d;
}

// ---- Requests ----

std::string ServiceName(py::handle service) {
  if (PyUnicode_Check(service.ptr())) return service.cast<std::string>();
  if (PyObject_HasAttrString(service.ptr(), "name") == 1) {
    return service.attr("name").cast<std::string>();
  }
  ThrowTypeError("feature_service must be a name or a larder.FeatureService");
}

// Fills a request's feature list or feature service name from the Python arguments.
void SetFeatures(py::handle features, py::handle feature_service, std::vector<std::string>* refs,
                 std::string* service) {
  service->clear();
  PyObject* f = features.ptr();
  if (!feature_service.is_none()) {
    if (!features.is_none()) {
      ThrowStatus(InvalidArgument("give either features or feature_service, not both"));
    }
    refs->clear();
    *service = ServiceName(feature_service);
    return;
  }
  if (features.is_none()) {
    ThrowStatus(InvalidArgument(
        "give features (a list of 'feature_view:feature' references) or a feature_service"));
  }
  if (PyList_Check(f) || PyTuple_Check(f)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    PyObject** items = PySequence_Fast_ITEMS(f);
    refs->resize(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!PyUnicode_Check(items[i])) {
        ThrowTypeError("features[" + std::to_string(i) +
                       "] must be a 'feature_view:feature' string, not '" +
                       Py_TYPE(items[i])->tp_name + "'");
      }
      Py_ssize_t size = 0;
      const char* s = PyUnicode_AsUTF8AndSize(items[i], &size);
      if (s == nullptr) throw py::error_already_set();
      std::string& dst = (*refs)[static_cast<size_t>(i)];
      if (std::string_view(dst) != std::string_view(s, static_cast<size_t>(size))) {
        dst.assign(s, static_cast<size_t>(size));
      }
    }
    return;
  }
  if (PyUnicode_Check(f)) {
    ThrowTypeError("features must be a list of 'feature_view:feature' references (use "
                   "feature_service= for a feature service)");
  }
  refs->clear();  // Feast passes a FeatureService object as `features`
  *service = ServiceName(features);
}

// A thread's request, reused across calls so that steady-state lookups do not reallocate the
// feature list and entity columns. `busy` guards re-entry (a Python callback during conversion).
struct Scratch {
  OnlineRequest req;
  bool busy = false;
};
thread_local Scratch t_scratch;

template <typename Engine>
std::unique_ptr<Response> GetOnline(Engine& engine, py::handle features, py::handle entity_rows,
                                    bool full_feature_names, py::handle feature_service,
                                    py::handle entities) {
  std::optional<Scratch> local;
  Scratch* scratch = &t_scratch;
  if (scratch->busy) scratch = &local.emplace();
  scratch->busy = true;
  struct Release {
    Scratch* s;
    ~Release() { s->busy = false; }
  } release{scratch};
  OnlineRequest& req = scratch->req;

  auto resp = std::make_unique<Response>();
  SetFeatures(features, feature_service, &req.features, &req.feature_service);
  BuildEntities(entity_rows, entities, &req.entities, &resp->entity_columns);
  req.full_feature_names = full_feature_names;
  WithoutGil([&] { return engine.GetOnlineFeaturesColumnar(req, &resp->data); });
  // The entity columns the engine used, named by join key (extra columns dropped, an entity
  // name replaced by its join key), as Feast's response has them.
  std::vector<py::object> keys;
  for (const auto& [col, name] : resp->data.key_columns) {
    resp->entity_names.push_back(name);
    keys.push_back(resp->entity_columns[col]);
  }
  resp->entity_columns = std::move(keys);
  resp->rows = req.entities.num_rows();
  return resp;
}

// columns: [(name, values, mask or None), ...] from larder/_convert.py.
Frame FrameFromColumns(py::handle columns, const std::string& origin) {
  Frame df;
  df.origin = origin;
  for (py::handle item : columns) {
    py::tuple t = py::reinterpret_borrow<py::tuple>(item);
    if (t.size() != 3) ThrowTypeError("push columns must be (name, values, mask) tuples");
    df.names.push_back(py::str(t[0]).cast<std::string>());
    df.columns.emplace_back();
    ColumnToCells(t[1], t[2], df.names.back(), &df.columns.back());
  }
  return df;
}

template <typename Fn>
PushResult PushFrame(py::handle columns, const std::string& origin, Fn&& push) {
  Frame df = FrameFromColumns(columns, origin);
  return WithoutGil([&] {
    Result<PushResult> r = push(df);
    Frame gone = std::move(df);  // free the cells without the GIL
    return r;
  });
}

std::vector<std::string> ViewList(py::handle views) {
  std::vector<std::string> out;
  if (views.is_none()) return out;
  if (PyUnicode_Check(views.ptr())) ThrowTypeError("feature_views must be a list of names");
  for (py::handle v : views) {
    out.push_back(PyUnicode_Check(v.ptr()) ? v.cast<std::string>()
                                           : v.attr("name").cast<std::string>());
  }
  return out;
}

// datetime / pd.Timestamp / np.datetime64 / RFC 3339 string / epoch seconds → micros.
TimestampMicros ToMicros(py::handle value) {
  if (PyUnicode_Check(value.ptr())) return Unwrap(ParseTimestamp(value.cast<std::string>()));
  Cell c;
  ObjectToCell(value.ptr(), &c, "timestamp", 0);
  if (c.kind == Cell::Kind::kNull || c.kind == Cell::Kind::kArray) {
    ThrowTypeError("expected a datetime, a timestamp string or epoch seconds, not '" +
                   std::string(Py_TYPE(value.ptr())->tp_name) + "'");
  }
  return Unwrap(CellToTimestamp(c));
}

// A result cell as a Python value (historical retrieval): timestamps arrive as RFC 3339 text
// and are converted by the Python layer, which knows the features' dtypes.
py::object CellToObject(const Cell& c) {
  switch (c.kind) {
    case Cell::Kind::kNull:
      return py::none();
    case Cell::Kind::kBool:
      return py::bool_(c.b);
    case Cell::Kind::kInt:
      return py::int_(c.i);
    case Cell::Kind::kDouble:
      return py::float_(c.d);
    case Cell::Kind::kString:
      return py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(c.s.data(), static_cast<Py_ssize_t>(c.s.size()), "replace"));
    case Cell::Kind::kBytes:
      return py::bytes(c.s);
    case Cell::Kind::kArray: {
      py::list out(c.arr.size());
      for (size_t i = 0; i < c.arr.size(); ++i) {
        PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), CellToObject(c.arr[i]).release().ptr());
      }
      return out;
    }
  }
  return py::none();
}

struct StoreHandle {
  std::unique_ptr<FeatureStore> fs;
};
struct ReaderHandle {
  std::unique_ptr<OnlineReader> reader;
};

constexpr const char* kGetOnlineDoc = R"doc(
Reads the latest feature values of entity rows (Feast's get_online_features).

features: a list of "feature_view:feature" references (or a FeatureService); or
feature_service: a feature service name. entity_rows: a list of dicts ([{"driver_id": 1001}]) or
a dict of columns; entities: a dict of columns ({"driver_id": [1001, 1002]} or numpy arrays, the
fast path for large batches). full_feature_names: name features "view__feature".
include_feature_view_version_metadata: accepted for Feast compatibility and ignored (Larder keeps
no feature view versions).

Returns a larder.OnlineResponse (to_dict(), to_df(), to_numpy(), statuses()). The GIL is
released during the lookup. Raises FeatureViewNotFound, FeatureNotFound,
FeatureServiceNotFound, MissingJoinKey, InvalidArgument.)doc";

}  // namespace

}  // namespace larder::python

PYBIND11_MODULE(_larder, m) {
  namespace py = pybind11;
  using namespace larder;
  using namespace larder::python;

  m.doc() = "Larder's C++ engine for Python (use the `larder` package, not this module).";
  m.attr("__version__") = "0.1.0";

  m.def("_register_errors", &RegisterErrorClasses, py::arg("base"), py::arg("classes"));
  m.def(
      "error_codes",
      [] {
        py::list out;
        for (int c = 1; c < 64; ++c) {
          std::string name = ErrorCodeName(static_cast<ErrorCode>(c));
          if (name == "Unknown") break;
          out.append(py::make_tuple(c, name));
        }
        return out;
      },
      "[(code number, name)] of every engine error code (ErrorCodeName).");
  m.def("to_micros", &ToMicros, py::arg("value"),
        "A datetime (naive = UTC), pandas Timestamp, numpy datetime64, RFC 3339 string or epoch "
        "seconds, as microseconds since the epoch.");
  m.def("format_timestamp", &FormatTimestamp, py::arg("micros"));
  m.def(
      "_timestamp_cell",
      [](int64_t micros) {
        Cell c = TimestampCell(micros);
        switch (c.kind) {
          case Cell::Kind::kInt: return py::make_tuple("int", c.i);
          case Cell::Kind::kDouble: return py::make_tuple("double", c.d);
          default: return py::make_tuple("string", c.s);
        }
      },
      "The cell a timestamp is pushed as (for tests).");

  InitConvert();
  BindResponse(m);

  py::class_<PushResult>(m, "PushResult")
      .def_readonly("rows_in", &PushResult::rows_in)
      .def_readonly("views", &PushResult::views)
      .def_readonly("rows_written", &PushResult::rows_written)
      .def_readonly("rows_skipped", &PushResult::rows_skipped)
      .def_readonly("rows_all_null", &PushResult::rows_all_null)
      .def("__repr__", [](const PushResult& r) {
        return "PushResult(rows_in=" + std::to_string(r.rows_in) +
               ", views=" + std::to_string(r.views) +
               ", rows_written=" + std::to_string(r.rows_written) +
               ", rows_skipped=" + std::to_string(r.rows_skipped) +
               ", rows_all_null=" + std::to_string(r.rows_all_null) + ")";
      });

  py::class_<ApplyReport>(m, "ApplyReport")
      .def_readonly("created", &ApplyReport::created)
      .def_readonly("changed", &ApplyReport::changed)
      .def_readonly("rows_discarded", &ApplyReport::rows_discarded)
      .def_readonly("messages", &ApplyReport::messages)
      .def("__repr__", [](const ApplyReport& r) {
        return std::string("ApplyReport(created=") + (r.created ? "True" : "False") +
               ", changed=" + (r.changed ? "True" : "False") + ")";
      });

  py::class_<CheckReport>(m, "CheckReport")
      .def_readonly("violations", &CheckReport::violations)
      .def_readonly("blocks", &CheckReport::blocks)
      .def_readonly("rows", &CheckReport::rows)
      .def_property_readonly("ok", &CheckReport::ok)
      .def("__bool__", &CheckReport::ok);

  py::class_<MaterializeResult::View>(m, "MaterializedView")
      .def_readonly("name", &MaterializeResult::View::name)
      .def_readonly("start", &MaterializeResult::View::start)
      .def_readonly("end", &MaterializeResult::View::end)
      .def_readonly("rows_read", &MaterializeResult::View::rows_read)
      .def_readonly("rows_written", &MaterializeResult::View::rows_written)
      .def_readonly("rows_skipped", &MaterializeResult::View::rows_skipped);
  py::class_<MaterializeResult>(m, "MaterializeResult")
      .def_readonly("views", &MaterializeResult::views);

  py::class_<StoreHandle>(m, "_Store")
      .def(py::init([](const std::string& repo_path) {
             return StoreHandle{WithoutGil([&] { return FeatureStore::Open(repo_path); })};
           }),
           py::arg("repo_path"))
      .def(
          "apply",
          [](StoreHandle& s, bool force) {
            return WithoutGil([&] { return s.fs->Apply(ApplyOptions{.force = force}); });
          },
          py::kw_only(), py::arg("force") = false,
          "Creates the online store's segment, or updates its registry to match "
          "feature_store.yaml (`larder apply`). Views keep their rows across compatible "
          "changes; a change that would discard rows (a view dropped, a join key or feature "
          "dtype changed) raises InvalidArgument, writing nothing, unless force=True.")
      .def(
          "plan", [](const StoreHandle& s) { return WithoutGil([&] { return s.fs->Plan(); }); },
          "What apply() would do, writing nothing (`larder plan`): an ApplyReport whose "
          "messages list each change and whose rows_discarded counts the rows it would drop.")
      .def(
          "teardown", [](StoreHandle& s) { WithoutGil([&] { return s.fs->Teardown(); }); },
          "Removes the segment and its side files (`larder teardown`).")
      .def("_push",
           [](StoreHandle& s, const std::string& source, py::handle columns,
              const std::string& to) {
             PushMode mode = Unwrap(ParsePushMode(to));
             return PushFrame(columns, "DataFrame",
                              [&](const Frame& df) { return s.fs->Push(source, df, mode); });
           })
      .def("_write_to_online_store",
           [](StoreHandle& s, const std::string& view, py::handle columns) {
             return PushFrame(columns, "DataFrame", [&](const Frame& df) {
               return s.fs->WriteToOnlineStore(view, df);
             });
           })
      .def(
          "get_online_features",
          [](StoreHandle& s, const py::object& features, const py::object& entity_rows, bool full,
             bool /*include_feature_view_version_metadata: accepted, ignored (Feast's
                    servers never return the metadata it selects)*/
             ,
             const py::object& feature_service, const py::object& entities) {
            return GetOnline(*s.fs, features, entity_rows, full, feature_service, entities);
          },
          py::arg("features") = py::none(), py::arg("entity_rows") = py::none(),
          py::arg("full_feature_names") = false,
          py::arg("include_feature_view_version_metadata") = false, py::kw_only(),
          py::arg("feature_service") = py::none(), py::arg("entities") = py::none(), kGetOnlineDoc)
      .def("_get_historical_features",
           [](StoreHandle& s, py::handle entity_columns, py::handle features,
              py::handle feature_service, bool full) {
             HistoricalRequest req;
             SetFeatures(features, feature_service, &req.features, &req.feature_service);
             req.entity_df = FrameFromColumns(entity_columns, "entity_df");
             req.full_feature_names = full;
             const size_t first = req.entity_df.names.size();
             Frame out = WithoutGil([&] { return s.fs->GetHistoricalFeatures(req); });
             py::list columns;  // the feature columns: (name, [value per entity row])
             for (size_t c = first; c < out.names.size(); ++c) {
               py::list values(out.columns[c].size());
               for (size_t i = 0; i < out.columns[c].size(); ++i) {
                 PyList_SET_ITEM(values.ptr(), static_cast<Py_ssize_t>(i),
                                 CellToObject(out.columns[c][i]).release().ptr());
               }
               columns.append(py::make_tuple(out.names[c], values));
             }
             return columns;
           })
      .def("_materialize",
           [](StoreHandle& s, int64_t start, int64_t end, py::handle views) {
             std::vector<std::string> names = ViewList(views);
             return WithoutGil([&] { return s.fs->Materialize(start, end, names); });
           })
      .def("_materialize_as_of_now",
           [](StoreHandle& s, py::handle views) {
             std::vector<std::string> names = ViewList(views);
             return WithoutGil([&] { return s.fs->MaterializeAsOfNow(names); });
           })
      .def("_materialize_incremental",
           [](StoreHandle& s, int64_t end, py::handle views) {
             std::vector<std::string> names = ViewList(views);
             return WithoutGil([&] { return s.fs->MaterializeIncremental(end, names); });
           })
      .def(
          "inspect",
          [](StoreHandle& s) { return StoreInfoDict(WithoutGil([&] { return s.fs->Inspect(); })); },
          "The segment's statistics (`larder inspect --json`), as a dict.")
      .def(
          "check", [](StoreHandle& s) { return WithoutGil([&] { return s.fs->Check(); }); },
          "Verifies every invariant of the segment (`larder check`).")
      .def(
          "repair", [](StoreHandle& s) { return WithoutGil([&] { return s.fs->Repair(); }); },
          "Repairs the online store if a writer died mid-batch (`larder check --repair`); True "
          "when there was something to repair.")
      .def("_config", [](StoreHandle& s) { return ConfigDict(s.fs->config()); });

  py::class_<ReaderHandle>(m, "_Reader")
      .def(py::init([](const std::string& segment_path, const std::string& owner) {
             ReaderOptions options;
             options.segment_owner = owner;
             return ReaderHandle{
                 WithoutGil([&] { return OnlineReader::Attach(segment_path, options); })};
           }),
           py::arg("segment_path"), py::arg("owner") = "")
      .def(
          "get_online_features",
          [](const ReaderHandle& h, const py::object& features, const py::object& entity_rows,
             bool full, bool /*include_feature_view_version_metadata: accepted, ignored (Feast's
                               servers never return the metadata it selects)*/
             ,
             const py::object& feature_service, const py::object& entities) {
            return GetOnline(*h.reader, features, entity_rows, full, feature_service, entities);
          },
          py::arg("features") = py::none(), py::arg("entity_rows") = py::none(),
          py::arg("full_feature_names") = false,
          py::arg("include_feature_view_version_metadata") = false, py::kw_only(),
          py::arg("feature_service") = py::none(), py::arg("entities") = py::none(), kGetOnlineDoc)
      .def("inspect",
           [](const ReaderHandle& h) {
             return StoreInfoDict(WithoutGil([&] { return h.reader->Inspect(); }));
           })
      .def("check",
           [](const ReaderHandle& h) { return WithoutGil([&] { return h.reader->Check(); }); })
      .def("_config",
           [](const ReaderHandle& h) { return ConfigDict(Unwrap(h.reader->Registry())); });
}
