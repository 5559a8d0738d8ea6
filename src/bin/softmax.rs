//! The lesson's softmax regression: `LinearNet` (Linear(4, 3) + Softmax) trained with
//! CrossEntropyLoss and SGD, printing `epoch N, loss L` as the lesson's Python does.
use clap::Parser;
use lesson_torch::{cli, programs::softmax};
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// Softmax regression from the lesson, bit-identical to PyTorch (scripts/reference.py softmax).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 二、交叉熵损失函数 (定义网络结构, 定义损失函数和优化函数, 训练模型). Python twin: .venv/bin/python scripts/reference.py softmax"
)]
struct Args {
    #[command(flatten)]
    config: softmax::Config,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let Args { mut config, common } = cli::parse_args();
    cli::run(|| {
        config.device = common.prepare()?;
        config.record = common.json.is_some();
        let output = common.output();
        let trace = if output.prints_text() {
            softmax::train(&config, &mut lesson_torch::io::files::stdout())?
        } else {
            softmax::train(&config, &mut std::io::sink())?
        };
        output.trace(&trace.to_json())
    })
}
