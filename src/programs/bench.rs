//! The workloads that `scripts/bench.py` times on both sides (the Python twins live in
//! `scripts/bench.py --worker`): each is timed inside the process, after warm-up steps, and
//! reads no loss back, so nothing but the training step itself is measured.
use crate::nn::linear::Linear;
use crate::nn::loss::cross_entropy;
use crate::nn::sgd::{Sgd, SgdConfig};
use crate::programs::softmax::{self, Training};
use anyhow::{Context, Result};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Seconds per step, on the wall clock and in CPU time (all the process's threads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTime {
    /// Seconds per step on the wall clock (`time.perf_counter`).
    pub wall_s: f64,
    /// Seconds of CPU time per step (`time.process_time`).
    pub cpu_s: f64,
}

/// The CPU time this process has used so far (`CLOCK_PROCESS_CPUTIME_ID`), in seconds. On a
/// shared machine it excludes the time the process waited for a core.
pub fn cpu_time() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec that clock_gettime fills in.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
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
