//! The lesson's fully connected layer with MSE loss: `loss.backward()` and `optimizer.step()`.
use clap::Parser;
use lesson_torch::{cli, programs::fc_demo};
use std::process::ExitCode;

/// A fully connected layer, MSE loss and one SGD step from the lesson, with the gradients checked
/// by hand (scripts/reference.py fc_demo prints the same).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 三、自动微分模块 (神经网络全连接层, 关于loss.backward()方法, 建立一个简单的全连接层). Python twin: .venv/bin/python scripts/reference.py fc_demo"
)]
struct Args {
    /// Random seed for the layer's initialisation (torch.manual_seed).
    #[arg(long, default_value = "0", value_parser = cli::seed)]
    seed: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.01", value_parser = cli::positive_finite)]
    lr: f64,
    /// Optimiser steps in all: 1 is the lesson's single step; more continue training and print
    /// the loss per step.
    #[arg(long, default_value = "1", value_parser = cli::positive_int)]
    steps: i64,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the step).
    #[arg(long)]
    allow_nan: bool,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        let config = fc_demo::Config {
            seed: args.seed,
            lr: args.lr,
            steps: args.steps,
            allow_nan: args.allow_nan,
            device: args.common.prepare()?,
            output: lesson_torch::io::report::Output::live(args.common.json.clone()),
        };
        fc_demo::walkthrough(&config)?.emit(args.common.json())
    })
}
