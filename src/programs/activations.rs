//! The lesson's activations and cross-entropy (sections 1 and 2), shown with numbers: sigmoid,
//! tanh, ReLU and softmax with their autograd gradients, the properties the lesson names, the
//! ways to compute cross-entropy, and the lesson's double softmax.
//! `scripts/reference.py activations` computes and prints the same.
use crate::cli;
use crate::io::plot::{Panel, Series};
use crate::io::report::{fmt_tensor, fmt_value, py_bool, Block, Report};
use crate::nn::autograd::{grad, Grad};
use crate::nn::loss::cross_entropy;
use crate::programs::softmax;
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// The options of `activations` (and of `reference.py activations`): the program's command line
/// is this struct (with [`cli::CommonArgs`] for `--device` and `--json`), its defaults are
/// `Config::default()`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Config {
    /// Grid points from -6 to 6 for the table (2 to 100000).
    #[arg(long, default_value = "13", value_parser = points)]
    pub points: i64,
    /// Seed of the random scores used for softmax and cross-entropy.
    #[arg(long, default_value = "0", value_parser = cli::seed)]
    pub seed: i64,
    /// Epochs for training LinearNet with and without the double softmax.
    #[arg(long, default_value = "70", value_parser = cli::positive_int)]
    pub epochs: i64,
    /// Draw the four functions and their gradients to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE", value_parser = crate::io::plot::plot_path_arg)]
    pub plot: Option<PathBuf>,
    /// `torch.device` of the run (`--device`, resolved by [`cli::CommonArgs::prepare`]).
    #[arg(skip = Device::Cpu)]
    pub device: Device,
    /// Where the text and the trace go.
    #[arg(skip)]
    pub output: crate::io::report::Output,
}

impl Default for Config {
    fn default() -> Self {
        cli::defaults()
    }
}

/// `--points`: a whole number from 2 to [`MAX_POINTS`].
fn points(s: &str) -> std::result::Result<i64, String> {
    cli::int_in_range(s, 2, MAX_POINTS)
}

fn floats(t: &Tensor) -> Vec<f64> {
    crate::io::trace::host_values(t).0
}

fn scalar(t: &Tensor) -> f64 {
    floats(t).first().copied().unwrap_or(f64::NAN)
}

fn tensor(values: &[f32], device: Device) -> Tensor {
    Tensor::from_slice(values).to_device(device)
}

/// `f(x)` and `d sum(f(x)) / dx` by autograd, on a fresh leaf copy of `x`.
pub fn value_and_grad(f: impl Fn(&Tensor) -> Tensor, x: &Tensor) -> Result<(Tensor, Tensor)> {
    let x = x.detach().set_requires_grad(true);
    let y = f(&x);
    let g = grad(&[&y.sum(None::<Kind>)], &[&x], Grad::new())?.remove(0);
    Ok((y.detach(), g))
}

use crate::lesson::activations::{
    binary_cross_entropy, binary_cross_entropy_by_hand, binary_cross_entropy_with_logits,
    cross_entropy_by_hand, log_softmax_nll, relu, sigmoid, softmax, tanh,
};

/// The most grid points `--points` takes: the table prints a line per point, and a table of
/// 100,000 lines is already far past reading.
pub const MAX_POINTS: i64 = 100_000;

/// The grid `torch.linspace(-6, 6, points)`.
pub fn grid(points: i64, device: Device) -> Tensor {
    Tensor::linspace(-6.0, 6.0, points, (Kind::Float, device))
}

/// The names of the walkthrough's blocks in order: each is the function (here and in
/// `scripts/reference.py`) that makes the block.
pub const BLOCKS: [&str; 7] = [
    "activation_table",
    "activation_properties",
    "dead_relu",
    "softmax_stability",
    "cross_entropy_three_ways",
    "binary_cross_entropy_fused",
    "double_softmax",
];

/// Every block of the walkthrough, in the order of [`BLOCKS`].
pub fn walkthrough(config: &Config) -> Result<Report> {
    let device = config.device;
    let mut report = Report::with_output(
        "activations",
        device,
        json!({"points": config.points, "seed": config.seed, "epochs": config.epochs}),
        config.output.clone(),
    );
    let curves = Curves::new(config.points, device)?;
    report.push(activation_table(&curves));
    report.push(activation_properties(&curves));
    report.push(dead_relu(device)?);
    report.push(softmax_stability(config.seed, device));
    let scores = Scores::draw(device);
    report.push(cross_entropy_three_ways(&scores)?);
    report.push(binary_cross_entropy_fused(device)?);
    report.push(double_softmax(&scores, config.epochs, device)?);
    Ok(report)
}

/// Sigmoid, tanh and ReLU on the grid, with their autograd gradients.
pub struct Curves {
    /// The number of grid points.
    pub points: i64,
    /// `torch.linspace(-6, 6, points)`.
    pub x: Tensor,
    /// `torch.sigmoid(x)`.
    pub sig: Tensor,
    /// Its gradient, `x.grad` after `sigmoid(x).sum().backward()`.
    pub sig_g: Tensor,
    /// `torch.tanh(x)`.
    pub th: Tensor,
    /// Its gradient.
    pub th_g: Tensor,
    /// `torch.relu(x)`.
    pub re: Tensor,
    /// Its gradient (0 at x = 0, as libtorch defines it).
    pub re_g: Tensor,
}

impl Curves {
    /// The three functions and their gradients on a grid of `points` points.
    pub fn new(points: i64, device: Device) -> Result<Self> {
        let x = grid(points, device);
        let (sig, sig_g) = value_and_grad(sigmoid, &x)?;
        let (th, th_g) = value_and_grad(tanh, &x)?;
        let (re, re_g) = value_and_grad(relu, &x)?;
        Ok(Self {
            points,
            x,
            sig,
            sig_g,
            th,
            th_g,
            re,
            re_g,
        })
    }

    /// The table's columns on the host: x, then each function and its gradient.
    fn columns(&self) -> Vec<Vec<f64>> {
        [
            &self.x,
            &self.sig,
            &self.sig_g,
            &self.th,
            &self.th_g,
            &self.re,
            &self.re_g,
        ]
        .iter()
        .map(|t| floats(t))
        .collect()
    }
}

/// 1. The table.
pub fn activation_table(c: &Curves) -> Block {
    let f4 = |v: f64| fmt_value(v, 4);
    let mut block = Block::new(format!(
        "1. Sigmoid, tanh and ReLU on {} points from -6 to 6, with autograd gradients",
        c.points
    ));
    block.line(format!(
        "{:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "x", "sigmoid", "d/dx", "tanh", "d/dx", "relu", "d/dx"
    ));
    let columns = c.columns();
    for i in 0..columns[0].len() {
        let c: Vec<String> = columns.iter().map(|col| f4(col[i])).collect();
        block.line(format!(
            "{:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        ));
    }
    for (name, t) in [
        ("x", &c.x),
        ("sigmoid", &c.sig),
        ("sigmoid'", &c.sig_g),
        ("tanh", &c.th),
        ("tanh'", &c.th_g),
        ("relu", &c.re),
        ("relu'", &c.re_g),
    ] {
        block.tensor(name, t);
    }
    block
}

/// 2. The properties, read off the numbers.
pub fn activation_properties(c: &Curves) -> Block {
    let f4 = |v: f64| fmt_value(v, 4);
    let mut block = Block::new("2. What the numbers show");
    let columns = c.columns();
    let xs = &columns[0];
    let Curves {
        x,
        sig,
        sig_g,
        th,
        th_g,
        re_g,
        ..
    } = c;
    let at_max = |g: &Tensor| xs[g.argmax(None, false).int64_value(&[]) as usize];
    let sg = &columns[2];
    let (sig_min, sig_max, sig_g_max) =
        (scalar(&sig.min()), scalar(&sig.max()), scalar(&sig_g.max()));
    let (th_min, th_max, th_g_max) = (scalar(&th.min()), scalar(&th.max()), scalar(&th_g.max()));
    block.line(format!(
        "sigmoid: values in [{}, {}], inside (0, 1); gradient at most {} at x = {}; at the ends {} and {}: it vanishes",
        fmt_value(sig_min, 6),
        fmt_value(sig_max, 6),
        f4(sig_g_max),
        f4(at_max(sig_g)),
        fmt_value(sg[0], 6),
        fmt_value(sg[sg.len() - 1], 6)
    ));
    let odd_gap = scalar(&(tanh(&x.neg()) + th).abs().max());
    let tanh0 = scalar(&tanh(&Tensor::zeros([1], (Kind::Float, x.device()))));
    block.line(format!(
        "tanh: values in [{}, {}], inside (-1, 1); zero-centred: tanh(0) = {}, largest |tanh(-x) + tanh(x)| = {}; gradient at most {} at x = {}",
        fmt_value(th_min, 6),
        fmt_value(th_max, 6),
        f4(tanh0),
        fmt_value(odd_gap, 10),
        f4(th_g_max),
        f4(at_max(th_g))
    ));
    let all_equal =
        |mask: &Tensor, v: f64| re_g.masked_select(mask).eq(v).all().int64_value(&[]) != 0;
    let (ones_right, zeros_left) = (all_equal(&x.gt(0.0), 1.0), all_equal(&x.lt(0.0), 0.0));
    block.line(format!(
        "relu: gradient 1 for every x > 0: {}, 0 for every x < 0: {} (at x = 0 PyTorch takes 0)",
        py_bool(ones_right),
        py_bool(zeros_left)
    ));
    block
        .number("sigmoid min", sig_min)
        .number("sigmoid max", sig_max)
        .number("sigmoid' max", sig_g_max)
        .number("sigmoid' argmax x", at_max(sig_g))
        .number("tanh min", th_min)
        .number("tanh max", th_max)
        .number("tanh(0)", tanh0)
        .number("tanh odd gap", odd_gap)
        .number("tanh' max", th_g_max)
        .value("relu' is 1 for x > 0", json!(ones_right))
        .value("relu' is 0 for x < 0", json!(zeros_left));
    block
}

/// 3. A dead ReLU unit.
pub fn dead_relu(device: Device) -> Result<Block> {
    let mut block = Block::new("3. A dead ReLU unit: all its inputs negative, no gradient");
    let batch = tensor(&[1.0, 2.0, 0.5, 1.5, 2.0, 0.1, 1.2, 0.3], device).view([4, 2]);
    let unit = |w: &[f32], b: f32| -> Result<(Tensor, Tensor, Tensor, Tensor)> {
        let w = tensor(w, device).view([1, 2]).set_requires_grad(true);
        let b = tensor(&[b], device).set_requires_grad(true);
        let z = batch.linear(&w, Some(&b));
        let out = z.relu();
        out.sum(None::<Kind>)
            .f_backward()
            .context("backward failed")?;
        Ok((z.detach(), out.detach(), w.grad(), b.grad()))
    };
    let (z, out, wg, bg) = unit(&[-0.5, -1.0], -0.2)?;
    block
        .line(format!(
            "x = {} (4 positive inputs), w = [[-0.5000, -1.0000]], b = [-0.2000]",
            fmt_tensor(&batch, 4)
        ))
        .line(format!(
            "z = x w^T + b = {} (all negative)",
            fmt_tensor(&z, 4)
        ))
        .line(format!("relu(z) = {}", fmt_tensor(&out, 4)))
        .line(format!(
            "relu(z).sum().backward(): w.grad = {}, b.grad = {}",
            fmt_tensor(&wg, 4),
            fmt_tensor(&bg, 4)
        ))
        .line("no gradient reaches w or b for this batch, so SGD does not change them: the unit is dead for this batch");
    block
        .tensor("dead z", &z)
        .tensor("dead w.grad", &wg)
        .tensor("dead b.grad", &bg);
    let (_, _, wg, bg) = unit(&[0.5, 1.0], -0.2)?;
    block.line(format!(
        "the same unit with w = [[0.5000, 1.0000]]: w.grad = {}, b.grad = {}",
        fmt_tensor(&wg, 4),
        fmt_tensor(&bg, 4)
    ));
    block.tensor("live w.grad", &wg).tensor("live b.grad", &bg);
    Ok(block)
}

/// 4. Softmax.
pub fn softmax_stability(seed: i64, device: Device) -> Block {
    let mut block = Block::new("4. Softmax: a probability distribution over the scores");
    tch::manual_seed(seed);
    let z = (Tensor::randn([4, 5], (Kind::Float, Device::Cpu)) * 3.0).to_device(device);
    let p = softmax(&z, 1);
    let sums = p.sum_dim_intlist(1, false, None::<Kind>);
    let sum_gap = scalar(&(&sums - 1.0).abs().max());
    block.line(format!(
        "z = randn(4, 5) * 3 (seed {}); p = softmax(z, dim=1):",
        seed
    ));
    for row in 0..4 {
        block.line(format!("  {}", fmt_tensor(&p.get(row), 4)));
    }
    block.line(format!(
        "row sums = {}; largest |sum - 1| = {}",
        fmt_tensor(&sums, 6),
        fmt_value(sum_gap, 10)
    ));
    let shifted = softmax(&(&z + 100.0), 1);
    let shift_gap = scalar(&(&shifted - &p).abs().max());
    block.line(format!(
        "softmax(z + 100) vs softmax(z): largest difference {} (a constant added to every score changes nothing: equal up to float rounding)",
        fmt_value(shift_gap, 10)
    ));
    let large = tensor(&[1000.0, 1001.0, 1002.0], device);
    let stable = softmax(&large, 0);
    let naive = large.exp() / large.exp().sum(None::<Kind>);
    block
        .line(format!(
            "softmax([1000, 1001, 1002]) = {}",
            fmt_tensor(&stable, 4)
        ))
        .line(format!(
            "naive exp(s) / sum(exp(s)) = {}: exp(1000) overflows to inf, inf / inf is NaN",
            fmt_tensor(&naive, 4)
        ))
        .line("softmax subtracts the largest score first: exp(s - max) / sum(exp(s - max))");
    block
        .tensor("p", &p)
        .tensor("row sums", &sums)
        .number("largest |sum - 1|", sum_gap)
        .number("shift difference", shift_gap)
        .tensor("softmax large", &stable)
        .tensor("naive large", &naive);
    block
}

/// The random scores and labels that blocks 5 and 7 share, drawn after block 4's.
pub struct Scores {
    /// `torch.randn(4, 3)`: four samples' scores over three classes.
    pub logits: Tensor,
    /// The labels `[0, 2, 1, 2]`.
    pub labels: Tensor,
    /// `F.one_hot(labels, 3).float()`.
    pub one_hot: Tensor,
}

impl Scores {
    /// Draws the scores from the global generator (on the CPU, as Python does, then moved).
    pub fn draw(device: Device) -> Self {
        let logits = Tensor::randn([4, 3], (Kind::Float, Device::Cpu)).to_device(device);
        let labels = Tensor::from_slice(&[0i64, 2, 1, 2]).to_device(device);
        let one_hot = labels.one_hot(3).to_kind(Kind::Float);
        Self {
            logits,
            labels,
            one_hot,
        }
    }
}

/// 5. Multi-class cross-entropy, three ways.
pub fn cross_entropy_three_ways(scores: &Scores) -> Result<Block> {
    let Scores {
        logits,
        labels,
        one_hot,
    } = scores;
    let mut block = Block::new("5. Cross-entropy for several classes, three ways");
    let by_hand = cross_entropy_by_hand(logits, one_hot);
    let nll = log_softmax_nll(logits, labels)?;
    let ce = crate::lesson::activations::cross_entropy(logits, labels)?;
    let values = [scalar(&by_hand), scalar(&nll), scalar(&ce)];
    let spread = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - values.iter().cloned().fold(f64::INFINITY, f64::min);
    block
        .line("scores z = randn(4, 3), labels y = [0, 2, 1, 2]")
        .line(format!(
            "-sum_i y_i log p_i with one-hot y, by hand: {}",
            fmt_value(values[0], 8)
        ))
        .line(format!(
            "nll_loss(log_softmax(z), y):           {}",
            fmt_value(values[1], 8)
        ))
        .line(format!(
            "cross_entropy(z, y):                   {}",
            fmt_value(values[2], 8)
        ))
        .line(format!("largest difference: {}", fmt_value(spread, 10)));
    block
        .tensor("z", logits)
        .number("by hand", values[0])
        .number("nll_loss", values[1])
        .number("cross_entropy", values[2]);
    Ok(block)
}

/// 6. Binary cross-entropy.
pub fn binary_cross_entropy_fused(device: Device) -> Result<Block> {
    let f4 = |v: f64| fmt_value(v, 4);
    let mut block = Block::new("6. Binary cross-entropy: sigmoid + BCE, and the fused form");
    let zb = tensor(&[0.5, -1.2, 2.0, -0.3], device);
    let yb = tensor(&[1.0, 0.0, 1.0, 1.0], device);
    let (bce, bce_logits) = (binary_cross_entropy, binary_cross_entropy_with_logits);
    let (unfused, fused) = (scalar(&bce(&zb, &yb)?), scalar(&bce_logits(&zb, &yb)?));
    block
        .line("z = [0.5, -1.2, 2.0, -0.3], y = [1, 0, 1, 1]")
        .line(format!(
            "binary_cross_entropy(sigmoid(z), y):  {}",
            fmt_value(unfused, 8)
        ))
        .line(format!(
            "binary_cross_entropy_with_logits(z, y): {}",
            fmt_value(fused, 8)
        ))
        .line(format!(
            "difference: {}",
            fmt_value((unfused - fused).abs(), 10)
        ));
    let zl = tensor(&[30.0, -40.0, 200.0], device);
    let yl = tensor(&[0.0, 1.0, 0.0], device);
    let by_hand = binary_cross_entropy_by_hand(&zl, &yl);
    let (hand_l, unfused_l, fused_l) = (
        scalar(&by_hand),
        scalar(&bce(&zl, &yl)?),
        scalar(&bce_logits(&zl, &yl)?),
    );
    block
        .line("large logits z = [30, -40, 200] with wrong labels y = [0, 1, 0]; the true loss is (30 + 40 + 200) / 3 = 90")
        .line(format!("by hand, -(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))): {} (sigmoid(30) is 1 in float32, log(0) = -inf)", f4(hand_l)))
        .line(format!("binary_cross_entropy(sigmoid(z), y): {} (PyTorch clamps log at -100: finite, but wrong)", f4(unfused_l)))
        .line(format!("binary_cross_entropy_with_logits(z, y): {} (fused: right)", f4(fused_l)));
    block
        .number("bce", unfused)
        .number("bce with logits", fused)
        .number("large by hand", hand_l)
        .number("large bce", unfused_l)
        .number("large bce with logits", fused_l);
    Ok(block)
}

/// 7. The lesson's double softmax.
pub fn double_softmax(scores: &Scores, epochs: i64, device: Device) -> Result<Block> {
    let f4 = |v: f64| fmt_value(v, 4);
    let mut block =
        Block::new("7. The lesson's double softmax: CrossEntropyLoss on softmax outputs");
    let k = 3.0f64;
    let bound = (std::f64::consts::E + k - 1.0).ln() - 1.0;
    let best = cross_entropy(&scores.one_hot, &scores.labels)?;
    block
        .line(format!("on probabilities p in [0, 1] the loss is at least log(e + K - 1) - 1 = {} for K = 3 classes", fmt_value(bound, 6)))
        .line(format!("even a perfect one-hot p only reaches {}: the loss can never be 0", fmt_value(scalar(&best), 6)));
    let zl = scores.logits.detach().set_requires_grad(true);
    let g_logits = grad(&[&cross_entropy(&zl, &scores.labels)?], &[&zl], Grad::new())?.remove(0);
    let g_double = grad(
        &[&cross_entropy(&softmax(&zl, 1), &scores.labels)?],
        &[&zl],
        Grad::new(),
    )?
    .remove(0);
    let norm = |g: &Tensor| scalar(&g.pow_tensor_scalar(2).sum(None::<Kind>).sqrt());
    let (n_logits, n_double) = (norm(&g_logits), norm(&g_double));
    block.line(format!(
        "gradient norm w.r.t. the scores: {} on the logits, {} through the extra softmax ({} times smaller)",
        fmt_value(n_logits, 6),
        fmt_value(n_double, 6),
        fmt_value(n_logits / n_double, 2)
    ));
    let plural = if epochs == 1 { "" } else { "s" };
    block.line(format!(
        "training the lesson's LinearNet for {epochs} epoch{plural} (seed 7, lr 0.1, 7 samples):"
    ));
    for (logits_mode, what) in [
        (false, "the lesson, softmax then CrossEntropyLoss"),
        (true, "--logits, CrossEntropyLoss on the logits"),
    ] {
        let (last, accuracy) = train_linear_net(epochs, logits_mode, device)?;
        block.line(format!(
            "  {what}: final loss {}, accuracy {}",
            f4(last),
            f4(accuracy)
        ));
        let key = if logits_mode {
            "logits"
        } else {
            "double softmax"
        };
        block
            .number(&format!("{key} final loss"), last)
            .number(&format!("{key} accuracy"), accuracy);
    }
    block.line("the 7 labels are random (torch.randint): the accuracy is how well the net memorises these 7 samples, not a skill that generalises");
    block
        .number("lower bound", bound)
        .number("one-hot loss", scalar(&best))
        .number("grad norm logits", n_logits)
        .number("grad norm double softmax", n_double);
    Ok(block)
}

/// The last loss of the lesson's training, each epoch checked for a stop signal.
struct LastLoss(f64);

impl crate::lesson::softmax_regression::Observer for LastLoss {
    fn epoch(&mut self, _epoch: i64, train_l: f64) -> Result<()> {
        self.0 = train_l;
        crate::cli::check_interrupt()
    }
}

/// The lesson's `LinearNet` trained for `epochs` (seed 7, lr 0.1, 7 samples): the last loss and
/// the accuracy (`reference.py`'s `train_linear_net`).
fn train_linear_net(epochs: i64, logits: bool, device: Device) -> Result<(f64, f64)> {
    use crate::lesson::softmax_regression::train;
    let mut last = LastLoss(f64::NAN);
    let sink = &mut std::io::sink();
    let (net, x, target) = train(7, 7, epochs, 0.1, logits, device, &mut last, sink)?;
    Ok((last.0, softmax::accuracy(&net, &x, &target)))
}

/// The four functions and their gradients on a fine grid, for `--plot`.
pub fn plot_panels() -> Result<Vec<Panel>> {
    let x = grid(241, Device::Cpu);
    let xs = floats(&x);
    let series = |label: &str, t: &Tensor| Series {
        label: label.to_string(),
        points: xs.iter().copied().zip(floats(t)).collect(),
    };
    let mut panels = Vec::new();
    for (name, f) in [
        ("sigmoid", sigmoid as fn(&Tensor) -> Tensor),
        ("tanh", tanh),
        ("ReLU", relu),
    ] {
        let (y, g) = value_and_grad(f, &x)?;
        panels.push(Panel {
            title: format!("{name}(x) and its gradient"),
            x_label: "x".into(),
            y_label: "value".into(),
            series: vec![series(name, &y), series("gradient", &g)],
        });
    }
    // softmax([x, 0, 1]): how the first probability moves with its score.
    let scores = |x: &Tensor| Tensor::stack(&[x.shallow_clone(), x.zeros_like(), x.ones_like()], 1);
    let p = scores(&x).softmax(1, None::<Kind>);
    let (_, g0) = value_and_grad(|x| scores(x).softmax(1, None::<Kind>).select(1, 0), &x)?;
    panels.push(Panel {
        title: "softmax([x, 0, 1]) and d p0 / dx".into(),
        x_label: "x".into(),
        y_label: "probability".into(),
        series: vec![
            series("p0", &p.select(1, 0)),
            series("p1", &p.select(1, 1)),
            series("p2", &p.select(1, 2)),
            series("d p0 / dx", &g0),
        ],
    });
    Ok(panels)
}
