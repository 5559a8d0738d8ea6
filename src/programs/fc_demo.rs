//! The `fc_demo` program: the lesson's fully connected layer ([`crate::lesson::fully_connected`])
//! as a walkthrough, what `loss.backward()` computes (checked against the gradient derived by
//! hand) and what `optimizer.step()` changes.
use crate::cli;
use crate::io::report::{fmt_tensor, fmt_value, py_bool, py_repr, Block, Output, Report};
use crate::lesson::fully_connected::{self, Observer};
use anyhow::Result;
use serde_json::json;
use tch::{Device, Kind, Tensor};

pub use crate::lesson::fully_connected::SimpleFC;

const D: usize = 6;

/// The options of `fc_demo` (and of `reference.py fc_demo`): the program's command line is this
/// struct (with [`cli::CommonArgs`] for `--device` and `--json`), its defaults are
/// `Config::default()`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Config {
    /// Random seed for the layer's initialisation (torch.manual_seed).
    #[arg(long, default_value = "0", value_parser = cli::seed)]
    pub seed: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.01", value_parser = cli::positive_finite)]
    pub lr: f64,
    /// Optimiser steps in all: 1 is the lesson's single step; more continue training and print
    /// the loss per step.
    #[arg(long, default_value = "1", value_parser = cli::positive_int)]
    pub steps: i64,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the step).
    #[arg(long)]
    pub allow_nan: bool,
    /// `torch.device` of the run (`--device`, resolved by [`cli::CommonArgs::prepare`]).
    #[arg(skip = Device::Cpu)]
    pub device: Device,
    /// Where the text and the trace go.
    #[arg(skip)]
    pub output: Output,
}

impl Default for Config {
    fn default() -> Self {
        cli::defaults()
    }
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

/// The names of the walkthrough's blocks in order: each is the function (here and in
/// `scripts/reference.py`) that makes the block; `training` only with `--steps` above 1.
pub const BLOCKS: [&str; 5] = [
    "model_init",
    "forward_pass",
    "backward_pass",
    "sgd_step",
    "training",
];

fn show(t: &Tensor) -> String {
    fmt_tensor(t, D)
}

/// The walkthrough's blocks, each pushed as the lesson's program reaches its step, and block
/// 5's lines as the steps after the lesson's come.
struct Blocks<'a> {
    config: &'a Config,
    report: &'a mut Report,
    /// `input_data`, `target_output`, `output`, kept from the forward pass for block 3.
    data: Option<[Tensor; 3]>,
    /// The parameters before `optimizer.step()`, for block 4.
    old: Option<[Tensor; 2]>,
    training: Block,
    losses: Vec<serde_json::Value>,
}

impl Observer for Blocks<'_> {
    fn start(&mut self, model: &SimpleFC) -> Result<()> {
        self.report.push(model_init(model, self.config.seed));
        Ok(())
    }

    fn forward(
        &mut self,
        input: &Tensor,
        target: &Tensor,
        output: &Tensor,
        loss: &Tensor,
    ) -> Result<()> {
        self.report.push(forward_pass(input, target, output, loss));
        self.data = Some([input, target, output].map(Tensor::shallow_clone));
        Ok(())
    }

    fn backward(&mut self, model: &SimpleFC) -> Result<()> {
        let [input, target, output] = self.data.as_ref().expect("forward comes first");
        self.report
            .push(backward_pass(model, input, target, output));
        self.old = Some([&model.fc.weight, &model.fc.bias].map(|p| p.detach().copy()));
        Ok(())
    }

    fn step(&mut self, model: &SimpleFC) -> Result<()> {
        let old = self.old.as_ref().expect("backward comes first");
        self.report.push(sgd_step(model, old, self.config.lr));
        Ok(())
    }

    fn training_step(&mut self, step: i64, loss: &Tensor) -> Result<()> {
        let value = loss.f_double_value(&[])?;
        crate::cli::check_loss(value, self.config.allow_nan, || format!("step {step}"))?;
        let line = format!("step {step}, loss {}", fmt_value(value, D));
        self.report.stream_line(&mut self.training, line)?;
        if self.report.keeps_values() {
            crate::cli::try_push(&mut self.losses, crate::io::trace::number(value), "--steps")?;
        }
        Ok(())
    }
}

/// Runs the lesson's program ([`fully_connected::train`]) and returns the report: the blocks
/// in the order of [`BLOCKS`].
pub fn walkthrough(config: &Config) -> Result<Report> {
    let mut report = Report::with_output(
        "fc_demo",
        config.device,
        json!({"seed": config.seed, "lr": config.lr, "steps": config.steps}),
        config.output.clone(),
    );
    let mut blocks = Blocks {
        config,
        report: &mut report,
        data: None,
        old: None,
        training: Block::new(format!("5. Training on: steps 2 to {}", config.steps)),
        losses: Vec::new(),
    };
    let (seed, lr, steps) = (config.seed, config.lr, config.steps);
    let model = fully_connected::train(seed, lr, steps, config.device, &mut blocks)?;
    if steps > 1 {
        let mut block = blocks.training;
        block
            .value("losses", json!(blocks.losses))
            .tensor("weight", &model.fc.weight)
            .tensor("bias", &model.fc.bias);
        report.push(block);
    }
    Ok(report)
}

/// 1. The model, initialised as PyTorch does.
pub fn model_init(model: &SimpleFC, seed: i64) -> Block {
    let (weight, bias) = (&model.fc.weight, &model.fc.bias);
    let mut block = Block::new(format!(
        "1. The model: SimpleFC(3, 2) = nn.Linear(3, 2), initialised as PyTorch does (seed {})",
        seed
    ));
    block
        .line(format!("fc.weight = {}", show(weight)))
        .line(format!("fc.bias = {}", show(bias)));
    block.tensor("weight", weight).tensor("bias", bias);
    block
}

/// 2. Forward: the output and the loss.
pub fn forward_pass(
    input_data: &Tensor,
    target_output: &Tensor,
    output: &Tensor,
    loss: &Tensor,
) -> Block {
    let mut block = Block::new(
        "2. Forward: output = model(input_data), loss = nn.MSELoss()(output, target_output)",
    );
    block
        .line(format!(
            "input_data = {}, target_output = {}",
            show(input_data),
            show(target_output)
        ))
        .line(format!("output = x W^T + b = {}", show(output)))
        .line(format!("loss = mean((output - target)^2) = {}", show(loss)))
        .tensor("output", output)
        .tensor("loss", loss);
    block
}

/// 3. `loss.backward()`: the gradients by autograd, and derived by hand.
pub fn backward_pass(
    model: &SimpleFC,
    input_data: &Tensor,
    target_output: &Tensor,
    output: &Tensor,
) -> Block {
    let (weight, bias) = (&model.fc.weight, &model.fc.bias);
    let (grad_w, grad_b) = (weight.grad(), bias.grad());
    let (hand_w, hand_b) = hand_gradients(input_data, output, target_output);
    let mut block =
        Block::new("3. loss.backward(): the gradients by autograd, and derived by hand");
    block
        .line(format!("fc.weight.grad = {}", show(&grad_w)))
        .line(format!("by hand, 2/n (out - t)^T x = {}", show(&hand_w)))
        .line(format!("fc.bias.grad = {}", show(&grad_b)))
        .line(format!("by hand, 2/n (out - t) = {}", show(&hand_b)))
        .line(format!(
            "n = output.numel() = {}: MSELoss averages over the output's elements, so each gets 2/n",
            output.numel()
        ));
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
    block
}

/// 4. `optimizer.step()`: the parameters before (`old`) and after.
pub fn sgd_step(model: &SimpleFC, old: &[Tensor; 2], lr: f64) -> Block {
    let (weight, bias) = (&model.fc.weight, &model.fc.bias);
    let (grad_w, grad_b) = (weight.grad(), bias.grad());
    let [old_w, old_b] = old;
    let expected_w = old_w - &grad_w * lr;
    let expected_b = old_b - &grad_b * lr;
    let mut block = Block::new(format!(
        "4. optimizer.step(): param <- param - lr * param.grad, lr = {}",
        py_repr(lr)
    ));
    block
        .line(format!("fc.weight before = {}", show(old_w)))
        .line(format!("fc.weight after  = {}", show(weight)))
        .line(format!("fc.bias before = {}", show(old_b)))
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
    block.line("step() computes param + (-lr) * grad with one rounding (fused); the expression rounds lr * grad first, then the difference: the last bit may differ");
    block
        .tensor("weight after", weight)
        .tensor("bias after", bias)
        .value("step exact", json!(exact))
        .value("step close", json!(close));
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autograd_matches_the_hand_derived_gradient() {
        let _rng = crate::global_rng();
        tch::manual_seed(0);
        let model = SimpleFC::new(3, 2, Device::Cpu);
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([1, 3]);
        let t = Tensor::from_slice(&[4.0f32, 5.0]).view([1, 2]);
        let out = model.forward(&x).unwrap();
        crate::nn::loss::mse(&out, &t).unwrap().backward();
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
