//! The workloads that `scripts/bench.py` times on both sides (the Python twins live in
//! `scripts/bench.py --worker`): each is timed inside the process, after warm-up steps, and
//! reads no loss back, so nothing but the training step itself is measured.
use crate::cli;
use crate::device::DeviceRequest;
use crate::nn::linear::Linear;
use crate::nn::loss::cross_entropy;
use crate::nn::sgd::{Sgd, SgdConfig};
use crate::programs::softmax::{self, Training};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// What `bench` times (`scripts/bench.py --worker WORKLOAD` is the Python twin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// The lesson's training step (7 x 4 -> 3, softmax, CrossEntropyLoss, SGD).
    LessonStep,
    /// Softmax regression on ROWS x FEATURES -> 10 synthetic data, full batch.
    KernelStep,
    /// The kernel-bound step at each size of --sizes ROWS:STEPS,... (FEATURES wide).
    Sweep,
}

/// The options of `bench` (and of `scripts/bench.py --worker`): the program's command line.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// The workload to time.
    #[arg(value_enum)]
    pub workload: Workload,
    /// Timed steps.
    #[arg(long, default_value = "20000", value_parser = cli::positive_int)]
    pub steps: i64,
    /// Untimed steps first.
    #[arg(long, default_value = "1000", value_parser = cli::positive_int)]
    pub warmup: i64,
    /// Timed windows of STEPS/WINDOWS steps each; the fastest window counts.
    #[arg(long, default_value = "1", value_parser = cli::positive_int)]
    pub windows: i64,
    /// Intra-op threads (torch.set_num_threads), from 1 to this machine's number of cores.
    #[arg(long, default_value = "1", value_parser = threads)]
    pub threads: i64,
    /// Rows of the kernel-bound workload.
    #[arg(long, default_value = "65536", value_parser = cli::positive_int)]
    pub rows: i64,
    /// Features of the kernel-bound workload and of the sweep.
    #[arg(long, default_value = "784", value_parser = cli::positive_int)]
    pub features: i64,
    /// The sweep's sizes and timed steps, as ROWS:STEPS,... (a tenth as many warm-up steps).
    #[arg(long, value_parser = size_steps, value_delimiter = ',', required_if_eq("workload", "sweep"))]
    pub sizes: Vec<(i64, i64)>,
    /// Print the losses of the first N steps as JSON instead of timing (the twins' check).
    #[arg(long, value_parser = cli::positive_int)]
    pub losses: Option<i64>,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu", value_parser = DeviceRequest::parse)]
    pub device: DeviceRequest,
}

/// More threads than cores only measures contention, and libtorch's thread pool hangs when it
/// cannot create them (a memory limit): the cores are the bound.
fn threads(s: &str) -> std::result::Result<i64, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cli::int_in_range(s, 1, cores as i64)
}

/// One `--sizes` item, `ROWS:STEPS`.
fn size_steps(s: &str) -> std::result::Result<(i64, i64), String> {
    let (rows, steps) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected ROWS:STEPS"))?;
    Ok((cli::positive_int(rows)?, cli::positive_int(steps)?))
}

/// Runs the workload as `config` asks and returns the JSON line that `scripts/bench.py` reads:
/// the first losses (`--losses`), the sweep, or the time per step.
pub fn run(config: &Config) -> Result<Value> {
    let device = config.device.resolve()?;
    tch::set_num_threads(config.threads as i32);
    let (rows, features) = (config.rows, config.features);
    if let Some(n) = config.losses {
        let losses = match config.workload {
            Workload::LessonStep => lesson_losses(device, n)?,
            _ => kernel_losses(device, rows, features, n)?,
        };
        return Ok(json!({"side": "rust", "losses": losses}));
    }
    if config.workload == Workload::Sweep {
        let mut sweep = Vec::new();
        for &(rows, steps) in &config.sizes {
            let warmup = (steps / 10).max(1);
            let s = kernel_step(device, rows, features, warmup, steps, config.windows)?;
            sweep.push(json!({"rows": rows, "steps": steps,
                "per_step_s": s.wall_s, "cpu_per_step_s": s.cpu_s}));
        }
        return Ok(json!({"side": "rust", "features": features,
            "threads": tch::get_num_threads(), "sweep": sweep}));
    }
    let (warmup, steps, windows) = (config.warmup, config.steps, config.windows);
    let per_step = match config.workload {
        Workload::LessonStep => lesson_step(device, warmup, steps, windows)?,
        _ => kernel_step(device, rows, features, warmup, steps, windows)?,
    };
    Ok(json!({
        "side": "rust", "per_step_s": per_step.wall_s, "cpu_per_step_s": per_step.cpu_s,
        "steps": steps, "threads": tch::get_num_threads(),
        "method": "std::time::Instant around each window of steps after warm-up steps, the fastest window; no loss read back",
    }))
}

/// Seconds per step, on the wall clock and in CPU time (all the process's threads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTime {
    /// Seconds per step on the wall clock (`time.perf_counter`).
    pub wall_s: f64,
    /// Seconds of CPU time per step (`time.process_time`).
    pub cpu_s: f64,
}

/// The CPU time this process has used so far (`CLOCK_PROCESS_CPUTIME_ID`), in seconds.
pub fn cpu_time() -> f64 {
    crate::sys::cpu_time()
}

/// The time per step of `step`: `steps` timed steps after `warmup` untimed ones, timed in
/// `windows` equal windows, of which the fastest on the wall clock counts (on a shared machine,
/// the window least disturbed by other work), with its CPU time. On CUDA the device is
/// synchronised before each clock reading.
pub fn time_steps(
    device: Device,
    warmup: i64,
    steps: i64,
    windows: i64,
    mut step: impl FnMut() -> Result<()>,
) -> Result<StepTime> {
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    // SIGINT and SIGTERM stop a benchmark between two steps too (one atomic load per step).
    for _ in 0..warmup {
        step()?;
        crate::cli::check_interrupt()?;
    }
    let windows = windows.clamp(1, steps);
    let per_window = steps / windows;
    let mut best = StepTime {
        wall_s: f64::INFINITY,
        cpu_s: f64::INFINITY,
    };
    for _ in 0..windows {
        sync();
        let (start, cpu_start) = (Instant::now(), cpu_time());
        for _ in 0..per_window {
            step()?;
            crate::cli::check_interrupt()?;
        }
        sync();
        let wall_s = start.elapsed().as_secs_f64() / per_window as f64;
        if wall_s < best.wall_s {
            let cpu_s = (cpu_time() - cpu_start) / per_window as f64;
            best = StepTime { wall_s, cpu_s };
        }
    }
    Ok(best)
}

/// The lesson's training step: `LinearNet` (7 x 4 -> 3, softmax), CrossEntropyLoss, SGD.
pub fn lesson_step(device: Device, warmup: i64, steps: i64, windows: i64) -> Result<StepTime> {
    let mut run = lesson(device)?;
    time_steps(device, warmup, steps, windows, || run.epoch().map(drop))
}

/// The losses of the lesson's first `steps` steps (the check that the C++ twin and the Python
/// worker do the same work: their losses equal these bit for bit).
pub fn lesson_losses(device: Device, steps: i64) -> Result<Vec<f64>> {
    let mut run = lesson(device)?;
    (0..steps)
        .map(|_| Ok(run.epoch()?.f_double_value(&[])?))
        .collect()
}

fn lesson(device: Device) -> Result<Training> {
    Training::new(&softmax::Config {
        device,
        ..softmax::Config::default()
    })
}

/// A kernel-bound step: softmax regression on `rows` x `features` -> 10 synthetic data, full
/// batch (the benchmark's kernel-step is 65536 x 784; the sweep varies both).
pub struct KernelStep {
    x: Tensor,
    y: Tensor,
    model: Linear,
    optimizer: Sgd,
}

impl KernelStep {
    /// `manual_seed(0)`, the data (randn, randint), `Linear(features, 10)`, SGD(lr=0.1).
    pub fn new(device: Device, rows: i64, features: i64) -> Result<Self> {
        tch::manual_seed(0);
        let too_big = || format!("--rows {rows} x --features {features}: cannot make the data");
        let x = Tensor::f_randn([rows, features], (Kind::Float, Device::Cpu))
            .and_then(|x| x.f_to_device(device))
            .with_context(too_big)?;
        let y = Tensor::f_randint_low(0, 10, [rows], (Kind::Int64, Device::Cpu))
            .and_then(|y| y.f_to_device(device))
            .with_context(too_big)?;
        let model = Linear::new(features, 10, device);
        let optimizer = Sgd::new(model.parameters(), SgdConfig::new(0.1))?;
        Ok(Self {
            x,
            y,
            model,
            optimizer,
        })
    }

    /// One step: `linear`, `cross_entropy`, `zero_grad`, `backward`, `step`; returns the loss.
    pub fn step(&mut self) -> Result<Tensor> {
        let loss = cross_entropy(&self.model.forward(&self.x), &self.y)?;
        self.optimizer.backward_step(&loss)?;
        Ok(loss)
    }
}

/// Seconds per kernel-bound step (see [`KernelStep`]).
pub fn kernel_step(
    device: Device,
    rows: i64,
    features: i64,
    warmup: i64,
    steps: i64,
    windows: i64,
) -> Result<StepTime> {
    let mut run = KernelStep::new(device, rows, features)?;
    time_steps(device, warmup, steps, windows, || run.step().map(drop))
}

/// The losses of the kernel-bound workload's first `steps` steps.
pub fn kernel_losses(device: Device, rows: i64, features: i64, steps: i64) -> Result<Vec<f64>> {
    let mut run = KernelStep::new(device, rows, features)?;
    (0..steps)
        .map(|_| Ok(run.step()?.f_double_value(&[])?))
        .collect()
}
