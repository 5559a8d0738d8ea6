//! The Rust side of `scripts/bench.py`: times one workload and prints one JSON line.
use clap::{Parser, ValueEnum};
use lesson_torch::{cli, device, programs::bench};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    /// The lesson's training step (7 x 4 -> 3, softmax, CrossEntropyLoss, SGD).
    LessonStep,
    /// Softmax regression on ROWS x FEATURES -> 10 synthetic data, full batch.
    KernelStep,
    /// The kernel-bound step at each size of --sizes ROWS:STEPS,... (FEATURES wide).
    Sweep,
}

/// Times a training step inside the process (run by scripts/bench.py, which runs the Python
/// twin alternately with it).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 二、交叉熵损失函数 (训练模型: one training step, timed). Python twin: .venv/bin/python scripts/bench.py (times this program and the same step in PyTorch, alternately)"
)]
struct Args {
    #[arg(value_enum)]
    workload: Workload,
    /// Timed steps.
    #[arg(long, default_value = "20000", value_parser = cli::positive_int)]
    steps: i64,
    /// Untimed steps first.
    #[arg(long, default_value = "1000", value_parser = cli::positive_int)]
    warmup: i64,
    /// Timed windows of STEPS/WINDOWS steps each; the fastest window counts.
    #[arg(long, default_value = "1", value_parser = cli::positive_int)]
    windows: i64,
    /// Intra-op threads (torch.set_num_threads), from 1 to this machine's number of cores.
    #[arg(long, default_value = "1", value_parser = threads)]
    threads: i64,
    /// Rows of the kernel-bound workload.
    #[arg(long, default_value = "65536", value_parser = cli::positive_int)]
    rows: i64,
    /// Features of the kernel-bound workload and of the sweep.
    #[arg(long, default_value = "784", value_parser = cli::positive_int)]
    features: i64,
    /// The sweep's sizes and timed steps, as ROWS:STEPS,... (a tenth as many warm-up steps).
    #[arg(long, value_parser = size_steps, value_delimiter = ',', required_if_eq("workload", "sweep"))]
    sizes: Vec<(i64, i64)>,
    /// Print the losses of the first N steps as JSON instead of timing (the twins' check).
    #[arg(long, value_parser = cli::positive_int)]
    losses: Option<i64>,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu", value_parser = device::DeviceRequest::parse)]
    device: device::DeviceRequest,
}

/// More threads than cores only measures contention, and libtorch's thread pool hangs when it
/// cannot create them (a memory limit): the cores are the bound.
fn threads(s: &str) -> Result<i64, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cli::int_in_range(s, 1, cores as i64)
}

fn size_steps(s: &str) -> Result<(i64, i64), String> {
    let (rows, steps) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected ROWS:STEPS"))?;
    Ok((cli::positive_int(rows)?, cli::positive_int(steps)?))
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        let device = args.device.resolve()?;
        tch::set_num_threads(args.threads as i32);
        if let Some(n) = args.losses {
            let losses = match args.workload {
                Workload::LessonStep => bench::lesson_losses(device, n)?,
                _ => bench::kernel_losses(device, args.rows, args.features, n)?,
            };
            println!("{}", serde_json::json!({"side": "rust", "losses": losses}));
            return Ok(());
        }
        if let Workload::Sweep = args.workload {
            let mut sweep = Vec::new();
            for &(rows, steps) in &args.sizes {
                let warmup = (steps / 10).max(1);
                let s =
                    bench::kernel_step(device, rows, args.features, warmup, steps, args.windows)?;
                sweep.push(serde_json::json!({"rows": rows, "steps": steps,
                    "per_step_s": s.wall_s, "cpu_per_step_s": s.cpu_s}));
            }
            println!(
                "{}",
                serde_json::json!({"side": "rust", "features": args.features,
                    "threads": tch::get_num_threads(), "sweep": sweep})
            );
            return Ok(());
        }
        let per_step = match args.workload {
            Workload::LessonStep => {
                bench::lesson_step(device, args.warmup, args.steps, args.windows)?
            }
            _ => bench::kernel_step(
                device,
                args.rows,
                args.features,
                args.warmup,
                args.steps,
                args.windows,
            )?,
        };
        println!(
            "{}",
            serde_json::json!({
                "side": "rust", "per_step_s": per_step.wall_s, "cpu_per_step_s": per_step.cpu_s, "steps": args.steps, "threads": tch::get_num_threads(),
                "method": "std::time::Instant around each window of steps after warm-up steps, the fastest window; no loss read back",
            })
        );
        Ok(())
    })
}
