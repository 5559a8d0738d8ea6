//! The two real data sets of `classify` (from scikit-learn, written once as CSV by
//! `scripts/make_datasets.py`), the stratified train/test split and the standardisation.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The data sets `classify` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetName {
    /// Handwritten digits: 1797 images of 8x8 pixels, 10 classes (softmax regression).
    Digits,
    /// Breast cancer: 569 samples, 30 features, 2 classes (logistic regression).
    BreastCancer,
}

impl DatasetName {
    /// The name on the command line and in the trace.
    pub fn name(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::BreastCancer => "breast-cancer",
        }
    }

    /// The file under `data/` (`scripts/make_datasets.py` writes it from scikit-learn).
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Digits => "digits.csv",
            Self::BreastCancer => "breast_cancer.csv",
        }
    }

    /// The number of classes (`len(np.unique(y))`).
    pub fn classes(self) -> i64 {
        match self {
            Self::Digits => 10,
            Self::BreastCancer => 2,
        }
    }

    /// The number of features (`X.shape[1]`).
    pub fn features(self) -> usize {
        match self {
            Self::Digits => 64,
            Self::BreastCancer => 30,
        }
    }
}

/// A data set in memory: features as f32 `[n, features]`, labels as i64 `[n]`, on the CPU.
pub struct Dataset {
    /// Which data set.
    pub name: DatasetName,
    /// The file it was read from.
    pub path: PathBuf,
    /// The features, f32 `[n, features]` (scikit-learn's `X`).
    pub x: Tensor,
    /// The labels, i64 `[n]` (scikit-learn's `y`).
    pub y: Tensor,
    /// `n`.
    pub samples: usize,
}

const HOW_TO_MAKE: &str = "run scripts/setup.sh, or .venv/bin/python scripts/make_datasets.py";

/// Reads `dir/<name>.csv`: a header row, then one sample per row, the label last. Every field
/// is checked: a missing file, a wrong number of fields, a value that is not a finite number or a
/// label out of range is an error naming the file, the line and the problem.
pub fn load(dir: &Path, name: DatasetName) -> Result<Dataset> {
    let path = dir.join(name.file_name());
    let shown = path.display().to_string();
    // Only a missing file is "not found": a folder that cannot be searched or read is its
    // OS error, said by read_regular.
    if let Err(e) = std::fs::symlink_metadata(&path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            bail!("{shown} not found: {HOW_TO_MAKE}");
        }
    }
    let bytes = crate::io::files::read_regular(&path, MAX_DATA_BYTES, "data file")?;
    if std::str::from_utf8(&bytes).is_err() {
        bail!("{shown}: not valid UTF-8 text");
    }
    parse_csv(&bytes, &path, name)
}

/// The most bytes a data file may have: the two shipped are well under 1 MiB.
pub const MAX_DATA_BYTES: u64 = 64 * 1024 * 1024;

/// Parses a data file's bytes (see [`load`]); `path` names it in errors.
pub fn parse_csv(bytes: &[u8], path: &Path, name: DatasetName) -> Result<Dataset> {
    let shown = path.display().to_string();
    let path = path.to_path_buf();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header_len = reader
        .headers()
        .with_context(|| format!("{shown}: cannot read the header"))?
        .len();
    let features = name.features();
    if header_len == 0 {
        bail!("{shown} is empty: {HOW_TO_MAKE}");
    }
    if header_len != features + 1 {
        bail!("{shown}: the header has {header_len} columns, expected {} ({features} features and the target)", features + 1);
    }
    let (mut values, mut labels) = (Vec::<f32>::new(), Vec::<i64>::new());
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{shown} line {line}: not valid CSV"))?;
        if record.len() != features + 1 {
            bail!(
                "{shown} line {line}: {} fields, expected {}",
                record.len(),
                features + 1
            );
        }
        for (col, field) in record.iter().take(features).enumerate() {
            match field.trim().parse::<f64>() {
                // Parsed as f64 and rounded once to f32, as torch.tensor(float64 data).float() does.
                Ok(v) if v.is_finite() && !(v as f32).is_finite() => bail!(
                    "{shown} line {line}, column {}: '{field}' is out of float32's range",
                    col + 1
                ),
                Ok(v) if v.is_finite() => values.push(v as f32),
                _ => bail!(
                    "{shown} line {line}, column {}: '{field}' is not a finite number",
                    col + 1
                ),
            }
        }
        let label = &record[features];
        match label.trim().parse::<i64>() {
            Ok(v) if (0..name.classes()).contains(&v) => labels.push(v),
            Ok(v) => bail!(
                "{shown} line {line}: label {v} is out of range 0..{}",
                name.classes() - 1
            ),
            Err(_) => bail!("{shown} line {line}: label '{label}' is not an integer"),
        }
    }
    if labels.is_empty() {
        bail!("{shown} has no samples: {HOW_TO_MAKE}");
    }
    let samples = labels.len();
    Ok(Dataset {
        name,
        path,
        x: Tensor::from_slice(&values).view([samples as i64, features as i64]),
        y: Tensor::from_slice(&labels),
        samples,
    })
}

/// `n_test = floor(n * fraction + 0.5)`: round half up, computed in f64 on both sides.
pub fn test_count(n: i64, fraction: f64) -> i64 {
    (n as f64 * fraction + 0.5).floor() as i64
}

/// A stratified split under the global generator: for each class in order, a `randperm` of its
/// samples; the first `test_count` go to the test set. Both index lists come back sorted.
pub fn stratified_split(y: &Tensor, classes: i64, test_fraction: f64) -> Result<(Tensor, Tensor)> {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for c in 0..classes {
        let idx = y.eq(c).nonzero().flatten(0, -1);
        let n = idx.size()[0];
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let n_test = test_count(n, test_fraction);
        test.push(idx.index_select(0, &perm.narrow(0, 0, n_test)));
        train.push(idx.index_select(0, &perm.narrow(0, n_test, n - n_test)));
    }
    let train = Tensor::cat(&train, 0).sort(0, false).0;
    let test = Tensor::cat(&test, 0).sort(0, false).0;
    if train.numel() == 0 || test.numel() == 0 {
        // How the program was called, not what happened: a usage error (status 2).
        return Err(crate::error::UsageError(format!(
            "--test-fraction {} leaves an empty {} set",
            crate::io::report::py_repr(test_fraction),
            if train.numel() == 0 {
                "training"
            } else {
                "test"
            }
        ))
        .into());
    }
    Ok((train, test))
}

/// Standardisation with the training split's statistics: `(x - mean) / std`, with the
/// population std (as scikit-learn's StandardScaler) and 1 for constant features.
pub struct Standardizer {
    /// `StandardScaler.mean_`.
    pub mean: Tensor,
    /// `StandardScaler.scale_` (population std, 1 for constant features).
    pub std: Tensor,
}

impl Standardizer {
    /// `StandardScaler().fit(x_train)`.
    pub fn fit(x_train: &Tensor) -> Self {
        let mean = x_train.mean_dim(0, false, None::<Kind>);
        let std = x_train.std_correction(0, 0, false);
        let std = std.where_self(&std.gt(0.0), &std.ones_like());
        Self { mean, std }
    }

    /// `scaler.transform(x)`: `(x - mean) / std`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        (x - &self.mean) / &self.std
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_complete() {
        let _rng = crate::global_rng();
        tch::manual_seed(0);
        let y = Tensor::from_slice(&[0i64, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
        let (train, test) = stratified_split(&y, 2, 0.25).unwrap();
        let train = Vec::<i64>::try_from(&train).unwrap();
        let test = Vec::<i64>::try_from(&test).unwrap();
        // 4 * 0.25 = 1 test sample of class 0, 8 * 0.25 = 2 of class 1.
        assert_eq!(test.len(), 3);
        assert_eq!(test.iter().filter(|&&i| i < 4).count(), 1);
        let mut all: Vec<i64> = train.iter().chain(&test).copied().collect();
        all.sort();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(test_count(10, 0.25), 3);
        assert_eq!(test_count(4, 0.25), 1);
        assert_eq!(test_count(6, 0.25), 2);
    }

    #[test]
    fn standardizer_uses_population_std_and_keeps_constant_features() {
        let x = Tensor::from_slice(&[1.0f32, 5.0, 3.0, 5.0]).view([2, 2]);
        let s = Standardizer::fit(&x);
        let z = Vec::<f32>::try_from(s.apply(&x).flatten(0, -1)).unwrap();
        assert_eq!(z, [-1.0, 0.0, 1.0, 0.0]);
    }
}
