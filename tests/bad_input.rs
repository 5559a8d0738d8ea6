//! The bad-input matrix: every program, run as a user would, with wrong options, numbers,
//! devices, files and outputs. Each case must end with the right status (2 for usage, 1 at run
//! time), one line on stderr that names the problem, no panic, no abort, no signal death.
mod common;
use common::*;
use std::process::Command;

const SOFTMAX: &str = env!("CARGO_BIN_EXE_softmax");
const AUTOGRAD: &str = env!("CARGO_BIN_EXE_autograd_demo");
const FC: &str = env!("CARGO_BIN_EXE_fc_demo");
const ACTIVATIONS: &str = env!("CARGO_BIN_EXE_activations");
const CLASSIFY: &str = env!("CARGO_BIN_EXE_classify");
const BENCH: &str = env!("CARGO_BIN_EXE_bench");

fn name(bin: &str) -> &str {
    bin.rsplit('/').next().unwrap()
}

#[test]
fn every_bad_input_fails_cleanly() {
    let dir = temp_dir("bad-input-matrix");
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(path("garbage.safetensors"), [0xffu8; 64]).unwrap();
    std::fs::write(path("zero.safetensors"), []).unwrap();
    let data = |folder: &str, content: &str| {
        let d = dir.join(folder);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("digits.csv"), content).unwrap();
        d.to_str().unwrap().to_string()
    };
    let header = (0..64)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",target\n";
    let row = |label: &str| vec!["0.0"; 64].join(",") + "," + label + "\n";
    let out_of_range = data("range", &format!("{header}{}{}", row("3"), row("10")));
    let negative = data("negative", &format!("{header}{}", row("-1")));
    let not_int = data("notint", &format!("{header}{}", row("2.5")));
    let wrong_header = data("header", "a,b,target\n1,2,0\n");
    let inf = data(
        "inf",
        &format!("{header}{}", row("1").replacen("0.0", "inf", 1)),
    );
    let file_as_dir = path("garbage.safetensors") + "/out.json";
    let (zero_ckpt, garbage_ckpt) = (path("zero.safetensors"), path("garbage.safetensors"));

    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        // Unknown and malformed options.
        (SOFTMAX, vec!["--frobnicate"], 2, "--frobnicate"),
        (SOFTMAX, vec!["extra"], 2, "extra"),
        (SOFTMAX, vec!["--epochs"], 2, "--epochs"),
        (AUTOGRAD, vec!["--seed", "1"], 2, "--seed"),
        (FC, vec!["--step", "3"], 2, "--step"),
        (ACTIVATIONS, vec!["--points=abc"], 2, "--points"),
        (CLASSIFY, vec!["--dataset", "mnist"], 2, "mnist"),
        (BENCH, vec!["warp-step"], 2, "warp-step"),
        // Zero, negative, NaN and infinite numbers.
        (SOFTMAX, vec!["--epochs", "0"], 2, "--epochs"),
        (SOFTMAX, vec!["--epochs", "-5"], 2, "--epochs"),
        (SOFTMAX, vec!["--epochs", "1e3"], 2, "--epochs"),
        (SOFTMAX, vec!["--epochs", "99999999999999999999"], 2, "--epochs"),
        (SOFTMAX, vec!["--lr", "0"], 2, "--lr"),
        (SOFTMAX, vec!["--lr", "-1"], 2, "--lr"),
        (SOFTMAX, vec!["--lr", "NaN"], 2, "--lr"),
        (SOFTMAX, vec!["--lr", "inf"], 2, "--lr"),
        (SOFTMAX, vec!["--lr", "-inf"], 2, "--lr"),
        (SOFTMAX, vec!["--samples", "0"], 2, "--samples"),
        (SOFTMAX, vec!["--seed", "-1"], 2, "--seed"),
        (FC, vec!["--steps", "0"], 2, "--steps"),
        (FC, vec!["--lr", "nan"], 2, "--lr"),
        (ACTIVATIONS, vec!["--points", "1"], 2, "--points"),
        (ACTIVATIONS, vec!["--points", "0"], 2, "--points"),
        (CLASSIFY, vec!["--batch-size", "0"], 2, "--batch-size"),
        (CLASSIFY, vec!["--batch-size", "100000"], 2, "larger than the training set"),
        (CLASSIFY, vec!["--test-fraction", "nan"], 2, "--test-fraction"),
        (CLASSIFY, vec!["--test-fraction", "1.5"], 2, "--test-fraction"),
        (CLASSIFY, vec!["--momentum", "inf"], 2, "--momentum"),
        (CLASSIFY, vec!["--weight-decay", "-1"], 2, "--weight-decay"),
        (CLASSIFY, vec!["--test-fraction", "0.0001"], 1, "empty test set"),
        // Unavailable or malformed devices.
        (SOFTMAX, vec!["--device", "tpu"], 2, "unknown device"),
        (SOFTMAX, vec!["--device", "cuda:"], 2, "unknown device"),
        (SOFTMAX, vec!["--device", "CUDA"], 2, "unknown device"),
        (SOFTMAX, vec!["--device", "cuda:99"], 1, "not available"),
        (AUTOGRAD, vec!["--device", "mps"], 2, "unknown device"),
        (FC, vec!["--device", "cuda:-1"], 2, "unknown device"),
        (ACTIVATIONS, vec!["--device", "cuda:99"], 1, "not available"),
        (CLASSIFY, vec!["--device", "cuda:99"], 1, "not available"),
        // Missing, empty, truncated, wrong-format and wrong-shape input files.
        (CLASSIFY, vec!["--load", "/nonexistent/m.safetensors"], 1, "cannot read checkpoint"),
        (CLASSIFY, vec!["--load", &zero_ckpt], 1, "too short"),
        (CLASSIFY, vec!["--load", &garbage_ckpt], 1, "not a valid safetensors file"),
        (CLASSIFY, vec!["--load", "/etc/hostname"], 1, "checkpoint"),
        (CLASSIFY, vec!["--data-dir", "/nonexistent"], 1, "not found"),
        (CLASSIFY, vec!["--data-dir", &wrong_header], 1, "the header has 3 columns, expected 65"),
        (CLASSIFY, vec!["--data-dir", &inf], 1, "'inf' is not a finite number"),
        // Labels out of range in a data file.
        (CLASSIFY, vec!["--data-dir", &out_of_range], 1, "label 10 is out of range 0..9"),
        (CLASSIFY, vec!["--data-dir", &negative], 1, "label -1 is out of range"),
        (CLASSIFY, vec!["--data-dir", &not_int], 1, "label '2.5' is not an integer"),
        // Outputs in a missing folder, under a file, on a full device, with a wrong extension.
        (SOFTMAX, vec!["--json", "/nonexistent/t.json"], 1, "cannot write"),
        (SOFTMAX, vec!["--json", &file_as_dir], 1, "cannot write"),
        (SOFTMAX, vec!["--json", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        (AUTOGRAD, vec!["--json", "/dev/full"], 1, "No space left on device"),
        (FC, vec!["--json", "/nonexistent/t.json"], 1, "cannot write"),
        (ACTIVATIONS, vec!["--plot", "/nonexistent/p.svg"], 1, "cannot write"),
        (ACTIVATIONS, vec!["--plot", "/dev/full", "--epochs", "1"], 2, "no extension"),
        (ACTIVATIONS, vec!["--plot", "p.bmp"], 2, "unknown extension"),
        (CLASSIFY, vec!["--save", "/nonexistent/m.safetensors"], 1, "cannot write"),
        (CLASSIFY, vec!["--json", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        (CLASSIFY, vec!["--save", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        // Divergence stops with the epoch (or step) named.
        (SOFTMAX, vec!["--logits", "--lr", "1e38"], 1, "training diverged"),
        (FC, vec!["--lr", "10", "--steps", "100"], 1, "the loss is inf at step"),
        (CLASSIFY, vec!["--dataset", "breast-cancer", "--lr", "1e38"], 1, "the loss is nan at epoch 1"),
    ];
    let mut passed = 0;
    for (bin, args, code, needle) in &cases {
        let out = run(bin, args);
        assert_clean_failure(&out, *code, needle, &format!("{} {args:?}", name(bin)));
        passed += 1;
    }
    println!("bad inputs: {} tried, {passed} passed", cases.len());
    assert!(cases.len() >= 40);
}

#[test]
fn every_program_piped_into_head_ends_quietly() {
    let programs = [
        "softmax --epochs 30000",
        "autograd_demo",
        "fc_demo --steps 5000",
        "activations --points 5000",
        "classify --dataset breast-cancer --epochs 3",
        "softmax --epochs 3000 --json -",
    ];
    for program in programs {
        let (bin, args) = program.split_once(' ').unwrap_or((program, ""));
        let exe = root().join("target/release").join(bin);
        let exe = if exe.exists() {
            exe
        } else {
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(bin)
        };
        let shell = format!(
            "{} {args} | head -1 > /dev/null; echo ${{PIPESTATUS[0]}}",
            exe.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&shell)
            .current_dir(root())
            .output()
            .unwrap();
        let status: i32 = text(&out.stdout).trim().parse().unwrap();
        let stderr = text(&out.stderr);
        assert!(
            status == 0 || status == 141,
            "{program} | head -1: status {status}, stderr {stderr}"
        );
        assert!(stderr.is_empty(), "{program} | head -1: {stderr}");
    }
}
