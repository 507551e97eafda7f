// The one header through which every binding file includes pybind11.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "order_book.hpp"
#include "types.hpp"

namespace py = pybind11;

namespace perpex::bindings {

// Raises the perpex.errors exception that matches a 1xxx reason, with a message naming the
// parameter, its value and the limit.
[[noreturn]] void raise_for(core::Reason reason, const core::Command& cmd);
// Raises perpex.errors.<cls>(message).
[[noreturn]] void raise_error(const char* cls, const std::string& message);

void bind_constants(py::module_& m);
void bind_book(py::module_& m);

}  // namespace perpex::bindings
