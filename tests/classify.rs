//! `classify` on the real data sets: the accuracy bars, checkpoints that PyTorch reads (and the
//! reverse), and bad input.
mod common;
use common::*;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_classify");

/// One epoch on breast-cancer: a small checkpoint with its training run.
const BREAST_CANCER_1: &[&str] = &["--dataset", "breast-cancer", "--epochs", "1"];

/// Trains `classify` with `args` and saves the layer as `dir/name`: the checkpoint's path.
fn saved(dir: &Path, name: &str, args: &[&str]) -> String {
    let path = dir.join(name).to_str().unwrap().to_string();
    let out = run(BIN, &[args, &["--save", &path]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

fn last_line(stdout: &[u8]) -> String {
    text(stdout).lines().last().unwrap_or_default().to_string()
}

#[test]
fn default_options_clear_the_accuracy_bars() {
    for dataset in ["digits", "breast-cancer"] {
        let t = trace(BIN, &["--dataset", dataset]);
        let accuracy = t["test_accuracy"].as_f64().unwrap();
        assert!(accuracy >= 0.95, "{dataset}: test accuracy {accuracy}");
        // The confusion matrix adds up to the test set, and its diagonal to the accuracy.
        let m: Vec<Vec<i64>> = serde_json::from_value(t["confusion_matrix"].clone()).unwrap();
        let total: i64 = m.iter().flatten().sum();
        let diagonal: i64 = (0..m.len()).map(|i| m[i][i]).sum();
        assert_eq!(total, t["dataset"]["test"].as_i64().unwrap());
        assert_eq!(diagonal as f64 / total as f64, accuracy);
        let losses: Vec<f64> = t["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["loss"].as_f64().unwrap())
            .collect();
        assert!(
            losses.last().unwrap() < &losses[0],
            "{dataset}: the loss falls"
        );
    }
}

#[test]
fn the_split_is_stratified() {
    let t = trace(BIN, &["--dataset", "breast-cancer", "--epochs", "1"]);
    // 212 malignant and 357 benign samples: round(212/4) = 53 and round(357/4) = 89 held out.
    assert_eq!(t["support"], serde_json::json!([53, 89]));
    assert_eq!(t["dataset"]["train"], 569 - 142);
}

#[test]
fn checkpoints_cross_between_rust_and_pytorch() {
    let dir = temp_dir();
    let (rust_ckpt, py_ckpt) = (dir.join("rust.safetensors"), dir.join("python.safetensors"));
    let (rust_ckpt, py_ckpt) = (rust_ckpt.to_str().unwrap(), py_ckpt.to_str().unwrap());
    for dataset in ["digits", "breast-cancer"] {
        let d = ["--dataset", dataset];
        let trained = run_ok(
            BIN,
            &[&d[..], &["--epochs", "5", "--save", rust_ckpt]].concat(),
        );
        let trained_line = last_line(&trained.stdout);
        assert!(trained_line.starts_with("test accuracy "), "{trained_line}");
        // Rust's checkpoint, evaluated by PyTorch: the same test accuracy line.
        let evaluate = [&d[..], &["--load", rust_ckpt, "--evaluate"]].concat();
        let py = reference_ok(&[&["classify"][..], &evaluate].concat());
        assert_eq!(
            last_line(&py.stdout),
            trained_line,
            "{dataset}: PyTorch reads Rust's checkpoint"
        );
        let rs = run(BIN, &evaluate);
        assert_eq!(last_line(&rs.stdout), trained_line);
        // And the reverse: PyTorch's checkpoint, evaluated by Rust.
        let d = [&d[..], &["--seed", "5"]].concat();
        let train = ["--epochs", "3", "--save", py_ckpt];
        let py_trained = reference_ok(&[&["classify"][..], &d, &train].concat());
        let rs = run_ok(BIN, &[&d[..], &["--load", py_ckpt, "--evaluate"]].concat());
        assert_eq!(
            last_line(&rs.stdout),
            last_line(&py_trained.stdout),
            "{dataset}: Rust reads PyTorch's checkpoint"
        );
    }
    // The names are nn.Linear's state_dict names, as PyTorch sees them.
    let keys = python_eval(&format!(
        "from safetensors.torch import load_file\nprint(sorted(load_file({:?}).keys()))",
        rust_ckpt
    ));
    assert_eq!(keys.trim(), "['bias', 'weight']");
}

#[test]
fn no_progress_bar_when_piped() {
    let out = run(BIN, &["--dataset", "breast-cancer", "--epochs", "2"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
}

#[test]
fn bad_input_fails_cleanly_and_never_damages_a_file() {
    let dir = temp_dir();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // Checkpoints of every wrong kind.
    std::fs::write(p("text.safetensors"), "this is not a checkpoint at all").unwrap();
    let good = saved(&dir, "digits.safetensors", &["--epochs", "1"]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(p("truncated.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    python_eval(&format!(
        "import torch\nfrom safetensors.torch import save_file\n\
         save_file({{'w': torch.zeros(10, 64), 'b': torch.zeros(10)}}, {:?})",
        p("names.safetensors")
    ));
    // An existing output file, which no failure may touch.
    let keep = p("keep.safetensors");
    std::fs::write(&keep, "precious").unwrap();
    let text_ckpt = p("text.safetensors");
    let (truncated_ckpt, names_ckpt) = (p("truncated.safetensors"), p("names.safetensors"));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--batch-size", "5000", "--save", &keep],
            2,
            "larger than the training set (1346 samples)",
        ),
        (vec!["--test-fraction", "1"], 2, "--test-fraction"),
        (vec!["--evaluate"], 2, "--load"),
        (vec!["--plot", "curves.gif"], 2, "unknown extension"),
        (
            vec!["--load", &text_ckpt],
            1,
            "not a safetensors file: its header claims",
        ),
        (vec!["--load", &truncated_ckpt], 1, "is truncated"),
        (
            vec!["--load", &names_ckpt],
            1,
            "expected exactly \"weight\" and \"bias\"",
        ),
        (
            vec!["--dataset", "breast-cancer", "--load", &good],
            2,
            "--dataset breast-cancer contradicts the checkpoint",
        ),
        (
            vec!["--json", "/nonexistent-folder/t.json"],
            1,
            "cannot write",
        ),
        (
            vec!["--plot", "/nonexistent-folder/c.png"],
            1,
            "cannot write",
        ),
    ];
    for (args, code, needle) in &cases {
        assert_clean_failure(
            &run(BIN, args),
            *code,
            needle,
            &format!("classify {args:?}"),
        );
    }
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "precious");
    assert!(!Path::new("curves.gif").exists());
    assert_no_temp_files(&dir);
}

/// Python, in the project's venv, with a checkpoint helper: `save(path, tensors, metadata)`.
fn python_with(code: &str) -> String {
    python_eval(&format!(
        "import json, torch\nfrom safetensors import safe_open\nfrom safetensors.torch import save_file, load_file\n\
         def meta_of(p):\n    with safe_open(p, 'pt') as f:\n        return f.metadata()\n{code}"
    ))
}

fn confusion(t: &serde_json::Value) -> Vec<Vec<i64>> {
    serde_json::from_value(t["confusion_matrix"].clone()).unwrap()
}

/// The trace without what may differ between two runs of the same evaluation.
fn comparable(mut t: serde_json::Value) -> serde_json::Value {
    t["torch_version"] = serde_json::Value::Null;
    t
}

#[test]
fn evaluate_reproduces_the_training_runs_test_set_and_accuracy_exactly() {
    let dir = temp_dir();
    for (dataset, seed, fraction) in [("breast-cancer", "3", "0.3"), ("digits", "11", "0.2")] {
        let ckpt = dir.join(format!("{dataset}.safetensors"));
        let ckpt = ckpt.to_str().unwrap();
        let split = [
            "--dataset",
            dataset,
            "--seed",
            seed,
            "--test-fraction",
            fraction,
        ];
        let trained = trace(
            BIN,
            &[&split[..], &["--epochs", "4", "--save", ckpt]].concat(),
        );
        // Nothing but the checkpoint: the data set, split and standardisation come from it.
        let evaluated = trace(BIN, &["--load", ckpt, "--evaluate"]);
        assert_eq!(
            evaluated["test_accuracy"], trained["test_accuracy"],
            "{dataset}"
        );
        assert_eq!(
            evaluated["test_accuracy"], trained["epochs"][3]["test_accuracy"],
            "{dataset}: the final epoch's test accuracy"
        );
        assert_eq!(confusion(&evaluated), confusion(&trained), "{dataset}");
        assert_eq!(
            evaluated["dataset"]["test_indices"], trained["dataset"]["test_indices"],
            "{dataset}: the same test samples"
        );
        assert_eq!(evaluated["final_parameters"], trained["final_parameters"]);
        assert_eq!(evaluated["config"]["seed"], seed.parse::<i64>().unwrap());
        assert_eq!(
            evaluated["config"]["test_fraction"],
            fraction.parse::<f64>().unwrap()
        );
        assert_eq!(evaluated["checkpoint"]["metadata"], true);
        // It says so.
        let out = run(BIN, &["--load", ckpt, "--evaluate"]);
        let said = text(&out.stdout);
        assert!(
            said.contains(&format!(
                "evaluating, no training; the split and standardisation are the training run's, from the checkpoint ({dataset}, seed {seed}, test fraction {fraction})"
            )),
            "{said}"
        );
        // Options that agree with the checkpoint are accepted, and change nothing.
        let agreeing = trace(BIN, &[&["--load", ckpt, "--evaluate"][..], &split].concat());
        assert_eq!(agreeing, evaluated);
        // PyTorch reads the same checkpoint to the same trace, value for value.
        let py = python_trace(&["classify", "--load", ckpt, "--evaluate"]);
        assert_eq!(comparable(py), comparable(evaluated.clone()), "{dataset}");
        // PyTorch's own checkpoint of the same run is read by Rust to the same result.
        let py_ckpt = dir.join(format!("{dataset}-py.safetensors"));
        let py_ckpt = py_ckpt.to_str().unwrap();
        let train_args = ["--epochs", "4", "--save", py_ckpt];
        let py_trained = python_trace(&[&["classify"][..], &split, &train_args].concat());
        assert_eq!(comparable(py_trained), comparable(trained.clone()));
        let rs = trace(BIN, &["--load", py_ckpt, "--evaluate"]);
        assert_eq!(comparable(rs), comparable(evaluated));
        // Training on from a checkpoint keeps its split: the same test set.
        let more = trace(BIN, &["--load", ckpt, "--epochs", "1"]);
        assert_eq!(
            more["dataset"]["test_indices"],
            trained["dataset"]["test_indices"]
        );
    }
    // What PyTorch sees: nn.Linear's state_dict, with the run in the metadata.
    let ckpt = dir.join("breast-cancer.safetensors");
    let seen = python_with(&format!(
        "p = {:?}\nm = torch.nn.Linear(30, 1)\nprint(m.load_state_dict(load_file(p)))\n\
         meta = meta_of(p)\nprint(sorted(meta))\nprint(meta['dataset'], meta['seed'], meta['test_fraction'])\n\
         print(len(json.loads(meta['scaler.mean'])), len(json.loads(meta['scaler.std'])))",
        ckpt.to_str().unwrap()
    ));
    assert_eq!(
        seen,
        "<All keys matched successfully>\n\
         ['checkpoint', 'classes', 'dataset', 'features', 'format', 'scaler.mean', 'scaler.std', 'seed', 'test_fraction']\n\
         breast-cancer 3 0.3\n30 30\n"
    );
}

#[test]
fn evaluate_refuses_options_that_contradict_the_checkpoint_or_train() {
    let dir = temp_dir();
    let ckpt = &saved(&dir, "m.safetensors", BREAST_CANCER_1);
    let ev = ["--load", ckpt, "--evaluate"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--dataset", "digits"],
            "--dataset digits contradicts the checkpoint",
        ),
        (vec!["--seed", "1"], "--seed 1 contradicts the checkpoint"),
        (
            vec!["--test-fraction", "0.9"],
            "--test-fraction 0.9 contradicts the checkpoint",
        ),
        (
            vec!["--epochs", "3"],
            "cannot be used with '--epochs <EPOCHS>'",
        ),
        (vec!["--lr", "0.5"], "cannot be used with '--lr <LR>'"),
        (vec!["--momentum", "0.9"], "cannot be used with '--momentum"),
        (
            vec!["--weight-decay", "0.1"],
            "cannot be used with '--weight-decay",
        ),
        (
            vec!["--batch-size", "8"],
            "cannot be used with '--batch-size",
        ),
        (vec!["--allow-nan"], "cannot be used with '--allow-nan'"),
        (
            vec!["--save", "x.safetensors"],
            "cannot be used with '--save",
        ),
    ];
    for (extra, needle) in &cases {
        let args = [&ev[..], extra].concat();
        let what = format!("classify {args:?}");
        let rs = run(BIN, &args);
        assert_clean_failure(&rs, 2, needle, &what);
        let first = text(&rs.stderr).lines().next().unwrap().to_string();
        if needle.contains("contradicts") {
            // Both values named: the option's and the checkpoint's.
            let saved = match extra[0] {
                "--dataset" => "trained on breast-cancer",
                "--seed" => "trained with seed 0",
                _ => "trained with test fraction 0.25",
            };
            assert!(first.contains(saved), "{first}");
        }
        let py = reference(&[&["classify"][..], &args].concat());
        assert_eq!(py.status.code(), Some(2), "python {what}");
        assert_eq!(
            text(&py.stderr).lines().next().unwrap(),
            first,
            "python {what}"
        );
    }
    // The same contradictions when training on from the checkpoint.
    assert_clean_failure(
        &run(BIN, &["--load", ckpt, "--seed", "2"]),
        2,
        "--seed 2 contradicts",
        "train on",
    );
    assert!(!Path::new("x.safetensors").exists());
}

#[test]
fn checkpoints_of_every_float_dtype_load_on_both_sides_and_others_are_refused() {
    let dir = temp_dir();
    let rust_ckpt = saved(
        &dir,
        "rust.safetensors",
        &["--dataset", "breast-cancer", "--epochs", "2"],
    );
    // PyTorch writes each file: random float64 values cast to the dtype, with the Rust
    // checkpoint's metadata (so that the split is known), and without any (a plain state_dict).
    python_with(&format!(
        "meta = meta_of({rust:?})\ntorch.manual_seed(0)\n\
         state = {{'weight': torch.randn(1, 30, dtype=torch.float64), 'bias': torch.randn(1, dtype=torch.float64)}}\n\
         for name in ['float16', 'bfloat16', 'float32', 'float64', 'int64', 'int32', 'uint8', 'bool']:\n    \
             d = getattr(torch, name)\n    s = {{k: v.to(d) for k, v in state.items()}}\n    \
             save_file(s, {dir:?} + '/' + name + '.safetensors', metadata=meta)\n\
         save_file(torch.nn.Linear(30, 1).half().state_dict(), {dir:?} + '/plain-half.safetensors')",
        rust = rust_ckpt,
        dir = dir.to_str().unwrap()
    ));
    let file = |name: &str| {
        dir.join(format!("{name}.safetensors"))
            .to_str()
            .unwrap()
            .to_string()
    };
    for dtype in ["float16", "bfloat16", "float32", "float64"] {
        let path = file(dtype);
        let rs = trace(BIN, &["--load", &path, "--evaluate"]);
        let py = python_trace(&["classify", "--load", &path, "--evaluate"]);
        // The parameters after the cast, bit for bit as load_state_dict's copy_ makes them.
        assert_eq!(comparable(rs.clone()), comparable(py), "{dtype}");
        assert_eq!(rs["checkpoint"]["dtype"], dtype);
        let expected = python_with(&format!(
            "s = load_file({path:?})\nprint(json.dumps(s['weight'].float().double().flatten().tolist()))"
        ));
        let expected: Vec<f64> = serde_json::from_str(expected.trim()).unwrap();
        assert_eq!(nums(&rs["final_parameters"]["weight"]), expected, "{dtype}");
        let line = text(&run(BIN, &["--load", &path, "--evaluate"]).stdout);
        let cast = if dtype == "float32" {
            "(float32)".to_string()
        } else {
            format!("({dtype}, cast to float32)")
        };
        assert!(
            line.contains(&format!("loaded {path} {cast}: evaluating")),
            "{line}"
        );
    }
    // float64 values are rounded to float32 (not all of them are float32 values already).
    let w64: Vec<f64> = serde_json::from_str(
        python_with(&format!(
            "print(json.dumps(load_file({:?})['weight'].flatten().tolist()))",
            file("float64")
        ))
        .trim(),
    )
    .unwrap();
    assert!(w64.iter().any(|&v| v as f32 as f64 != v));
    for dtype in ["int64", "int32", "uint8", "bool"] {
        let path = file(dtype);
        let needle = format!("bias is {dtype}; only float16, bfloat16, float32 and float64 load");
        let rs = run(BIN, &["--load", &path, "--evaluate"]);
        assert_clean_failure(&rs, 1, &needle, dtype);
        let py = reference(&["classify", "--load", &path, "--evaluate"]);
        assert_eq!(py.status.code(), Some(1), "python {dtype}");
        assert_eq!(
            text(&py.stderr).lines().next(),
            text(&rs.stderr).lines().next(),
            "python {dtype}"
        );
    }
    // A plain state_dict (PyTorch's save_file, or an older classify) has no metadata: refused,
    // unless --plain-checkpoint says to use this run's split.
    let plain = file("plain-half");
    for side in ["rust", "python"] {
        let out = if side == "rust" {
            run(
                BIN,
                &["--dataset", "breast-cancer", "--load", &plain, "--evaluate"],
            )
        } else {
            reference(&[
                "classify",
                "--dataset",
                "breast-cancer",
                "--load",
                &plain,
                "--evaluate",
            ])
        };
        assert_clean_failure(&out, 1, "carries no training metadata", side);
        assert!(text(&out.stderr).contains("--plain-checkpoint"));
    }
    let args = [
        "--dataset",
        "breast-cancer",
        "--load",
        &plain,
        "--evaluate",
        "--plain-checkpoint",
    ];
    let rs = trace(BIN, &args);
    let py = python_trace(&[&["classify"][..], &args].concat());
    assert_eq!(comparable(rs.clone()), comparable(py));
    assert_eq!(
        rs["checkpoint"],
        serde_json::json!({"dtype": "float16", "metadata": false})
    );
    let said = text(&run(BIN, &args).stdout);
    assert!(
        said.contains(
            "(float16, cast to float32): evaluating, no training; the checkpoint has no metadata"
        ),
        "{said}"
    );
    assert_clean_failure(
        &run(BIN, &["--load", &plain, "--evaluate", "--plain-checkpoint"]),
        1,
        "weight has shape [1, 30], expected [10, 64]",
        "plain checkpoint on the wrong data set",
    );
}

#[test]
fn checkpoints_with_lying_metadata_are_refused_on_both_sides() {
    let dir = temp_dir();
    let good = &saved(&dir, "good.safetensors", BREAST_CANCER_1);
    // (file, metadata key, value or None to remove it, expected message)
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "features",
            "features",
            Some("64"),
            "metadata features \"64\" does not match data set breast-cancer (30 features)",
        ),
        (
            "classes",
            "classes",
            Some("10"),
            "metadata classes \"10\" does not match",
        ),
        (
            "dataset",
            "dataset",
            Some("mnist"),
            "metadata dataset \"mnist\" is not a data set of classify",
        ),
        (
            "digits",
            "dataset",
            Some("digits"),
            "metadata features \"30\" does not match data set digits",
        ),
        (
            "seed",
            "seed",
            Some("zero"),
            "metadata seed \"zero\" is not a seed",
        ),
        (
            "fraction",
            "test_fraction",
            Some("1.5"),
            "metadata test_fraction \"1.5\" is not a number between 0 and 1",
        ),
        (
            "json",
            "scaler.mean",
            Some("[1.0, 2.0"),
            "metadata scaler.mean is not a JSON list of 30 finite float32 values",
        ),
        (
            "short",
            "scaler.mean",
            Some("[1.0, 2.0]"),
            "metadata scaler.mean is not a JSON list of 30",
        ),
        (
            "nan",
            "scaler.std",
            Some("NAN"),
            "metadata scaler.std is not a JSON list of 30 positive finite float32 values",
        ),
        (
            "huge",
            "scaler.mean",
            Some("HUGE"),
            "metadata scaler.mean is not a JSON list of 30 finite",
        ),
        (
            "zero",
            "scaler.std",
            Some("ZERO"),
            "scaler.std is not a JSON list of 30 positive",
        ),
        (
            "missing",
            "scaler.std",
            None,
            "its metadata lacks \"scaler.std\"",
        ),
        (
            "version",
            "checkpoint",
            Some("classify 9"),
            "metadata checkpoint is \"classify 9\", expected \"classify 1\"",
        ),
        (
            "ulp",
            "scaler.mean",
            Some("ULP"),
            "its standardisation (scaler.mean, scaler.std) is not that of the training split",
        ),
    ];
    let mut code = format!("meta = meta_of({good:?})\ns = load_file({good:?})\nstd = json.loads(meta['scaler.std'])\nmean = json.loads(meta['scaler.mean'])\n");
    code += "import struct\nup = lambda v: struct.unpack('<f', struct.pack('<i', struct.unpack('<i', struct.pack('<f', v))[0] + 1))[0]\n";
    code += "special = {'NAN': json.dumps(std[:-1] + [float('nan')]), 'HUGE': json.dumps(mean[:-1] + [1e39]), \
             'ZERO': json.dumps(std[:-1] + [0.0]), 'ULP': json.dumps([up(mean[0])] + mean[1:])}\n";
    for (name, key, value, _) in cases {
        let value = match value {
            Some(v) => format!("special.get({v:?}, {v:?})"),
            None => "None".to_string(),
        };
        code += &format!(
            "m = dict(meta)\nv = {value}\nif v is None: del m[{key:?}]\nelse: m[{key:?}] = v\n\
             save_file(s, {:?}, metadata=m)\n",
            dir.join(format!("{name}.safetensors")).to_str().unwrap()
        );
    }
    python_with(&code);
    for (name, _, _, needle) in cases {
        let path = dir.join(format!("{name}.safetensors"));
        let path = path.to_str().unwrap();
        let rs = run(BIN, &["--load", path, "--evaluate"]);
        assert_clean_failure(&rs, 1, needle, name);
        let py = reference(&["classify", "--load", path, "--evaluate"]);
        assert_eq!(
            py.status.code(),
            Some(1),
            "python {name}: {}",
            text(&py.stderr)
        );
        assert_eq!(
            text(&py.stderr).lines().next(),
            text(&rs.stderr).lines().next(),
            "python {name}"
        );
    }
}

/// The same training saves the same bytes: the header's keys are sorted (safetensors alone
/// writes the metadata in a hash map's order, different on every run).
#[test]
fn the_same_training_saves_the_same_bytes() {
    let dir = tempfile::TempDir::new().unwrap();
    let saved: Vec<Vec<u8>> = ["a", "b"]
        .iter()
        .map(|name| {
            let path = dir.path().join(format!("{name}.safetensors"));
            let p = path.to_str().unwrap();
            run_ok(
                env!("CARGO_BIN_EXE_classify"),
                &["--epochs", "1", "--save", p],
            );
            std::fs::read(&path).unwrap()
        })
        .collect();
    assert!(saved[0] == saved[1], "two saves of one training differ");
    let header_len = u64::from_le_bytes(saved[0][..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(saved[0][8..8 + header_len].to_vec()).unwrap();
    assert!(
        header.starts_with(r#"{"__metadata__":{"checkpoint":"classify 1","classes":"10","#),
        "{header}"
    );
}
