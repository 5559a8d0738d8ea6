//! Checkpoints of `classify`'s linear layer in safetensors: the tensors of PyTorch's `nn.Linear`
//! state_dict (`weight`, `bias`), so that `model.load_state_dict(safetensors.torch.load_file(p))`
//! reads what we write and we read what it writes, and in the file's metadata (string to string,
//! which `load_file` ignores) what is needed to re-create the training run's data exactly.
//! Only safetensors: no pickle anywhere.
//!
//! # The metadata (format `classify 1`; `scripts/reference.py` reads and writes the same)
//!
//! | key             | value                                                                |
//! |-----------------|----------------------------------------------------------------------|
//! | `format`        | `pt` (what `safetensors.torch` writes)                               |
//! | `checkpoint`    | `classify 1`: this format                                            |
//! | `dataset`       | `digits` or `breast-cancer`                                          |
//! | `features`      | the number of input features, `30`                                   |
//! | `classes`       | the number of classes, `2`                                           |
//! | `seed`          | the split's seed (`torch.manual_seed`), `0`                          |
//! | `test_fraction` | the held-out share, Python's `repr` of the f64, `0.25`               |
//! | `scaler.mean`   | the standardisation mean, a JSON list of `features` numbers          |
//! | `scaler.std`    | the standardisation std, the same                                    |
//!
//! The mean and std are float32 tensors; each value is written as the f32 widened exactly to an
//! f64, in Python's `repr` (the shortest text that reads back as that f64), which is what
//! `json.dumps(t.double().tolist())` writes. Reading parses each number as an f64 (correctly
//! rounded on both sides) and requires it to be exactly a finite float32, so the values come back
//! bit for bit. They are metadata, not tensors, because a strict `load_state_dict` refuses
//! unexpected keys. In PyTorch: `safe_open(path, "pt").metadata()["scaler.mean"]`.
//!
//! A file without these keys (an older `classify`, or PyTorch's plain `save_file`) is a *plain*
//! checkpoint: [`load`] returns it with `run: None`, and `classify` refuses it unless told
//! `--plain-checkpoint`.
//!
//! The tensors may be float16, bfloat16, float32 or float64: they are cast to float32 by libtorch
//! (`to_kind`, the `copy_` that `load_state_dict` does). Any other dtype is refused by name.
//!
//! Reading is careful: the file's size is bounded before anything is read, and the header
//! (names, dtypes, shapes, offsets, metadata) is checked before any tensor is made, so a hostile
//! or broken file gives a clear error, never a huge allocation.
use crate::io::dataset::DatasetName;
use crate::io::report::py_repr;
use crate::nn::linear::Linear;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The most header bytes we accept: the header of a `Linear(64, 10)` with its metadata is a few
/// kilobytes.
const MAX_HEADER: u64 = 64 * 1024;

/// The value of the `checkpoint` key: this format.
pub const FORMAT: &str = "classify 1";

/// The metadata keys of a `classify` checkpoint besides `format`, in the order they are checked.
pub const KEYS: [&str; 8] = [
    "checkpoint",
    "dataset",
    "features",
    "classes",
    "seed",
    "test_fraction",
    "scaler.mean",
    "scaler.std",
];

/// What a checkpoint says about the run that trained it: enough to re-create its split and
/// standardisation exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRun {
    /// The data set trained on (`--dataset`).
    pub dataset: DatasetName,
    /// The split's seed (`torch.manual_seed`, `--seed`).
    pub seed: i64,
    /// The test share of the split (`--test-fraction`).
    pub test_fraction: f64,
    /// The standardisation: the training split's mean and (population) std, per feature.
    pub mean: Vec<f32>,
    /// The population std per feature (1 for a constant feature), as `StandardScaler.scale_`.
    pub std: Vec<f32>,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The `nn.Linear` whose `load_state_dict` the file feeds.
    pub layer: Linear,
    /// The dtype of the file's tensors, as PyTorch names it (`float16`, ...), before the cast.
    pub dtype: &'static str,
    /// `None` for a plain checkpoint (no metadata).
    pub run: Option<TrainingRun>,
}

/// The model's outputs for a data set: one logit per class, or a single logit for two classes.
pub fn outputs(dataset: DatasetName) -> i64 {
    if dataset.classes() == 2 {
        1
    } else {
        dataset.classes()
    }
}

fn f32_bytes(t: &Tensor) -> Vec<u8> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let values = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap_or_default();
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A float32 list as the metadata holds it: `[0.5, -1.25e-05]`, Python's `repr` of each value
/// widened to f64, exactly what `json.dumps(t.double().tolist())` writes.
pub fn f32_list(values: &[f32]) -> String {
    let items: Vec<String> = values.iter().map(|&v| py_repr(v as f64)).collect();
    format!("[{}]", items.join(", "))
}

/// Whether `s` is a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parses a JSON list of numbers, each exactly a finite float32; `None` if it is anything else.
pub fn parse_f32_list(text: &str) -> Option<Vec<f32>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|item| {
            let item = item.trim();
            if !is_json_number(item) {
                return None;
            }
            let v: f64 = item.parse().ok()?;
            let f = v as f32;
            (v.is_finite() && f as f64 == v).then_some(f)
        })
        .collect()
}

impl TrainingRun {
    /// The metadata of a checkpoint of `Linear(features, outputs)` trained by this run.
    pub fn metadata(&self) -> HashMap<String, String> {
        let d = self.dataset;
        HashMap::from(
            [
                ("format", "pt".to_string()),
                ("checkpoint", FORMAT.to_string()),
                ("dataset", d.name().to_string()),
                ("features", d.features().to_string()),
                ("classes", d.classes().to_string()),
                ("seed", self.seed.to_string()),
                ("test_fraction", py_repr(self.test_fraction)),
                ("scaler.mean", f32_list(&self.mean)),
                ("scaler.std", f32_list(&self.std)),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        )
    }

    /// Reads the run from a checkpoint's metadata: `Ok(None)` when it has none of the keys (a
    /// plain checkpoint), an error naming the key when one is missing or wrong.
    pub fn from_metadata(
        metadata: &HashMap<String, String>,
        shown: &str,
    ) -> Result<Option<TrainingRun>> {
        if KEYS.iter().all(|k| !metadata.contains_key(*k)) {
            return Ok(None);
        }
        let get = |key: &str| -> Result<&str> {
            metadata.get(key).map(String::as_str).with_context(|| {
                format!("checkpoint {shown}: its metadata lacks \"{key}\" (format {FORMAT})")
            })
        };
        let format = get("checkpoint")?;
        if format != FORMAT {
            bail!("checkpoint {shown}: metadata checkpoint is \"{format}\", expected \"{FORMAT}\"");
        }
        let name = get("dataset")?;
        let dataset = match name {
            "digits" => DatasetName::Digits,
            "breast-cancer" => DatasetName::BreastCancer,
            other => bail!(
                "checkpoint {shown}: metadata dataset \"{other}\" is not a data set of classify (digits, breast-cancer)"
            ),
        };
        for (key, expected) in [
            ("features", dataset.features() as i64),
            ("classes", dataset.classes()),
        ] {
            let text = get(key)?;
            if text.parse::<i64>().ok() != Some(expected) {
                bail!("checkpoint {shown}: metadata {key} \"{text}\" does not match data set {name} ({expected} {key})");
            }
        }
        let text = get("seed")?;
        let seed = match text.parse::<i64>() {
            Ok(v) if v >= 0 && text.bytes().all(|c| c.is_ascii_digit()) => v,
            _ => bail!(
                "checkpoint {shown}: metadata seed \"{text}\" is not a seed (an integer from 0 to {})",
                i64::MAX
            ),
        };
        let text = get("test_fraction")?;
        let test_fraction = match text.parse::<f64>() {
            Ok(v) if is_json_number(text) && v > 0.0 && v < 1.0 => v,
            _ => bail!(
                "checkpoint {shown}: metadata test_fraction \"{text}\" is not a number between 0 and 1 (exclusive)"
            ),
        };
        let features = dataset.features();
        let list = |key: &str, positive: bool| -> Result<Vec<f32>> {
            match parse_f32_list(get(key)?) {
                Some(v) if v.len() == features && (!positive || v.iter().all(|&x| x > 0.0)) => {
                    Ok(v)
                }
                _ => bail!(
                    "checkpoint {shown}: metadata {key} is not a JSON list of {features} {}finite float32 values",
                    if positive { "positive " } else { "" }
                ),
            }
        };
        let mean = list("scaler.mean", false)?;
        let std = list("scaler.std", true)?;
        Ok(Some(TrainingRun {
            dataset,
            seed,
            test_fraction,
            mean,
            std,
        }))
    }
}

/// Writes `weight`, `bias` and the training run's metadata to `path` (temp file + rename).
pub fn save(path: &Path, layer: &Linear, run: &TrainingRun) -> Result<()> {
    let (w, b) = (f32_bytes(&layer.weight), f32_bytes(&layer.bias));
    let shape = |t: &Tensor| t.size().iter().map(|&d| d as usize).collect::<Vec<_>>();
    let views = vec![
        ("bias", TensorView::new(Dtype::F32, shape(&layer.bias), &b)?),
        (
            "weight",
            TensorView::new(Dtype::F32, shape(&layer.weight), &w)?,
        ),
    ];
    let bytes = safetensors::tensor::serialize(views, &Some(run.metadata()))
        .context("cannot serialise the checkpoint")?;
    let bytes = with_sorted_header(bytes).context("cannot serialise the checkpoint")?;
    crate::io::files::write_atomic(path, |f| Ok(f.write_all(&bytes)?))
}

/// The same file with its JSON header's keys in sorted order: safetensors writes the metadata
/// in a `HashMap`'s order, which changes from run to run, so the same training would give other
/// bytes each time. The sorted header has the same length; its padding is kept.
fn with_sorted_header(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into()?))?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n])?;
    // serde_json's map is a BTreeMap: keys come out sorted.
    let sorted = serde_json::to_vec(&header)?;
    if sorted.len() > n {
        bail!("the sorted header is longer than the original");
    }
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..8 + n].fill(b' ');
    Ok(bytes)
}

/// PyTorch's name of a safetensors dtype (`str(dtype)` without `torch.`), or the file's own
/// name for one PyTorch does not have.
fn torch_dtype_name(dtype: &str) -> String {
    match dtype {
        "BOOL" => "bool",
        "U8" => "uint8",
        "I8" => "int8",
        "I16" => "int16",
        "U16" => "uint16",
        "F16" => "float16",
        "BF16" => "bfloat16",
        "I32" => "int32",
        "U32" => "uint32",
        "F32" => "float32",
        "F64" => "float64",
        "I64" => "int64",
        "U64" => "uint64",
        "F8_E4M3" => "float8_e4m3fn",
        "F8_E5M2" => "float8_e5m2",
        other => return other.to_string(),
    }
    .to_string()
}

/// The dtypes that load, with their libtorch kind: the float types `load_state_dict` casts.
fn loadable(dtype: Dtype) -> Option<(Kind, &'static str)> {
    match dtype {
        Dtype::F16 => Some((Kind::Half, "float16")),
        Dtype::BF16 => Some((Kind::BFloat16, "bfloat16")),
        Dtype::F32 => Some((Kind::Float, "float32")),
        Dtype::F64 => Some((Kind::Double, "float64")),
        _ => None,
    }
}

/// The dtypes named in the header, read before safetensors parses it (which knows fewer dtypes
/// than PyTorch writes), so that any other dtype is refused by its name.
fn check_header_dtypes(buffer: &[u8], shown: &str) -> Result<()> {
    // The header's frame, checked here with the words reference.py uses (safetensors' own
    // errors differ between its Rust and Python versions).
    let n = u64::from_le_bytes(buffer[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        bail!("checkpoint {shown} is not a safetensors file: its header claims {n} bytes, more than the {MAX_HEADER} accepted");
    }
    if 8 + n > buffer.len() as u64 {
        bail!(
            "checkpoint {shown} is truncated: its header claims {n} bytes, the file has {} after the first 8",
            buffer.len() - 8
        );
    }
    let Ok(serde_json::Value::Object(header)) =
        serde_json::from_slice::<serde_json::Value>(&buffer[8..8 + n as usize])
    else {
        bail!("checkpoint {shown} is not a safetensors file: its header is not a JSON object");
    };
    let mut names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    for name in names {
        if let Some(dtype) = header[name].get("dtype").and_then(|d| d.as_str()) {
            if !["F16", "BF16", "F32", "F64"].contains(&dtype) {
                bail!(
                    "checkpoint {shown}: {name} is {}; only float16, bfloat16, float32 and float64 load (cast to float32)",
                    torch_dtype_name(dtype)
                );
            }
        }
    }
    Ok(())
}

/// Reads a checkpoint: the layer onto `device` as float32 leaves that require grad, its dtype,
/// and its training run (checked against its own tensors' shapes) when it has the metadata.
pub fn load(path: &Path, device: Device) -> Result<Checkpoint> {
    from_bytes(&read_bytes(path)?, &path.display().to_string(), device)
}

/// A checkpoint's bytes: a regular file only (not a FIFO or /dev/zero), and no larger than the
/// largest layer `classify` has (Linear(64, 10) in float64) with its header.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let largest: u64 = [DatasetName::Digits, DatasetName::BreastCancer]
        .iter()
        .map(|&d| (d.features() as u64 + 1) * outputs(d) as u64 * 8)
        .max()
        .unwrap_or(0);
    crate::io::files::read_regular(path, 8 + MAX_HEADER + largest, "checkpoint")
}

/// The data set that a checkpoint's metadata names, read before the run to know its data file;
/// `None` when the file has no such metadata or cannot be read (then [`load`] says why, before
/// anything is written).
pub fn saved_dataset(path: &Path) -> Option<DatasetName> {
    let bytes = read_bytes(path).ok()?;
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    let metadata = header.get("__metadata__")?;
    if metadata.get("checkpoint")?.as_str()? != FORMAT {
        return None;
    }
    match metadata.get("dataset")?.as_str()? {
        "digits" => Some(DatasetName::Digits),
        "breast-cancer" => Some(DatasetName::BreastCancer),
        _ => None,
    }
}

/// Reads a checkpoint from its bytes (see [`load`]); `shown` names it in errors. Any bytes give
/// a checkpoint or an error, never a panic (tests/fuzz.rs feeds it random and mutated files).
pub fn from_bytes(buffer: &[u8], shown: &str, device: Device) -> Result<Checkpoint> {
    let size = buffer.len();
    if size < 8 {
        bail!("checkpoint {shown} is not a safetensors file: {size} bytes, too short for a header");
    }
    check_header_dtypes(buffer, shown)?;
    let (_, header) = SafeTensors::read_metadata(buffer).map_err(|e| {
        anyhow::anyhow!("checkpoint {shown} is not a valid safetensors file ({e:?})")
    })?;
    let tensors = SafeTensors::deserialize(buffer).map_err(|e| {
        anyhow::anyhow!("checkpoint {shown} is not a valid safetensors file ({e:?})")
    })?;
    let mut names: Vec<String> = tensors.names().into_iter().cloned().collect();
    names.sort();
    if names != ["bias", "weight"] {
        bail!("checkpoint {shown} holds tensors {names:?}, expected exactly \"weight\" and \"bias\" (nn.Linear's state_dict)");
    }
    let empty = HashMap::new();
    let run = TrainingRun::from_metadata(header.metadata().as_ref().unwrap_or(&empty), shown)?;

    let (weight, bias) = (tensors.tensor("weight"), tensors.tensor("bias"));
    let (weight, bias) = match (weight, bias) {
        (Ok(w), Ok(b)) => (w, b),
        (Err(e), _) | (_, Err(e)) => bail!("checkpoint {shown}: {e:?}"),
    };
    if weight.shape().len() != 2 || bias.shape().len() != 1 || bias.shape()[0] != weight.shape()[0]
    {
        bail!(
            "checkpoint {shown}: weight {:?} and bias {:?} are not the shapes of an nn.Linear",
            weight.shape(),
            bias.shape()
        );
    }
    if weight.dtype() != bias.dtype() {
        bail!(
            "checkpoint {shown}: weight is {} and bias is {}: expected one dtype",
            torch_dtype_name(&format!("{:?}", weight.dtype())),
            torch_dtype_name(&format!("{:?}", bias.dtype()))
        );
    }
    if let Some(run) = &run {
        let expected = [outputs(run.dataset) as usize, run.dataset.features()];
        if weight.shape() != expected {
            bail!(
                "checkpoint {shown}: weight has shape {:?}, expected {expected:?} for Linear({}, {}) on {} (its metadata)",
                weight.shape(),
                expected[1],
                expected[0],
                run.dataset.name()
            );
        }
    }
    let Some((kind, dtype)) = loadable(weight.dtype()) else {
        bail!(
            "checkpoint {shown}: weight is {}; only float16, bfloat16, float32 and float64 load (cast to float32)",
            torch_dtype_name(&format!("{:?}", weight.dtype()))
        );
    };
    let tensor = |view: &TensorView| -> Result<Tensor> {
        let dims: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &dims, kind)
            .with_context(|| format!("checkpoint {shown}: cannot make a tensor"))?;
        // The cast `load_state_dict` does (`param.copy_(input)`), by libtorch itself.
        Ok(t.to_kind(Kind::Float).to_device(device))
    };
    let layer = Linear::from_parameters(tensor(&weight)?, tensor(&bias)?);
    Ok(Checkpoint { layer, dtype, run })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> TrainingRun {
        TrainingRun {
            dataset: DatasetName::BreastCancer,
            seed: 7,
            test_fraction: 0.3,
            mean: (0..30).map(|i| i as f32 * 0.1 - 1.0).collect(),
            std: (0..30).map(|i| 1.0 + i as f32 * 1e-7).collect(),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let _rng = crate::global_rng();
        let dir = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        tch::manual_seed(1);
        let layer = Linear::new(30, 1, Device::Cpu);
        save(&path, &layer, &run()).unwrap();
        let back = load(&path, Device::Cpu).unwrap();
        assert!(back.layer.weight.detach().equal(&layer.weight.detach()));
        assert!(back.layer.bias.detach().equal(&layer.bias.detach()));
        assert!(back.layer.weight.requires_grad() && back.layer.weight.is_leaf());
        assert_eq!(back.dtype, "float32");
        assert_eq!(back.run, Some(run()));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load(&path, Device::Cpu)
            .unwrap_err()
            .to_string()
            .contains("not a valid safetensors"));
        std::fs::write(&path, b"PK\x03\x04 a zip, not safetensors").unwrap();
        assert!(load(&path, Device::Cpu).is_err());
        // A header claiming an enormous size is refused before anything is allocated.
        let mut hostile = (u64::MAX / 2).to_le_bytes().to_vec();
        hostile.extend_from_slice(b"{}");
        std::fs::write(&path, &hostile).unwrap();
        assert!(load(&path, Device::Cpu).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn float32_lists_round_trip_bit_for_bit() {
        let values = [
            0.1f32,
            -0.0,
            1e-30,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            3.4028235e38,
            16777217.0,
            0.33333334,
        ];
        let text = f32_list(&values);
        let back = parse_f32_list(&text).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&values));
        // Python's repr of the widened f64: 0.1f32 is 0.10000000149011612.
        assert!(text.starts_with("[0.10000000149011612, -0.0, 1.0000000031710769e-30"));
        for bad in [
            "[0.1]",   // not a float32 value (0.1 is not representable)
            "[NaN]",   // not JSON
            "[1e999]", // not finite
            "[inf]",
            "[.5]",
            "[1.]",
            "[+1.0]",
            "[1.0,]",
            "1.0",
            "[\"1.0\"]",
        ] {
            assert_eq!(parse_f32_list(bad), None, "{bad}");
        }
        assert_eq!(parse_f32_list("[ 1 , -2.5e0 ]"), Some(vec![1.0, -2.5]));
    }

    #[test]
    fn metadata_is_checked_key_by_key() {
        let good = run().metadata();
        assert_eq!(TrainingRun::from_metadata(&good, "m").unwrap(), Some(run()));
        let plain = HashMap::from([("format".to_string(), "pt".to_string())]);
        assert_eq!(TrainingRun::from_metadata(&plain, "m").unwrap(), None);
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("scaler.std", None, "lacks \"scaler.std\""),
            ("checkpoint", Some("classify 2"), "expected \"classify 1\""),
            ("dataset", Some("mnist"), "\"mnist\" is not a data set"),
            ("features", Some("31"), "features \"31\" does not match"),
            ("classes", Some("10"), "classes \"10\" does not match"),
            ("seed", Some("-1"), "is not a seed"),
            ("seed", Some("99999999999999999999"), "is not a seed"),
            ("test_fraction", Some("1.0"), "between 0 and 1"),
            ("test_fraction", Some("nan"), "between 0 and 1"),
            ("scaler.mean", Some("[1.0]"), "list of 30 finite"),
            ("scaler.mean", Some("not json"), "list of 30 finite"),
            ("scaler.std", Some("[0.0]"), "positive"),
        ];
        for (key, value, needle) in cases {
            let mut m = good.clone();
            match value {
                Some(v) => m.insert(key.to_string(), v.to_string()),
                None => m.remove(*key),
            };
            let err = TrainingRun::from_metadata(&m, "m").unwrap_err().to_string();
            assert!(err.contains(needle), "{key}={value:?}: {err}");
        }
        // A std of 0 (or a NaN) in an otherwise well-formed list.
        let mut m = good.clone();
        let mut std = run().std;
        std[3] = 0.0;
        m.insert("scaler.std".into(), f32_list(&std));
        let err = TrainingRun::from_metadata(&m, "m").unwrap_err().to_string();
        assert!(err.contains("30 positive finite float32"), "{err}");
        m.insert("scaler.std".into(), f32_list(&std).replace("0.0", "NaN"));
        assert!(TrainingRun::from_metadata(&m, "m").is_err());
    }
}
