//! The lesson's models on real data: softmax regression for the 10 digits, logistic regression
//! (sigmoid) for the 2 breast-cancer classes, trained by mini-batch SGD.
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use lesson_torch::cli;
use lesson_torch::io::dataset::DatasetName;
use lesson_torch::io::report::Output;
use lesson_torch::io::{checkpoint, files, plot};
use lesson_torch::programs::classify;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Softmax (digits) and sigmoid (breast cancer) classifiers on real data, bit-identical to
/// PyTorch (scripts/reference.py classify).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 一、softmax的基本概念 (二分类问题选择sigmoid激活函数, 多分类问题选择softmax激活函数), on real data. Python twin: .venv/bin/python scripts/reference.py classify"
)]
struct Args {
    /// The data set: digits (10 classes, softmax) or breast-cancer (2 classes, sigmoid)
    /// [default: digits, or the checkpoint's with --load].
    #[arg(long, value_enum)]
    dataset: Option<DatasetName>,
    /// Folder of the CSV files that scripts/setup.sh writes.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Share of each class held out for testing (stratified), between 0 and 1
    /// [default: 0.25, or the checkpoint's with --load].
    #[arg(long, value_parser = fraction)]
    test_fraction: Option<f64>,
    /// Random seed: the split, the initialisation and the shuffles (torch.manual_seed)
    /// [default: 0, or the checkpoint's with --load].
    #[arg(long, value_parser = cli::seed)]
    seed: Option<i64>,
    /// Training epochs.
    #[arg(long, default_value = "30", value_parser = cli::positive_int)]
    epochs: i64,
    /// Mini-batch size (at most the training set's size; the last batch of an epoch may be smaller).
    #[arg(long, default_value = "32", value_parser = cli::positive_int)]
    batch_size: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.1", value_parser = cli::positive_finite)]
    lr: f64,
    /// SGD momentum (PyTorch's semantics: the buffer starts as the first gradient).
    #[arg(long, default_value = "0", value_parser = cli::non_negative_finite)]
    momentum: f64,
    /// SGD weight decay (L2 penalty added to the gradient, as torch.optim.SGD does).
    #[arg(long, default_value = "0", value_parser = cli::non_negative_finite)]
    weight_decay: f64,
    /// Draw the loss and accuracy curves to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE", value_parser = plot::plot_path_arg)]
    plot: Option<PathBuf>,
    /// Save the trained layer to FILE.safetensors: `weight`, `bias` (nn.Linear's state_dict)
    /// and, as metadata, the data set, split and standardisation that --evaluate re-creates.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Start from the layer in FILE.safetensors (saved by this program or by PyTorch, in float16,
    /// bfloat16, float32 or float64); its data set, split and standardisation are used.
    #[arg(long, value_name = "FILE")]
    load: Option<PathBuf>,
    /// Accept a --load checkpoint without metadata (a plain nn.Linear state_dict): the split and
    /// standardisation are then this run's (--dataset, --seed, --test-fraction), which need not
    /// be the ones it was trained with.
    #[arg(long, requires = "load")]
    plain_checkpoint: bool,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the epoch).
    #[arg(long)]
    allow_nan: bool,
    /// With --load: only evaluate the loaded layer, on the test set of the run that trained it
    /// (from the checkpoint). Training options are refused with it.
    #[arg(long, requires = "load", conflicts_with_all = ["epochs", "batch_size", "lr", "momentum", "weight_decay", "plot", "save", "allow_nan"])]
    evaluate: bool,
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn fraction(s: &str) -> Result<f64, String> {
    cli::float_where(s, |v| v > 0.0 && v < 1.0, "between 0 and 1 (exclusive)")
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        // No output may replace an input or another output.
        let data_file = (args.dataset.is_some() || args.load.is_none()).then(|| {
            args.data_dir
                .join(args.dataset.unwrap_or(DatasetName::Digits).file_name())
        });
        let mut files: Vec<(&str, &std::path::Path, bool)> = Vec::new();
        if let Some(p) = &data_file {
            files.push(("the data file", p, false));
        }
        if let Some(p) = &args.load {
            files.push(("--load", p, false));
        }
        for (name, path) in [("--plot", &args.plot), ("--save", &args.save)] {
            if let Some(p) = path {
                files.push((name, p, true));
            }
        }
        let json = args
            .common
            .json()
            .filter(|j| *j != "-")
            .map(std::path::Path::new);
        if let Some(p) = json {
            files.push(("--json", p, true));
        }
        cli::distinct_files(&files)?;
        let device = args.common.prepare()?;
        // Fail before training, not after it, when an output cannot be written.
        for path in [args.plot.as_ref(), args.save.as_ref()]
            .into_iter()
            .flatten()
        {
            files::check_writable(path)?;
        }
        let config = classify::Config {
            dataset: args.dataset,
            data_dir: args.data_dir.clone(),
            test_fraction: args.test_fraction,
            seed: args.seed,
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            momentum: args.momentum,
            weight_decay: args.weight_decay,
            device,
            load: args.load.clone(),
            evaluate: args.evaluate,
            allow_nan: args.allow_nan,
            plain_checkpoint: args.plain_checkpoint,
        };
        let output = Output::live(args.common.json.clone());
        // A progress bar on stderr, only for a person watching a terminal.
        let bar = if std::io::stderr().is_terminal() && !args.evaluate {
            let bar = ProgressBar::new(args.epochs as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} epoch {pos}/{len} {elapsed_precise} eta {eta}",
                )
                .expect("valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut out = std::io::stdout().lock();
        let outcome = classify::run(&config, &mut |line, epoch_done| {
            bar.suspend(|| output.line(&mut out, line))?;
            if epoch_done {
                bar.inc(1);
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        drop(out);
        if let Some(path) = &args.save {
            checkpoint::save(path, &outcome.model, &outcome.run)?;
        }
        if let Some(path) = &args.plot {
            plot::draw(
                path,
                &classify::plot_panels(outcome.run.dataset, &outcome.epochs),
                2,
                (640, 420),
            )?;
        }
        output.trace(&outcome.trace)
    })
}
