//! The lesson's softmax regression: `LinearNet` (Linear(4, 3) + Softmax) trained with
//! CrossEntropyLoss and SGD, printing `epoch N, loss L` as the lesson's Python does.
use clap::Parser;
use lesson_torch::io::report::Output;
use lesson_torch::{cli, programs::softmax};
use std::process::ExitCode;

/// Softmax regression from the lesson, bit-identical to PyTorch (scripts/reference.py softmax).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 二、交叉熵损失函数 (定义网络结构, 定义损失函数和优化函数, 训练模型). Python twin: .venv/bin/python scripts/reference.py softmax"
)]
struct Args {
    /// Random seed (torch.manual_seed).
    #[arg(long, default_value = "7", value_parser = cli::seed)]
    seed: i64,
    /// Number of training epochs.
    #[arg(long, default_value = "70", value_parser = cli::positive_int)]
    epochs: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.1", value_parser = cli::positive_finite)]
    lr: f64,
    /// Number of samples: X = rand(samples, 2, 2), target = randint(0, 2, (samples,)).
    #[arg(long, default_value = "7", value_parser = cli::positive_int)]
    samples: i64,
    /// Train on the raw logits (the correct use of CrossEntropyLoss) instead of the lesson's
    /// softmax outputs.
    #[arg(long)]
    logits: bool,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the epoch).
    #[arg(long)]
    allow_nan: bool,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        let config = softmax::Config {
            seed: args.seed,
            epochs: args.epochs,
            lr: args.lr,
            samples: args.samples,
            logits: args.logits,
            device: args.common.prepare()?,
            allow_nan: args.allow_nan,
            record: args.common.json.is_some(),
        };
        let output = Output::live(args.common.json.clone());
        let mut out = std::io::stdout().lock();
        let trace = softmax::train(&config, |epoch, loss| {
            Ok(output.line(&mut out, &softmax::epoch_line(epoch, loss))?)
        })?;
        drop(out);
        output.trace(&trace.to_json())
    })
}
