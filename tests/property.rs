//! Random valid options of every program keep parity with the Python reference: the same
//! printed text and the same JSON trace, bit for bit. proptest draws the options (from a fixed
//! seed, so CI runs the same cases), shrinks a failure to its smallest options and records it in
//! `tests/property.regressions`, which later runs try first.
mod common;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use serde_json::Value;

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(2026),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        // Each case runs two processes; shrinking a failure needs only a few dozen more.
        max_shrink_iters: 64,
        ..Config::default()
    }
}

fn without_version(mut v: Value) -> Value {
    v["torch_version"] = Value::Null;
    v
}

/// Runs the Rust program and `reference.py` with `args` and `--json FILE` (the text still goes
/// to stdout): both must succeed, print the same text and write the same trace.
fn same_on_both_sides(program: &str, args: &[String]) -> Result<(), TestCaseError> {
    let dir = tempfile::TempDir::new().unwrap();
    let (rust_json, python_json) = (dir.path().join("rust.json"), dir.path().join("python.json"));
    let with_json = |path: &std::path::Path| {
        let mut all: Vec<String> = args.to_vec();
        all.extend(["--json".to_string(), path.to_str().unwrap().to_string()]);
        all
    };
    let rust_args = with_json(&rust_json);
    let python_args = with_json(&python_json);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(program);
    let rust = run(
        bin.to_str().unwrap(),
        &rust_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let python = reference(
        &[
            &[program],
            &python_args.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    prop_assert_eq!(
        rust.status.code(),
        python.status.code(),
        "status of {} {:?}: rust stderr {}, python stderr {}",
        program,
        args,
        text(&rust.stderr),
        text(&python.stderr)
    );
    prop_assert!(
        rust.status.success(),
        "{} {:?}: {}",
        program,
        args,
        text(&rust.stderr)
    );
    prop_assert_eq!(
        text(&rust.stdout),
        text(&python.stdout),
        "text of {} {:?}",
        program,
        args
    );
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    // serde_json reads both texts back to the same f64 only if the numbers are bit-identical.
    prop_assert_eq!(
        without_version(read(&rust_json)),
        without_version(read(&python_json)),
        "trace of {} {:?}",
        program,
        args
    );
    Ok(())
}

/// A learning rate from 10^lo to 10^hi, log-uniform, as both sides parse it back.
fn lr(lo: f64, hi: f64) -> impl Strategy<Value = String> {
    (0u32..10_000)
        .prop_map(move |k| format!("{:.6e}", 10f64.powf(lo + (hi - lo) * k as f64 / 10_000.0)))
}

fn strings(args: &[(&str, String)], flags: &[(&str, bool)]) -> Vec<String> {
    let mut all = Vec::new();
    for (name, value) in args {
        all.push(name.to_string());
        all.push(value.clone());
    }
    for (name, on) in flags {
        if *on {
            all.push(name.to_string());
        }
    }
    all
}

proptest! {
    #![proptest_config(config(6))]

    /// Up to lr 1e3: some runs diverge, and --allow-nan must print nan/inf as Python does.
    #[test]
    fn softmax_keeps_parity(
        seed in 0u64..1_000_000, epochs in 1u32..80, lr in lr(-4.0, 3.0),
        samples in 1u32..64, logits in any::<bool>(),
    ) {
        let args = strings(
            &[("--seed", seed.to_string()), ("--epochs", epochs.to_string()), ("--lr", lr),
              ("--samples", samples.to_string())],
            &[("--logits", logits), ("--allow-nan", true)],
        );
        same_on_both_sides("softmax", &args)?;
    }

    #[test]
    fn fc_demo_keeps_parity(
        seed in 0u64..1_000_000, lr in lr(-5.0, 1.5), steps in 1u32..60,
    ) {
        let args = strings(
            &[("--seed", seed.to_string()), ("--lr", lr), ("--steps", steps.to_string())],
            &[("--allow-nan", true)],
        );
        same_on_both_sides("fc_demo", &args)?;
    }
}

proptest! {
    #![proptest_config(config(3))]

    #[test]
    fn activations_keeps_parity(
        points in 2u32..40, seed in 0u64..1_000_000, epochs in 1u32..40,
    ) {
        let args = strings(
            &[("--points", points.to_string()), ("--seed", seed.to_string()),
              ("--epochs", epochs.to_string())],
            &[],
        );
        same_on_both_sides("activations", &args)?;
    }

    #[test]
    fn classify_keeps_parity(
        digits in any::<bool>(), seed in 0u64..1_000_000, epochs in 1u32..3,
        batch_size in 1u32..200, lr in lr(-3.0, 0.5), momentum in 0u32..95,
        weight_decay in 0u32..100, test_fraction in 10u32..50,
    ) {
        let dataset = if digits { "digits" } else { "breast-cancer" };
        let args = strings(
            &[("--dataset", dataset.to_string()), ("--seed", seed.to_string()),
              ("--epochs", epochs.to_string()), ("--batch-size", batch_size.to_string()),
              ("--lr", lr), ("--momentum", format!("{}", momentum as f64 / 100.0)),
              ("--weight-decay", format!("{}", weight_decay as f64 / 10_000.0)),
              ("--test-fraction", format!("{}", test_fraction as f64 / 100.0))],
            &[("--allow-nan", true)],
        );
        same_on_both_sides("classify", &args)?;
    }
}

/// autograd_demo has no numeric option: its one configuration, text and trace.
#[test]
fn autograd_demo_keeps_parity() {
    same_on_both_sides("autograd_demo", &[]).unwrap();
}
