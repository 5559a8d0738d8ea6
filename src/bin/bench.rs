//! The Rust side of `scripts/bench.py`: times one workload and prints one JSON line.
use clap::Parser;
use lesson_torch::{cli, programs::bench};
use std::io::Write;
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// Times a training step inside the process (run by scripts/bench.py, which runs the Python
/// twin alternately with it).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 二、交叉熵损失函数 (训练模型: one training step, timed). Python twin: .venv/bin/python scripts/bench.py (times this program and the same step in PyTorch, alternately)"
)]
struct Args {
    #[command(flatten)]
    config: bench::Config,
}

fn main() -> ExitCode {
    let Args { config } = cli::parse_args();
    cli::run(|| {
        let line = bench::run(&config)?;
        Ok(writeln!(lesson_torch::io::files::stdout(), "{line}")?)
    })
}
