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

/// Seconds per step of `step`, over `steps` steps after `warmup` untimed ones. On CUDA the
/// device is synchronised before the clock starts and before it stops.
pub fn time_steps(
    device: Device,
    warmup: i64,
    steps: i64,
    mut step: impl FnMut() -> Result<()>,
) -> Result<f64> {
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
    sync();
    let start = Instant::now();
    for _ in 0..steps {
        step()?;
        crate::cli::check_interrupt()?;
    }
    sync();
    Ok(start.elapsed().as_secs_f64() / steps as f64)
}

/// The lesson's training step: `LinearNet` (7 x 4 -> 3, softmax), CrossEntropyLoss, SGD.
pub fn lesson_step(device: Device, warmup: i64, steps: i64) -> Result<f64> {
    let mut run = Training::new(&softmax::Config {
        device,
        ..softmax::Config::default()
    })?;
    time_steps(device, warmup, steps, || run.epoch().map(drop))
}

/// A kernel-bound step: softmax regression on `rows` x 784 -> 10 synthetic data, full batch.
pub fn kernel_step(device: Device, rows: i64, warmup: i64, steps: i64) -> Result<f64> {
    tch::manual_seed(0);
    let too_big = || format!("--rows {rows}: cannot make the data");
    let x = Tensor::f_randn([rows, 784], (Kind::Float, Device::Cpu))
        .and_then(|x| x.f_to_device(device))
        .with_context(too_big)?;
    let y = Tensor::f_randint_low(0, 10, [rows], (Kind::Int64, Device::Cpu))
        .and_then(|y| y.f_to_device(device))
        .with_context(too_big)?;
    let model = Linear::new(784, 10, device);
    let mut optimizer = Sgd::new(model.parameters(), SgdConfig::new(0.1))?;
    time_steps(device, warmup, steps, || {
        let loss = cross_entropy(&model.forward(&x), &y)?;
        optimizer.backward_step(&loss)
    })
}
