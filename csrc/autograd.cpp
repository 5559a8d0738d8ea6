// The autograd calls that tch's C API lacks, for src/nn/autograd.rs (its `ffi` module is the only
// caller): libtorch's own `torch::autograd::backward` with explicit grad_tensors (tch's
// `at_backward` passes none, `at_run_backward` only ones), `Tensor::retain_grad`, and a read of
// `.grad` without the warning libtorch prints for a non-leaf.
//
// A tensor handle of tch (`*mut C_tensor`) is a `torch::Tensor *`, that is an `at::Tensor *`.
// Each function returns null on success, or the error message (without libtorch's C++ backtrace)
// in memory from `strdup`, which the caller frees with `free`. No C++ exception crosses into Rust.
#include <torch/csrc/autograd/autograd.h>

#include <vector>

#include "guarded.h"

using lesson::guarded;

// torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph): a null grad tensor
// means the implicit gradient 1 (for a one-element output), as None does in Python.
extern "C" char *lesson_autograd_backward(at::Tensor **tensors, at::Tensor **grad_tensors, int n,
                                          int retain_graph, int create_graph) {
  return guarded([&] {
    std::vector<at::Tensor> outputs, grads;
    for (int i = 0; i < n; ++i) {
      outputs.push_back(*tensors[i]);
      grads.push_back(grad_tensors[i] ? *grad_tensors[i] : at::Tensor());
    }
    torch::autograd::backward(outputs, grads, retain_graph != 0, create_graph != 0);
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
