//! The lesson's autograd section, step by step: `torch.autograd.backward` and its arguments.
use clap::Parser;
use lesson_torch::{autograd_walkthrough, cli};
use std::process::ExitCode;

/// Autograd from the lesson, step by step (scripts/reference.py autograd_demo prints the same).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        let device = args.common.prepare()?;
        autograd_walkthrough::walkthrough(device)?.emit(args.common.json())
    })
}
