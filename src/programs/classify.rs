//! The lesson's rule on real data: multi-class -> softmax (digits, `Linear(64, 10)` with
//! CrossEntropyLoss on the logits), binary -> sigmoid (breast cancer, `Linear(30, 1)` with the
//! fused BCE-with-logits loss), trained by mini-batch SGD. `scripts/reference.py classify` is the
//! same program in PyTorch, line for line.
use crate::cli::{self, UsageError};
use crate::io::checkpoint::{self, TrainingRun};
use crate::io::dataset::{self, DatasetName, Standardizer};
use crate::io::plot::{Panel, Series};
use crate::io::report::{fmt_value, py_repr};
use crate::io::trace::{named_tensors_json, number};
use crate::nn::linear::Linear;
use crate::nn::sgd::{Sgd, SgdConfig};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Reduction, Tensor};

/// The options of `classify` (and of `reference.py classify`): the program's command line is
/// this struct (with [`cli::CommonArgs`] for `--device` and `--json`), its defaults are
/// `Config::default()`.
///
/// `dataset`, `seed` and `test_fraction` are `None` when not given: then a checkpoint's (with
/// `load`) or the defaults. Given, they must agree with a checkpoint's. `plot` and `save` are
/// written by the program after [`run`].
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// The data set: digits (10 classes, softmax) or breast-cancer (2 classes, sigmoid)
    /// [default: digits, or the checkpoint's with --load].
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetName>,
    /// Folder of the CSV files that scripts/setup.sh writes.
    #[arg(long, default_value = "data", value_parser = cli::utf8_path)]
    pub data_dir: PathBuf,
    /// Share of each class held out for testing (stratified), between 0 and 1
    /// [default: 0.25, or the checkpoint's with --load].
    #[arg(long, value_parser = fraction)]
    pub test_fraction: Option<f64>,
    /// Random seed: the split, the initialisation and the shuffles (torch.manual_seed)
    /// [default: 0, or the checkpoint's with --load].
    #[arg(long, value_parser = cli::seed)]
    pub seed: Option<i64>,
    /// Training epochs.
    #[arg(long, default_value = "30", value_parser = cli::positive_int)]
    pub epochs: i64,
    /// Mini-batch size (at most the training set's size; the last batch of an epoch may be smaller).
    #[arg(long, default_value = "32", value_parser = cli::positive_int)]
    pub batch_size: i64,
    /// SGD learning rate.
    #[arg(long, default_value = "0.1", value_parser = cli::positive_finite)]
    pub lr: f64,
    /// SGD momentum (PyTorch's semantics: the buffer starts as the first gradient).
    #[arg(long, default_value = "0", value_parser = cli::non_negative_finite)]
    pub momentum: f64,
    /// SGD weight decay (L2 penalty added to the gradient, as torch.optim.SGD does).
    #[arg(long, default_value = "0", value_parser = cli::non_negative_finite)]
    pub weight_decay: f64,
    /// Draw the loss and accuracy curves to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE", value_parser = crate::io::plot::plot_path_arg)]
    pub plot: Option<PathBuf>,
    /// Save the trained layer to FILE.safetensors: `weight`, `bias` (nn.Linear's state_dict)
    /// and, as metadata, the data set, split and standardisation that --evaluate re-creates.
    #[arg(long, value_name = "FILE", value_parser = cli::utf8_path)]
    pub save: Option<PathBuf>,
    /// Start from the layer in FILE.safetensors (saved by this program or by PyTorch, in float16,
    /// bfloat16, float32 or float64); its data set, split and standardisation are used.
    #[arg(long, value_name = "FILE", value_parser = cli::utf8_path)]
    pub load: Option<PathBuf>,
    /// Accept a --load checkpoint without metadata (a plain nn.Linear state_dict): the split and
    /// standardisation are then this run's (--dataset, --seed, --test-fraction), which need not
    /// be the ones it was trained with.
    #[arg(long, requires = "load")]
    pub plain_checkpoint: bool,
    /// Go on training when the loss becomes NaN or infinite (by default that stops with an
    /// error naming the epoch).
    #[arg(long)]
    pub allow_nan: bool,
    /// With --load: only evaluate the loaded layer, on the test set of the run that trained it
    /// (from the checkpoint). Training options are refused with it.
    #[arg(long, requires = "load", conflicts_with_all = ["epochs", "batch_size", "lr", "momentum", "weight_decay", "plot", "save", "allow_nan"])]
    pub evaluate: bool,
    /// `torch.device` of the run (`--device`, resolved by [`cli::CommonArgs::prepare`]).
    #[arg(skip = Device::Cpu)]
    pub device: Device,
}

impl Default for Config {
    fn default() -> Self {
        cli::defaults()
    }
}

/// The data file the run reads: `--dataset`'s, else the `--load` checkpoint's (from its
/// metadata), else digits'. `None` when a checkpoint's metadata cannot tell; [`run`] then fails
/// on the checkpoint before anything is written.
pub fn data_file(config: &Config) -> Option<PathBuf> {
    let dataset = match (config.dataset, &config.load) {
        (Some(dataset), _) => dataset,
        (None, None) => DEFAULT_DATASET,
        (None, Some(path)) if config.plain_checkpoint => {
            checkpoint::saved_dataset(path).unwrap_or(DEFAULT_DATASET)
        }
        (None, Some(path)) => checkpoint::saved_dataset(path)?,
    };
    Some(config.data_dir.join(dataset.file_name()))
}

/// `--test-fraction`: strictly between 0 and 1.
fn fraction(s: &str) -> std::result::Result<f64, String> {
    cli::float_where(s, |v| v > 0.0 && v < 1.0, "between 0 and 1 (exclusive)")
}

/// The data set when neither `--dataset` nor a checkpoint names one.
pub const DEFAULT_DATASET: DatasetName = DatasetName::Digits;
/// `--seed`'s default.
pub const DEFAULT_SEED: i64 = 0;
/// `--test-fraction`'s default.
pub const DEFAULT_TEST_FRACTION: f64 = 0.25;

/// One epoch's figures.
#[derive(Debug, Clone, Copy)]
pub struct EpochStats {
    /// The epoch, from 1.
    pub epoch: i64,
    /// The epoch's mean training loss (`loss.item()` averaged over the batches).
    pub loss: f64,
    /// Accuracy on the training split after the epoch.
    pub train_accuracy: f64,
    /// Accuracy on the test split after the epoch.
    pub test_accuracy: f64,
}

/// What a run ends with.
pub struct Outcome {
    /// The trained `nn.Linear`.
    pub model: Linear,
    /// The data set, split and standardisation of the run, for the checkpoint.
    pub run: TrainingRun,
    /// Every epoch's figures.
    pub epochs: Vec<EpochStats>,
    /// The final test accuracy.
    pub test_accuracy: f64,
    /// The `--json` trace, as `reference.py classify --json` writes it.
    pub trace: Value,
}

/// What the caller is told as the run goes: a line of text, and whether it closes an epoch.
pub type OnLine<'a> = dyn FnMut(&str, bool) -> Result<()> + 'a;

/// The loss: CrossEntropyLoss on the logits, or BCE-with-logits on the single logit.
fn loss_fn(out: &Tensor, y: &Tensor, binary: bool) -> Result<Tensor> {
    if binary {
        let target = y.to_kind(Kind::Float).unsqueeze(1);
        out.f_binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean)
            .context("BCE-with-logits failed")
    } else {
        crate::nn::loss::cross_entropy(out, y)
    }
}

/// The predicted classes: `argmax` of the logits, or `sigmoid(z) > 0.5`.
fn predict(model: &Linear, x: &Tensor, binary: bool) -> Tensor {
    tch::no_grad(|| {
        let out = model.forward(x);
        if binary {
            out.squeeze_dim(1).sigmoid().gt(0.5).to_kind(Kind::Int64)
        } else {
            out.argmax(1, false)
        }
    })
}

fn accuracy(model: &Linear, x: &Tensor, y: &Tensor, binary: bool) -> f64 {
    let correct = predict(model, x, binary)
        .eq_tensor(y)
        .sum(Kind::Int64)
        .int64_value(&[]);
    correct as f64 / y.size()[0] as f64
}

fn ints(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Int64).flatten(0, -1))
        .unwrap_or_default()
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
        .unwrap_or_default()
}

/// Bit for bit (so that -0.0 and 0.0 differ).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A value given on the command line must agree with the checkpoint's.
fn agree<T: PartialEq>(
    option: &str,
    given: Option<T>,
    saved: T,
    show: impl Fn(&T) -> String,
    path: &std::path::Path,
    what: &str,
) -> Result<T> {
    match given {
        Some(v) if v != saved => Err(UsageError(format!(
            "{option} {} contradicts the checkpoint {}, trained {what} {}: leave {option} out (the checkpoint sets it)",
            show(&v),
            path.display(),
            show(&saved)
        ))
        .into()),
        _ => Ok(saved),
    }
}

/// Runs `classify`: data, split, standardisation, model, training, evaluation.
///
/// With a checkpoint that carries its training run (see [`checkpoint`]), the data set, split
/// and standardisation are the checkpoint's: `--evaluate` then measures exactly the training
/// run's test set. The standardisation recomputed from the re-created training split must equal
/// the checkpoint's bit for bit, or the data (or the checkpoint) is not what it was trained on.
pub fn run(config: &Config, on_line: &mut OnLine) -> Result<Outcome> {
    let device = config.device;
    let loaded = match &config.load {
        Some(path) => Some((path, checkpoint::load(path, device)?)),
        None => None,
    };
    let (dataset, seed, test_fraction) = split_options(config, &loaded)?;
    let binary = dataset.classes() == 2;
    let outputs = checkpoint::outputs(dataset);
    let data = dataset::load(&config.data_dir, dataset)?;
    let split = Split::new(config, &data, (dataset, seed, test_fraction), &loaded)?;
    let mut model = Linear::new(split.features, outputs, device);
    describe(&data, &split, binary, on_line)?;
    let mut checkpoint_json = Value::Null;
    if let Some((path, ckpt)) = loaded {
        checkpoint_json = json!({"dtype": ckpt.dtype, "metadata": ckpt.run.is_some()});
        model = adopt_checkpoint(config, &split, path, ckpt, on_line)?;
    }
    let initial = named_tensors_json(model.named_parameters());
    let epochs = if config.evaluate {
        Vec::new()
    } else {
        train(config, &model, &split, binary, on_line)?
    };
    let evaluation = evaluate(&model, &split, binary, on_line)?;
    let options = json!({
        "dataset": dataset.name(), "test_fraction": test_fraction, "seed": seed,
        "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
        "momentum": config.momentum, "weight_decay": config.weight_decay, "evaluate": config.evaluate,
    });
    let trace = crate::io::trace::trace(
        "classify",
        device,
        options,
        json!({
            "dataset": {"samples": data.samples, "features": split.features, "classes": dataset.classes(),
                        "train": split.n_train, "test": evaluation.test, "test_indices": ints(&split.test_idx)},
            "checkpoint": checkpoint_json,
            "initial_parameters": initial,
            "epochs": epochs.iter().map(|s| json!({"loss": number(s.loss), "train_accuracy": s.train_accuracy, "test_accuracy": s.test_accuracy})).collect::<Vec<_>>(),
            "final_parameters": named_tensors_json(model.named_parameters()),
            "confusion_matrix": evaluation.confusion,
            "precision": evaluation.precision,
            "recall": evaluation.recall,
            "support": evaluation.support,
            "test_accuracy": evaluation.test_accuracy,
        }),
    );
    Ok(Outcome {
        model,
        run: split.run,
        epochs,
        test_accuracy: evaluation.test_accuracy,
        trace,
    })
}

/// A loaded checkpoint: its path and contents.
type Loaded<'a> = Option<(&'a PathBuf, checkpoint::Checkpoint)>;

/// The data set, seed and test fraction of the run: a checkpoint's (which the options given
/// must agree with), or the options', or the defaults.
fn split_options(config: &Config, loaded: &Loaded) -> Result<(DatasetName, i64, f64)> {
    let saved = loaded.as_ref().and_then(|(_, c)| c.run.as_ref());
    Ok(match (loaded, saved) {
        (Some((path, _)), Some(saved)) => (
            agree("--dataset", config.dataset, saved.dataset, |d| d.name().to_string(), path, "on")?,
            agree("--seed", config.seed, saved.seed, |s| s.to_string(), path, "with seed")?,
            agree(
                "--test-fraction",
                config.test_fraction,
                saved.test_fraction,
                |f| py_repr(*f),
                path,
                "with test fraction",
            )?,
        ),
        (Some((path, _)), None) if !config.plain_checkpoint => anyhow::bail!(
            "checkpoint {} carries no training metadata (data set, split, standardisation): it is a plain state_dict, from an older classify or PyTorch's save_file; --plain-checkpoint uses it with the split of --dataset, --seed and --test-fraction",
            path.display()
        ),
        _ => (
            config.dataset.unwrap_or(DEFAULT_DATASET),
            config.seed.unwrap_or(DEFAULT_SEED),
            config.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION),
        ),
    })
}

/// The stratified split, standardised with the training part's mean and std, on the device.
struct Split {
    features: i64,
    n_train: i64,
    test_idx: Tensor,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    /// The data set, split and standardisation, for the checkpoint.
    run: TrainingRun,
}

impl Split {
    fn new(
        config: &Config,
        data: &dataset::Dataset,
        (dataset, seed, test_fraction): (DatasetName, i64, f64),
        loaded: &Loaded,
    ) -> Result<Self> {
        let device = config.device;
        let features = data.x.size()[1];
        tch::manual_seed(seed);
        let (train_idx, test_idx) =
            match dataset::stratified_split(&data.y, dataset.classes(), test_fraction) {
                // A fraction from the checkpoint, not from an option: the checkpoint is at fault
                // (status 1), not the command line.
                Err(e) if config.test_fraction.is_none() && config.load.is_some() => {
                    let path = config.load.as_deref().unwrap_or(Path::new("")).display();
                    let said = e.to_string().replacen("--test-fraction ", "", 1);
                    anyhow::bail!("checkpoint {path}: its test_fraction {said}")
                }
                other => other?,
            };
        let n_train = train_idx.size()[0];
        if !config.evaluate && config.batch_size > n_train {
            return Err(UsageError(format!(
                "--batch-size {} is larger than the training set ({n_train} samples): use at most {n_train}",
                config.batch_size
            ))
            .into());
        }
        let x_train_raw = data.x.index_select(0, &train_idx);
        let scaler = Standardizer::fit(&x_train_raw);
        let run = TrainingRun {
            dataset,
            seed,
            test_fraction,
            mean: floats(&scaler.mean),
            std: floats(&scaler.std),
        };
        let saved = loaded
            .as_ref()
            .and_then(|(path, c)| Some((path, c.run.as_ref()?)));
        if let Some((path, saved)) = saved {
            if !same_bits(&run.mean, &saved.mean) || !same_bits(&run.std, &saved.std) {
                anyhow::bail!(
                    "checkpoint {}: its standardisation (scaler.mean, scaler.std) is not that of the training split of {} (seed {seed}, test fraction {}): the data or the checkpoint is not what it was trained on",
                    path.display(),
                    data.path.display(),
                    py_repr(test_fraction)
                );
            }
        }
        Ok(Self {
            features,
            n_train,
            x_train: scaler.apply(&x_train_raw).to_device(device),
            x_test: scaler
                .apply(&data.x.index_select(0, &test_idx))
                .to_device(device),
            y_train: data.y.index_select(0, &train_idx).to_device(device),
            y_test: data.y.index_select(0, &test_idx).to_device(device),
            test_idx,
            run,
        })
    }
}

/// The first two lines: the data set and its split, the model and its loss.
fn describe(
    data: &dataset::Dataset,
    split: &Split,
    binary: bool,
    on_line: &mut OnLine,
) -> Result<()> {
    let (features, n_train) = (split.features, split.n_train);
    let TrainingRun {
        dataset,
        seed,
        test_fraction,
        ..
    } = &split.run;
    let classes = dataset.classes();
    on_line(
        &format!(
            "dataset {}: {} samples, {features} features, {classes} classes; train {n_train}, test {} (stratified, test fraction {}, seed {seed})",
            dataset.name(),
            data.samples,
            split.test_idx.size()[0],
            py_repr(*test_fraction),
        ),
        false,
    )?;
    let model_line = if binary {
        format!("model: Linear({features}, 1) -> sigmoid; loss: BCEWithLogitsLoss (sigmoid and binary cross-entropy fused)")
    } else {
        format!(
            "model: Linear({features}, {classes}) -> softmax; loss: CrossEntropyLoss on the logits"
        )
    };
    on_line(&model_line, false)
}

/// The loaded layer, checked against the data set, and the line that says what is done with it.
fn adopt_checkpoint(
    config: &Config,
    split: &Split,
    path: &std::path::Path,
    ckpt: checkpoint::Checkpoint,
    on_line: &mut OnLine,
) -> Result<Linear> {
    let (dataset, seed, test_fraction) =
        (split.run.dataset, split.run.seed, split.run.test_fraction);
    let (outputs, features) = (checkpoint::outputs(dataset), split.features);
    let shape = ckpt.layer.weight.size();
    if shape != [outputs, features] {
        anyhow::bail!(
            "checkpoint {}: weight has shape {shape:?}, expected [{outputs}, {features}] for Linear({features}, {outputs}) on {}",
            path.display(),
            dataset.name()
        );
    }
    let dtype = if ckpt.dtype == "float32" {
        "float32".to_string()
    } else {
        format!("{}, cast to float32", ckpt.dtype)
    };
    let what = if config.evaluate {
        "evaluating, no training"
    } else {
        "training on from there"
    };
    let whose = if ckpt.run.is_some() {
        format!(
            "the split and standardisation are the training run's, from the checkpoint ({}, seed {seed}, test fraction {})",
            dataset.name(),
            py_repr(test_fraction)
        )
    } else {
        "the checkpoint has no metadata: the split and standardisation are this run's, not necessarily the training run's".to_string()
    };
    on_line(
        &format!("loaded {} ({dtype}): {what}; {whose}", path.display()),
        false,
    )?;
    Ok(ckpt.layer)
}

/// Mini-batch SGD for `--epochs`, a line per epoch: the loss and both accuracies.
fn train(
    config: &Config,
    model: &Linear,
    split: &Split,
    binary: bool,
    on_line: &mut OnLine,
) -> Result<Vec<EpochStats>> {
    let (device, n_train) = (config.device, split.n_train);
    let (x_train, y_train) = (&split.x_train, &split.y_train);
    on_line(
        &format!(
            "optimizer: SGD lr {}, momentum {}, weight decay {}; batch size {}, {} epochs",
            py_repr(config.lr),
            py_repr(config.momentum),
            py_repr(config.weight_decay),
            config.batch_size,
            config.epochs
        ),
        false,
    )?;
    let sgd = SgdConfig {
        momentum: config.momentum,
        weight_decay: config.weight_decay,
        ..SgdConfig::new(config.lr)
    };
    let mut optimizer = Sgd::new(model.parameters(), sgd)?;
    let mut epochs = Vec::new();
    for epoch in 1..=config.epochs {
        let perm = Tensor::randperm(n_train, (Kind::Int64, Device::Cpu)).to_device(device);
        let mut running = Tensor::zeros([], (Kind::Float, device));
        let mut start = 0;
        while start < n_train {
            let nb = config.batch_size.min(n_train - start);
            let idx = perm.narrow(0, start, nb);
            let (xb, yb) = (x_train.index_select(0, &idx), y_train.index_select(0, &idx));
            let l = loss_fn(&model.forward(&xb), &yb, binary)?;
            optimizer.backward_step(&l)?;
            running += l.detach() * nb as f64;
            start += nb;
            crate::cli::check_interrupt()?;
        }
        let loss = running
            .f_double_value(&[])
            .context("cannot read the loss")?
            / n_train as f64;
        crate::cli::check_loss(loss, config.allow_nan, || format!("epoch {epoch}"))?;
        let stats = EpochStats {
            epoch,
            loss,
            train_accuracy: accuracy(model, x_train, y_train, binary),
            test_accuracy: accuracy(model, &split.x_test, &split.y_test, binary),
        };
        on_line(
            &format!(
                "epoch {epoch:>3}  loss {}  train acc {}  test acc {}",
                fmt_value(loss, 6),
                fmt_value(stats.train_accuracy, 4),
                fmt_value(stats.test_accuracy, 4)
            ),
            true,
        )?;
        epochs.push(stats);
    }
    Ok(epochs)
}

/// The test set's confusion matrix, per-class precision and recall, and accuracy.
struct Evaluation {
    confusion: Vec<Vec<i64>>,
    precision: Vec<f64>,
    recall: Vec<f64>,
    support: Vec<i64>,
    /// The size of the test set.
    test: usize,
    test_accuracy: f64,
}

/// The confusion matrix and per-class precision and recall on the test set, printed.
fn evaluate(
    model: &Linear,
    split: &Split,
    binary: bool,
    on_line: &mut OnLine,
) -> Result<Evaluation> {
    let predicted = ints(&predict(model, &split.x_test, binary));
    let truth = ints(&split.y_test);
    let k = split.run.dataset.classes() as usize;
    let mut confusion = vec![vec![0i64; k]; k];
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion[t as usize][p as usize] += 1;
    }
    on_line(
        "confusion matrix (test set; rows: true class, columns: predicted class):",
        false,
    )?;
    on_line(
        &format!(
            "      {}",
            (0..k).map(|c| format!("{c:>5}")).collect::<String>()
        ),
        false,
    )?;
    for (c, row) in confusion.iter().enumerate() {
        on_line(
            &format!(
                "{c:>5} {}",
                row.iter().map(|v| format!("{v:>5}")).collect::<String>()
            ),
            false,
        )?;
    }
    let (precision, recall, support) = precision_recall(&confusion, on_line)?;
    let correct: i64 = (0..k).map(|c| confusion[c][c]).sum();
    let test_accuracy = correct as f64 / truth.len() as f64;
    on_line(
        &format!(
            "test accuracy {} ({correct}/{})",
            fmt_value(test_accuracy, 4),
            truth.len()
        ),
        false,
    )?;
    Ok(Evaluation {
        confusion,
        precision,
        recall,
        support,
        test: truth.len(),
        test_accuracy,
    })
}

/// Per class, from the confusion matrix: precision, recall and support, a line each.
#[allow(clippy::type_complexity)]
fn precision_recall(
    confusion: &[Vec<i64>],
    on_line: &mut OnLine,
) -> Result<(Vec<f64>, Vec<f64>, Vec<i64>)> {
    on_line("class  precision  recall  support", false)?;
    let (mut precision, mut recall, mut support) = (Vec::new(), Vec::new(), Vec::new());
    for (c, row) in confusion.iter().enumerate() {
        let tp = row[c];
        let predicted_c: i64 = confusion.iter().map(|r| r[c]).sum();
        let actual_c: i64 = row.iter().sum();
        let p = if predicted_c > 0 {
            tp as f64 / predicted_c as f64
        } else {
            0.0
        };
        let r = if actual_c > 0 {
            tp as f64 / actual_c as f64
        } else {
            0.0
        };
        on_line(
            &format!(
                "{c:>5}  {:>9}  {:>6}  {actual_c:>7}",
                fmt_value(p, 4),
                fmt_value(r, 4)
            ),
            false,
        )?;
        precision.push(p);
        recall.push(r);
        support.push(actual_c);
    }
    Ok((precision, recall, support))
}

/// The loss and accuracy curves, for `--plot`.
pub fn plot_panels(dataset: DatasetName, epochs: &[EpochStats]) -> Vec<Panel> {
    let series = |label: &str, f: fn(&EpochStats) -> f64| Series {
        label: label.to_string(),
        points: epochs.iter().map(|s| (s.epoch as f64, f(s))).collect(),
    };
    vec![
        Panel {
            title: format!("{}: training loss", dataset.name()),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![series("train loss", |s| s.loss)],
        },
        Panel {
            title: format!("{}: accuracy", dataset.name()),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                series("train", |s| s.train_accuracy),
                series("test", |s| s.test_accuracy),
            ],
        },
    ]
}
