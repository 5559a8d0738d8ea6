// The one boundary rule of the project's C++ shims (csrc/autograd.cpp, csrc/graph.cpp): a C
// function runs its body inside `guarded`, which returns null on success or a malloc'd error
// message (libtorch's own, without its C++ backtrace) that the Rust caller frees. No C++
// exception crosses into Rust.
#pragma once

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>

namespace lesson {

// A malloc'd copy of `text` (strdup), for the Rust side to free.
inline char *error_text(const char *text, const char *fallback) {
  return strdup(text ? text : fallback);
}

// Runs `body`, turning any C++ exception into an error message; `fallback` names an exception
// that carries no message.
template <typename F>
char *guarded(F body, const char *fallback = "unknown libtorch error") {
  try {
    body();
    return nullptr;
  } catch (const c10::Error &e) {
    return error_text(e.what_without_backtrace(), fallback);
  } catch (const std::exception &e) {
    return error_text(e.what(), fallback);
  } catch (...) {
    return error_text(nullptr, fallback);
  }
}

}  // namespace lesson
