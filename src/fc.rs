//! The lesson's fully connected layer with MSE loss (section 3): what `loss.backward()` computes
//! (checked against the gradient derived by hand) and what `optimizer.step()` changes.
//!
//! ```python
//! model = SimpleFC(input_size=3, output_size=2)      # nn.Linear(3, 2)
//! criterion = nn.MSELoss()
//! optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
//! output = model(input_data); loss = criterion(output, target_output)
//! loss.backward(); optimizer.step()
//! ```
use crate::linear::Linear;
use crate::report::{fmt_tensor, fmt_value, py_bool, py_repr, Block, Output, Report};
use crate::sgd::{Sgd, SgdConfig};
use anyhow::{Context, Result};
use serde_json::json;
use tch::{Device, Kind, Reduction, Tensor};

const D: usize = 6;

/// The options of `fc_demo` (and of `reference.py fc_demo`).
#[derive(Debug, Clone, PartialEq)]
pub struct FcConfig {
    /// `torch.manual_seed(seed)` (`--seed`).
    pub seed: i64,
    /// `torch.optim.SGD(..., lr=lr)` (`--lr`).
    pub lr: f64,
    /// Optimiser steps in all: 1 is the lesson's single step; more continue training.
    pub steps: i64,
    /// `torch.device` of the run (`--device`).
    pub device: Device,
    /// Go on when the loss becomes NaN or infinite, instead of stopping with an error.
    pub allow_nan: bool,
    /// Where the text and the trace go.
    pub output: Output,
}

impl Default for FcConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            lr: 0.01,
            steps: 1,
            device: Device::Cpu,
            allow_nan: false,
            output: Output::Collect,
        }
    }
}

/// The lesson's `SimpleFC`: one `nn.Linear(input_size, output_size)`.
pub struct SimpleFC {
    /// `self.fc = nn.Linear(input_size, output_size)`.
    pub fc: Linear,
}

impl SimpleFC {
    /// `SimpleFC(input_size, output_size)`.
    pub fn new(input_size: i64, output_size: i64, device: Device) -> Self {
        Self {
            fc: Linear::new(input_size, output_size, device),
        }
    }

    /// `model(x)`: `self.fc(x)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

/// `nn.MSELoss()`: the mean of the squared differences.
///
/// # Example
///
/// ```
/// use lesson_torch::fc::mse;
/// use tch::Tensor;
///
/// // nn.MSELoss()(torch.tensor([[1., 2.]]), torch.tensor([[4., 5.]])): (3² + 3²) / 2
/// let output = Tensor::from_slice(&[1.0f32, 2.0]).view([1, 2]).set_requires_grad(true);
/// let target = Tensor::from_slice(&[4.0f32, 5.0]).view([1, 2]);
/// let loss = mse(&output, &target)?;
/// assert_eq!(loss.double_value(&[]), 9.0);
/// loss.f_backward()?; // loss.backward(): d/d output = 2/n (output - target)
/// assert_eq!(Vec::<f32>::try_from(&output.grad().flatten(0, -1))?, [-3.0, -3.0]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn mse(output: &Tensor, target: &Tensor) -> Result<Tensor> {
    output
        .f_mse_loss(target, Reduction::Mean)
        .context("MSE loss failed")
}

/// The MSE gradients of a linear layer, derived by hand: with `n = output.numel()`,
/// `dL/dW = 2/n (out - t)^T x` and `dL/db = 2/n sum over the batch of (out - t)`.
pub fn hand_gradients(x: &Tensor, output: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    let scale = 2.0 / output.numel() as f64;
    let diff = (output - target).detach();
    let grad_w = diff.tr().matmul(x) * scale;
    let grad_b = diff.sum_dim_intlist(0, false, None::<Kind>) * scale;
    (grad_w, grad_b)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().to_kind(Kind::Double).double_value(&[])
}

/// Runs the lesson's program and returns the report.
pub fn walkthrough(config: &FcConfig) -> Result<Report> {
    let device = config.device;
    let show = |t: &Tensor| fmt_tensor(t, D);
    let mut report = Report::with_output(
        "fc_demo",
        device,
        json!({"seed": config.seed, "lr": config.lr, "steps": config.steps}),
        config.output.clone(),
    );

    tch::manual_seed(config.seed);
    let model = SimpleFC::new(3, 2, device);
    let input_data = Tensor::from_slice(&[1.0f32, 2.0, 3.0])
        .view([1, 3])
        .to_device(device);
    let target_output = Tensor::from_slice(&[4.0f32, 5.0])
        .view([1, 2])
        .to_device(device);
    let mut optimizer = Sgd::new(model.fc.parameters(), SgdConfig::new(config.lr))?;
    let (weight, bias) = (&model.fc.weight, &model.fc.bias);

    let mut block = Block::new(format!(
        "1. The model: SimpleFC(3, 2) = nn.Linear(3, 2), initialised as PyTorch does (seed {})",
        config.seed
    ));
    block
        .line(format!("fc.weight = {}", show(weight)))
        .line(format!("fc.bias = {}", show(bias)));
    block.tensor("weight", weight).tensor("bias", bias);
    report.push(block);

    let output = model.forward(&input_data);
    let loss = mse(&output, &target_output)?;
    let mut block = Block::new(
        "2. Forward: output = model(input_data), loss = nn.MSELoss()(output, target_output)",
    );
    block
        .line(format!(
            "input_data = {}, target_output = {}",
            show(&input_data),
            show(&target_output)
        ))
        .line(format!("output = x W^T + b = {}", show(&output)))
        .line(format!(
            "loss = mean((output - target)^2) = {}",
            show(&loss)
        ))
        .tensor("output", &output)
        .tensor("loss", &loss);
    report.push(block);

    loss.f_backward().context("backward failed")?;
    let (grad_w, grad_b) = (weight.grad(), bias.grad());
    let (hand_w, hand_b) = hand_gradients(&input_data, &output, &target_output);
    let mut block =
        Block::new("3. loss.backward(): the gradients by autograd, and derived by hand");
    block
        .line(format!("fc.weight.grad = {}", show(&grad_w)))
        .line(format!("by hand, 2/n (out - t)^T x = {}", show(&hand_w)))
        .line(format!("fc.bias.grad = {}", show(&grad_b)))
        .line(format!("by hand, 2/n (out - t) = {}", show(&hand_b)));
    let (dw, db) = (
        max_abs_diff(&grad_w, &hand_w),
        max_abs_diff(&grad_b, &hand_b),
    );
    block.line(format!(
        "largest difference autograd - hand: weight {}, bias {}",
        fmt_value(dw, 10),
        fmt_value(db, 10)
    ));
    block.line("backward() only fills .grad: the parameters have not changed yet.");
    block
        .tensor("weight.grad", &grad_w)
        .tensor("bias.grad", &grad_b)
        .tensor("weight.grad by hand", &hand_w)
        .tensor("bias.grad by hand", &hand_b);
    report.push(block);

    let (old_w, old_b) = (weight.detach().copy(), bias.detach().copy());
    optimizer.step()?;
    let expected_w = &old_w - &grad_w * config.lr;
    let expected_b = &old_b - &grad_b * config.lr;
    let mut block = Block::new(format!(
        "4. optimizer.step(): param <- param - lr * param.grad, lr = {}",
        py_repr(config.lr)
    ));
    block
        .line(format!("fc.weight before = {}", show(&old_w)))
        .line(format!("fc.weight after  = {}", show(weight)))
        .line(format!("fc.bias before = {}", show(&old_b)))
        .line(format!("fc.bias after  = {}", show(bias)));
    let exact = weight.detach().equal(&expected_w) && bias.detach().equal(&expected_b);
    let gap =
        max_abs_diff(&weight.detach(), &expected_w).max(max_abs_diff(&bias.detach(), &expected_b));
    // step() computes `param + (-lr) * grad` with one rounding (a fused multiply-add);
    // the expression rounds twice, so the two may differ in the last bit.
    let scale = old_w
        .abs()
        .max()
        .double_value(&[])
        .max(old_b.abs().max().double_value(&[]));
    let close = gap <= 1e-6 * (1.0 + scale);
    block.line(format!(
        "new == old - lr * grad: bit for bit {}, to within float rounding {} (largest difference {})",
        py_bool(exact),
        py_bool(close),
        fmt_value(gap, 10)
    ));
    block
        .tensor("weight after", weight)
        .tensor("bias after", bias)
        .value("step exact", json!(exact))
        .value("step close", json!(close));
    report.push(block);

    if config.steps > 1 {
        let mut block = Block::new(format!("5. Training on: steps 2 to {}", config.steps));
        let mut losses = Vec::new();
        for step in 2..=config.steps {
            optimizer.zero_grad()?;
            let loss = mse(&model.forward(&input_data), &target_output)?;
            loss.f_backward().context("backward failed")?;
            optimizer.step()?;
            let value = loss.f_double_value(&[]).context("cannot read the loss")?;
            if !value.is_finite() && !config.allow_nan {
                return Err(crate::cli::diverged(value, &format!("step {step}")));
            }
            crate::cli::check_interrupt()?;
            report.stream_line(
                &mut block,
                format!("step {step}, loss {}", fmt_value(value, D)),
            )?;
            if report.keeps_values() {
                crate::cli::try_push(&mut losses, crate::trace::number(value), "--steps")?;
            }
        }
        block
            .value("losses", json!(losses))
            .tensor("weight", weight)
            .tensor("bias", bias);
        report.push(block);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autograd_matches_the_hand_derived_gradient() {
        tch::manual_seed(0);
        let model = SimpleFC::new(3, 2, Device::Cpu);
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([1, 3]);
        let t = Tensor::from_slice(&[4.0f32, 5.0]).view([1, 2]);
        let out = model.forward(&x);
        mse(&out, &t).unwrap().backward();
        let (hw, hb) = hand_gradients(&x, &out, &t);
        assert!(max_abs_diff(&model.fc.weight.grad(), &hw) <= 1e-5);
        assert!(max_abs_diff(&model.fc.bias.grad(), &hb) <= 1e-6);
        // And by arithmetic, independent of tensor ops: dL/db_i = (out_i - t_i) for n = 2.
        let o = Vec::<f32>::try_from(out.detach().flatten(0, -1)).unwrap();
        let gb = Vec::<f32>::try_from(model.fc.bias.grad()).unwrap();
        assert!((gb[0] - (o[0] - 4.0)).abs() < 1e-6 && (gb[1] - (o[1] - 5.0)).abs() < 1e-6);
        let gw = Vec::<f32>::try_from(model.fc.weight.grad().flatten(0, -1)).unwrap();
        assert!((gw[5] - 3.0 * (o[1] - 5.0)).abs() < 1e-5);
    }
}
