//! Helpers for the integration tests: run a binary or the Python reference (from the `.venv`).
#![allow(dead_code)]
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's Python, with PyTorch 2.11.0 (made by scripts/setup.sh).
pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "no .venv: run scripts/setup.sh first");
    p
}

pub fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run binary")
}

pub fn reference(args: &[&str]) -> Output {
    Command::new(python())
        .arg(root().join("scripts/reference.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run reference.py")
}

/// Runs a Python snippet in the project's venv and returns its stdout.
pub fn python_eval(code: &str) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a clean failure: the exit code, one line on stderr containing `needle`, no panic.
pub fn assert_clean_failure(out: &Output, code: i32, needle: &str, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit status {:?}, stderr: {stderr}",
        out.status
    );
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: "),
        "{what}: first stderr line {first:?}"
    );
    assert!(
        first.contains(needle),
        "{what}: {first:?} does not name {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("terminate called"),
        "{what}: {stderr}"
    );
    assert!(
        stderr.lines().count() <= 2,
        "{what}: more than one line of error: {stderr}"
    );
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lesson-torch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Runs a program with `--json -` and returns its trace.
pub fn trace(bin: &str, args: &[&str]) -> Value {
    let all = [args, &["--json", "-"]].concat();
    let out = run(bin, &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `reference.py` with `--json -` and returns its trace.
pub fn python_trace(args: &[&str]) -> Value {
    let all = [args, &["--json", "-"]].concat();
    let out = reference(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The values of the walkthrough block whose title starts with `prefix`.
pub fn block<'a>(trace: &'a Value, prefix: &str) -> &'a Value {
    let blocks = trace["blocks"].as_array().unwrap();
    &blocks
        .iter()
        .find(|b| b["title"].as_str().unwrap().starts_with(prefix))
        .unwrap()["values"]
}

/// A number of a trace (NaN and infinities are the strings "nan", "inf", "-inf").
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

/// Every number of a (nested) list, flattened.
pub fn nums(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(nums).collect(),
        other => vec![num(other)],
    }
}
