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

/// A running program: the child, its stdout, and the deadline that kills it if the test waits
/// on it too long.
struct Running {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    _deadline: Deadline,
}

/// Spawns `bin args` with the default signal dispositions, under a deadline.
fn spawn(bin: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> Running {
    let mut command = Command::new(bin);
    command
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    default_signals(&mut command);
    setup(&mut command);
    let mut child = command.spawn().unwrap();
    let deadline = Deadline::new(child.id(), CHILD_LIMIT, format!("{bin} {args:?}"));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Running {
        child,
        stdout,
        _deadline: deadline,
    }
}

fn spawn_and_wait_for_first_line(bin: &str, args: &[&str]) -> Running {
    let mut running = spawn(bin, args, |_| {});
    let mut first = String::new();
    running.stdout.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "{bin} {args:?} printed nothing");
    running
}

fn kill(pid: u32, signal: &str) {
    // A stop signal by its number (util-linux's kill takes `-RTMIN+5` but not `-RTMAX`).
    let name = format!("SIG{signal}");
    if let Some((number, _)) = lesson_torch::signals::STOP_SIGNALS
        .iter()
        .find(|(_, n)| *n == name)
    {
        // SAFETY: kill(2) on our own child, not yet waited for.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, *number) }, 0);
        return;
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Polls `/proc` until `check` holds for process `pid`, or fails after [`CHILD_LIMIT`].
fn wait_for(pid: u32, what: &str, check: impl Fn(&Path) -> bool) {
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let start = Instant::now();
    while !check(&proc) {
        assert!(start.elapsed() < CHILD_LIMIT, "{pid}: never {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until one of the threads of `pid` is blocked in write(2) or writev(2) on a full pipe,
/// or in poll(2) (the Rust programs' writes in place wait for their reader in a poll).
fn wait_until_blocked_in_write(pid: u32, what: &str) {
    wait_for(pid, &format!("{what}: blocked in a write"), |proc| {
        let Ok(tasks) = std::fs::read_dir(proc.join("task")) else {
            return false;
        };
        tasks.flatten().any(|task| {
            let call = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
            let number = call.split(' ').next().unwrap_or("");
            [
                libc::SYS_write,
                libc::SYS_writev,
                libc::SYS_poll,
                libc::SYS_ppoll,
            ]
            .iter()
            .any(|call| number == call.to_string())
        })
    });
}

/// The signal mask on the `/proc/PID/status` line that starts with `field` (`SigCgt:`).
fn signal_mask(proc: &Path, field: &str) -> u64 {
    let status = std::fs::read_to_string(proc.join("status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

fn bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

/// Waits until `signal` sent to `pid` is no longer pending (it has been delivered).
fn wait_until_delivered(pid: u32, signal: i32) {
    wait_for(pid, "took the signal", |proc| {
        (signal_mask(proc, "ShdPnd:") | signal_mask(proc, "SigPnd:")) & bit(signal) == 0
    });
}

/// Reads the rest of stdout in a thread (so a full pipe never blocks the program), waits.
fn finish(running: Running) -> (std::process::ExitStatus, String) {
    let Running {
        mut child,
        mut stdout,
        _deadline,
    } = running;
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
    let running = spawn_and_wait_for_first_line(bin, args);
    let sent = Instant::now();
    kill(running.child.id(), signal);
    let (status, stderr) = finish(running);
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
        let mut running = spawn_and_wait_for_first_line(bin, &args);
        // All 20000 lines printed: the program is now writing the trace, into the full pipe.
        let mut line = String::new();
        while !line.starts_with("epoch 20000,") {
            line.clear();
            assert!(
                running.stdout.read_line(&mut line).unwrap() > 0,
                "{side}: ended early"
            );
        }
        wait_until_blocked_in_write(running.child.id(), side);
        let sent = Instant::now();
        kill(running.child.id(), "INT");
        let (status, stderr) = finish(running);
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
        let mut child = default_signals(
            command
                .args(["--epochs", "100000000"])
                .current_dir(root())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .spawn()
        .unwrap();
        let _deadline = Deadline::new(child.id(), CHILD_LIMIT, side);
        // Never read: the pipe fills (64 KiB, a few thousand lines) and the program waits in a
        // write.
        wait_until_blocked_in_write(child.id(), side);
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
        let running = spawn_and_wait_for_first_line(
            env!("CARGO_BIN_EXE_softmax"),
            &["--samples", "20000000", "--epochs", "1000"],
        );
        // The second signal once the first has been delivered (a pending signal is not queued
        // twice, so two back-to-back kills could merge into one), within the same long epoch.
        let pid = running.child.id() as libc::pid_t;
        let sent = Instant::now();
        // SAFETY: kill(2) on our own child's pid, which has not been waited for.
        unsafe { libc::kill(pid, first) };
        wait_until_delivered(pid as u32, first);
        // SAFETY: as above.
        unsafe { libc::kill(pid, second) };
        let (status, stderr) = finish(running);
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

/// The Python twin's command line for `program args`.
fn python_args<'a>(script: &'a str, program: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    [&[script, program][..], args].concat()
}

/// `softmax ARGS` on both sides: (program, arguments) for Rust and for the Python twin.
fn both_sides(args: &[&str]) -> [(String, Vec<String>); 2] {
    let owned = |a: &[&str]| a.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let script = root().join("scripts/reference.py");
    let py_args = python_args(script.to_str().unwrap(), "softmax", args);
    [
        (env!("CARGO_BIN_EXE_softmax").to_string(), owned(args)),
        (python().to_str().unwrap().to_string(), owned(&py_args)),
    ]
}

/// Every catchable signal whose default action ends the process stops a run as SIGINT and
/// SIGTERM do: one line naming it, status 128 + its number, the old output kept, no temp file.
#[test]
fn every_stop_signal_stops_the_run_with_its_own_line_and_status() {
    let dir = tempfile::TempDir::new().unwrap();
    let output = dir.path().join("trace.json");
    let out = output.to_str().unwrap();
    let args = ["--epochs", "10000000000", "--json", out];
    for (signal, name) in lesson_torch::signals::STOP_SIGNALS {
        let short = name.trim_start_matches("SIG");
        interrupt(
            env!("CARGO_BIN_EXE_softmax"),
            &args,
            short,
            128 + signal,
            &output,
        );
    }
}

/// The Python twin handles the same signals, the same way (a few of them, side by side: each
/// Python start costs seconds).
#[test]
fn the_python_twin_stops_on_the_other_signals_too() {
    let script = root().join("scripts/reference.py");
    let script = script.to_str().unwrap();
    let python = python();
    std::thread::scope(|scope| {
        for (signal, short) in [
            (1, "HUP"),
            (3, "QUIT"),
            (10, "USR1"),
            (14, "ALRM"),
            (34, "RTMIN"),
            (39, "RTMIN+5"),
            (64, "RTMAX"),
        ] {
            let python = python.to_str().unwrap();
            scope.spawn(move || {
                let dir = tempfile::TempDir::new().unwrap();
                let output = dir.path().join("trace.json");
                let out = output.to_str().unwrap();
                let args = ["--epochs", "10000000000", "--json", out];
                let args = python_args(script, "softmax", &args);
                interrupt(python, &args, short, 128 + signal, &output);
            });
        }
    });
}

/// Ignores `signal` in the child before it starts, as a shell does for a background job.
fn ignore(command: &mut Command, signal: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(move || {
            libc::signal(signal, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// The rule for a signal ignored at start (a background job's SIGINT, `nohup`'s SIGHUP): it
/// stays ignored on both sides, and SIGTERM still stops the run.
#[test]
fn an_inherited_ignored_sigint_or_sighup_stays_ignored() {
    for (bin, args) in both_sides(&["--epochs", "10000000000"]) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for signal in [libc::SIGINT, libc::SIGHUP] {
            let mut running = spawn(&bin, &args, |c| ignore(c, signal));
            let mut first = String::new();
            running.stdout.read_line(&mut first).unwrap();
            assert!(first.starts_with("epoch 1,"), "{bin}: {first}");
            let pid = running.child.id();
            wait_for(pid, "ignoring the signal", |proc| {
                signal_mask(proc, "SigIgn:") & bit(signal) != 0
            });
            // SAFETY: kill(2) on our own child, not yet waited for.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
            kill(pid, "TERM");
            let (status, stderr) = finish(running);
            assert_eq!(status.code(), Some(143), "{bin} {signal}: {stderr}");
            assert!(stderr.contains("interrupted by SIGTERM"), "{bin}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
        }
    }
}

/// A stop signal blocked by whoever started the program is unblocked: SIGTERM still stops it,
/// on both sides.
#[test]
fn a_stop_signal_blocked_at_start_still_stops_the_run() {
    use std::os::unix::process::CommandExt;
    for (bin, args) in both_sides(&["--epochs", "10000000000"]) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut running = spawn(&bin, &args, |c| {
            // SAFETY: sigprocmask(2) is async-signal-safe, as a pre_exec hook must be.
            unsafe {
                c.pre_exec(|| {
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGTERM);
                    libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                    Ok(())
                });
            }
        });
        let mut first = String::new();
        running.stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with("epoch 1,"), "{bin}: {first}");
        kill(running.child.id(), "TERM");
        let (status, stderr) = finish(running);
        assert_eq!(status.code(), Some(143), "{bin}: {stderr}");
        assert!(stderr.contains("interrupted by SIGTERM"), "{bin}: {stderr}");
    }
}

/// A signal that comes as soon as the handlers exist, before the program's start-up is over
/// (libtorch's own start-up; Python's `import torch`), still ends it with the one line.
#[test]
fn a_signal_during_start_up_ends_with_the_one_line() {
    // A long run, so that the signal always finds the program still running, however late the
    // poll below sees the handler.
    for (bin, args) in both_sides(&["--epochs", "10000000000"]) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = spawn(&bin, &args, |_| {});
        let pid = running.child.id();
        wait_for(pid, "catching SIGTERM", |proc| {
            signal_mask(proc, "SigCgt:") & bit(libc::SIGTERM) != 0
        });
        kill(pid, "TERM");
        let (status, stderr) = finish(running);
        assert_eq!(status.code(), Some(143), "{bin}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
        assert!(stderr.contains("interrupted by SIGTERM"), "{bin}: {stderr}");
    }
}

/// Sets a resource limit in the child before it starts (`ulimit`).
fn limit(command: &mut Command, resource: libc::__rlimit_resource_t, value: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit(2) is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            libc::setrlimit(resource, &lim);
            Ok(())
        });
    }
}

/// With no free file descriptor (`ulimit -n 4`), a signal still stops the run: the handlers
/// need none.
#[test]
fn a_signal_stops_a_run_with_no_free_descriptor() {
    let running = spawn(
        env!("CARGO_BIN_EXE_softmax"),
        &["--epochs", "10000000000"],
        |c| limit(c, libc::RLIMIT_NOFILE, 4),
    );
    let mut running = running;
    let mut first = String::new();
    running.stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("epoch 1,"), "{first}");
    let sent = Instant::now();
    kill(running.child.id(), "TERM");
    let (status, stderr) = finish(running);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < STOP_WITHIN);
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
}

/// A file-size limit (`ulimit -f`) is a failed write on both sides, not a SIGXFSZ core dump:
/// one line naming "File too large", status 1, the old file kept, no temp file; and the same for
/// stdout redirected to a file.
#[test]
fn a_file_size_limit_is_a_failed_write() {
    let script = root().join("scripts/reference.py");
    let script = script.to_str().unwrap();
    let python = python();
    for side in ["rust", "python"] {
        let dir = tempfile::TempDir::new().unwrap();
        let json = dir.path().join("o.json");
        std::fs::write(&json, "old").unwrap();
        let text = dir.path().join("text.txt");
        let json_args = ["--epochs", "3", "--json", json.to_str().unwrap()];
        let text_args = ["--epochs", "500"];
        // The trace on stdout (PYTHONUNBUFFERED once dropped the rest of a partial write).
        let dash_args = ["--json", "-"];
        for (args, stdout) in [
            (&json_args[..], false),
            (&text_args[..], true),
            (&dash_args[..], true),
        ] {
            let py_args = python_args(script, "softmax", args);
            let (bin, args) = if side == "rust" {
                (env!("CARGO_BIN_EXE_softmax"), args)
            } else {
                (python.to_str().unwrap(), &py_args[..])
            };
            let what = format!("{side} {args:?}");
            let mut command = Command::new(bin);
            command
                .args(args)
                .current_dir(root())
                .stderr(Stdio::piped());
            command.stdout(if stdout {
                Stdio::from(std::fs::File::create(&text).unwrap())
            } else {
                Stdio::piped()
            });
            limit(default_signals(&mut command), libc::RLIMIT_FSIZE, 1024);
            let child = command.spawn().unwrap();
            let _deadline = Deadline::new(child.id(), CHILD_LIMIT, &what);
            let out = child.wait_with_output().unwrap();
            assert_clean_failure(&out, 1, "File too large", &what);
            assert_eq!(std::fs::read_to_string(&json).unwrap(), "old", "{what}");
        }
        assert_no_temp_files(dir.path());
    }
}

/// A second signal during an output's final write ends the process at once, and the temp file
/// being written goes with it: the old output is kept and nothing is left beside it. The program
/// is caught with its temp file there (SIGSTOP as soon as a temp file appears), sent SIGTERM and
/// SIGINT (two signals: one is recorded, the next ends the process), and let go.
#[test]
fn a_second_signal_during_the_final_write_leaves_no_temp_file() {
    let dir = temp_dir();
    let out = dir.join("out.json");
    let temp_in = |dir: &Path| -> Option<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tmp"))
    };
    for _attempt in 0..5 {
        std::fs::write(&out, "old\n").unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_activations"));
        command
            .args(["--points", "100000", "--epochs", "1", "--json"])
            .arg(&out)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = default_signals(&mut command).spawn().unwrap();
        let _deadline = Deadline::new(child.id(), CHILD_LIMIT, "activations --json");
        let pid = child.id() as libc::pid_t;
        let start = Instant::now();
        let caught = loop {
            if temp_in(&dir).is_some() {
                // SAFETY: kill(2) on our own child, not yet waited for.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                wait_for(pid as u32, "stopped", |proc| {
                    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
                    stat.rsplit(") ").next().is_some_and(|s| s.starts_with('T'))
                });
                break temp_in(&dir).is_some();
            }
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            assert!(start.elapsed() < CHILD_LIMIT, "no temp file ever appeared");
            std::thread::sleep(Duration::from_micros(200));
        };
        if !caught {
            // The rename came first: try again.
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            wait_within(&mut child, CHILD_LIMIT, "activations --json");
            continue;
        }
        // SAFETY: as above; both signals stay pending while the child is stopped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::kill(pid, libc::SIGINT);
            libc::kill(pid, libc::SIGCONT);
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = wait_within(&mut child, CHILD_LIMIT, "activations --json");
        assert!(
            matches!(status.code(), Some(130) | Some(143)),
            "{status:?} {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("interrupted by SIG"), "{stderr}");
        assert_eq!(read(&out), "old\n", "the old output was replaced");
        assert_no_temp_files(&dir);
        return;
    }
    panic!("the program was never caught with its temp file in 5 runs");
}
