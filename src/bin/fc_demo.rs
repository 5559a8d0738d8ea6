//! The lesson's fully connected layer with MSE loss: `loss.backward()` and `optimizer.step()`.
use clap::Parser;
use lesson_torch::{cli, programs::fc_demo};
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// A fully connected layer, MSE loss and one SGD step from the lesson, with the gradients checked
/// by hand (scripts/reference.py fc_demo prints the same).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 三、自动微分模块 (神经网络全连接层, 关于loss.backward()方法, 建立一个简单的全连接层). Python twin: .venv/bin/python scripts/reference.py fc_demo"
)]
struct Args {
    #[command(flatten)]
    config: fc_demo::Config,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let Args { mut config, common } = cli::parse_args();
    cli::run(|| {
        config.device = common.prepare()?;
        config.output = common.output();
        fc_demo::walkthrough(&config)?.emit(common.json())
    })
}
