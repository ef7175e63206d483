// Engine Status → Python exception. larder/errors.py defines one class per ErrorCode name (all
// subclasses of LarderError) and registers them here at import.
#include <array>

#include "binding.h"

namespace larder::python {

namespace {

constexpr size_t kMaxCodes = 64;
// Strong references, deliberately never released: the classes live as long as the interpreter
// and a static destructor must not touch Python after it has finalized.
PyObject* g_base = nullptr;
std::array<PyObject*, kMaxCodes> g_classes{};

}  // namespace

void RegisterErrorClasses(py::handle base, const py::dict& classes) {
  Py_XDECREF(g_base);
  g_base = base.inc_ref().ptr();
  for (PyObject*& c : g_classes) {
    Py_XDECREF(c);
    c = nullptr;
  }
  for (auto item : classes) {
    const auto code = item.first.cast<size_t>();
    if (code >= kMaxCodes) throw py::value_error("error code out of range");
    g_classes[code] = item.second.inc_ref().ptr();
  }
}

void ThrowStatus(const Status& st) {
  const std::string& msg = st.message();
  const auto code = static_cast<size_t>(st.code());
  PyObject* cls = code < kMaxCodes && g_classes[code] != nullptr ? g_classes[code] : g_base;
  if (cls == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, st.ToString().c_str());
    throw py::error_already_set();
  }
  // Messages may quote user bytes: never fail on invalid UTF-8.
  py::object text = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(msg.data(), static_cast<Py_ssize_t>(msg.size()), "replace"));
  if (!text) throw py::error_already_set();
  py::object exc = py::reinterpret_borrow<py::object>(cls)(text, ErrorCodeName(st.code()));
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

void ThrowTypeError(const std::string& message) {
  PyErr_SetString(PyExc_TypeError, message.c_str());
  throw py::error_already_set();
}

}  // namespace larder::python
