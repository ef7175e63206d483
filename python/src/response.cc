// larder.OnlineResponse: the engine's columnar response, read out as Feast's to_dict shape, or as
// numpy arrays (one typed array per feature, built from the engine's contiguous vectors: no
// Python object per value for fixed-width features).
#include <algorithm>
#include <cstring>
#include <limits>

#include "binding.h"

namespace larder::python {

namespace {

constexpr int64_t kNaT = std::numeric_limits<int64_t>::min();

bool HasValue(FieldStatus s) {
  return s == FieldStatus::kPresent || s == FieldStatus::kOutsideMaxAge;
}

// Leaked on purpose (see errors.cc): lives as long as the interpreter.
const py::dtype& DatetimeUs() {
  static const py::dtype* dt = new py::dtype("datetime64[us]");
  return *dt;
}
const py::dtype& ObjectDtype() {
  static const py::dtype* dt = new py::dtype("O");
  return *dt;
}
py::handle NumpyAsarray() {
  static PyObject* fn = py::object(py::module_::import("numpy").attr("asarray")).release().ptr();
  return fn;
}

py::array NewArray(const py::dtype& dt, size_t n) {
  return py::array(dt, py::array::ShapeContainer{static_cast<ssize_t>(n)});
}

py::object Steal(PyObject* o) {
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

py::object Text(const std::string& s, bool bytes) {
  if (bytes) return Steal(PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size())));
  return Steal(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

// One scalar of an array value, as a Python object.
py::object ArrayElement(const Value& v, size_t i) {
  switch (v.dtype.scalar) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      return Steal(PyLong_FromLongLong(v.i64s[i]));
    case ScalarType::kBool:
      return Steal(PyBool_FromLong(v.i64s[i] != 0 ? 1 : 0));
    case ScalarType::kUnixTimestamp:
      return MicrosToDatetime(v.i64s[i]);
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      return Steal(PyFloat_FromDouble(v.f64s[i]));
    case ScalarType::kString:
      return Text(v.strs[i], false);
    case ScalarType::kBytes:
      return Text(v.strs[i], true);
  }
  return py::none();
}

size_t ArraySize(const Value& v) {
  switch (v.dtype.scalar) {
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      return v.f64s.size();
    case ScalarType::kString:
    case ScalarType::kBytes:
      return v.strs.size();
    default:
      return v.i64s.size();
  }
}

py::list ArrayToList(const Value& v) {
  const size_t n = ArraySize(v);
  py::list out(n);
  for (size_t i = 0; i < n; ++i) {
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), ArrayElement(v, i).release().ptr());
  }
  return out;
}

// An array value as a typed numpy array (numeric and timestamp elements) or a list (text).
py::object ArrayToNumpy(const Value& v) {
  const size_t n = v.dtype.scalar == ScalarType::kFloat32 || v.dtype.scalar == ScalarType::kFloat64
                       ? v.f64s.size()
                       : v.i64s.size();
  switch (v.dtype.scalar) {
    case ScalarType::kInt64: {
      py::array_t<int64_t> a(static_cast<ssize_t>(n));
      if (n > 0) std::memcpy(a.mutable_data(), v.i64s.data(), n * sizeof(int64_t));
      return a;
    }
    case ScalarType::kInt32: {
      py::array_t<int32_t> a(static_cast<ssize_t>(n));
      int32_t* p = a.mutable_data();
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(v.i64s[i]);
      return a;
    }
    case ScalarType::kBool: {
      py::array_t<bool> a(static_cast<ssize_t>(n));
      bool* p = a.mutable_data();
      for (size_t i = 0; i < n; ++i) p[i] = v.i64s[i] != 0;
      return a;
    }
    case ScalarType::kUnixTimestamp: {
      py::array a = NewArray(DatetimeUs(), n);
      if (n > 0) std::memcpy(a.mutable_data(), v.i64s.data(), n * sizeof(int64_t));
      return a;
    }
    case ScalarType::kFloat32: {
      py::array_t<float> a(static_cast<ssize_t>(n));
      float* p = a.mutable_data();
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(v.f64s[i]);
      return a;
    }
    case ScalarType::kFloat64: {
      py::array_t<double> a(static_cast<ssize_t>(n));
      if (n > 0) std::memcpy(a.mutable_data(), v.f64s.data(), n * sizeof(double));
      return a;
    }
    case ScalarType::kString:
    case ScalarType::kBytes:
      return ArrayToList(v);
  }
  return py::none();
}

// Feast's value for row r of a feature (None when it has no value).
py::object ValueAt(const ColumnarFeature& f, size_t r) {
  if (!HasValue(f.statuses[r])) return py::none();
  if (f.dtype.is_array) {
    const Value& v = f.arrays[r];
    if (v.is_null) return py::none();
    return ArrayToList(v);
  }
  switch (f.dtype.scalar) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      return Steal(PyLong_FromLongLong(f.ints[r]));
    case ScalarType::kBool:
      return Steal(PyBool_FromLong(f.ints[r] != 0 ? 1 : 0));
    case ScalarType::kUnixTimestamp:
      return MicrosToDatetime(f.ints[r]);
    case ScalarType::kFloat32:
      return Steal(PyFloat_FromDouble(static_cast<double>(f.floats[r])));
    case ScalarType::kFloat64:
      return Steal(PyFloat_FromDouble(f.doubles[r]));
    case ScalarType::kString:
      return Text(f.strings[r], false);
    case ScalarType::kBytes:
      return Text(f.strings[r], true);
  }
  return py::none();
}

// An object array of n slots, every slot set by fill(i) (a new reference or None).
template <typename Fill>
py::array ObjectArray(size_t n, Fill fill) {
  py::array a = NewArray(ObjectDtype(), n);
  auto** p = static_cast<PyObject**>(a.mutable_data());
  for (size_t i = 0; i < n; ++i) {
    PyObject* v = fill(i).release().ptr();
    PyObject* old = p[i];
    p[i] = v;
    Py_XDECREF(old);
  }
  return a;
}

template <typename T, typename Src>
py::array_t<T> Typed(const std::vector<Src>& src, const std::vector<FieldStatus>& st, T missing) {
  const size_t n = st.size();
  py::array_t<T> a(static_cast<ssize_t>(n));
  T* p = a.mutable_data();
  for (size_t i = 0; i < n; ++i) {
    p[i] = HasValue(st[i]) && i < src.size() ? static_cast<T>(src[i]) : missing;
  }
  return a;
}

py::object FeatureToNumpy(const ColumnarFeature& f) {
  const size_t n = f.statuses.size();
  if (f.dtype.is_array) {
    return ObjectArray(n, [&](size_t i) -> py::object {
      if (!HasValue(f.statuses[i]) || f.arrays[i].is_null) return py::none();
      return ArrayToNumpy(f.arrays[i]);
    });
  }
  switch (f.dtype.scalar) {
    case ScalarType::kInt64:
      return Typed<int64_t>(f.ints, f.statuses, 0);
    case ScalarType::kInt32:
      return Typed<int32_t>(f.ints, f.statuses, 0);
    case ScalarType::kBool:
      return Typed<bool>(f.ints, f.statuses, false);
    case ScalarType::kFloat32:
      return Typed<float>(f.floats, f.statuses, std::numeric_limits<float>::quiet_NaN());
    case ScalarType::kFloat64:
      return Typed<double>(f.doubles, f.statuses, std::numeric_limits<double>::quiet_NaN());
    case ScalarType::kUnixTimestamp: {
      py::array a = NewArray(DatetimeUs(), n);
      auto* p = static_cast<int64_t*>(a.mutable_data());
      for (size_t i = 0; i < n; ++i) p[i] = HasValue(f.statuses[i]) ? f.ints[i] : kNaT;
      return a;
    }
    case ScalarType::kString:
    case ScalarType::kBytes:
      return ObjectArray(n, [&](size_t i) { return ValueAt(f, i); });
  }
  return py::none();
}

py::list EntityList(const py::object& column) {
  if (PyList_Check(column.ptr())) {
    return py::reinterpret_steal<py::list>(PyList_GetSlice(column.ptr(), 0, PyList_GET_SIZE(column.ptr())));
  }
  if (py::isinstance<py::array>(column)) return column.attr("tolist")();
  return py::list(column);
}

py::dict ToDict(const Response& r, bool include_event_timestamps) {
  py::dict out;
  for (size_t c = 0; c < r.entity_names.size(); ++c) {
    py::str name(r.entity_names[c]);
    out[name] = EntityList(r.entity_columns[c]);
    if (include_event_timestamps) {
      py::list ts(r.rows);
      for (size_t i = 0; i < r.rows; ++i) {
        PyList_SET_ITEM(ts.ptr(), static_cast<Py_ssize_t>(i), PyLong_FromLong(0));
      }
      out[py::str(r.entity_names[c] + "__ts")] = ts;
    }
  }
  for (const ColumnarFeature& f : r.data.features) {
    const size_t n = f.statuses.size();
    py::list values(n);
    for (size_t i = 0; i < n; ++i) {
      PyList_SET_ITEM(values.ptr(), static_cast<Py_ssize_t>(i), ValueAt(f, i).release().ptr());
    }
    out[py::str(f.name)] = values;
    if (include_event_timestamps) {  // Feast: whole epoch seconds
      py::list ts(n);
      for (size_t i = 0; i < n; ++i) {
        int64_t us = i < f.event_timestamps.size() ? f.event_timestamps[i] : 0;
        int64_t secs = us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0);
        PyList_SET_ITEM(ts.ptr(), static_cast<Py_ssize_t>(i), Steal(PyLong_FromLongLong(secs)).release().ptr());
      }
      out[py::str(f.name + "__ts")] = ts;
    }
  }
  return out;
}

py::dict ToNumpy(const Response& r) {
  py::dict out;
  for (size_t c = 0; c < r.entity_names.size(); ++c) {
    out[py::str(r.entity_names[c])] = NumpyAsarray()(r.entity_columns[c]);
  }
  for (const ColumnarFeature& f : r.data.features) out[py::str(f.name)] = FeatureToNumpy(f);
  return out;
}

py::dict Statuses(const Response& r) {
  py::dict out;
  for (const ColumnarFeature& f : r.data.features) {
    const size_t n = f.statuses.size();
    py::array_t<uint8_t> a(static_cast<ssize_t>(n));
    if (n > 0) std::memcpy(a.mutable_data(), f.statuses.data(), n);
    out[py::str(f.name)] = a;
  }
  return out;
}

py::dict EventTimestamps(const Response& r) {
  py::dict out;
  for (const ColumnarFeature& f : r.data.features) {
    const size_t n = f.statuses.size();
    py::array a = NewArray(DatetimeUs(), n);
    auto* p = static_cast<int64_t*>(a.mutable_data());
    for (size_t i = 0; i < n; ++i) {
      const int64_t ts = i < f.event_timestamps.size() ? f.event_timestamps[i] : 0;
      const bool unknown = ts == 0 && (f.statuses[i] == FieldStatus::kNotFound ||
                                       f.statuses[i] == FieldStatus::kInvalid);
      p[i] = unknown ? kNaT : ts;
    }
    out[py::str(f.name)] = a;
  }
  return out;
}

// The columns of to_df(): the same frame as pd.DataFrame(to_dict(...)) (pandas' inference from
// lists), but numeric features come as arrays, without a Python object per value.
py::dict DataFrameColumns(const Response& r, bool include_event_timestamps) {
  py::dict out;
  for (size_t c = 0; c < r.entity_names.size(); ++c) {
    out[py::str(r.entity_names[c])] = EntityList(r.entity_columns[c]);
    if (include_event_timestamps) {
      py::array_t<int64_t> zeros(static_cast<ssize_t>(r.rows));
      std::fill(zeros.mutable_data(), zeros.mutable_data() + r.rows, int64_t{0});
      out[py::str(r.entity_names[c] + "__ts")] = zeros;
    }
  }
  for (const ColumnarFeature& f : r.data.features) {
    const size_t n = f.statuses.size();
    bool all = true;
    bool any = false;
    for (FieldStatus s : f.statuses) {
      all = all && HasValue(s);
      any = any || HasValue(s);
    }
    const ScalarType t = f.dtype.scalar;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    py::object col;
    if (any && !f.dtype.is_array) {  // all None: pandas makes an object column
      if (t == ScalarType::kFloat32) {
        col = Typed<double>(f.floats, f.statuses, nan);
      } else if (t == ScalarType::kFloat64) {
        col = Typed<double>(f.doubles, f.statuses, nan);
      } else if (t == ScalarType::kInt32 || t == ScalarType::kInt64) {
        col = all ? py::object(Typed<int64_t>(f.ints, f.statuses, 0))
                  : py::object(Typed<double>(f.ints, f.statuses, nan));
      } else if (t == ScalarType::kBool && all) {
        col = Typed<bool>(f.ints, f.statuses, false);
      }
    }
    if (!col) {
      py::list values(n);
      for (size_t i = 0; i < n; ++i) {
        PyList_SET_ITEM(values.ptr(), static_cast<Py_ssize_t>(i), ValueAt(f, i).release().ptr());
      }
      col = values;
    }
    out[py::str(f.name)] = col;
    if (include_event_timestamps) {
      py::array_t<int64_t> ts(static_cast<ssize_t>(n));
      int64_t* p = ts.mutable_data();
      for (size_t i = 0; i < n; ++i) {
        const int64_t us = i < f.event_timestamps.size() ? f.event_timestamps[i] : 0;
        p[i] = us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0);
      }
      out[py::str(f.name + "__ts")] = ts;
    }
  }
  return out;
}

py::list FeatureNames(const Response& r) {
  py::list out;
  for (const std::string& n : r.entity_names) out.append(py::str(n));
  for (const ColumnarFeature& f : r.data.features) out.append(py::str(f.name));
  return out;
}

py::dict Dtypes(const Response& r) {
  py::dict out;
  for (const ColumnarFeature& f : r.data.features) out[py::str(f.name)] = DTypeName(f.dtype);
  return out;
}

}  // namespace

void BindResponse(py::module_& m) {
  DatetimeUs();
  ObjectDtype();
  NumpyAsarray();
  py::class_<Response>(m, "OnlineResponse", R"doc(
The result of get_online_features (Feast's OnlineResponse).

to_dict() / to_df() give Feast's shapes; to_numpy(), statuses() and event_timestamps() give one
numpy array per feature, built without a Python object per value for fixed-width features.)doc")
      .def_property_readonly("feature_names", &FeatureNames,
                             "Join-key columns then features, in response order (Feast's "
                             "metadata.feature_names).")
      .def_property_readonly("dtypes", &Dtypes, "Feature name -> Larder dtype ('Float32', ...).")
      .def("__len__", [](const Response& r) { return r.rows; })
      .def("to_dict", &ToDict, py::arg("include_event_timestamps") = false, R"doc(
{name: [value per entity row]}: join keys as given, then features; None where a feature has
no value (NOT_FOUND, NULL_VALUE). With include_event_timestamps, each column is followed by
"<name>__ts": the event timestamps in whole epoch seconds (0 when unknown), as in Feast.)doc")
      .def("to_numpy", &ToNumpy, R"doc(
{name: numpy array}: Int64 -> int64, Int32 -> int32, Float32 -> float32, Float64 -> float64,
Bool -> bool, UnixTimestamp -> datetime64[us], String/Bytes -> object, Array(T) -> object array of
per-row arrays (numeric: numpy arrays, text: lists). Rows without a value hold NaN (floats),
NaT (timestamps), None (objects) or 0 / False (ints, bools): check statuses().)doc")
      .def("_df_columns", &DataFrameColumns, py::arg("include_event_timestamps") = false)
      .def("statuses", &Statuses,
           "{feature: uint8 array of larder.FieldStatus} (1 = PRESENT, 2 = NULL_VALUE, "
           "3 = NOT_FOUND, 4 = OUTSIDE_MAX_AGE, 0 = INVALID).")
      .def("event_timestamps", &EventTimestamps,
           "{feature: datetime64[us] array}: each row's event timestamp, NaT when not found.")
      .def("__repr__", [](const Response& r) {
        return "<larder.OnlineResponse rows=" + std::to_string(r.rows) +
               " features=" + std::to_string(r.data.features.size()) + ">";
      });
}

}  // namespace larder::python
