// Python values → Cells (push frames, entity rows) and timestamps both ways.
//
// numpy columns are read straight from their buffers (one typed loop per dtype, no Python object
// per value); lists, tuples and object arrays go value by value. Timestamps become cells that
// CellToTimestamp reads back exactly (see TimestampCell).
#include "binding.h"  // Python.h first: datetime.h needs it

#include <datetime.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "larder/timestamp.h"

namespace larder::python {

namespace {


void EnsureDatetimeApi() {
  if (PyDateTimeAPI == nullptr) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == nullptr) throw py::error_already_set();
  }
}

// Type objects looked up once and kept for the life of the interpreter (never released: a
// static destructor must not run Python code after finalization).
struct NumpyTypes {
  PyObject* bool_ = nullptr;
  PyObject* integer = nullptr;
  PyObject* floating = nullptr;
  PyObject* datetime64 = nullptr;
  PyObject* ndarray = nullptr;
  PyObject* datetime_data = nullptr;
};

const NumpyTypes& Numpy() {
  static const NumpyTypes types = [] {
    py::module_ np = py::module_::import("numpy");
    NumpyTypes t;
    t.bool_ = py::object(np.attr("bool_")).release().ptr();
    t.integer = py::object(np.attr("integer")).release().ptr();
    t.floating = py::object(np.attr("floating")).release().ptr();
    t.datetime64 = py::object(np.attr("datetime64")).release().ptr();
    t.ndarray = py::object(np.attr("ndarray")).release().ptr();
    t.datetime_data = py::object(np.attr("datetime_data")).release().ptr();
    return t;
  }();
  return types;
}

// pandas.NA and pandas.NaT, once pandas has been imported by someone (never imported here).
struct PandasMissing {
  PyObject* na = nullptr;
  PyObject* nat = nullptr;
};

const PandasMissing& Pandas() {
  static PandasMissing missing;
  if (missing.na == nullptr) {
    PyObject* modules = PyImport_GetModuleDict();  // borrowed
    PyObject* pd = PyDict_GetItemString(modules, "pandas");  // borrowed
    if (pd != nullptr) {
      PyObject* na = PyObject_GetAttrString(pd, "NA");
      PyObject* nat = PyObject_GetAttrString(pd, "NaT");
      if (na != nullptr && nat != nullptr) {
        missing.na = na;
        missing.nat = nat;
      } else {
        Py_XDECREF(na);
        Py_XDECREF(nat);
        PyErr_Clear();
      }
    }
  }
  return missing;
}

bool IsPandasMissing(PyObject* o) {
  const PandasMissing& pd = Pandas();
  return pd.na != nullptr && (o == pd.na || o == pd.nat);
}

std::string Where(const std::string& column, size_t row) {
  return "column '" + column + "' row " + std::to_string(row + 1);
}

std::string TypeNameOf(PyObject* o) { return Py_TYPE(o)->tp_name; }

// Micros per unit of a numpy datetime64 unit, or 0 when unsupported. Negative: divide by -x.
int64_t MicrosPerUnit(const std::string& unit) {
  if (unit == "ns") return -1000;
  if (unit == "us") return 1;
  if (unit == "ms") return 1000;
  if (unit == "s") return kMicrosPerSecond;
  if (unit == "m") return 60 * kMicrosPerSecond;
  if (unit == "h") return 3600 * kMicrosPerSecond;
  if (unit == "D") return kSecondsPerDay * kMicrosPerSecond;
  if (unit == "W") return 7 * kSecondsPerDay * kMicrosPerSecond;
  return 0;
}

// A datetime64 value in `unit` → micros (floor for finer units). False when out of range.
bool ScaleToMicros(int64_t v, int64_t per_unit, int64_t* out) {
  if (per_unit < 0) {
    const int64_t d = -per_unit;
    int64_t q = v / d;
    if (v % d != 0 && v < 0) --q;  // floor
    *out = q;
    return true;
  }
  if (v > std::numeric_limits<int64_t>::max() / per_unit ||
      v < std::numeric_limits<int64_t>::min() / per_unit) {
    return false;
  }
  *out = v * per_unit;
  return true;
}

// The unit (and its count) of a datetime64 dtype → micros per value.
int64_t DatetimeUnitOf(const py::dtype& dt, const std::string& column) {
  py::tuple unit = py::reinterpret_borrow<py::object>(Numpy().datetime_data)(dt);
  int64_t per = MicrosPerUnit(unit[0].cast<std::string>());
  const auto count = unit[1].cast<int64_t>();
  if (per == 0 || count != 1) {
    ThrowTypeError("column '" + column + "': unsupported datetime64 unit " +
                   std::string(py::str(py::handle(dt))) + " (use ns, us, ms, s, m, h, D or W)");
  }
  return per;
}

void SetTimestamp(TimestampMicros ts, Cell* c) {
  if (ts % kMicrosPerSecond == 0) {
    c->kind = Cell::Kind::kInt;
    c->i = ts / kMicrosPerSecond;
    return;
  }
  // CellToTimestamp computes llround(d * 1e6): keep the double only when that gives ts back.
  constexpr int64_t kExactDouble = int64_t{1} << 53;
  if (ts > -kExactDouble && ts < kExactDouble) {
    const double d = static_cast<double>(ts) / static_cast<double>(kMicrosPerSecond);
    if (static_cast<int64_t>(std::round(d * static_cast<double>(kMicrosPerSecond))) == ts) {
      c->kind = Cell::Kind::kDouble;
      c->d = d;
      return;
    }
  }
  c->kind = Cell::Kind::kString;
  c->s = FormatTimestamp(ts);
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Sets *c from one fixed-width numpy element of kind `kind` and item size `size`.
template <typename T>
void NumberCell(const char* p, Cell* c, const std::string& column, size_t row) {
  const T v = Load<T>(p);
  if constexpr (std::is_same_v<T, bool>) {
    c->kind = Cell::Kind::kBool;
    c->b = v;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return;  // NaN is null (as Feast treats pandas' missing values)
    c->kind = Cell::Kind::kDouble;
    c->d = static_cast<double>(v);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      ThrowStatus(InvalidArgument(Where(column, row) + ": integer " + std::to_string(v) +
                                  " is out of the int64 range"));
    }
    c->kind = Cell::Kind::kInt;
    c->i = static_cast<int64_t>(v);
  } else {
    c->kind = Cell::Kind::kInt;
    c->i = static_cast<int64_t>(v);
  }
}

using ElementFn = void (*)(const char*, Cell*, const std::string&, size_t);

// The element reader for a numeric numpy dtype, or nullptr.
ElementFn NumberFn(char kind, ssize_t size) {
  switch (kind) {
    case 'b':
      return size == 1 ? &NumberCell<bool> : nullptr;
    case 'i':
      if (size == 1) return &NumberCell<int8_t>;
      if (size == 2) return &NumberCell<int16_t>;
      if (size == 4) return &NumberCell<int32_t>;
      if (size == 8) return &NumberCell<int64_t>;
      return nullptr;
    case 'u':
      if (size == 1) return &NumberCell<uint8_t>;
      if (size == 2) return &NumberCell<uint16_t>;
      if (size == 4) return &NumberCell<uint32_t>;
      if (size == 8) return &NumberCell<uint64_t>;
      return nullptr;
    case 'f':
      if (size == 4) return &NumberCell<float>;
      if (size == 8) return &NumberCell<double>;
      return nullptr;
    default:
      return nullptr;
  }
}

void SequenceToCells(PyObject* seq, const std::string& column, std::vector<Cell>* out) {
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  out->clear();
  out->resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    ObjectToCell(items[i], &(*out)[static_cast<size_t>(i)], column, static_cast<size_t>(i));
  }
}

void ArrayToCells(py::array a, const std::string& column, std::vector<Cell>* out) {
  py::dtype dt = a.dtype();
  char kind = dt.kind();
  if (dt.byteorder() == '>' || (kind == 'f' && dt.itemsize() != 4 && dt.itemsize() != 8)) {
    py::object target = kind == 'f' ? py::object(py::str("float64")) : dt.attr("newbyteorder")("=");
    a = py::array(a.attr("astype")(target));
    dt = a.dtype();
    kind = dt.kind();
  }
  if (kind == 'U' || kind == 'S') {  // fixed-width numpy text: through Python str / bytes
    if (a.ndim() != 1) ThrowTypeError("column '" + column + "': expected a 1-dimensional array");
    py::object values = a.attr("tolist")();
    SequenceToCells(values.ptr(), column, out);
    return;
  }
  if (a.ndim() != 1 && !(a.ndim() == 2 && NumberFn(kind, dt.itemsize()) != nullptr)) {
    ThrowTypeError("column '" + column + "': expected a 1-dimensional array (or a 2-dimensional "
                   "numeric array for an array feature), got " + std::to_string(a.ndim()) +
                   " dimensions");
  }
  const char* base = static_cast<const char*>(a.data());
  const auto n = static_cast<size_t>(a.shape(0));
  const ssize_t stride = a.strides(0);
  out->clear();
  out->resize(n);
  if (ElementFn fn = NumberFn(kind, dt.itemsize()); fn != nullptr) {
    if (a.ndim() == 1) {
      for (size_t i = 0; i < n; ++i) {
        fn(base + static_cast<ssize_t>(i) * stride, &(*out)[i], column, i);
      }
    } else {  // one array cell per row
      const auto width = static_cast<size_t>(a.shape(1));
      const ssize_t inner = a.strides(1);
      for (size_t i = 0; i < n; ++i) {
        Cell& c = (*out)[i];
        c.kind = Cell::Kind::kArray;
        c.arr.resize(width);
        for (size_t j = 0; j < width; ++j) {
          fn(base + static_cast<ssize_t>(i) * stride + static_cast<ssize_t>(j) * inner, &c.arr[j],
             column, i);
        }
      }
    }
    return;
  }
  switch (kind) {
    case 'M': {
      const int64_t per = DatetimeUnitOf(dt, column);
      for (size_t i = 0; i < n; ++i) {
        const auto v = Load<int64_t>(base + static_cast<ssize_t>(i) * stride);
        if (v == std::numeric_limits<int64_t>::min()) continue;  // NaT: null
        int64_t us = 0;
        if (!ScaleToMicros(v, per, &us)) {
          ThrowStatus(InvalidArgument(Where(column, i) + ": datetime out of range"));
        }
        SetTimestamp(us, &(*out)[i]);
      }
      return;
    }
    case 'O':
      for (size_t i = 0; i < n; ++i) {
        ObjectToCell(Load<PyObject*>(base + static_cast<ssize_t>(i) * stride), &(*out)[i], column,
                     i);
      }
      return;
    default:
      ThrowTypeError("column '" + column + "': unsupported numpy dtype " +
                     std::string(py::str(py::handle(dt))));
  }
}

}  // namespace

void InitConvert() {
  EnsureDatetimeApi();
  Numpy();
}

Cell TimestampCell(TimestampMicros ts) {
  Cell c;
  SetTimestamp(ts, &c);
  return c;
}

py::object MicrosToDatetime(TimestampMicros ts) {
  EnsureDatetimeApi();
  const auto [days, sod, us] = SplitTimestamp(ts);
  const auto [y, m, d] = CivilFromDays(days);
  if (y < 1 || y > 9999) {
    ThrowStatus(InvalidArgument("timestamp " + std::to_string(ts) +
                                " us is outside datetime's range (years 1..9999)"));
  }
  PyObject* dt = PyDateTimeAPI->DateTime_FromDateAndTime(
      static_cast<int>(y), m, d, static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
      static_cast<int>(sod % 60), static_cast<int>(us), PyDateTime_TimeZone_UTC,
      PyDateTimeAPI->DateTimeType);
  if (dt == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(dt);
}

bool DatetimeToMicros(PyObject* o, TimestampMicros* out) {
  EnsureDatetimeApi();
  if (PyDateTime_Check(o)) {
    const int64_t days = DaysFromCivil(PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o),
                                       PyDateTime_GET_DAY(o));
    const int64_t secs = days * kSecondsPerDay + PyDateTime_DATE_GET_HOUR(o) * 3600 +
                         PyDateTime_DATE_GET_MINUTE(o) * 60 + PyDateTime_DATE_GET_SECOND(o);
    int64_t us = secs * kMicrosPerSecond + PyDateTime_DATE_GET_MICROSECOND(o);
    if (PyDateTime_DATE_GET_TZINFO(o) != Py_None) {  // aware: to UTC
      py::object off = py::reinterpret_steal<py::object>(PyObject_CallMethod(o, "utcoffset", nullptr));
      if (!off) throw py::error_already_set();
      if (PyDelta_Check(off.ptr())) {
        const int64_t off_secs = int64_t{PyDateTime_DELTA_GET_DAYS(off.ptr())} * kSecondsPerDay +
                                 PyDateTime_DELTA_GET_SECONDS(off.ptr());
        us -= off_secs * kMicrosPerSecond + PyDateTime_DELTA_GET_MICROSECONDS(off.ptr());
      }
    }
    *out = us;
    return true;
  }
  if (PyDate_Check(o)) {  // a date: midnight UTC
    *out = DaysFromCivil(PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o), PyDateTime_GET_DAY(o)) *
           kSecondsPerDay * kMicrosPerSecond;
    return true;
  }
  return false;
}

void ObjectToCell(PyObject* o, Cell* out, const std::string& column, size_t row) {
  if (o == Py_None) {
    out->kind = Cell::Kind::kNull;
    return;
  }
  if (PyBool_Check(o)) {
    out->kind = Cell::Kind::kBool;
    out->b = o == Py_True;
    return;
  }
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0) {
      ThrowStatus(InvalidArgument(Where(column, row) + ": integer " +
                                  py::str(o).cast<std::string>() + " is out of the int64 range"));
    }
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    out->kind = Cell::Kind::kInt;
    out->i = v;
    return;
  }
  if (PyFloat_Check(o)) {
    const double v = PyFloat_AS_DOUBLE(o);
    if (std::isnan(v)) {  // NaN is null, as in pandas and Feast
      out->kind = Cell::Kind::kNull;
      return;
    }
    out->kind = Cell::Kind::kDouble;
    out->d = v;
    return;
  }
  if (PyUnicode_Check(o)) {
    Py_ssize_t size = 0;
    const char* s = PyUnicode_AsUTF8AndSize(o, &size);
    if (s == nullptr) throw py::error_already_set();
    out->kind = Cell::Kind::kString;
    out->s.assign(s, static_cast<size_t>(size));
    return;
  }
  if (PyBytes_Check(o)) {
    out->kind = Cell::Kind::kBytes;
    out->s.assign(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
    return;
  }
  if (PyList_Check(o) || PyTuple_Check(o)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    out->kind = Cell::Kind::kArray;
    out->arr.clear();
    out->arr.resize(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      ObjectToCell(items[i], &out->arr[static_cast<size_t>(i)], column, row);
    }
    return;
  }
  if (IsPandasMissing(o)) {  // pd.NA, pd.NaT
    out->kind = Cell::Kind::kNull;
    return;
  }
  TimestampMicros ts = 0;
  if (DatetimeToMicros(o, &ts)) {
    SetTimestamp(ts, out);
    return;
  }
  if (PyByteArray_Check(o)) {
    out->kind = Cell::Kind::kBytes;
    out->s.assign(PyByteArray_AS_STRING(o), static_cast<size_t>(PyByteArray_GET_SIZE(o)));
    return;
  }
  const NumpyTypes& np = Numpy();
  auto is = [o](PyObject* type) {
    const int r = PyObject_IsInstance(o, type);
    if (r < 0) throw py::error_already_set();
    return r == 1;
  };
  if (is(np.bool_)) {
    out->kind = Cell::Kind::kBool;
    out->b = PyObject_IsTrue(o) == 1;
    return;
  }
  if (is(np.integer)) {
    py::object v = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!v) throw py::error_already_set();
    ObjectToCell(v.ptr(), out, column, row);
    return;
  }
  if (is(np.floating)) {
    py::object v = py::reinterpret_steal<py::object>(PyNumber_Float(o));
    if (!v) throw py::error_already_set();
    ObjectToCell(v.ptr(), out, column, row);
    return;
  }
  if (is(np.datetime64)) {
    py::object us = py::handle(o).attr("astype")("datetime64[us]").attr("astype")("int64");
    const auto v = us.cast<int64_t>();
    if (v == std::numeric_limits<int64_t>::min()) {
      out->kind = Cell::Kind::kNull;
    } else {
      SetTimestamp(v, out);
    }
    return;
  }
  if (is(np.ndarray)) {
    py::array a = py::reinterpret_borrow<py::array>(o);
    if (a.ndim() != 1) {
      ThrowTypeError(Where(column, row) + ": an array value must be 1-dimensional");
    }
    out->kind = Cell::Kind::kArray;
    ArrayToCells(a, column, &out->arr);
    return;
  }
  if (PyMemoryView_Check(o)) {
    py::bytes b = py::reinterpret_steal<py::bytes>(PyBytes_FromObject(o));
    if (!b) throw py::error_already_set();
    ObjectToCell(b.ptr(), out, column, row);
    return;
  }
  ThrowTypeError(Where(column, row) + ": cannot use a value of type '" + TypeNameOf(o) +
                 "' as a feature or entity value");
}

void ColumnToCells(py::handle values, py::handle mask, const std::string& column,
                   std::vector<Cell>* out) {
  PyObject* v = values.ptr();
  if (PyList_Check(v) || PyTuple_Check(v)) {
    SequenceToCells(v, column, out);
  } else if (py::isinstance<py::array>(values)) {
    ArrayToCells(py::reinterpret_borrow<py::array>(values), column, out);
  } else if (PyUnicode_Check(v) || PyBytes_Check(v) || PyDict_Check(v)) {
    ThrowTypeError("column '" + column + "' must be a list, a tuple or an array of values, not '" +
                   TypeNameOf(v) + "'");
  } else if (PyObject_HasAttrString(v, "to_numpy") == 1) {  // pandas Series, Index, arrays
    py::object arr = values.attr("to_numpy")();
    ColumnToCells(arr, py::none(), column, out);
  } else {
    py::object seq = py::reinterpret_steal<py::object>(PySequence_List(v));
    if (!seq) {
      PyErr_Clear();
      ThrowTypeError("column '" + column + "' must be a list, a tuple or an array of values, not '" +
                     TypeNameOf(v) + "'");
    }
    SequenceToCells(seq.ptr(), column, out);
  }
  if (!mask.is_none()) {
    auto m = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(mask);
    if (!m) throw py::error_already_set();
    if (m.ndim() != 1 || static_cast<size_t>(m.shape(0)) != out->size()) {
      ThrowTypeError("column '" + column + "': the null mask does not match the values");
    }
    const bool* p = m.data();
    for (size_t i = 0; i < out->size(); ++i) {
      if (p[i]) (*out)[i] = Cell{};
    }
  }
}

void BuildEntities(py::handle entity_rows, py::handle entities, Frame* frame,
                   std::vector<py::object>* originals) {
  const bool have_rows = !entity_rows.is_none();
  if (have_rows == !entities.is_none()) {
    ThrowStatus(InvalidArgument(
        "give the entities either as entity_rows (a list of dicts) or as entities (a dict of "
        "columns), exactly one of the two"));
  }
  py::handle src = have_rows ? entity_rows : entities;
  PyObject* s = src.ptr();
  frame->names.clear();
  originals->clear();
  if ((PyList_Check(s) || PyTuple_Check(s)) && have_rows) {
    // Feast's entity_rows: [{"driver_id": 1001}, {"driver_id": 1002}]
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(s);
    PyObject** rows = PySequence_Fast_ITEMS(s);
    if (n == 0) {
      frame->columns.clear();
      return;
    }
    for (Py_ssize_t r = 0; r < n; ++r) {
      if (!PyDict_Check(rows[r])) {
        ThrowTypeError("entity_rows[" + std::to_string(r) + "] must be a dict, not '" +
                       TypeNameOf(rows[r]) + "'");
      }
    }
    std::vector<PyObject*> keys;
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t pos = 0;
    while (PyDict_Next(rows[0], &pos, &key, &value)) {
      if (!PyUnicode_Check(key)) ThrowTypeError("entity row keys must be strings");
      keys.push_back(key);
      frame->names.push_back(py::reinterpret_borrow<py::str>(key).cast<std::string>());
    }
    const size_t k = keys.size();
    frame->columns.resize(k);
    for (size_t j = 0; j < k; ++j) {
      frame->columns[j].clear();
      frame->columns[j].resize(static_cast<size_t>(n));
      originals->push_back(py::reinterpret_steal<py::object>(PyList_New(n)));
    }
    for (Py_ssize_t r = 0; r < n; ++r) {
      PyObject* row = rows[r];
      if (static_cast<size_t>(PyDict_Size(row)) != k) {
        ThrowStatus(InvalidArgument("entity_rows[" + std::to_string(r) +
                                    "] has other keys than entity_rows[0] (every entity row "
                                    "needs the same join keys)"));
      }
      for (size_t j = 0; j < k; ++j) {
        PyObject* v = PyDict_GetItemWithError(row, keys[j]);  // borrowed
        if (v == nullptr) {
          if (PyErr_Occurred()) throw py::error_already_set();
          ThrowStatus(InvalidArgument("entity_rows[" + std::to_string(r) + "] lacks '" +
                                      frame->names[j] +
                                      "' (every entity row needs the same join keys)"));
        }
        ObjectToCell(v, &frame->columns[j][static_cast<size_t>(r)], frame->names[j],
                     static_cast<size_t>(r));
        Py_INCREF(v);
        PyList_SET_ITEM((*originals)[j].ptr(), r, v);
      }
    }
    return;
  }
  // A dict of columns (Feast's `entities`, or entity_rows as a mapping), or a DataFrame.
  py::object items;
  if (PyDict_Check(s)) {
    items = src.attr("items")();
  } else if (PyObject_HasAttrString(s, "columns") == 1 && PyObject_HasAttrString(s, "iloc") == 1) {
    py::list pairs;
    for (py::handle name : src.attr("columns")) {
      pairs.append(py::make_tuple(name, src.attr("__getitem__")(name).attr("to_numpy")()));
    }
    items = pairs;
  } else {
    ThrowTypeError(std::string(have_rows ? "entity_rows" : "entities") +
                   " must be a list of dicts or a dict of columns, not '" + TypeNameOf(s) + "'");
  }
  size_t j = 0;
  for (py::handle item : items) {
    py::tuple kv = py::reinterpret_borrow<py::tuple>(item);
    if (!PyUnicode_Check(kv[0].ptr())) ThrowTypeError("entity column names must be strings");
    frame->names.push_back(kv[0].cast<std::string>());
    if (frame->columns.size() <= j) frame->columns.resize(j + 1);
    py::object values = kv[1];
    if (!PyList_Check(values.ptr()) && !PyTuple_Check(values.ptr()) &&
        !py::isinstance<py::array>(values) && PyObject_HasAttrString(values.ptr(), "to_numpy") == 1) {
      values = values.attr("to_numpy")();  // a pandas Series
    }
    ColumnToCells(values, py::none(), frame->names.back(), &frame->columns[j]);
    originals->push_back(values);
    ++j;
  }
  frame->columns.resize(j);
}

}  // namespace larder::python
