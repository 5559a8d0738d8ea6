//! SIGINT or SIGTERM during a long run of every program: it stops between two steps with one
//! line and status 128 + signal, soon after the signal; an existing output file is untouched
//! and no temp file is left behind. The signal is sent only once the program has printed its
//! first line (so it is known to be running its loop), never after a fixed sleep.
mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the loops check between steps of milliseconds; this only rules out "never".
const STOP_WITHIN: Duration = Duration::from_secs(3);

fn spawn_and_wait_for_first_line(
    bin: &str,
    args: &[&str],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "{bin} {args:?} printed nothing");
    (child, stdout)
}

fn kill(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Reads the rest of stdout in a thread (so a full pipe never blocks the program), waits.
fn finish(
    mut child: Child,
    mut stdout: BufReader<std::process::ChildStdout>,
) -> (std::process::ExitStatus, String) {
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut sink);
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    drain.join().unwrap();
    (status, stderr)
}

fn interrupt(bin: &str, args: &[&str], signal: &str, code: i32, existing: &Path) {
    std::fs::write(existing, "precious").unwrap();
    let (child, stdout) = spawn_and_wait_for_first_line(bin, args);
    let sent = Instant::now();
    kill(child.id(), signal);
    let (status, stderr) = finish(child, stdout);
    let took = sent.elapsed();
    let what = format!("{} {args:?} SIG{signal}", bin.rsplit('/').next().unwrap());
    assert_eq!(status.code(), Some(code), "{what}: {status:?} {stderr}");
    assert!(took < STOP_WITHIN, "{what}: took {took:?} to stop");
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(
        stderr.contains(&format!("interrupted by SIG{signal}")),
        "{what}: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(existing).unwrap(),
        "precious",
        "{what}: the old file is untouched"
    );
    let dir = existing.parent().unwrap();
    let others: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n) != existing.file_name().unwrap())
        .collect();
    assert!(others.is_empty(), "{what}: files left: {others:?}");
}

/// Runs `bin args FLAG DIR/NAME` (an output that exists before, in a folder of its own) and
/// interrupts it with SIGTERM, then again with SIGINT.
fn both_signals(bin: &str, args: &[&str], flag: &str, name: &str) {
    let dir = tempfile::TempDir::new().unwrap();
    let output = dir.path().join(name);
    let mut args = args.to_vec();
    args.extend([flag, output.to_str().unwrap()]);
    interrupt(bin, &args, "TERM", 143, &output);
    interrupt(bin, &args, "INT", 130, &output);
}

#[test]
fn softmax_stops_on_both_signals() {
    let long = ["--epochs", "10000000000"];
    both_signals(env!("CARGO_BIN_EXE_softmax"), &long, "--json", "trace.json");
}

#[test]
fn fc_demo_stops_on_both_signals() {
    let long = ["--steps", "10000000000"];
    both_signals(env!("CARGO_BIN_EXE_fc_demo"), &long, "--json", "trace.json");
}

#[test]
fn activations_stops_on_both_signals() {
    let long = ["--epochs", "10000000000"];
    both_signals(
        env!("CARGO_BIN_EXE_activations"),
        &long,
        "--plot",
        "plot.svg",
    );
}

#[test]
fn classify_stops_on_both_signals() {
    let long = ["--dataset", "breast-cancer", "--epochs", "1000000000"];
    let bin = env!("CARGO_BIN_EXE_classify");
    both_signals(bin, &long, "--save", "model.safetensors");
}

/// A second signal ends the process at once, even in the middle of a long step where no loop
/// checks: an epoch on 20 million samples lasts far longer than two `kill`s in a row.
#[test]
fn a_second_sigint_ends_at_once() {
    let (child, stdout) = spawn_and_wait_for_first_line(
        env!("CARGO_BIN_EXE_softmax"),
        &["--samples", "20000000", "--epochs", "1000"],
    );
    // Two signals 0.2 s apart: close enough to land in one epoch (which takes seconds), far
    // enough for the first to be delivered before the second (a pending signal is not queued
    // twice, so two back-to-back kills would merge into one).
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid, which has not been waited for.
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (status, stderr) = finish(child, stdout);
    assert_eq!(status.code(), Some(130), "{status:?} {stderr}");
    assert!(
        !stderr.contains("interrupted"),
        "the second signal ended it before the loop's check: {stderr}"
    );
}
