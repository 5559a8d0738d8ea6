//! `torch.optim.SGD`, through libtorch's own C++ `torch::optim::SGD`.
//!
//! On the CPU, Python's SGD takes its single-tensor path: per parameter, optionally
//! `grad = grad.add(param, alpha=weight_decay)`, a momentum buffer (`clone` on the first step,
//! then `buf.mul_(momentum).add_(grad, alpha=1 - dampening)`), and `param.add_(grad, alpha=-lr)`.
//! libtorch's C++ SGD runs the same ops in the same order, and its `zero_grad()` sets the
//! gradients to None as Python's does by default, so both sides stay bit-identical.
//! (tch exposes no add-with-alpha, and `p - lr * g` rounds twice where `add_` fuses: this is
//! why we do not write the update by hand.)
use anyhow::{Context, Result};
use tch::{COptimizer, Tensor};

/// The hyper-parameters of `torch.optim.SGD`, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// `lr`.
    pub lr: f64,
    /// `momentum` (0).
    pub momentum: f64,
    /// `dampening` (0).
    pub dampening: f64,
    /// `weight_decay` (0).
    pub weight_decay: f64,
    /// `nesterov` (False).
    pub nesterov: bool,
}

impl SgdConfig {
    /// `torch.optim.SGD(params, lr=lr)`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// An SGD optimiser over a fixed list of parameters: `torch.optim.SGD`.
///
/// Its step is PyTorch's `param.add_(grad, alpha=-lr)`, one rounding (a fused multiply-add),
/// where `p - lr * g` rounds twice; its `zero_grad` sets the gradients to None.
///
/// # Example
///
/// ```
/// use lesson_torch::nn::sgd::{Sgd, SgdConfig};
/// use tch::{Kind, Tensor};
///
/// let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
/// // optimizer = torch.optim.SGD([p], lr=0.1)
/// let mut sgd = Sgd::new([&p], SgdConfig::new(0.1))?;
/// (&p * &p).sum(Kind::Float).backward(); // p.grad = 2 p = [2, -4]
/// sgd.step()?; // optimizer.step()
/// let stepped = Vec::<f32>::try_from(&p.detach())?;
/// assert_eq!(stepped, [0.8, -1.6]);
/// // Exactly one rounding, as PyTorch: fma(-lr, grad, p).
/// assert_eq!(stepped, [(-0.1f32).mul_add(2.0, 1.0), (-0.1f32).mul_add(-4.0, -2.0)]);
/// sgd.zero_grad()?; // optimizer.zero_grad(): p.grad is None
/// assert!(!p.grad().defined());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Sgd {
    optimizer: COptimizer,
}

impl Sgd {
    /// `torch.optim.SGD(parameters, lr=..., momentum=..., ...)`.
    pub fn new<'a>(
        parameters: impl IntoIterator<Item = &'a Tensor>,
        config: SgdConfig,
    ) -> Result<Self> {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } = config;
        let mut optimizer = COptimizer::sgd(lr, momentum, dampening, weight_decay, nesterov)
            .context("cannot create the SGD optimiser")?;
        for p in parameters {
            optimizer
                .add_parameters(p, 0)
                .context("cannot add a parameter to SGD")?;
        }
        Ok(Self { optimizer })
    }

    /// `optimizer.zero_grad()`: every parameter's `.grad` becomes None.
    pub fn zero_grad(&mut self) -> Result<()> {
        self.optimizer.zero_grad().context("zero_grad failed")
    }

    /// `optimizer.step()`.
    pub fn step(&mut self) -> Result<()> {
        self.optimizer.step().context("SGD step failed")
    }

    /// One training step on `loss`, in the lesson's order: `optimizer.zero_grad()`,
    /// `loss.backward()`, `optimizer.step()` (tch's and candle's `backward_step`).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.zero_grad()?;
        loss.f_backward().context("backward failed")?;
        self.step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn step_is_param_minus_lr_grad_and_zero_grad_clears() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut sgd = Sgd::new([&p], SgdConfig::new(0.5)).unwrap();
        (&p * &p).sum(Kind::Float).backward(); // grad = 2p = [2, -4]
        sgd.step().unwrap();
        assert_eq!(Vec::<f32>::try_from(&p.detach()).unwrap(), [0.0, 0.0]);
        sgd.zero_grad().unwrap();
        assert!(!p.grad().defined(), "set_to_none semantics");
        let _ = Device::Cpu;
    }
}
