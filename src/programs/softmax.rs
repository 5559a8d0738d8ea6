//! The lesson's softmax regression (section 2): `LinearNet`, CrossEntropyLoss and SGD.
//!
//! ```python
//! torch.manual_seed(7)
//! X = torch.rand((7, 2, 2))
//! target = torch.randint(0, 2, (7,))
//! net = LinearNet()                      # Linear(4, 3), then Softmax(dim=1)
//! loss = nn.CrossEntropyLoss()
//! optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
//! for epoch in range(70):
//!     y_hat = net(X)
//!     l = loss(y_hat, target).sum()
//!     optimizer.zero_grad(); l.backward(); optimizer.step()
//! ```
use crate::cli;
use crate::io::trace::{named_grads_json, named_tensors_json, number};
use crate::nn::linear::Linear;
use crate::nn::loss::cross_entropy;
use crate::nn::sgd::{Sgd, SgdConfig};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

/// The options of the `softmax` program (and of `reference.py softmax`): the program's command
/// line is this struct (with [`cli::CommonArgs`] for `--device` and `--json`), its defaults are
/// `Config::default()`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Config {
    /// Random seed (torch.manual_seed).
    #[arg(long, default_value = "7", value_parser = cli::seed)]
    pub seed: i64,
    /// Number of training epochs.
    #[arg(long, default_value = "70", value_parser = cli::positive_int)]
    pub epochs: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.1", value_parser = cli::positive_finite)]
    pub lr: f64,
    /// Number of samples: X = rand(samples, 2, 2), target = randint(0, 2, (samples,)).
    #[arg(long, default_value = "7", value_parser = cli::positive_int)]
    pub samples: i64,
    /// Train on the raw logits (the correct use of CrossEntropyLoss) instead of the lesson's
    /// softmax outputs.
    #[arg(long)]
    pub logits: bool,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the epoch).
    #[arg(long)]
    pub allow_nan: bool,
    /// `torch.device` of the run (`--device`, resolved by [`cli::CommonArgs::prepare`]).
    #[arg(skip = Device::Cpu)]
    pub device: Device,
    /// Keep every loss for the JSON trace (only when one is written: a long run streams).
    #[arg(skip = true)]
    pub record: bool,
}

impl Default for Config {
    fn default() -> Self {
        cli::defaults()
    }
}

/// The lesson's `LinearNet`: `Linear(4, 3)` on `x.view(-1, 4)`, then `Softmax(dim=1)`.
pub struct LinearNet {
    /// `self.dense = nn.Linear(4, 3)`.
    pub dense: Linear,
    /// `--logits`: skip the softmax and return the raw scores.
    pub logits: bool,
}

impl LinearNet {
    /// `net = LinearNet()` (PyTorch's initialisation under the current seed).
    pub fn new(logits: bool, device: Device) -> Self {
        Self {
            dense: Linear::new(4, 3, device),
            logits,
        }
    }

    /// `net(x)`: `softmax(dense(x.view((-1, 4))), dim=1)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.dense.forward(&x.view([-1, 4]));
        if self.logits {
            y
        } else {
            y.softmax(1, None::<Kind>)
        }
    }

    /// [`LinearNet::forward`] returning libtorch's errors (a batch too large for memory).
    pub fn f_forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        let y = self.dense.f_forward(&x.f_view([-1, 4])?)?;
        if self.logits {
            Ok(y)
        } else {
            y.f_softmax(1, None::<Kind>)
        }
    }
}

/// The lesson's data: `X = rand(samples, 2, 2)` and `target = randint(0, 2, (samples,))`,
/// drawn on the CPU in that order (then moved to the device).
pub fn make_data(samples: i64, device: Device) -> Result<(Tensor, Tensor)> {
    let too_big = || format!("--samples {samples}: cannot make the data");
    let x = Tensor::f_rand([samples, 2, 2], (Kind::Float, Device::Cpu)).with_context(too_big)?;
    let target =
        Tensor::f_randint_low(0, 2, [samples], (Kind::Int64, Device::Cpu)).with_context(too_big)?;
    Ok((
        x.f_to_device(device).with_context(too_big)?,
        target.f_to_device(device).with_context(too_big)?,
    ))
}

/// A training run in progress: the lesson's program up to the loop.
pub struct Training {
    /// The run's options.
    pub config: Config,
    /// `X`.
    pub x: Tensor,
    /// `target`.
    pub target: Tensor,
    /// `net`.
    pub net: LinearNet,
    optimizer: Sgd,
}

impl Training {
    /// `manual_seed`, the data, the net, the loss and the optimiser, in the lesson's order.
    pub fn new(config: &Config) -> Result<Self> {
        tch::manual_seed(config.seed);
        let (x, target) = make_data(config.samples, config.device)?;
        let net = LinearNet::new(config.logits, config.device);
        let optimizer = Sgd::new(net.dense.parameters(), SgdConfig::new(config.lr))?;
        Ok(Self {
            config: config.clone(),
            x,
            target,
            net,
            optimizer,
        })
    }

    /// One epoch: forward, loss, `zero_grad`, `backward`, `step`. Returns the loss tensor
    /// (reading its value is the caller's choice: it costs a device sync).
    pub fn epoch(&mut self) -> Result<Tensor> {
        let y_hat = self.net.f_forward(&self.x)?;
        let l = cross_entropy(&y_hat, &self.target)?.f_sum(None::<Kind>)?;
        self.optimizer.backward_step(&l)?;
        Ok(l)
    }

    /// The share of samples whose largest output is the target class.
    pub fn accuracy(&self) -> f64 {
        tch::no_grad(|| {
            let predicted = self.net.forward(&self.x).argmax(1, false);
            predicted
                .eq_tensor(&self.target)
                .to_kind(Kind::Float)
                .mean(None::<Kind>)
                .double_value(&[])
        })
    }

    /// `{name: p.tolist() for name, p in net.dense.named_parameters()}`.
    pub fn parameters_json(&self) -> Value {
        named_tensors_json(self.net.dense.named_parameters())
    }

    /// `{name: p.grad.tolist() for name, p in net.dense.named_parameters()}` (null for None).
    pub fn grads_json(&self) -> Value {
        named_grads_json(self.net.dense.named_parameters())
    }
}

/// The trace of a whole run, as `--json` writes it.
pub struct Trace {
    /// The run's options.
    pub config: Config,
    /// The parameters before training.
    pub initial: Value,
    /// Every epoch's `l.item()`, at full precision.
    pub losses: Vec<f64>,
    /// The parameters after training.
    pub final_parameters: Value,
    /// The last epoch's gradients (`p.grad`).
    pub grads: Value,
}

impl Trace {
    /// The trace as `reference.py softmax --json` writes it.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let config = json!({"seed": c.seed, "epochs": c.epochs, "lr": c.lr, "samples": c.samples, "logits": c.logits});
        crate::io::trace::trace(
            "softmax",
            c.device,
            config,
            json!({
                "initial_parameters": self.initial,
                "losses": self.losses.iter().map(|&l| number(l)).collect::<Vec<_>>(),
                "final_parameters": self.final_parameters,
                "final_grads": self.grads,
            }),
        )
    }
}

/// Runs the lesson's program; `on_epoch(epoch, loss)` sees each epoch's loss (1-based epoch).
pub fn train(config: &Config, mut on_epoch: impl FnMut(i64, f64) -> Result<()>) -> Result<Trace> {
    let mut run = Training::new(config)?;
    let initial = run.parameters_json();
    // Every loss is kept only for the JSON trace; the text streams through `on_epoch`.
    let mut losses = Vec::new();
    for epoch in 0..config.epochs {
        let l = run
            .epoch()
            .with_context(|| format!("epoch {} (--samples {})", epoch + 1, config.samples))?;
        // `train_l = 0.0; train_l += l`: the loss as a Python float, f32 widened exactly.
        let train_l = l.f_double_value(&[]).context("cannot read the loss")?;
        crate::cli::check_loss(train_l, config.allow_nan, || format!("epoch {}", epoch + 1))?;
        if config.record {
            crate::cli::try_push(&mut losses, train_l, "--epochs")?;
        }
        on_epoch(epoch + 1, train_l)?;
    }
    Ok(Trace {
        config: config.clone(),
        initial,
        losses,
        final_parameters: run.parameters_json(),
        grads: run.grads_json(),
    })
}

/// The lesson's line for an epoch: `'epoch %d, loss %.4f' % (epoch + 1, train_l)`.
/// (Rust's `{:.4}` rounds the exact binary value half to even, as Python's `%.4f` does.)
pub fn epoch_line(epoch: i64, loss: f64) -> String {
    format!(
        "epoch {epoch}, loss {}",
        crate::io::report::fmt_value(loss, 4)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        tch::manual_seed(1);
        let net = LinearNet::new(false, Device::Cpu);
        let x = Tensor::rand([5, 2, 2], (Kind::Float, Device::Cpu));
        let sums =
            Vec::<f32>::try_from(net.forward(&x).sum_dim_intlist(1, false, None::<Kind>)).unwrap();
        for s in sums {
            assert!((s - 1.0).abs() <= 2.0 * f32::EPSILON, "{s}");
        }
    }

    #[test]
    fn loss_falls() {
        let config = Config {
            epochs: 30,
            logits: true,
            ..Config::default()
        };
        let trace = train(&config, |_, _| Ok(())).unwrap();
        assert!(trace.losses[29] < trace.losses[0], "{:?}", trace.losses);
        assert!(trace.losses.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn epoch_line_is_python_format() {
        assert_eq!(epoch_line(1, 1.10546875), "epoch 1, loss 1.1055");
        assert_eq!(epoch_line(70, 0.125), "epoch 70, loss 0.1250");
    }
}
