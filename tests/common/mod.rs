//! Helpers for the integration tests: run a binary or the Python reference (from the `.venv`).
#![allow(dead_code)]
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The longest any test waits for one program (a cold Python start on a loaded 2-core machine
/// takes a few seconds; a whole `classify` run under a minute): past it the child is killed
/// and the test fails, so that no test can hang.
pub const CHILD_LIMIT: Duration = Duration::from_secs(180);

/// Kills process `pid` (SIGKILL) if this guard is still alive `limit` after it was made, and
/// then fails the test: every wait on a child (for a line, a read, its end) sits under one.
pub struct Deadline {
    done: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
    what: String,
    limit: Duration,
}

impl Deadline {
    pub fn new(pid: u32, limit: Duration, what: impl Into<String>) -> Self {
        let (done, finished) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let watcher = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                // SAFETY: kill(2) of a child this test spawned and has not yet reaped.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        });
        Self {
            done: Some(done),
            fired,
            watcher: Some(watcher),
            what: what.into(),
            limit,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        if self.fired.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!(
                "{}: still running after {:?}: killed",
                self.what, self.limit
            );
        }
    }
}

/// Starts the child with SIGHUP, SIGINT and SIGQUIT at their default action, whatever the test
/// runner inherited (a shell starts a background job with SIGINT and SIGQUIT ignored, `nohup`
/// ignores SIGHUP, and the programs keep an ignored one ignored): a test's result never
/// depends on how `cargo test` was started.
pub fn default_signals(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        })
    }
}

/// `command.output()` under a [`Deadline`] of [`CHILD_LIMIT`], the child's signals at their
/// defaults (unlike `output()`, the child inherits stdin unless the command sets one).
pub fn output_within(command: &mut Command) -> Output {
    let what = format!("{command:?}");
    default_signals(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let _deadline = Deadline::new(child.id(), CHILD_LIMIT, &what);
    child.wait_with_output().unwrap()
}

/// `child.wait()` under a [`Deadline`] of `limit`.
pub fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let _deadline = Deadline::new(child.id(), limit, what);
    child.wait().unwrap()
}

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
    output_within(
        Command::new(bin)
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null()),
    )
}

/// [`run`], asserting that the program succeeded.
pub fn run_ok(bin: &str, args: &[&str]) -> Output {
    succeeded(run(bin, args), &format!("{bin} {args:?}"))
}

/// [`reference`], asserting that it succeeded.
pub fn reference_ok(args: &[&str]) -> Output {
    succeeded(reference(args), &format!("reference.py {args:?}"))
}

fn succeeded(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what}: {}", text(&out.stderr));
    out
}

/// `python scripts/reference.py ARGS` run warm: a client of this test binary's warm server
/// (scripts/twin/warm.py), which runs the case in a fork of a process that has imported torch
/// already, with the client's descriptors, directory and arguments, and its status. A case whose
/// environment, limits or signal dispositions differ from the server's runs cold, by itself.
/// tests/warm.rs checks that both ways print the same bytes and end alike.
pub fn reference_command() -> Command {
    let mut command = Command::new(python());
    command
        .args(["-I", "-S"])
        .arg(root().join("scripts/twin/warm.py"))
        .arg("run")
        .arg(warm_server())
        .arg(root().join("scripts/reference.py"))
        .current_dir(root());
    command
}

/// The same as [`reference_command`], started cold: a new interpreter that imports torch.
pub fn reference_cold_command() -> Command {
    let mut command = Command::new(python());
    command
        .arg(root().join("scripts/reference.py"))
        .current_dir(root());
    command
}

pub fn reference(args: &[&str]) -> Output {
    output_within(reference_command().args(args).stdin(Stdio::null()))
}

/// How many cases this test binary's warm server has run warm.
pub fn warm_served() -> u64 {
    let out = output_within(
        Command::new(python())
            .args(["-I", "-S"])
            .arg(root().join("scripts/twin/warm.py"))
            .arg("served")
            .arg(warm_server()),
    );
    text(&out.stdout).trim().parse().unwrap()
}

/// The address of this test binary's warm server (an abstract Unix socket: nothing to clean
/// up), started at the first call; it ends when this process does (its stdin closes).
fn warm_server() -> &'static str {
    use std::io::BufRead;
    static WARM: std::sync::OnceLock<(String, Child)> = std::sync::OnceLock::new();
    let (address, _) = WARM.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let address = format!("@lesson-torch-warm-{}-{nanos}", std::process::id());
        let mut command = Command::new(python());
        command
            .arg(root().join("scripts/twin/warm.py"))
            .args(["serve", &address])
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut server = default_signals(&mut command).spawn().unwrap();
        let mut line = String::new();
        {
            let _deadline = Deadline::new(server.id(), CHILD_LIMIT, "warm.py serve");
            let stdout = server.stdout.take().unwrap();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
        }
        assert_eq!(line, "ready\n", "warm.py serve did not start");
        (address, server)
    });
    address
}

/// Runs a Python snippet in the project's venv and returns its stdout.
pub fn python_eval(code: &str) -> String {
    let out = output_within(
        Command::new(python())
            .arg("-c")
            .arg(code)
            .stdin(Stdio::null()),
    );
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A FIFO `trace.json` in a new temp folder, and a thread that opens it for reading (the open
/// waits for a writer) and then runs `read` on it; started 300 ms before this returns, so that
/// the reader is waiting when a program opens the pipe.
pub fn fifo_with_reader<T: Send + 'static>(
    read: impl FnOnce(std::fs::File) -> T + Send + 'static,
) -> (tempfile::TempDir, PathBuf, FifoReader<T>) {
    let dir = tempfile::TempDir::new().unwrap();
    let fifo = dir.path().join("trace.json");
    mkfifo(&fifo);
    let opened = fifo.clone();
    let reader = std::thread::spawn(move || read(std::fs::File::open(opened).unwrap()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let handle = FifoReader {
        handle: reader,
        fifo: fifo.clone(),
    };
    (dir, fifo, handle)
}

/// The reader thread of [`fifo_with_reader`]. Its `join` never hangs: a reader still waiting in
/// `open` for a writer (the program failed before it opened the pipe) is let through by a
/// writer that opens and closes at once, and then reads an end of file.
pub struct FifoReader<T> {
    handle: std::thread::JoinHandle<T>,
    fifo: PathBuf,
}

impl<T> FifoReader<T> {
    pub fn join(self) -> std::thread::Result<T> {
        use std::os::unix::fs::OpenOptionsExt;
        if !self.handle.is_finished() {
            // Fails (ENXIO) when no reader waits: then there is nothing to let through.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.fifo);
        }
        self.handle.join()
    }
}

/// Makes a named pipe at `path` (mkfifo(1)).
pub fn mkfifo(path: impl AsRef<Path>) {
    let made = Command::new("mkfifo").arg(path.as_ref()).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.as_ref().display());
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

/// A fresh temp folder, used as a `Path`: tempfile's `TempDir` (a random name, so parallel
/// tests never meet; removed when dropped).
pub struct TempFolder(tempfile::TempDir);

impl std::ops::Deref for TempFolder {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TempFolder {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

pub fn temp_dir() -> TempFolder {
    TempFolder(tempfile::TempDir::new().unwrap())
}

/// A data folder `dir/folder` holding `file` (`digits.csv`, `breast_cancer.csv`) with
/// `content`, as the `--data-dir` argument.
pub fn data_folder(dir: &Path, folder: &str, file: &str, content: &[u8]) -> String {
    let d = dir.join(folder);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(file), content).unwrap();
    d.to_str().unwrap().to_string()
}

/// A data file's text: a header of `features` columns and `target`, then `rows`.
pub fn csv_text(features: usize, rows: &str) -> Vec<u8> {
    let header: Vec<String> = (0..features).map(|i| format!("p{i}")).collect();
    format!("{},target\n{rows}", header.join(",")).into_bytes()
}

/// A data file's row: `features` zeros, then `label`.
pub fn csv_row(features: usize, label: &str) -> String {
    vec!["0.0"; features].join(",") + "," + label + "\n"
}

/// Asserts that no temp file (`.name.XXXXXX.tmp`, hidden) was left in `dir`.
pub fn assert_no_temp_files(dir: &Path) {
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
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

/// The values of the walkthrough block that the function `name` makes (`BLOCKS` of the trace's
/// program lists them in order, the same in `scripts/reference.py`).
pub fn block<'a>(trace: &'a Value, name: &str) -> &'a Value {
    use lesson_torch::programs::{activations, autograd_demo, fc_demo};
    let names: &[&str] = match trace["program"].as_str().unwrap() {
        "activations" => &activations::BLOCKS,
        "autograd_demo" => &autograd_demo::BLOCKS,
        "fc_demo" => &fc_demo::BLOCKS,
        other => panic!("{other} has no walkthrough blocks"),
    };
    let i = names
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no block {name}"));
    &trace["blocks"][i]["values"]
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
