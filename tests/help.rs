//! Every program's `--help` ends with one line naming the lesson section it ports (by the
//! lesson's own section name) and its Python twin command.
mod common;
use common::output_within;
use std::process::Command;

/// (program, its binary, the lesson's section, its Python twin command)
const PROGRAMS: [(&str, &str, &str, &str); 6] = [
    (
        "softmax",
        env!("CARGO_BIN_EXE_softmax"),
        "二、交叉熵损失函数",
        ".venv/bin/python scripts/reference.py softmax",
    ),
    (
        "autograd_demo",
        env!("CARGO_BIN_EXE_autograd_demo"),
        "三、自动微分模块",
        ".venv/bin/python scripts/reference.py autograd_demo",
    ),
    (
        "fc_demo",
        env!("CARGO_BIN_EXE_fc_demo"),
        "三、自动微分模块",
        ".venv/bin/python scripts/reference.py fc_demo",
    ),
    (
        "activations",
        env!("CARGO_BIN_EXE_activations"),
        "一、softmax的基本概念",
        ".venv/bin/python scripts/reference.py activations",
    ),
    (
        "classify",
        env!("CARGO_BIN_EXE_classify"),
        "一、softmax的基本概念",
        ".venv/bin/python scripts/reference.py classify",
    ),
    (
        "bench",
        env!("CARGO_BIN_EXE_bench"),
        "二、交叉熵损失函数",
        ".venv/bin/python scripts/bench.py",
    ),
];

#[test]
fn every_programs_help_ends_with_its_lesson_section_and_python_twin() {
    for (name, bin, section, twin) in PROGRAMS {
        let out = output_within(Command::new(bin).arg("--help"));
        assert!(out.status.success(), "{name} --help");
        let text = String::from_utf8(out.stdout).unwrap();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            last.starts_with("Lesson: ") && last.contains(section),
            "{name}: the last line of --help names no lesson section: {last}"
        );
        assert!(
            last.contains(&format!("Python twin: {twin}")),
            "{name}: the last line of --help names no Python twin: {last}"
        );
        // The Python twin exists.
        let script = twin.split_whitespace().nth(1).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(root.join(script).is_file(), "{name}: {script}");
    }
}
