//! The `softmax` program: the lesson's softmax regression ([`crate::lesson::softmax_regression`])
//! with its options, its checks (a NaN loss, a signal) and its JSON trace.
use crate::cli;
use crate::io::trace::{named_grads_json, named_tensors_json, number};
use crate::lesson::softmax_regression::{self, Observer};
use crate::nn::loss::cross_entropy;
use crate::nn::sgd::{Sgd, SgdConfig};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use tch::{Device, Kind, Tensor};

pub use crate::lesson::softmax_regression::LinearNet;

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

/// The lesson's program one epoch at a time, for the benchmark's timed steps and the porting
/// tests (the `softmax` program itself runs [`softmax_regression::train`]).
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
        // The lesson's `optimizer = torch.optim.SGD(net.parameters(), lr=lr)`.
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
        let y_hat = self.net.forward(&self.x)?;
        let l = cross_entropy(&y_hat, &self.target)?.f_sum(None::<Kind>)?;
        self.optimizer.backward_step(&l)?;
        Ok(l)
    }

    /// The share of samples whose largest output is the target class.
    pub fn accuracy(&self) -> f64 {
        tch::no_grad(|| accuracy(&self.net, &self.x, &self.target))
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

/// The share of samples whose largest output is the target class.
pub fn accuracy(net: &LinearNet, x: &Tensor, target: &Tensor) -> f64 {
    tch::no_grad(|| {
        let predicted = net.forward(x).map(|y| y.argmax(1, false));
        predicted.map_or(f64::NAN, |p| {
            p.eq_tensor(target)
                .to_kind(Kind::Float)
                .mean(None::<Kind>)
                .double_value(&[])
        })
    })
}

/// What the program takes from the lesson's training: the initial parameters, and each epoch's
/// loss, checked (finite unless `--allow-nan`, no stop signal) and kept for the trace.
struct Run<'a> {
    config: &'a Config,
    initial: Value,
    losses: Vec<f64>,
    started: bool,
    done: i64,
}

impl Observer for Run<'_> {
    fn start(&mut self, net: &LinearNet) -> Result<()> {
        self.started = true;
        self.initial = named_tensors_json(net.dense.named_parameters());
        Ok(())
    }

    fn epoch(&mut self, epoch: i64, train_l: f64) -> Result<()> {
        let config = self.config;
        crate::cli::check_loss(train_l, config.allow_nan, || format!("epoch {}", epoch + 1))?;
        if config.record {
            // Every loss is kept only for the JSON trace; the text streams.
            crate::cli::try_push(&mut self.losses, train_l, "--epochs")?;
        }
        self.done = epoch + 1;
        Ok(())
    }
}

/// Runs the lesson's program ([`softmax_regression::train`]), its lines into `out`; a libtorch
/// error names the data (`--samples`) or the epoch where it came.
pub fn train(config: &Config, out: &mut impl Write) -> Result<Trace> {
    let mut run = Run {
        config,
        initial: Value::Null,
        losses: Vec::new(),
        started: false,
        done: 0,
    };
    let c = config;
    let (seed, samples, epochs, lr) = (c.seed, c.samples, c.epochs, c.lr);
    let trained =
        softmax_regression::train(seed, samples, epochs, lr, c.logits, c.device, &mut run, out);
    let (net, _, _) = trained.map_err(|e| {
        let samples = config.samples;
        if e.downcast_ref::<tch::TchError>().is_none() {
            e
        } else if !run.started {
            e.context(format!("--samples {samples}: cannot make the data"))
        } else {
            e.context(format!("epoch {} (--samples {samples})", run.done + 1))
        }
    })?;
    Ok(Trace {
        config: config.clone(),
        initial: run.initial,
        losses: run.losses,
        final_parameters: named_tensors_json(net.dense.named_parameters()),
        grads: named_grads_json(net.dense.named_parameters()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        let _rng = crate::global_rng();
        tch::manual_seed(1);
        let net = LinearNet::new(false, Device::Cpu);
        let x = Tensor::rand([5, 2, 2], (Kind::Float, Device::Cpu));
        let y = net.forward(&x).unwrap();
        let sums = Vec::<f32>::try_from(y.sum_dim_intlist(1, false, None::<Kind>)).unwrap();
        for s in sums {
            assert!((s - 1.0).abs() <= 2.0 * f32::EPSILON, "{s}");
        }
    }

    #[test]
    fn loss_falls() {
        let _rng = crate::global_rng();
        let config = Config {
            epochs: 30,
            logits: true,
            ..Config::default()
        };
        let trace = train(&config, &mut std::io::sink()).unwrap();
        assert!(trace.losses[29] < trace.losses[0], "{:?}", trace.losses);
        assert!(trace.losses.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn the_lessons_print_is_python_format() {
        let _rng = crate::global_rng();
        let mut out = Vec::new();
        let config = Config {
            epochs: 2,
            ..Config::default()
        };
        train(&config, &mut out).unwrap();
        // print('epoch %d, loss %.4f' % (epoch + 1, train_l)), as reference.py softmax prints.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "epoch 1, loss 1.1055\nepoch 2, loss 1.1009\n"
        );
        assert_eq!(crate::lesson::fmt_value(0.125, 4), "0.1250");
        assert_eq!(crate::lesson::fmt_value(f64::NAN, 4), "nan");
    }
}
