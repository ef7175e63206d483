// Shared pieces of the `larder._larder` extension module: error translation, Python value →
// Cell conversion (push frames and entity rows), timestamps, and the response object.
// Every function here runs with the GIL held unless it says otherwise.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "larder/civil_time.h"
#include "larder/feature_store.h"
#include "larder/frame.h"
#include "larder/online.h"
#include "larder/status.h"

namespace larder::python {

namespace py = pybind11;

// ---- Errors (errors.cc) ----

// Raises the Python exception registered for st.code() (a subclass of larder.LarderError), with
// st.message() as its message. Falls back to RuntimeError before larder.errors registered.
[[noreturn]] void ThrowStatus(const Status& st);
// Called once by larder/errors.py: `base` is LarderError; `classes` maps code numbers to classes.
void RegisterErrorClasses(py::handle base, const py::dict& classes);
// Raises TypeError naming a column and row.
[[noreturn]] void ThrowTypeError(const std::string& message);

// ---- Time (convert.cc) ----

// The calendar arithmetic is larder/civil_time.h (DaysFromCivil, CivilFromDays, SplitTimestamp).
// A Cell that CellToTimestamp reads back as exactly `ts`: Int seconds when whole, else Double
// seconds when the double round-trips to the same microsecond, else an RFC 3339 string.
Cell TimestampCell(TimestampMicros ts);
// A timezone-aware (UTC) datetime.datetime.
py::object MicrosToDatetime(TimestampMicros ts);
// A datetime.datetime (naive = UTC) or datetime.date to micros; false for other objects.
bool DatetimeToMicros(PyObject* o, TimestampMicros* out);

// ---- Python values → Cells (convert.cc) ----

// Looks up the numpy and datetime objects the conversions use. Called once at module import
// (single-threaded, under the import lock) so that no later first use races another thread.
void InitConvert();

// One Python value: None/NaN/pd.NA/NaT → null, bool, int (int64 range), float, str, bytes,
// datetime/date/np.datetime64 → timestamp cell, numpy scalars, list/tuple/ndarray → array.
// Raises TypeError / larder.InvalidArgument naming `column` and `row` (0-based).
void ObjectToCell(PyObject* o, Cell* out, const std::string& column, size_t row);
// A whole column: a numpy array (typed loops over its buffer), a list or tuple, or any iterable.
// `mask` is None or a sequence of bools (true = null). Replaces *out.
void ColumnToCells(py::handle values, py::handle mask, const std::string& column,
                   std::vector<Cell>* out);
// The entity rows of a read: `entity_rows` (a list of dicts, a dict of columns or a DataFrame)
// or `entities` (a dict of columns). Fills frame->names/columns and `originals` (one Python
// sequence per join-key column, returned as-is by to_dict / to_numpy).
void BuildEntities(py::handle entity_rows, py::handle entities, Frame* frame,
                   std::vector<py::object>* originals);

// ---- The response (response.cc) ----

// A get_online_features result: the engine's columnar response plus the request's entity columns.
struct Response {
  ColumnarResponse data;
  std::vector<std::string> entity_names;
  std::vector<py::object> entity_columns;
  size_t rows = 0;
};

// Also initializes the response's cached numpy objects (see InitConvert).
void BindResponse(py::module_& m);

}  // namespace larder::python
