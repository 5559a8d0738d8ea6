//! A PyTorch lesson (softmax, cross-entropy, autograd, SGD) ported to Rust on libtorch.
//!
//! Every module mirrors one idea of the lesson with PyTorch's exact semantics, so that the Rust
//! programs and `scripts/reference.py` give bit-identical numbers on the same device. Each line
//! names a module and its Python twin:
//!
//! - [`lesson`]: the lesson's code, plain, one file per section (`scripts/lesson/*.py`)
//!   - [`lesson::softmax_regression`]: `LinearNet` trained with `CrossEntropyLoss` and SGD
//!   - [`lesson::autograd`]: `y = (w + x) * (w + 1)`, `backward`, `grad_tensors`, `create_graph`
//!   - [`lesson::fully_connected`]: `SimpleFC`, `MSELoss`, `loss.backward()`, `optimizer.step()`
//! - [`nn`]: the PyTorch-faithful building blocks
//!   - [`nn::linear`]: `nn.Linear` with PyTorch's own initialisation (tch's `nn::linear` differs)
//!   - [`nn::loss`]: `nn.CrossEntropyLoss`, `nn.MSELoss`
//!   - [`nn::sgd`]: `torch.optim.SGD` (`zero_grad(set_to_none)`, `step`, `backward_step`)
//!   - [`nn::autograd`]: `torch.autograd.backward`/`grad` with `grad_tensors`, `retain_graph`
//!   - [`nn::softmax`]: `nn.Softmax(dim)` as a module
//!   - [`nn::graph`]: `y.grad_fn` and its `next_functions`, read from libtorch
//! - [`programs`]: the lesson's programs, each named as its binary and its
//!   `scripts/reference.py` subcommand
//!   - [`programs::softmax`]: `reference.py softmax` (`LinearNet`, its training loop)
//!   - [`programs::autograd_demo`]: `reference.py autograd_demo` (section 3, step by step)
//!   - [`programs::fc_demo`]: `reference.py fc_demo` (a linear layer, MSE, one SGD step)
//!   - [`programs::activations`]: `reference.py activations` (sections 1 and 2 with numbers)
//!   - [`programs::classify`]: `reference.py classify` (digits and breast cancer)
//!   - [`programs::bench`]: `scripts/bench.py --worker` (the timed workloads)
//! - [`io`]: what goes in and out
//!   - [`io::trace`]: the JSON trace (`json.dump` of the same values)
//!   - [`io::report`]: walkthroughs as titled blocks (`reference.py`'s `Report`)
//!   - [`io::files`]: atomic file writing, bounded regular-file reading (`write_atomic`)
//!   - [`io::plot`]: line charts (`matplotlib`'s `plot`)
//!   - [`io::graph_plot`]: the autograd graph drawn (`torchviz.make_dot`)
//!   - [`io::checkpoint`]: safetensors checkpoints (`safetensors.torch.save_file`/`load_file`)
//!   - [`io::dataset`]: the CSV data sets, split and standardised (`train_test_split`,
//!     `StandardScaler`)
//! - [`cli`]: options, printing, errors, interrupts (`argparse`, `reference.py`'s `fail`)
//! - [`error`]: one-line errors (`one_line`, `UsageError`), below `io` and `cli`
//! - [`device`]: `--device cpu|cuda|cuda:N|auto` (`torch.device`)
//! - [`signals`]: the signals that stop a run (`reference.py`'s `twin/signals.py`)
//! - [`sys`]: the libc calls (fcntl, poll, clock_gettime, signals, `_exit`), wrapped safely

#![deny(missing_docs)]
//!
//! Another crate can use the building blocks ([`nn`], [`lesson`]) alone, with
//! `default-features = false`: see docs/library.md for the Cargo.toml and build-script lines.
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod device;
#[cfg(feature = "cli")]
pub mod error;
#[cfg(feature = "cli")]
pub mod io;
pub mod lesson;
pub mod nn;
#[cfg(feature = "cli")]
pub mod programs;
#[cfg(feature = "cli")]
pub mod signals;
#[cfg(feature = "cli")]
pub mod sys;

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

/// The unit tests that draw from libtorch's global random generator (seeded by `manual_seed`)
/// hold this lock: the tests run on several threads of one process, and two seeded runs that
/// interleave draw each other's numbers.
#[cfg(test)]
pub(crate) fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
