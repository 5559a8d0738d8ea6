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

/// A signal while the trace waits for a slow reader (a pipe that is not read) stops the program
/// at once with the one line, naming the output that is incomplete: the write in place hears it.
#[test]
fn a_signal_while_a_slow_reader_waits_stops_the_write() {
    for side in ["rust", "python"] {
        // A reader that opens the pipe and never reads: the trace (500 KB) fills it and waits.
        // It holds the pipe until the test has seen the program end, however slow the machine.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (_dir, fifo, held) = fifo_with_reader(move |file| {
            let _ = released.recv();
            drop(file);
        });
        let f = fifo.to_str().unwrap();
        let args = ["--epochs", "20000", "--json", f];
        let script = root().join("scripts/reference.py");
        let python = python();
        let (bin, args) = if side == "rust" {
            (env!("CARGO_BIN_EXE_softmax"), args.to_vec())
        } else {
            let script = script.to_str().unwrap();
            (
                python.to_str().unwrap(),
                [&[script, "softmax"][..], &args].concat(),
            )
        };
        let (child, mut stdout) = spawn_and_wait_for_first_line(bin, &args);
        // All 20000 lines printed: the program is now writing the trace, into the full pipe.
        let mut line = String::new();
        while !line.starts_with("epoch 20000,") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "{side}: ended early"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        kill(child.id(), "INT");
        let (status, stderr) = finish(child, stdout);
        let took = sent.elapsed();
        assert_eq!(status.code(), Some(130), "{side}: {status:?} {stderr}");
        assert!(took < STOP_WITHIN, "{side}: took {took:?} to stop");
        assert_eq!(stderr.lines().count(), 1, "{side}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by SIGINT, while writing {f}")),
            "{side}: {stderr}"
        );
        release.send(()).unwrap();
        held.join().unwrap();
    }
}

/// A program blocked where no loop checks (here: writing its text into a pipe that nobody
/// reads) still ends after one signal, within the grace period, with the one line.
#[test]
fn one_signal_ends_a_program_blocked_where_no_loop_checks() {
    for side in ["rust", "python"] {
        let script = root().join("scripts/reference.py");
        let mut command = if side == "rust" {
            Command::new(env!("CARGO_BIN_EXE_softmax"))
        } else {
            let mut c = Command::new(python());
            c.arg(&script).arg("softmax");
            c
        };
        let mut child = command
            .args(["--epochs", "100000000"])
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Never read: the pipe fills (64 KiB, a few thousand lines) and the program waits in a
        // write. Python needs a while longer to start.
        std::thread::sleep(Duration::from_secs(if side == "rust" { 1 } else { 6 }));
        let sent = Instant::now();
        kill(child.id(), "INT");
        let limit = lesson_torch::cli::GRACE + Duration::from_secs(2);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > limit {
                child.kill().unwrap();
                panic!("{side}: still running {limit:?} after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(130), "{side}: {status:?} {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{side}: {stderr}");
        assert!(stderr.contains("interrupted by SIGINT"), "{side}: {stderr}");
    }
}

/// A second signal ends the process at once, even in the middle of a long step where no loop
/// checks (an epoch on 20 million samples lasts seconds), with the first signal's one line and
/// status: SIGINT twice gives 130, SIGTERM then SIGINT gives 143.
#[test]
fn a_second_signal_ends_at_once_with_the_first_ones_line() {
    for (first, second, code, name) in [
        (libc::SIGINT, libc::SIGINT, 130, "SIGINT"),
        (libc::SIGTERM, libc::SIGINT, 143, "SIGTERM"),
    ] {
        let (child, stdout) = spawn_and_wait_for_first_line(
            env!("CARGO_BIN_EXE_softmax"),
            &["--samples", "20000000", "--epochs", "1000"],
        );
        // Two signals 0.2 s apart: close enough to land in one epoch, far enough for the first
        // to be delivered before the second (a pending signal is not queued twice, so two
        // back-to-back kills would merge into one).
        let pid = child.id() as libc::pid_t;
        let sent = Instant::now();
        // SAFETY: kill(2) on our own child's pid, which has not been waited for.
        unsafe { libc::kill(pid, first) };
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: as above.
        unsafe { libc::kill(pid, second) };
        let (status, stderr) = finish(child, stdout);
        let took = sent.elapsed();
        assert_eq!(status.code(), Some(code), "{name}: {status:?} {stderr}");
        assert!(took < lesson_torch::cli::GRACE, "{name}: took {took:?}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{name}: {stderr}"
        );
    }
}
