//! A PyTorch lesson (softmax, cross-entropy, autograd, SGD) ported to Rust on libtorch.
//!
//! Every module mirrors one idea of the lesson with PyTorch's exact semantics, so that the Rust
//! programs and `scripts/reference.py` give bit-identical numbers on the same device:
//!
//! - [`linear`]: `nn.Linear` with PyTorch's own initialisation (tch's `nn::linear` differs);
//! - [`sgd`]: `torch.optim.SGD` (zero_grad with set_to_none, the single-tensor update);
//! - [`autograd`]: `torch.autograd.backward` with `grad_tensors`, `retain_graph`, `create_graph`;
//! - [`graph`]: the computation graph libtorch records (`grad_fn`, `next_functions`), and
//!   [`graph_plot`] to draw it;
//! - [`softmax_regression`]: the lesson's `LinearNet` and its training loop;
//! - [`trace`]: the JSON trace both sides write, and atomic file output;
//! - [`device`], [`cli`]: `--device` parsing and the programs' error and output conventions.
pub mod activations;
pub mod autograd;
pub mod autograd_walkthrough;
pub mod bench;
pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod dataset;
pub mod device;
pub mod fc;
pub mod graph;
pub mod graph_plot;
pub mod linear;
pub mod plot;
pub mod report;
pub mod sgd;
pub mod softmax_regression;
pub mod trace;

/// The version of the libtorch this crate was built against (PyTorch's `torch.__version__`).
pub const TORCH_VERSION: &str = env!("LIBTORCH_VERSION");

/// The first line of a libtorch error: the message without the C++ backtrace that follows it.
pub fn torch_message(err: &tch::TchError) -> String {
    let text = match err {
        tch::TchError::Torch(msg) => msg.clone(),
        other => other.to_string(),
    };
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown libtorch error")
        .to_string()
}
