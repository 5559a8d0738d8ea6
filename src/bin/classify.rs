//! The lesson's models on real data: softmax regression for the 10 digits, logistic regression
//! (sigmoid) for the 2 breast-cancer classes, trained by mini-batch SGD.
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use lesson_torch::cli;
use lesson_torch::io::{checkpoint, files, plot};
use lesson_torch::programs::classify;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// Softmax (digits) and sigmoid (breast cancer) classifiers on real data, bit-identical to
/// PyTorch (scripts/reference.py classify).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 一、softmax的基本概念 (二分类问题选择sigmoid激活函数, 多分类问题选择softmax激活函数), on real data. Python twin: .venv/bin/python scripts/reference.py classify"
)]
struct Args {
    #[command(flatten)]
    config: classify::Config,
    #[command(flatten)]
    common: cli::CommonArgs,
}

/// No output may replace an input or another output; every output must be writable before the
/// training starts, not after it.
fn check_files(config: &classify::Config, common: &cli::CommonArgs) -> anyhow::Result<()> {
    let data_file = classify::data_file(config);
    let mut files: Vec<(&str, &Path, bool)> = Vec::new();
    if let Some(p) = &data_file {
        files.push(("the data file", p, false));
    }
    if let Some(p) = &config.load {
        files.push(("--load", p, false));
    }
    for (name, path) in [("--plot", &config.plot), ("--save", &config.save)] {
        if let Some(p) = path {
            files.push((name, p, true));
        }
    }
    if let Some(p) = common.json().filter(|j| *j != "-") {
        files.push(("--json", Path::new(p), true));
    }
    cli::distinct_files(&files)
}

/// A progress bar on stderr, only for a person watching a terminal while it trains.
fn progress_bar(config: &classify::Config) -> ProgressBar {
    if !std::io::stderr().is_terminal() || config.evaluate {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(config.epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} epoch {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("valid template"),
    );
    bar
}

fn main() -> ExitCode {
    let Args { mut config, common } = cli::parse_args();
    cli::run(|| {
        check_files(&config, &common)?;
        // Every output before the device: --plot, --save, then --json (in prepare).
        for path in [config.plot.as_ref(), config.save.as_ref()]
            .into_iter()
            .flatten()
        {
            files::check_writable(path)?;
        }
        config.device = common.prepare()?;
        let output = common.output();
        let bar = progress_bar(&config);
        let mut out = lesson_torch::io::files::stdout();
        let outcome = classify::run(&config, &mut |line, epoch_done| {
            bar.suspend(|| output.line(&mut out, line))?;
            if epoch_done {
                bar.inc(1);
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        drop(out);
        if let Some(path) = &config.save {
            checkpoint::save(path, &outcome.model, &outcome.run)?;
        }
        if let Some(path) = &config.plot {
            let panels = classify::plot_panels(outcome.run.dataset, &outcome.epochs);
            plot::draw(path, &panels, 2, (640, 420))?;
        }
        output.trace(&outcome.trace)
    })
}
