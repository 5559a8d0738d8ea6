//! `classify` on the real data sets: the accuracy bars, checkpoints that PyTorch reads (and the
//! reverse), and bad input.
mod common;
use common::*;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_classify");

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
    let dir = temp_dir("classify-ckpt");
    let rust_ckpt = dir.join("rust.safetensors");
    let py_ckpt = dir.join("python.safetensors");
    for dataset in ["digits", "breast-cancer"] {
        let trained = run(
            BIN,
            &[
                "--dataset",
                dataset,
                "--epochs",
                "5",
                "--save",
                rust_ckpt.to_str().unwrap(),
            ],
        );
        assert!(trained.status.success(), "{}", text(&trained.stderr));
        let trained_line = last_line(&trained.stdout);
        assert!(trained_line.starts_with("test accuracy "), "{trained_line}");
        // Rust's checkpoint, evaluated by PyTorch: the same test accuracy line.
        let py = reference(&[
            "classify",
            "--dataset",
            dataset,
            "--load",
            rust_ckpt.to_str().unwrap(),
            "--evaluate",
        ]);
        assert!(py.status.success(), "{}", text(&py.stderr));
        assert_eq!(
            last_line(&py.stdout),
            trained_line,
            "{dataset}: PyTorch reads Rust's checkpoint"
        );
        let rs = run(
            BIN,
            &[
                "--dataset",
                dataset,
                "--load",
                rust_ckpt.to_str().unwrap(),
                "--evaluate",
            ],
        );
        assert_eq!(last_line(&rs.stdout), trained_line);
        // And the reverse: PyTorch's checkpoint, evaluated by Rust.
        let py_trained = reference(&[
            "classify",
            "--dataset",
            dataset,
            "--epochs",
            "3",
            "--seed",
            "5",
            "--save",
            py_ckpt.to_str().unwrap(),
        ]);
        assert!(py_trained.status.success(), "{}", text(&py_trained.stderr));
        let rs = run(
            BIN,
            &[
                "--dataset",
                dataset,
                "--seed",
                "5",
                "--load",
                py_ckpt.to_str().unwrap(),
                "--evaluate",
            ],
        );
        assert!(rs.status.success(), "{}", text(&rs.stderr));
        assert_eq!(
            last_line(&rs.stdout),
            last_line(&py_trained.stdout),
            "{dataset}: Rust reads PyTorch's checkpoint"
        );
    }
    // The names are nn.Linear's state_dict names, as PyTorch sees them.
    let keys = python_eval(&format!(
        "from safetensors.torch import load_file\nprint(sorted(load_file({:?}).keys()))",
        rust_ckpt.to_str().unwrap()
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
    let dir = temp_dir("classify-bad");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // Checkpoints of every wrong kind.
    std::fs::write(p("text.safetensors"), "this is not a checkpoint at all").unwrap();
    std::fs::write(p("empty.safetensors"), "").unwrap();
    let good = p("digits.safetensors");
    assert!(run(BIN, &["--epochs", "1", "--save", &good])
        .status
        .success());
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(p("truncated.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    python_eval(&format!(
        "import torch\nfrom safetensors.torch import save_file\n\
         save_file({{'w': torch.zeros(10, 64), 'b': torch.zeros(10)}}, {:?})",
        p("names.safetensors")
    ));
    // Data files of every wrong kind.
    let data = |name: &str, content: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("breast_cancer.csv"), content).unwrap();
        d.to_str().unwrap().to_string()
    };
    let header = (0..30)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",target\n";
    let row = |label: &str| vec!["1.0"; 30].join(",") + "," + label + "\n";
    let short = data("short", &format!("{header}1.0,2.0,0\n"));
    let label = data("label", &format!("{header}{}{}", row("1"), row("7")));
    let nan = data(
        "nan",
        &format!("{header}{}", row("0").replacen("1.0", "nan", 1)),
    );
    let empty = data("empty", "");
    // An existing output file, which no failure may touch.
    let keep = p("keep.safetensors");
    std::fs::write(&keep, "precious").unwrap();
    let bc = ["--dataset", "breast-cancer"];
    let (text_ckpt, empty_ckpt) = (p("text.safetensors"), p("empty.safetensors"));
    let (truncated_ckpt, names_ckpt) = (p("truncated.safetensors"), p("names.safetensors"));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--dataset", "mnist"], 2, "mnist"),
        (vec!["--batch-size", "0"], 2, "--batch-size"),
        (
            vec!["--batch-size", "5000", "--save", &keep],
            2,
            "larger than the training set (1346 samples)",
        ),
        (vec!["--test-fraction", "1"], 2, "--test-fraction"),
        (vec!["--test-fraction", "0"], 2, "--test-fraction"),
        (vec!["--momentum", "-0.5"], 2, "--momentum"),
        (vec!["--weight-decay", "nan"], 2, "--weight-decay"),
        (vec!["--evaluate"], 2, "--load"),
        (vec!["--plot", "curves.gif"], 2, "unknown extension"),
        (
            vec!["--load", "/nonexistent.safetensors"],
            1,
            "cannot read checkpoint",
        ),
        (
            vec!["--load", &text_ckpt],
            1,
            "not a valid safetensors file",
        ),
        (vec!["--load", &empty_ckpt], 1, "too short"),
        (
            vec!["--load", &truncated_ckpt],
            1,
            "not a valid safetensors file",
        ),
        (
            vec!["--load", &names_ckpt],
            1,
            "expected exactly \"weight\" and \"bias\"",
        ),
        (
            vec!["--dataset", "breast-cancer", "--load", &good],
            1,
            "shape",
        ),
        (
            vec!["--save", "/nonexistent-folder/m.safetensors"],
            1,
            "cannot write",
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
        (
            vec!["--data-dir", "/nonexistent-folder"],
            1,
            "run scripts/setup.sh",
        ),
        (
            [&bc[..], &["--data-dir", &short]].concat(),
            1,
            "line 2: 3 fields, expected 31",
        ),
        (
            [&bc[..], &["--data-dir", &label]].concat(),
            1,
            "line 3: label 7 is out of range 0..1",
        ),
        (
            [&bc[..], &["--data-dir", &nan]].concat(),
            1,
            "line 2, column 1: 'nan' is not a finite number",
        ),
        ([&bc[..], &["--data-dir", &empty]].concat(), 1, "is empty"),
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
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
