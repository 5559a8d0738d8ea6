//! The lesson's activation functions and cross-entropy, shown with numbers (and a plot).
use clap::Parser;
use lesson_torch::io::{files, plot};
use lesson_torch::{cli, programs::activations};
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// Sigmoid, tanh, ReLU and softmax with their gradients, cross-entropy all the ways the lesson
/// names, and the lesson's double softmax (scripts/reference.py activations prints the same).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 一、softmax的基本概念 and 二、交叉熵损失函数 (sigmoid, tanh, ReLU, softmax; cross-entropy). Python twin: .venv/bin/python scripts/reference.py activations"
)]
struct Args {
    #[command(flatten)]
    config: activations::Config,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let Args { mut config, common } = cli::parse_args();
    cli::run(|| {
        if let (Some(plot), Some(json)) = (&config.plot, common.json().filter(|j| *j != "-")) {
            cli::distinct_files(&[
                ("--plot", plot, true),
                ("--json", std::path::Path::new(json), true),
            ])?;
        }
        // Every output before the device: --plot, then --json (in prepare).
        if let Some(path) = &config.plot {
            files::check_writable(path)?;
        }
        config.device = common.prepare()?;
        config.output = common.output();
        activations::walkthrough(&config)?.emit(common.json())?;
        if let Some(path) = &config.plot {
            plot::draw(path, &activations::plot_panels()?, 2, (640, 420))?;
        }
        Ok(())
    })
}
