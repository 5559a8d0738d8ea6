//! The lesson's activation functions and cross-entropy, shown with numbers (and a plot).
use clap::Parser;
use lesson_torch::io::{files, plot};
use lesson_torch::{cli, programs::activations};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sigmoid, tanh, ReLU and softmax with their gradients, cross-entropy all the ways the lesson
/// names, and the lesson's double softmax (scripts/reference.py activations prints the same).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 一、softmax的基本概念 and 二、交叉熵损失函数 (sigmoid, tanh, ReLU, softmax; cross-entropy). Python twin: .venv/bin/python scripts/reference.py activations"
)]
struct Args {
    /// Grid points from -6 to 6 for the table (2 to 100000).
    #[arg(long, default_value = "13", value_parser = points)]
    points: i64,
    /// Seed of the random scores used for softmax and cross-entropy.
    #[arg(long, default_value = "0", value_parser = cli::seed)]
    seed: i64,
    /// Epochs for training LinearNet with and without the double softmax.
    #[arg(long, default_value = "70", value_parser = cli::positive_int)]
    epochs: i64,
    /// Draw the four functions and their gradients to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE", value_parser = plot::plot_path_arg)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn points(s: &str) -> Result<i64, String> {
    cli::int_in_range(s, 2, activations::MAX_POINTS)
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        if let (Some(plot), Some(json)) = (&args.plot, args.common.json().filter(|j| *j != "-")) {
            cli::distinct_files(&[
                ("--plot", plot, true),
                ("--json", std::path::Path::new(json), true),
            ])?;
        }
        let device = args.common.prepare()?;
        if let Some(path) = &args.plot {
            files::check_writable(path)?;
        }
        let config = activations::Config {
            points: args.points,
            seed: args.seed,
            epochs: args.epochs,
            device,
            output: lesson_torch::io::report::Output::live(args.common.json.clone()),
        };
        activations::walkthrough(&config)?.emit(args.common.json())?;
        if let Some(path) = &args.plot {
            plot::draw(path, &activations::plot_panels()?, 2, (640, 420))?;
        }
        Ok(())
    })
}
