//! The lesson's code, plain: one file per section of the lesson, the lesson's PyTorch statements
//! in the lesson's order with the lesson's names, on the crate's faithful blocks ([`crate::nn`]).
//! Each file has a Python twin in `scripts/lesson/`, line for line (the book's chapter of the
//! same name, `book/*/src/NAME.md`, maps each PyTorch statement to its Rust one;
//! `tests/lesson.rs` checks both files against it).
//!
//! These files hold no option parsing, no trace, no file and no signal code: what a program
//! needs from a run (each epoch's loss, the tensors it shows) leaves through an observer that
//! the program passes in, and the lesson's `print` writes to the `out` it is given.
//!
//! - [`softmax_regression`]: section 二、交叉熵损失函数 (`LinearNet`, `CrossEntropyLoss`, SGD, 70 epochs)
//! - [`activations`]: section 一、softmax的基本概念 and the cross-entropy of 二 (sigmoid, tanh,
//!   ReLU, softmax; `CrossEntropyLoss` = `LogSoftmax` + `NLLLoss`; the binary forms)
//! - [`autograd`]: section 三、自动微分模块 (the graph `y = (w + x) * (w + 1)`, its 注意点, the
//!   arguments of `torch.autograd.backward`)
//! - [`fully_connected`]: section 神经网络全连接层 (`SimpleFC`, `MSELoss`, `loss.backward()`,
//!   `optimizer.step()`)
pub mod activations;
pub mod autograd;
pub mod fully_connected;
pub mod softmax_regression;

/// One number as Python's `'%.<d>f' % v` prints it (`nan`, `inf` and `-inf` included; Rust's
/// `{:.4}` would print `NaN`). Rust rounds the exact binary value half to even, as Python does.
pub fn fmt_value(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v:.decimals$}")
    }
}
