//! The Rust side of `scripts/bench.py`: times one workload and prints one JSON line.
use clap::{Parser, ValueEnum};
use lesson_torch::{bench, cli, device};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    /// The lesson's training step (7 x 4 -> 3, softmax, CrossEntropyLoss, SGD).
    LessonStep,
    /// Softmax regression on ROWS x 784 -> 10 synthetic data, full batch.
    KernelStep,
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
    /// Intra-op threads (torch.set_num_threads), 1 to 1024.
    #[arg(long, default_value = "1", value_parser = threads)]
    threads: i64,
    /// Rows of the kernel-bound workload.
    #[arg(long, default_value = "65536", value_parser = cli::positive_int)]
    rows: i64,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu", value_parser = device::check_device_name)]
    device: device::DeviceRequest,
}

fn threads(s: &str) -> Result<i64, String> {
    cli::int_in_range(s, 1, 1024)
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        let device = args.device.resolve()?;
        tch::set_num_threads(args.threads as i32);
        let per_step = match args.workload {
            Workload::LessonStep => bench::lesson_step(device, args.warmup, args.steps)?,
            Workload::KernelStep => bench::kernel_step(device, args.rows, args.warmup, args.steps)?,
        };
        println!(
            "{}",
            serde_json::json!({
                "side": "rust", "per_step_s": per_step, "steps": args.steps, "threads": tch::get_num_threads(),
                "method": "std::time::Instant around the step loop after warm-up steps; no loss read back",
            })
        );
        Ok(())
    })
}
