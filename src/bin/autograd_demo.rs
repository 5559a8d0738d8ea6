//! The lesson's autograd section, step by step: `torch.autograd.backward` and its arguments.
use clap::Parser;
use lesson_torch::{autograd_walkthrough, cli, device, trace};
use std::process::ExitCode;

/// Autograd from the lesson, step by step (scripts/reference.py autograd_demo prints the same).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Device: cpu, cuda, cuda:N or auto (cuda when present).
    #[arg(long, default_value = "cpu", value_parser = device::check_device_name)]
    device: String,
    /// Write a JSON trace of every value shown to PATH; `-` for stdout (instead of the text).
    #[arg(long, value_name = "PATH")]
    json: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        trace::check_json_destination(args.json.as_deref())?;
        let device = device::parse_device(&args.device)?;
        autograd_walkthrough::walkthrough(device)?.emit(args.json.as_deref())
    })
}
