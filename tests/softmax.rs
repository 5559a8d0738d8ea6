//! The `softmax` program against the lesson's Python (run from the `.venv`).
mod common;
use common::*;
use lesson_torch::nn::linear::Linear;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_softmax");

#[test]
fn default_run_prints_the_lessons_70_lines() {
    let rust = run(BIN, &[]);
    assert!(rust.status.success(), "{}", text(&rust.stderr));
    let python = reference(&["softmax"]);
    assert!(python.status.success(), "{}", text(&python.stderr));
    let rust = text(&rust.stdout);
    assert_eq!(rust.lines().count(), 70);
    assert_eq!(rust.lines().next(), Some("epoch 1, loss 1.1055"));
    assert_eq!(rust.lines().last(), Some("epoch 70, loss 0.9738"));
    assert_eq!(rust, text(&python.stdout));
}

#[test]
fn faithful_linear_matches_pytorch_initial_parameters() {
    for (seed, fan_in, fan_out) in [(7i64, 4i64, 3i64), (0, 3, 2), (42, 64, 10), (3, 30, 1)] {
        let code = format!(
            "import torch\ntorch.manual_seed({seed})\nl = torch.nn.Linear({fan_in}, {fan_out})\n\
             print(' '.join(repr(v) for v in l.weight.flatten().tolist() + l.bias.tolist()))"
        );
        let expected: Vec<f32> = python_eval(&code)
            .split_whitespace()
            .map(|v| v.parse::<f64>().unwrap() as f32)
            .collect();
        tch::manual_seed(seed);
        let layer = Linear::new(fan_in, fan_out, tch::Device::Cpu);
        let mut got = Vec::<f32>::try_from(layer.weight.detach().flatten(0, -1)).unwrap();
        got.extend(Vec::<f32>::try_from(layer.bias.detach()).unwrap());
        let to_bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            to_bits(&got),
            to_bits(&expected),
            "seed {seed}, Linear({fan_in}, {fan_out})"
        );
    }
}

#[test]
fn json_trace_has_every_epoch_and_the_gradients() {
    let dir = temp_dir();
    let path = dir.join("trace.json");
    run_ok(
        BIN,
        &[
            "--epochs",
            "5",
            "--logits",
            "--json",
            path.to_str().unwrap(),
        ],
    );
    let trace: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    assert_eq!(trace["losses"].as_array().unwrap().len(), 5);
    assert_eq!(trace["config"]["logits"], true);
    assert_eq!(trace["final_grads"]["weight"].as_array().unwrap().len(), 3);
    assert_eq!(trace["device"], "cpu");
    // `--json -` writes the trace to stdout instead of the text.
    let out = run(BIN, &["--epochs", "2", "--json", "-"]);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trace["losses"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_is_one_clear_line_and_a_nonzero_exit() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--epochs", "0"], 2, "--epochs"),
        (&["--epochs", "-3"], 2, "--epochs"),
        (&["--epochs", "many"], 2, "--epochs"),
        (&["--lr", "0"], 2, "--lr"),
        (&["--lr", "-0.1"], 2, "--lr"),
        (&["--lr", "nan"], 2, "--lr"),
        (&["--lr", "inf"], 2, "--lr"),
        (&["--samples", "0"], 2, "--samples"),
        (&["--device", "tpu"], 2, "unknown device 'tpu'"),
        (&["--device", "cuda:x"], 2, "unknown device"),
        (&["--frobnicate"], 2, "--frobnicate"),
        (
            &["--json", "/nonexistent-folder/trace.json", "--epochs", "1"],
            1,
            "cannot write",
        ),
    ];
    for (args, code, needle) in cases {
        assert_clean_failure(&run(BIN, args), *code, needle, &format!("softmax {args:?}"));
    }
    if tch::Cuda::device_count() == 0 {
        let out = run(BIN, &["--device", "cuda"]);
        assert_clean_failure(&out, 1, "no CUDA device", "softmax --device cuda");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn piping_into_head_ends_quietly() {
    // Enough lines to overflow the pipe buffer, so the program does meet the closed pipe.
    let child = default_signals(
        Command::new(BIN)
            .args(["--epochs", "20000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .spawn();
    let mut child = child.unwrap();
    let _deadline = Deadline::new(child.id(), CHILD_LIMIT, "softmax --epochs 20000 | head -3");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(lines[0], "epoch 1, loss 1.1055");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}
