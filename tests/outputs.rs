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
    let mut command = if side == "rust" {
        Command::new(env!("CARGO_BIN_EXE_softmax"))
    } else {
        let mut c = reference_command();
        c.arg("softmax");
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
        // 20000 losses: a trace of about 500 KB, far more than a pipe holds.
        let args = ["--epochs", "20000", "--json", fifo.to_str().unwrap()];
        let out = softmax_into(side, &args, std::fs::File::create("/dev/null").unwrap());
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
