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
        let out = Command::new("bash")
            .arg("-c")
            .arg("ulimit -v 4194304; exec \"$@\" > /dev/null")
            .arg("limited")
            .arg(&bin)
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
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
