// The computation graph that libtorch records, read node by node for src/nn/graph.rs.
//
// A `const at::Tensor*` is what torch-sys calls a `C_tensor*` (libtch's `tensor` typedef is a
// `torch::Tensor*`). Every function returns NULL on success or a malloc'd error message that the
// caller frees: no C++ exception crosses into Rust.
//
// Only the two autograd headers it needs are included, not torch/torch.h; the symbols it uses
// (Node, AccumulateGrad, TensorBase::grad_fn) all live in libtorch_cpu.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "guarded.h"

using torch::autograd::Node;

// A counted reference to a node, so that the node outlives the walk whatever Rust drops.
struct lt_node {
  std::shared_ptr<Node> node;
};

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

// Every C++ exception becomes an error message (csrc/guarded.h).
template <typename F>
char* guarded(F body) {
  return lesson::guarded(body, "unknown C++ exception in the graph shim");
}

char* null_argument() {
  return copy_string("graph shim: null argument");
}

}  // namespace

extern "C" {

// The identity of a tensor (its TensorImpl), as Python's `is` tells tensors apart.
char* lt_tensor_id(const at::Tensor* t, uint64_t* id) {
  if (t == nullptr || id == nullptr) return null_argument();
  return guarded([&] { *id = reinterpret_cast<uintptr_t>(t->unsafeGetTensorImpl()); });
}

// `t.grad_fn`: a new reference in *out, or NULL for a leaf or a tensor without history.
char* lt_tensor_grad_fn(const at::Tensor* t, lt_node** out) {
  if (t == nullptr || out == nullptr) return null_argument();
  *out = nullptr;
  return guarded([&] {
    if (!t->defined()) return;
    std::shared_ptr<Node> fn = t->grad_fn();
    if (fn) *out = new lt_node{std::move(fn)};
  });
}

// A node's identity, its name (`MulBackward0`, `torch::autograd::AccumulateGrad`: the caller
// strips namespaces), its number of next edges, and for an AccumulateGrad node the identity of
// the leaf it feeds (*leaf_id = 0 for any other node).
char* lt_node_info(const lt_node* n, uint64_t* id, char** name, uint64_t* num_next, uint64_t* leaf_id) {
  if (n == nullptr || !n->node || id == nullptr || name == nullptr || num_next == nullptr ||
      leaf_id == nullptr) {
    return null_argument();
  }
  *name = nullptr;
  return guarded([&] {
    *id = reinterpret_cast<uintptr_t>(n->node.get());
    *num_next = n->node->num_outputs();
    *leaf_id = 0;
    if (auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(n->node.get())) {
      if (acc->variable.defined()) {
        *leaf_id = reinterpret_cast<uintptr_t>(acc->variable.unsafeGetTensorImpl());
      }
    }
    std::string s = n->node->name();
    *name = copy_string(s);
    if (*name == nullptr) throw std::bad_alloc();
  });
}

// `node.next_functions[i]`: a new reference in *out (NULL where Python shows None) and the
// input number of that edge.
char* lt_node_next(const lt_node* n, uint64_t i, lt_node** out, uint64_t* input_nr) {
  if (n == nullptr || !n->node || out == nullptr || input_nr == nullptr) return null_argument();
  *out = nullptr;
  return guarded([&] {
    if (i >= n->node->num_outputs()) throw std::out_of_range("graph shim: edge index out of range");
    const torch::autograd::Edge& edge = n->node->next_edge(static_cast<size_t>(i));
    *input_nr = edge.input_nr;
    if (edge.function) *out = new lt_node{edge.function};
  });
}

void lt_node_free(lt_node* n) {
  delete n;
}

void lt_free_string(char* s) {
  std::free(s);
}

}  // extern "C"
