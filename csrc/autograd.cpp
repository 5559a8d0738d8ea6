// The autograd calls that tch's C API lacks, for src/nn/autograd.rs (its `ffi` module is the only
// caller): libtorch's own `torch::autograd::backward` and `torch::autograd::grad` with every
// argument (tch's `at_backward` passes no grad tensors, `at_run_backward` neither grad outputs nor
// allow_unused), their warnings collected instead of printed, `Tensor::retain_grad`, and a read
// of `.grad` without the warning libtorch prints for a non-leaf.
//
// A tensor handle of tch (`*mut C_tensor`) is a `torch::Tensor *`, that is an `at::Tensor *`.
// Each function returns null on success, or the error message (without libtorch's C++ backtrace)
// in memory from `strdup`, which the caller frees with `free`. No C++ exception crosses into Rust.
#include <torch/csrc/autograd/autograd.h>

#include <string>
#include <vector>

#include "guarded.h"

using lesson::guarded;

namespace {

// Collects libtorch's warnings (TORCH_WARN) while it is installed, instead of printing them to
// stderr with a timestamp: the Rust side keeps them for `take_warnings` (Python's
// `warnings.catch_warnings(record=True)`). The engine hands a worker thread's warnings to the
// calling thread's handler.
struct Collected : c10::WarningHandler {
  std::string text;
  void process(const c10::Warning &warning) override {
    if (!text.empty()) text += '\n';
    text += warning.msg();
  }
};

// Runs `body` inside `guarded`, with libtorch's warnings collected into `*warnings` (a malloc'd
// text, one warning a line, or null when there was none).
template <typename F>
char *guarded_collecting(char **warnings, F body) {
  Collected collected;
  char *error;
  {
    c10::WarningUtils::WarningHandlerGuard guard(&collected);
    error = guarded(body);
  }
  *warnings = collected.text.empty() ? nullptr : strdup(collected.text.c_str());
  return error;
}

std::vector<at::Tensor> tensors_of(at::Tensor **tensors, int n) {
  std::vector<at::Tensor> out;
  for (int i = 0; i < n; ++i) out.push_back(tensors[i] ? *tensors[i] : at::Tensor());
  return out;
}

}  // namespace

// torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs): a null grad
// tensor means the implicit gradient 1 (for a one-element output), as None does in Python; no
// inputs (n_inputs = 0) means every leaf.
extern "C" char *lesson_autograd_backward(at::Tensor **tensors, at::Tensor **grad_tensors, int n,
                                          int retain_graph, int create_graph, at::Tensor **inputs,
                                          int n_inputs, char **warnings) {
  return guarded_collecting(warnings, [&] {
    torch::autograd::backward(tensors_of(tensors, n), tensors_of(grad_tensors, n),
                              retain_graph != 0, create_graph != 0, tensors_of(inputs, n_inputs));
  });
}

// torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused):
// `results` receives one new handle per input (an undefined tensor for an unused input, where
// Python has None).
extern "C" char *lesson_autograd_grad(at::Tensor **outputs, at::Tensor **grad_outputs, int n,
                                      at::Tensor **inputs, int n_inputs, int retain_graph,
                                      int create_graph, int allow_unused, at::Tensor **results,
                                      char **warnings) {
  return guarded_collecting(warnings, [&] {
    auto grads = torch::autograd::grad(tensors_of(outputs, n), tensors_of(inputs, n_inputs),
                                       tensors_of(grad_outputs, n), retain_graph != 0,
                                       create_graph != 0, allow_unused != 0);
    for (int i = 0; i < n_inputs; ++i) results[i] = new at::Tensor(grads[i]);
  });
}

// tensor.retain_grad(): a non-leaf keeps its .grad after backward.
extern "C" char *lesson_retain_grad(at::Tensor *tensor) {
  return guarded([&] { tensor->retain_grad(); });
}

// tensor.grad, leaf or not, as a new handle (undefined when there is none), read from the tensor's
// autograd metadata without the warning `Tensor::grad()` prints to stderr for a non-leaf (Python's
// warning is silenced the same way in scripts/reference.py).
extern "C" char *lesson_grad(at::Tensor *tensor, at::Tensor **out) {
  return guarded([&] { *out = new at::Tensor(tensor->unsafeGetTensorImpl()->grad()); });
}
