//! The tests run `reference.py` warm (tests/common's `reference`, scripts/twin/warm.py): a case
//! runs in a fork of a server that has imported torch already. Here each case also runs cold, as
//! a user runs it, and both must print the same bytes and end with the same status.
mod common;
use common::*;
use std::process::Stdio;

const CASES: &[&[&str]] = &[
    &["softmax", "--epochs", "3"],
    &["softmax", "--epochs", "2", "--json", "-"],
    &["softmax", "--epochs", "x"],
    &["softmax", "--json", "/nonexistent/trace.json"],
    &["softmax", "--lr", "1e30", "--epochs", "3"],
    &["autograd_demo", "--json", "-"],
    &["no_such_program"],
];

/// The tests here count the server's cases: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_warm_case_prints_and_ends_as_a_cold_process() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for args in CASES {
        let before = warm_served();
        let warm = output_within(reference_command().args(*args).stdin(Stdio::null()));
        assert_eq!(warm_served(), before + 1, "{args:?} did not run warm");
        let cold = output_within(reference_cold_command().args(*args).stdin(Stdio::null()));
        assert_eq!(warm.status, cold.status, "{args:?}: {}", text(&warm.stderr));
        assert_eq!(text(&warm.stderr), text(&cold.stderr), "{args:?}");
        assert_eq!(text(&warm.stdout), text(&cold.stdout), "{args:?}");
    }
}

/// A case whose environment differs from the server's runs cold (a new interpreter sees the
/// variable at start), and so does one with a lower limit: both still give the right answer.
#[test]
fn a_case_the_server_cannot_reproduce_runs_cold() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let plain = reference(&["softmax", "--epochs", "2"]);
    let before = warm_served();
    let other_env = output_within(
        reference_command()
            .args(["softmax", "--epochs", "2"])
            .env("LESSON_TORCH_WARM_TEST", "1")
            .stdin(Stdio::null()),
    );
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert_eq!(text(&other_env.stdout), text(&plain.stdout));
    assert_eq!(warm_served(), before, "a different environment ran warm");
    let dir = tempfile::TempDir::new().unwrap();
    let trace = dir.path().join("trace.json");
    let mut limited = std::process::Command::new("prlimit");
    limited.arg("--fsize=100").arg("--").arg(python());
    limited.args(reference_command().get_args());
    let out = output_within(
        limited
            .args(["softmax", "--epochs", "2", "--json"])
            .arg(&trace)
            .current_dir(root())
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("File too large") && !trace.exists(),
        "{}",
        text(&out.stderr)
    );
}
