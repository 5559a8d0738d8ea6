//! Outputs are written safely, on both sides: symlinks planted in the output folder (a shared
//! folder such as /tmp) under the names a temp file could have are never followed, and a run
//! under a 4 GiB address-space limit ends cleanly whatever the numbers.
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Plants symlinks to `victim` under every name the old writers would have used for the next
/// few hundred processes (`.NAME.PID.tmp`), plus names in the temp files' new pattern.
fn plant(dir: &Path, name: &str, victim: &Path) -> Vec<std::path::PathBuf> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mut planted = Vec::new();
    for pid in last..last + 400 {
        let link = dir.join(format!(".{name}.{pid}.tmp"));
        std::os::unix::fs::symlink(victim, &link).unwrap();
        planted.push(link);
    }
    for guess in ["AAAAAA", "aaaaaa", "000000", "tmp"] {
        let link = dir.join(format!(".{name}.{guess}.tmp"));
        std::os::unix::fs::symlink(victim, &link).unwrap();
        planted.push(link);
    }
    planted
}

fn assert_untouched(victim: &Path, planted: &[std::path::PathBuf], what: &str) {
    assert_eq!(
        std::fs::read_to_string(victim).unwrap(),
        "precious",
        "{what}: the file behind the planted symlinks was written"
    );
    for link in planted {
        let meta = std::fs::symlink_metadata(link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{what}: {link:?} was replaced"
        );
    }
}

/// Every writer of both sides: `--json`, `--save`, `--plot`, `--graph`.
#[test]
fn planted_symlinks_are_never_followed() {
    let outside = tempfile::TempDir::new().unwrap();
    let victim = outside.path().join("victim.txt");
    let runs: Vec<(&str, Vec<&str>, &str, bool)> = vec![
        ("softmax", vec!["--epochs", "2", "--json"], "out.json", true),
        ("autograd_demo", vec!["--json"], "out.json", true),
        ("fc_demo", vec!["--json"], "out.json", true),
        (
            "activations",
            vec!["--epochs", "2", "--json"],
            "out.json",
            true,
        ),
        (
            "activations",
            vec!["--epochs", "2", "--plot"],
            "plot.svg",
            false,
        ),
        (
            "classify",
            vec!["--dataset", "breast-cancer", "--epochs", "1", "--save"],
            "m.safetensors",
            true,
        ),
        (
            "classify",
            vec!["--dataset", "breast-cancer", "--epochs", "1", "--plot"],
            "curves.png",
            false,
        ),
        ("autograd_demo", vec!["--graph"], "graph.svg", false),
    ];
    for (program, args, name, twin) in runs {
        for side in ["rust", "python"] {
            if side == "python" && !twin {
                continue;
            }
            std::fs::write(&victim, "precious").unwrap();
            let shared = tempfile::TempDir::new().unwrap();
            let planted = plant(shared.path(), name, &victim);
            let target = shared.path().join(name);
            let target_str = target.to_str().unwrap().to_string();
            let mut all = args.clone();
            all.push(&target_str);
            let what = format!("{side} {program} {all:?}");
            let out = if side == "rust" {
                let bin =
                    std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(program);
                run(bin.to_str().unwrap(), &all)
            } else {
                reference(&[&[program], all.as_slice()].concat())
            };
            assert!(out.status.success(), "{what}: {}", text(&out.stderr));
            assert!(
                std::fs::metadata(&target).unwrap().len() > 0,
                "{what}: no output"
            );
            assert_untouched(&victim, &planted, &what);
            // Nothing else appeared: the planted links, and the output.
            let count = std::fs::read_dir(shared.path()).unwrap().count();
            assert_eq!(count, planted.len() + 1, "{what}: a temp file stayed");
        }
    }
}

/// A symlink at the output path itself is replaced by the new file, never written through.
#[test]
fn a_symlink_at_the_target_is_replaced_not_followed() {
    for side in ["rust", "python"] {
        let outside = tempfile::TempDir::new().unwrap();
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let shared = tempfile::TempDir::new().unwrap();
        let target = shared.path().join("out.json");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let args = ["--epochs", "1", "--json", target.to_str().unwrap()];
        let out = if side == "rust" {
            run(env!("CARGO_BIN_EXE_softmax"), &args)
        } else {
            reference(&[&["softmax"], &args[..]].concat())
        };
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{side}"
        );
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{side}: the link was not replaced"
        );
        assert!(read(&target).contains("\"losses\""), "{side}");
    }
}

/// Runs softmax (Rust or Python) with `args`, its stdout into `stdout`.
fn softmax_into(side: &str, args: &[&str], stdout: std::fs::File) -> std::process::Output {
    program_into(side, "softmax", args, stdout)
}

/// Runs `program` (Rust or Python) with `args`, its stdout into `stdout`.
fn program_into(
    side: &str,
    program: &str,
    args: &[&str],
    stdout: std::fs::File,
) -> std::process::Output {
    let mut command = if side == "rust" {
        Command::new(root().join("target/release").join(program))
    } else {
        let mut c = reference_command();
        c.arg(program);
        c
    };
    command
        .args(args)
        .current_dir(root())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped());
    let child = default_signals(&mut command).spawn().unwrap();
    let _deadline = Deadline::new(child.id(), CHILD_LIMIT, format!("softmax {side} {args:?}"));
    child.wait_with_output().unwrap()
}

/// A name of an open file (`/dev/stdout`, here a link to `/proc/self/fd/1` in a folder of ours,
/// which takes the same path through the code without risking the machine's `/dev/stdout`) is
/// written through and kept: with stdout redirected to a file, the file holds the text and then
/// the trace, and the link is still a link.
#[test]
fn a_name_of_stdout_is_written_through_not_replaced() {
    for side in ["rust", "python"] {
        let dir = tempfile::TempDir::new().unwrap();
        let link = dir.path().join("stdout");
        std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
        let captured = dir.path().join("captured.txt");
        let file = std::fs::File::create(&captured).unwrap();
        let out = softmax_into(
            side,
            &["--epochs", "2", "--json", link.to_str().unwrap()],
            file,
        );
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{side}: the link was replaced"
        );
        let got = read(&captured);
        assert!(
            got.starts_with("epoch 1, loss 1.1055\nepoch 2, loss 1.1009\n{"),
            "{side}: {got}"
        );
        let trace: serde_json::Value =
            serde_json::from_str(&got[got.find('{').unwrap()..]).unwrap();
        assert_eq!(trace["program"], "softmax", "{side}");
        assert_no_temp_files(dir.path());
    }
}

/// A FIFO with a reader waiting receives the whole trace: the early check that the output can be
/// written keeps the pipe open instead of closing it (which would end the reader's input).
#[test]
fn a_fifo_with_a_reader_receives_the_trace() {
    for side in ["rust", "python"] {
        let (_dir, fifo, reader) =
            fifo_with_reader(|mut file| std::io::read_to_string(&mut file).unwrap());
        let args = ["--epochs", "2", "--json", fifo.to_str().unwrap()];
        let out = softmax_into(side, &args, std::fs::File::create("/dev/null").unwrap());
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let got = reader.join().unwrap();
        let trace: serde_json::Value =
            serde_json::from_str(&got).unwrap_or_else(|e| panic!("{side}: {e}: {got:?}"));
        assert_eq!(trace["losses"].as_array().unwrap().len(), 2, "{side}");
    }
}

/// A FIFO whose reader leaves before the whole trace is written is an error that names it
/// (`Broken pipe`, status 1), not the quiet end that stdout piped into `head` gets.
#[test]
fn a_fifo_whose_reader_leaves_is_an_error() {
    for side in ["rust", "python"] {
        let (_dir, fifo, reader) = fifo_with_reader(|mut file| {
            let mut first = [0u8; 10];
            std::io::Read::read_exact(&mut file, &mut first).unwrap();
        });
        // 5000 points: a trace of about 1 MB, far more than a pipe holds, computed at once.
        let args = [
            "--points",
            "5000",
            "--epochs",
            "1",
            "--json",
            fifo.to_str().unwrap(),
        ];
        let out = program_into(
            side,
            "activations",
            &args,
            std::fs::File::create("/dev/null").unwrap(),
        );
        reader.join().unwrap();
        assert_clean_failure(&out, 1, "Broken pipe", side);
    }
}

/// The data file that a run reads is protected wherever it is named: through `--load`'s
/// metadata (no `--dataset`), or through a symlink in `--data-dir`; so is a checkpoint loaded
/// through a symlink. Usage errors, on both sides, and the files are as they were.
#[test]
fn inputs_named_indirectly_are_never_replaced() {
    let dir = tempfile::TempDir::new().unwrap();
    let real = dir.path().join("real");
    let linked = dir.path().join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::fs::create_dir_all(&real).unwrap();
    for name in ["digits.csv", "breast_cancer.csv"] {
        std::fs::copy(root().join("data").join(name), real.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(real.join("digits.csv"), linked.join("digits.csv")).unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let ckpt_link = dir.path().join("link.safetensors");
    std::os::unix::fs::symlink(&ckpt, &ckpt_link).unwrap();
    let p = |path: &Path| path.to_str().unwrap().to_string();
    let real_dir = p(&real);
    run_ok(
        env!("CARGO_BIN_EXE_classify"),
        &[
            "--dataset",
            "breast-cancer",
            "--epochs",
            "1",
            "--data-dir",
            &real_dir,
            "--save",
            &p(&ckpt),
        ],
    );
    let cancer = p(&real.join("breast_cancer.csv"));
    let digits = p(&real.join("digits.csv"));
    let before: Vec<Vec<u8>> = [&cancer, &digits, &p(&ckpt)]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec![
                "--load".into(),
                p(&ckpt),
                "--data-dir".into(),
                real_dir.clone(),
                "--epochs".into(),
                "1".into(),
                "--json".into(),
                cancer.clone(),
            ],
            "the data file and --json",
        ),
        (
            vec![
                "--load".into(),
                p(&ckpt),
                "--data-dir".into(),
                real_dir.clone(),
                "--evaluate".into(),
                "--json".into(),
                cancer.clone(),
            ],
            "the data file and --json",
        ),
        (
            vec![
                "--data-dir".into(),
                p(&linked),
                "--epochs".into(),
                "1".into(),
                "--json".into(),
                digits.clone(),
            ],
            "the data file and --json",
        ),
        (
            vec![
                "--load".into(),
                p(&ckpt_link),
                "--data-dir".into(),
                real_dir.clone(),
                "--epochs".into(),
                "1".into(),
                "--save".into(),
                p(&ckpt),
            ],
            "--load and --save",
        ),
    ];
    for (args, clash) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for side in ["rust", "python"] {
            let out = if side == "rust" {
                run(env!("CARGO_BIN_EXE_classify"), &args)
            } else {
                reference(&[&["classify"], &args[..]].concat())
            };
            let what = format!("{side} {args:?}");
            assert_clean_failure(&out, 2, clash, &what);
        }
    }
    let after: Vec<Vec<u8>> = [&cancer, &digits, &p(&ckpt)]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(before == after, "an input was replaced");
}

/// Under a 4 GiB address-space limit (`ulimit -v`), the largest values end cleanly: a result,
/// or one line and status 1 or 2; never a signal, an abort or a panic.
#[test]
fn under_a_4gib_address_space_limit_nothing_aborts() {
    let max = i64::MAX.to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("softmax", vec!["--samples", "100000000", "--epochs", "1"]),
        ("softmax", vec!["--samples", "1000000000", "--epochs", "1"]),
        ("softmax", vec!["--samples", &max, "--epochs", "1"]),
        ("softmax", vec!["--epochs", "3", "--device", "cuda"]),
        ("activations", vec!["--points", "100000", "--epochs", "1"]),
        ("fc_demo", vec!["--steps", "1000"]),
        ("classify", vec!["--batch-size", &max]),
        (
            "classify",
            vec![
                "--dataset",
                "breast-cancer",
                "--epochs",
                "2",
                "--batch-size",
                "1",
            ],
        ),
        (
            "bench",
            vec![
                "kernel-step",
                "--rows",
                "100000000",
                "--steps",
                "1",
                "--warmup",
                "1",
            ],
        ),
    ];
    for (program, args) in cases {
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(program);
        let out = output_within(
            Command::new("bash")
                .arg("-c")
                .arg("ulimit -v 4194304; exec \"$@\" > /dev/null")
                .arg("limited")
                .arg(&bin)
                .args(&args)
                .current_dir(root()),
        );
        let what = format!("{program} {args:?} under ulimit -v 4194304");
        let stderr = text(&out.stderr);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "{what}: {:?} {stderr}",
            out.status
        );
        if code != Some(0) {
            assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
            assert!(stderr.starts_with("error: "), "{what}: {stderr}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        }
    }
}

/// A replaced output keeps its permission bits but never a setuid, setgid or sticky bit (the new
/// file belongs to whoever runs the program); a new output gets 0666 less the umask. Both sides.
#[test]
fn a_replaced_file_keeps_its_permission_bits_only() {
    use std::os::unix::fs::PermissionsExt;
    let umask = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap();
    for side in ["rust", "python"] {
        let dir = temp_dir();
        let (old, new) = (dir.join("old.json"), dir.join("new.json"));
        std::fs::write(&old, "old").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o6750)).unwrap();
        for path in [&old, &new] {
            let args = ["--epochs", "1", "--json", path.to_str().unwrap()];
            let out = if side == "rust" {
                run(env!("CARGO_BIN_EXE_softmax"), &args)
            } else {
                reference(&[&["softmax"][..], &args].concat())
            };
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        }
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&old), 0o750, "{side}: the replaced file");
        assert_eq!(mode(&new), 0o666 & !umask, "{side}: the new file");
    }
}

/// `command` in a new user and mount namespace (`unshare -rm`) where `from` is bind-mounted on
/// `onto` first; `None` where this machine allows no such namespace.
fn with_bind_mount(from: &Path, onto: &Path, command: &Command) -> Option<std::process::Output> {
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return None;
    }
    let mut shell = Command::new("unshare");
    shell
        .args([
            "-rm",
            "sh",
            "-c",
            r#"mount --bind "$1" "$2" && shift 2 && exec "$@""#,
            "sh",
        ])
        .arg(from)
        .arg(onto)
        .arg(command.get_program())
        .args(command.get_args())
        .current_dir(command.get_current_dir().unwrap_or(&root()))
        .stdin(std::process::Stdio::null());
    Some(output_within(&mut shell))
}

/// Outputs are told from inputs by identity (device and inode), not by name: the data folder
/// under a bind mount, a hard link to the checkpoint and `/dev/stdin` on the data file are
/// refused before any work, on both sides; a file that is a mount point (a container's
/// `-v file:file`) cannot be renamed over, so it is written in place and the run says so.
#[test]
fn outputs_are_told_from_inputs_by_identity_and_mount_points_written_in_place() {
    let dir = tempfile::TempDir::new().unwrap();
    let p = |path: &Path| path.to_str().unwrap().to_string();
    let data = dir.path().join("data");
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&mirror).unwrap();
    let cancer = data.join("breast_cancer.csv");
    std::fs::copy(root().join("data/breast_cancer.csv"), &cancer).unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let train = [
        "--dataset",
        "breast-cancer",
        "--epochs",
        "1",
        "--data-dir",
        &p(&data),
    ];
    run_ok(
        env!("CARGO_BIN_EXE_classify"),
        &[&train[..], &["--save", &p(&ckpt)]].concat(),
    );
    let hard_link = dir.path().join("hard.safetensors");
    std::fs::hard_link(&ckpt, &hard_link).unwrap();
    let before = (
        std::fs::read(&cancer).unwrap(),
        std::fs::read(&ckpt).unwrap(),
    );
    let sides = |program: &str, args: &[String]| {
        let mut rust = Command::new(root().join("target/release").join(program));
        rust.args(args);
        let mut python = reference_command();
        python.arg(program).args(args);
        [("rust", rust), ("python", python)]
    };
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let via_mirror = p(&mirror.join("breast_cancer.csv"));
    let mut mounted = 0;
    for (side, command) in sides(
        "classify",
        &owned(&[&train[..], &["--json", &via_mirror]].concat()),
    ) {
        if let Some(out) = with_bind_mount(&data, &mirror, &command) {
            assert_clean_failure(&out, 2, "the data file and --json name the same file", side);
            mounted += 1;
        }
    }
    let load = [
        "--load",
        &p(&ckpt),
        "--data-dir",
        &p(&data),
        "--epochs",
        "1",
    ];
    for (side, mut command) in sides(
        "classify",
        &owned(&[&load[..], &["--save", &p(&hard_link)]].concat()),
    ) {
        let out = output_within(
            command
                .current_dir(root())
                .stdin(std::process::Stdio::null()),
        );
        assert_clean_failure(&out, 2, "--load and --save name the same file", side);
    }
    for (side, mut command) in sides(
        "classify",
        &owned(&[&train[..], &["--json", "/dev/stdin"]].concat()),
    ) {
        let stdin = std::fs::File::open(&cancer).unwrap();
        let out = output_within(command.current_dir(root()).stdin(stdin));
        assert_clean_failure(&out, 2, "the data file and --json name the same file", side);
    }
    assert!(
        before
            == (
                std::fs::read(&cancer).unwrap(),
                std::fs::read(&ckpt).unwrap()
            ),
        "an input was written"
    );
    for (side, command) in sides(
        "softmax",
        &owned(&["--epochs", "1", "--json", "target.json"]),
    ) {
        let file = dir.path().join(format!("{side}.json"));
        let target = dir.path().join("target.json");
        std::fs::write(&file, "old").unwrap();
        std::fs::write(&target, "").unwrap();
        let mut command = command;
        command.current_dir(dir.path());
        if let Some(out) = with_bind_mount(&file, &target, &command) {
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
            assert_eq!(
                text(&out.stderr),
                "note: target.json is a mount point: written in place\n",
                "{side}"
            );
            let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap())
                .unwrap_or_else(|e| panic!("{side}: the mounted file holds no JSON: {e}"));
            assert_eq!(
                written["losses"].as_array().map(Vec::len),
                Some(1),
                "{side}"
            );
            mounted += 1;
        }
    }
    if mounted == 0 {
        println!("skipped: the bind-mount cases (no user and mount namespace here)");
    } else {
        assert_eq!(mounted, 4);
    }
}

/// An output written in place into the file that stderr is (`--json /dev/stderr 2>err.txt`),
/// then an error line from a later output: the line follows the trace, it does not overwrite
/// its start (stderr's descriptor is moved to the end of the file after the in-place write).
#[test]
fn an_error_after_an_output_into_stderr_s_file_follows_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let full = dir.path().join("full.png");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let cases: [(&str, Vec<&str>); 2] = [
        ("activations", vec!["--epochs", "2", "--plot"]),
        ("autograd_demo", vec!["--graph"]),
    ];
    for (program, args) in cases {
        let err = dir.path().join(format!("{program}.err"));
        let mut command = Command::new(root().join("target/release").join(program));
        command
            .args(["--json", "/dev/stderr"])
            .args(&args)
            .arg(&full)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        let mut child = default_signals(&mut command).spawn().unwrap();
        let status = wait_within(&mut child, CHILD_LIMIT, program);
        assert_eq!(status.code(), Some(1), "{program}");
        let written = std::fs::read_to_string(&err).unwrap();
        let (trace, line) = written.rsplit_once("}\n").expect("a trace, then a line");
        let line_expected = format!(
            "error: cannot write {}: No space left on device\n",
            full.display()
        );
        assert_eq!(line, line_expected, "{program}");
        let trace: serde_json::Value = serde_json::from_str(&format!("{trace}}}"))
            .unwrap_or_else(|e| panic!("{program}: the trace was damaged: {e}"));
        assert_eq!(trace["program"], program);
    }
}

/// A non-blocking pipe on stdout (`O_NONBLOCK` on its write end, as some supervisors hand it)
/// whose reader waits until the pipe is full: the program waits for it and writes its whole
/// report, the same on both sides (Rust failed with EAGAIN after 64 KiB; Python kept 64 KiB and
/// exited 0).
#[test]
fn a_non_blocking_stdout_gets_the_whole_report() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // 5000 points: about 350 kB of text, computed at once.
    let args = ["activations", "--points", "5000", "--epochs", "1"];
    let expected = text(&run_ok(env!("CARGO_BIN_EXE_activations"), &args[1..]).stdout);
    assert!(expected.len() > 4 * 65536);
    for side in ["rust", "python"] {
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) fills two descriptors, each then owned by one OwnedFd.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl(2) on the write end just made.
        unsafe { libc::fcntl(write_end.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut command = if side == "rust" {
            let mut c = Command::new(env!("CARGO_BIN_EXE_activations"));
            c.args(&args[1..]);
            c
        } else {
            let mut c = reference_command();
            c.args(args);
            c
        };
        command
            .current_dir(root())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write_end))
            .stderr(std::process::Stdio::piped());
        let mut child = default_signals(&mut command).spawn().unwrap();
        drop(command); // this process's copy of the write end
        let deadline = Deadline::new(child.id(), CHILD_LIMIT, format!("{side} non-blocking"));
        // The reader waits until the pipe is full: the program has met EAGAIN by then.
        loop {
            let mut held: libc::c_int = 0;
            // SAFETY: FIONREAD stores the bytes waiting in the pipe into `held`.
            unsafe { libc::ioctl(read_end.as_raw_fd(), libc::FIONREAD, &mut held) };
            if held as usize + 4096 > 65536 || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut got = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut got)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        drop(deadline);
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        assert_eq!(got.len(), expected.len(), "{side}: the report was cut");
        assert!(got == expected, "{side}: the report differs");
    }
}

/// Started from a deleted working folder, both sides end with one line and status 1 before
/// libtorch starts (its Intel oneMKL start-up dies there with "FATAL ERROR: Cannot load").
#[test]
fn a_deleted_working_folder_is_one_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let gone = dir.path().join("gone");
    let sides: [Vec<std::ffi::OsString>; 2] = [
        vec![env!("CARGO_BIN_EXE_softmax").into(), "--help".into()],
        {
            let c = reference_command();
            let mut v = vec![c.get_program().to_os_string()];
            v.extend(c.get_args().map(|a| a.to_os_string()));
            v.extend(["softmax".into(), "--help".into()]);
            v
        },
    ];
    for argv in sides {
        std::fs::create_dir(&gone).unwrap();
        let mut command = Command::new("sh");
        command
            .args(["-c", r#"cd "$1" && rmdir "$1" && shift && exec "$@""#, "sh"])
            .arg(&gone)
            .args(&argv)
            .stdin(std::process::Stdio::null());
        let out = output_within(&mut command);
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (
                Some(1),
                "error: the working folder was deleted: change to an existing folder (libtorch cannot start in a deleted one)\n".to_string()
            ),
            "{argv:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// The second hostile review's data-loss cases, on both sides: stdout redirected into the data
/// file, `--json X > X`, another process's read-only descriptor (`/proc/PID/fd/3` of the shell
/// that opened `3<notes.txt`), the data folder seen through an overlay (same inode number on
/// another device), and an in-place write that runs out of space (the old file is kept: the
/// space is reserved before a byte is overwritten).
#[test]
fn outputs_that_would_damage_what_the_user_had_are_refused_on_both_sides() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let digits = data.join("digits.csv");
    std::fs::copy(root().join("data/digits.csv"), &digits).unwrap();
    std::fs::write(d.join("notes.txt"), "notes\n").unwrap();
    let reference = {
        let c = reference_command();
        let mut words = vec![c.get_program().to_string_lossy().into_owned()];
        words.extend(c.get_args().map(|a| format!("'{}'", a.to_string_lossy())));
        words.join(" ")
    };
    let rust = root().join("target/release").display().to_string();
    for side in ["rust", "python"] {
        let program = |name: &str| {
            if side == "rust" {
                format!("{rust}/{name}")
            } else {
                format!("{reference} {name}")
            }
        };
        let shell = |script: String| {
            output_within(
                Command::new("sh")
                    .args(["-c", &script])
                    .current_dir(d)
                    .stdin(std::process::Stdio::null()),
            )
        };
        let cases = [
            (
                format!(
                    "{} --data-dir data --epochs 1 >> data/digits.csv",
                    program("classify")
                ),
                2,
                "the data file and stdout name the same file data/digits.csv",
            ),
            (
                format!("{} --epochs 1 --json out.txt > out.txt", program("softmax")),
                2,
                "--json and stdout name the same file out.txt",
            ),
            (
                format!(
                    "exec 3<notes.txt; {} --epochs 1 --json /proc/$$/fd/3",
                    program("softmax")
                ),
                1,
                "descriptor 3 is open for reading only",
            ),
        ];
        for (script, code, needle) in cases {
            assert_clean_failure(
                &shell(script.clone()),
                code,
                needle,
                &format!("{side}: {script}"),
            );
        }
        // Stderr into the data file: refused (status 2), and not a byte written into it.
        let into = format!(
            "{} --data-dir data --epochs 1 --json /dev/stderr 2>> data/digits.csv",
            program("classify")
        );
        assert_eq!(shell(into).status.code(), Some(2), "{side}");
        // Root replacing another user's file gives it back to that user.
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = d.join(format!("{side}-theirs.json"));
            std::fs::write(&theirs, "old").unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let replace = format!(
                "{} --epochs 1 --json {side}-theirs.json",
                program("softmax")
            );
            assert!(shell(replace).status.success(), "{side}");
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&theirs).unwrap();
            assert_eq!(
                (meta.uid(), meta.gid()),
                (65534, 65534),
                "{side}: the owner changed"
            );
        }
        // A file with another hard link, or with an extended attribute, is written in place
        // (as `>` writes it): the link sees the new trace, the attribute stays.
        let linked = d.join(format!("{side}-linked.json"));
        std::fs::write(&linked, "old").unwrap();
        std::fs::hard_link(&linked, d.join(format!("{side}-link.json"))).unwrap();
        let tagged = d.join(format!("{side}-tagged.json"));
        std::fs::write(&tagged, "old").unwrap();
        let tag = output_within(
            Command::new(python())
                .args([
                    "-c",
                    "import os, sys; os.setxattr(sys.argv[1], 'user.note', b'keep')",
                ])
                .arg(&tagged),
        );
        let tags = tag.status.success();
        for (file, note) in [
            ("linked", "a file with other hard links"),
            ("tagged", "a file with an ACL or extended attributes"),
        ] {
            if file == "tagged" && !tags {
                continue; // no setfattr, or no user attributes on this file system
            }
            let out = shell(format!(
                "{} --epochs 1 --json {side}-{file}.json",
                program("softmax")
            ));
            assert!(out.status.success(), "{side} {file}: {}", text(&out.stderr));
            assert_eq!(
                text(&out.stderr),
                format!("note: {side}-{file}.json is {note}: written in place\n")
            );
        }
        assert!(
            read(&d.join(format!("{side}-link.json"))).contains("\"losses\""),
            "{side}: the hard link kept the old text"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("notes.txt")).unwrap(),
            "notes\n"
        );
        let namespaces = Command::new("unshare").args(["-rm", "true"]).output();
        if !namespaces.is_ok_and(|o| o.status.success()) {
            println!("skipped: the overlay and full-disk cases (no user and mount namespace here)");
            continue;
        }
        for sub in ["up", "work", "merged", "small"] {
            std::fs::create_dir_all(d.join(format!("{side}-{sub}"))).unwrap();
        }
        let overlay = format!(
            "unshare -rm sh -c 'mount -t overlay overlay -o lowerdir=data,upperdir={side}-up,workdir={side}-work {side}-merged && {} --data-dir {side}-merged --epochs 1 --json data/digits.csv'",
            program("classify").replace('\'', "'\\''")
        );
        // With xino=on the overlay shows another inode number too.
        let xino = format!(
            "unshare -rm sh -c 'mount -t tmpfs t {side}-work && mkdir {side}-work/u {side}-work/w && mount -t overlay overlay -o lowerdir=data,upperdir={side}-work/u,workdir={side}-work/w,xino=on {side}-merged && {} --data-dir {side}-merged --epochs 1 --json data/digits.csv'",
            program("classify").replace('\'', "'\\''")
        );
        for script in [overlay, xino] {
            let needle = "the data file and --json name the same file";
            assert_clean_failure(&shell(script), 2, needle, side);
        }
        std::fs::write(d.join(format!("{side}-old.json")), "old precious content\n").unwrap();
        std::fs::write(d.join(format!("{side}-target.json")), "").unwrap();
        let full = format!(
            "unshare -rm sh -c 'mount -t tmpfs -o size=8k tmpfs {side}-small && cp {side}-old.json {side}-small/f && (dd if=/dev/zero of={side}-small/fill bs=1k count=100 2>/dev/null; true) && mount --bind {side}-small/f {side}-target.json && {} --epochs 3000 --json {side}-target.json > /dev/null; s=$?; cp {side}-small/f {side}-after.json; exit $s'",
            program("softmax").replace('\'', "'\\''")
        );
        assert_clean_failure(&shell(full), 1, "No space left on device", side);
        assert_eq!(
            std::fs::read_to_string(d.join(format!("{side}-after.json"))).unwrap(),
            "old precious content\n",
            "{side}: a failed in-place write damaged the old file"
        );
    }
    assert!(
        std::fs::read(&digits).unwrap() == std::fs::read(root().join("data/digits.csv")).unwrap()
    );
}

/// A stdout open for reading only (`prog 1<notes.txt`) is a failed write, as in Python: one line,
/// "Bad file descriptor", status 1. (Rust's standard library takes EBADF on stdout for success:
/// the run's text vanished with status 0.)
#[test]
fn a_read_only_stdout_is_a_failed_write_on_both_sides() {
    let dir = temp_dir();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "notes\n").unwrap();
    for (program, args) in [
        ("softmax", &["--epochs", "2"][..]),
        ("softmax", &["--epochs", "2", "--json", "-"][..]),
        ("fc_demo", &[][..]),
    ] {
        for side in ["rust", "python"] {
            let out = program_into(side, program, args, std::fs::File::open(&notes).unwrap());
            assert_clean_failure(
                &out,
                1,
                "error: Bad file descriptor",
                &format!("{side} {program} {args:?}"),
            );
        }
    }
    assert_eq!(read(&notes), "notes\n");
}

/// An append-only folder (`chattr +a`) takes new files but lets none be removed or renamed away:
/// an output there is refused before any work, on both sides, and no probe or temp file stays.
/// (Skipped where the file system has no such attribute.)
#[test]
fn an_append_only_folder_is_refused_before_any_work() {
    let dir = temp_dir();
    let folder = dir.join("a");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("o.json"), "old\n").unwrap();
    let chattr = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .arg(&folder)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !chattr("+a") {
        eprintln!("skipped: chattr +a is not supported here");
        return;
    }
    struct Unset<F: Fn(&str) -> bool>(F);
    impl<F: Fn(&str) -> bool> Drop for Unset<F> {
        fn drop(&mut self) {
            (self.0)("-a");
        }
    }
    let _unset = Unset(chattr);
    for target in ["o.json", "new.json"] {
        let path = folder.join(target);
        for side in ["rust", "python"] {
            let out = program_into(
                side,
                "softmax",
                &["--epochs", "2", "--json", path.to_str().unwrap()],
                std::fs::File::create(dir.join("stdout.txt")).unwrap(),
            );
            assert_clean_failure(
                &out,
                1,
                "its folder is append-only (chattr +a)",
                &format!("{side} {target}"),
            );
            assert_no_temp_files(&folder);
        }
    }
    assert_eq!(read(&folder.join("o.json")), "old\n");
    assert!(!folder.join("new.json").exists());
}
