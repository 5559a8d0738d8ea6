//! SIGINT or SIGTERM during training: the program stops between two steps with one line and
//! status 128 + signal; an existing output file is untouched and no temp file is left behind.
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn interrupt(bin: &str, args: &[&str], signal: &str, code: i32, existing: &std::path::Path) {
    std::fs::write(existing, "precious").unwrap();
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{bin} {signal}: {:?} {stderr}",
        out.status
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by SIG{signal}")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(existing).unwrap(),
        "precious",
        "the old file is untouched"
    );
    let dir = existing.parent().unwrap();
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

#[test]
fn sigterm_and_sigint_stop_training_and_lose_nothing() {
    let dir = temp_dir("interrupt");
    let json = dir.join("trace.json");
    let ckpt = dir.join("model.safetensors");
    let j = json.to_str().unwrap();
    interrupt(
        env!("CARGO_BIN_EXE_softmax"),
        &["--epochs", "100000000", "--json", j],
        "TERM",
        143,
        &json,
    );
    interrupt(
        env!("CARGO_BIN_EXE_softmax"),
        &["--epochs", "100000000", "--json", j],
        "INT",
        130,
        &json,
    );
    let c = ckpt.to_str().unwrap();
    interrupt(
        env!("CARGO_BIN_EXE_classify"),
        &["--epochs", "100000", "--save", c, "--json", j],
        "TERM",
        143,
        &ckpt,
    );
    interrupt(
        env!("CARGO_BIN_EXE_fc_demo"),
        &["--steps", "100000000", "--json", j],
        "INT",
        130,
        &json,
    );
}
