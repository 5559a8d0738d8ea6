//! The bad-input matrix: every program, run as a user would, with wrong options, numbers,
//! devices, files and outputs. Each case must end with the right status (2 for usage, 1 at run
//! time), one line on stderr that names the problem, no panic, no abort, no signal death.
mod common;
use common::*;
use std::process::{Command, Output};

const SOFTMAX: &str = env!("CARGO_BIN_EXE_softmax");
const AUTOGRAD: &str = env!("CARGO_BIN_EXE_autograd_demo");
const FC: &str = env!("CARGO_BIN_EXE_fc_demo");
const ACTIVATIONS: &str = env!("CARGO_BIN_EXE_activations");
const CLASSIFY: &str = env!("CARGO_BIN_EXE_classify");
const BENCH: &str = env!("CARGO_BIN_EXE_bench");
const BENCH_PLOT: &str = env!("CARGO_BIN_EXE_bench_plot");

fn name(bin: &str) -> &str {
    bin.rsplit('/').next().unwrap()
}

/// One bad input: the program, its options, the status and a word the error line must hold,
/// and whether `reference.py` has the same program and options (then it must answer with the
/// same status and the same first line).
struct Case {
    bin: &'static str,
    args: Vec<String>,
    code: i32,
    needle: String,
    twin: bool,
}

fn case(bin: &'static str, args: &[&str], code: i32, needle: &str) -> Case {
    Case {
        bin,
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        needle: needle.to_string(),
        twin: bin != BENCH && bin != BENCH_PLOT,
    }
}

/// A case with options that only the Rust program has (`--plot`).
fn rust_only(bin: &'static str, args: &[&str], code: i32, needle: &str) -> Case {
    Case {
        twin: false,
        ..case(bin, args, code, needle)
    }
}

fn first_line(bytes: &[u8]) -> String {
    text(bytes).lines().next().unwrap_or_default().to_string()
}

#[test]
fn every_bad_input_fails_cleanly() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(path("garbage.safetensors"), [0xffu8; 64]).unwrap();
    std::fs::write(path("zero.safetensors"), []).unwrap();
    let data = |folder: &str, content: &[u8]| data_folder(dir, folder, "digits.csv", content);
    let row = |label: &str| csv_row(64, label);
    let csv = |rows: &str| csv_text(64, rows);
    let out_of_range = data("range", &csv(&format!("{}{}", row("3"), row("10"))));
    let negative = data("negative", &csv(&row("-1")));
    let not_int = data("notint", &csv(&row("2.5")));
    let huge_label = data("hugelabel", &csv(&row("99999999999999999999")));
    let wrong_header = data("header", b"a,b,target\n1,2,0\n");
    let inf = data("inf", &csv(&row("1").replacen("0.0", "inf", 1)));
    let underscore = data("underscore", &csv(&row("1").replacen("0.0", "1_0", 1)));
    let f32_overflow = data("f32overflow", &csv(&row("1").replacen("0.0", "1e39", 1)));
    let short_row = data("short", &csv("1,2,3\n"));
    let only_header = data("onlyheader", &csv(""));
    let empty = data("empty", b"");
    let binary = data("binary", &[0xff, 0xfe, 0x00, 0x01, b'\n', 0x80]);
    // Data files that are not regular files, or too large to be one of ours.
    let special = |folder: &str, make: &dyn Fn(&std::path::Path)| {
        let d = dir.join(folder);
        std::fs::create_dir_all(&d).unwrap();
        make(&d.join("digits.csv"));
        d.to_str().unwrap().to_string()
    };
    let fifo = special("fifo", &|p| mkfifo(p));
    let dev_zero = special("devzero", &|p| {
        std::os::unix::fs::symlink("/dev/zero", p).unwrap()
    });
    let folder = special("folder", &|p| std::fs::create_dir(p).unwrap());
    let sparse = special("sparse", &|p| {
        let f = std::fs::File::create(p).unwrap();
        f.set_len(65 * 1024 * 1024).unwrap();
    });
    let ckpt_fifo = path("fifo.safetensors");
    mkfifo(&ckpt_fifo);
    let out_fifo = path("out-fifo.json");
    mkfifo(&out_fifo);
    let file_as_dir = path("garbage.safetensors") + "/out.json";
    // bench_plot's inputs: a results file of its own, or one width of a sweep.
    let written = std::cell::Cell::new(0);
    let results_with = |json: &str| {
        written.set(written.get() + 1);
        let file = path(&format!("results-{}.json", written.get()));
        std::fs::write(&file, json).unwrap();
        file
    };
    let sweep_with = |features: f64, rows: &str, rust: &str| {
        let good = "[1e-5, 2e-5]";
        results_with(&format!(
            r#"{{"sweep": [{{"features": {features}, "rows": {rows}, "median_s": {{"rust": {rust}, "c++": {good}, "python": {good}}}}}]}}"#
        ))
    };
    let results = sweep_with(4.0, "[7, 8]", "[1e-5, 2e-5]");
    let (out_png, same_png) = (path("out.png"), results_with("{}") + ".png");
    std::fs::write(&same_png, "{}").unwrap();
    let (zero_ckpt, garbage_ckpt) = (path("zero.safetensors"), path("garbage.safetensors"));
    let folder_out = dir.to_str().unwrap().to_string();
    // A copy of the real data set whose file an output must not replace.
    let same_dir = dir.join("same").to_str().unwrap().to_string();
    std::fs::create_dir_all(&same_dir).unwrap();
    let same_data = format!("{same_dir}/digits.csv");
    std::fs::copy(root().join("data/digits.csv"), &same_data).unwrap();
    let same_out = path("same.out");
    let same_svg = path("same.svg");
    let max = i64::MAX.to_string();
    // A real checkpoint, and two made from it: a header nested 20,000 deep (past serde_json's
    // and Python's recursion limits), and a test_fraction of 5e-324 (an empty test set).
    let good_ckpt = path("good.safetensors");
    run_ok(CLASSIFY, &["--epochs", "1", "--save", &good_ckpt]);
    let bytes = std::fs::read(&good_ckpt).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let with_header = |name: &str, header: Vec<u8>| {
        let mut header = header;
        header.resize(header.len().div_ceil(8) * 8, b' ');
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend(&header);
        file.extend(&bytes[8 + n..]);
        std::fs::write(path(name), file).unwrap();
        path(name)
    };
    let deep_ckpt = with_header(
        "deep.safetensors",
        format!(
            "{{\"__metadata__\":{}{}}}",
            "[".repeat(20000),
            "]".repeat(20000)
        )
        .into_bytes(),
    );
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"]["test_fraction"] = "5e-324".into();
    let tiny_ckpt = with_header("tiny.safetensors", serde_json::to_vec(&header).unwrap());

    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // Unknown and malformed options.
        case(SOFTMAX, &["--frobnicate"], 2, "--frobnicate"),
        // Parsed as clap parses them, on both sides (#20 item 11).
        case(CLASSIFY, &["--load", &good_ckpt, "--evaluate", "--momentum", "0"], 2, "'--evaluate' cannot be used with '--momentum <MOMENTUM>'"),
        case(CLASSIFY, &["--load", &good_ckpt, "--momentum", "0", "--evaluate"], 2, "'--momentum <MOMENTUM>' cannot be used with '--evaluate'"),
        case(CLASSIFY, &["--load", &good_ckpt, "--evaluate", "--lr", "0.5", "--epochs", "5"], 2, "cannot be used with: --lr <LR> --epochs <EPOCHS>"),
        case(SOFTMAX, &["--device", "cuda:+1"], 2, "unknown device 'cuda:+1'"),
        case(SOFTMAX, &["--epochs", "\u{1c}2"], 2, "is not an integer"),
        case(SOFTMAX, &["--lr", "\u{1f}0.5"], 2, "is not a number"),
        case(SOFTMAX, &["--json", "-o.json"], 2, "unexpected argument '-o' found"),
        case(SOFTMAX, &["--json", "--x"], 2, "unexpected argument '--x' found"),
        case(SOFTMAX, &["--epochs", "--json"], 2, "invalid value '--json' for '--epochs <EPOCHS>'"),
        case(SOFTMAX, &["--epochs", "3", "--", "x"], 2, "unexpected argument 'x' found"),
        case(SOFTMAX, &["--", "--epochs", "3"], 2, "unexpected argument '--epochs' found"),
        case(CLASSIFY, &["--dataset"], 2, "[possible values: digits, breast-cancer]"),
        case(SOFTMAX, &["--logits=true"], 2, "unexpected value 'true' for '--logits' found"),
        case(CLASSIFY, &["--load", &deep_ckpt, "--evaluate"], 1, "its header is not a JSON object"),
        case(CLASSIFY, &["--load", &tiny_ckpt, "--evaluate"], 1, "its test_fraction 5e-324 leaves an empty test set"),
        case(SOFTMAX, &["--json", "no\nsuch/t.json"], 1, "cannot write no\\nsuch/t.json: No such file"),
        case(SOFTMAX, &["--json", "no\u{85}such/t.json"], 1, "cannot write no\\x85such/t.json: No such file"),
        case(SOFTMAX, &["--json", "no\u{9b}such\u{2028}/t.json"], 1, "cannot write no\\x9bsuch\\u2028/t.json: No such file"),
        case(SOFTMAX, &["--json", &path(&"a".repeat(256))], 1, "File name too long"),
        case(CLASSIFY, &["--save", "/nonexistent/m.st", "--json", "/nonexistent/t.json", "--device", "cuda"], 1, "cannot write /nonexistent/m.st"),
        case(SOFTMAX, &["extra"], 2, "extra"),
        case(SOFTMAX, &["--epochs"], 2, "--epochs"),
        case(AUTOGRAD, &["--seed", "1"], 2, "--seed"),
        case(FC, &["--step", "3"], 2, "--step"),
        case(ACTIVATIONS, &["--points=abc"], 2, "--points"),
        case(CLASSIFY, &["--dataset", "mnist"], 2, "mnist"),
        case(BENCH, &["warp-step"], 2, "warp-step"),
        case(BENCH, &["sweep"], 2, "--sizes"),
        case(BENCH, &["sweep", "--sizes", "7"], 2, "ROWS:STEPS"),
        // Zero, negative, NaN and infinite numbers.
        case(SOFTMAX, &["--epochs", "0"], 2, "--epochs"),
        case(SOFTMAX, &["--epochs", "-5"], 2, "--epochs"),
        case(SOFTMAX, &["--epochs", "1e3"], 2, "--epochs"),
        case(SOFTMAX, &["--lr", "0"], 2, "--lr"),
        case(SOFTMAX, &["--lr", "-1"], 2, "--lr"),
        case(SOFTMAX, &["--lr", "NaN"], 2, "--lr"),
        case(SOFTMAX, &["--lr", "inf"], 2, "--lr"),
        case(SOFTMAX, &["--lr", "-inf"], 2, "--lr"),
        case(SOFTMAX, &["--lr", "1e400"], 2, "got inf"),
        case(SOFTMAX, &["--lr", "1e-400"], 2, "got 0.0"),
        case(SOFTMAX, &["--samples", "0"], 2, "--samples"),
        case(SOFTMAX, &["--seed", "-1"], 2, "--seed"),
        case(FC, &["--steps", "0"], 2, "--steps"),
        case(FC, &["--lr", "nan"], 2, "--lr"),
        case(ACTIVATIONS, &["--points", "1"], 2, "--points"),
        case(ACTIVATIONS, &["--points", "0"], 2, "--points"),
        case(CLASSIFY, &["--batch-size", "0"], 2, "--batch-size"),
        case(CLASSIFY, &["--test-fraction", "nan"], 2, "--test-fraction"),
        case(CLASSIFY, &["--test-fraction", "1.5"], 2, "--test-fraction"),
        case(CLASSIFY, &["--test-fraction", "0"], 2, "got 0.0"),
        case(CLASSIFY, &["--momentum", "inf"], 2, "--momentum"),
        case(CLASSIFY, &["--weight-decay", "-1"], 2, "--weight-decay"),
        case(CLASSIFY, &["--lr", "-0.0"], 2, "got -0.0"),
        // The largest numbers an option takes, and the next ones: a range, a fallible
        // allocation or a streaming run, never an abort.
        case(SOFTMAX, &["--epochs", "99999999999999999999"], 2, "must be from 1 to 9223372036854775807"),
        case(SOFTMAX, &["--epochs", "-99999999999999999999"], 2, "--epochs"),
        case(SOFTMAX, &["--seed", "9223372036854775808"], 2, "--seed"),
        case(SOFTMAX, &["--samples", &max, "--epochs", "1"], 1, "--samples 9223372036854775807: cannot make the data"),
        case(SOFTMAX, &["--samples", "1099511627776", "--epochs", "1"], 1, "--samples 1099511627776: cannot make the data"),
        case(ACTIVATIONS, &["--points", "100001"], 2, "must be from 2 to 100000"),
        case(ACTIVATIONS, &["--points", &max], 2, "must be from 2 to 100000"),
        case(CLASSIFY, &["--batch-size", "100000"], 2, "larger than the training set"),
        case(CLASSIFY, &["--batch-size", &max], 2, "larger than the training set"),
        case(CLASSIFY, &["--test-fraction", "0.0001"], 2, "leaves an empty test set"),
        case(CLASSIFY, &["--test-fraction", "0.9999"], 2, "leaves an empty training set"),
        case(BENCH, &["lesson-step", "--threads", "100000"], 2, "must be from 1 to"),
        case(SOFTMAX, &["--lr", "3.5e38"], 2, "float32's largest"),
        case(FC, &["--lr", "1e300"], 2, "float32's largest"),
        case(CLASSIFY, &["--weight-decay", "1e300"], 2, "float32's largest"),
        case(CLASSIFY, &["--momentum", "3.5e38"], 2, "float32's largest"),
        case(BENCH, &["kernel-step", "--rows", &max, "--steps", "1", "--warmup", "1"], 1, "--rows"),
        // An option given twice; an output that would replace an input or another output.
        case(SOFTMAX, &["--epochs", "5", "--epochs", "5"], 2, "cannot be used multiple times"),
        case(SOFTMAX, &["--logits", "--logits"], 2, "cannot be used multiple times"),
        case(CLASSIFY, &["--data-dir", &same_dir, "--json", &same_data], 2, "the data file and --json name the same file"),
        case(CLASSIFY, &["--data-dir", &same_dir, "--save", &same_data], 2, "the data file and --save name the same file"),
        case(CLASSIFY, &["--save", &same_out, "--json", &same_out], 2, "--save and --json name the same file"),
        rust_only(ACTIVATIONS, &["--plot", &same_svg, "--json", &same_svg], 2, "--plot and --json name the same file"),
        // Numbers written in ways only one side would read.
        case(SOFTMAX, &["--epochs", "1_000"], 2, "is not an integer"),
        case(SOFTMAX, &["--epochs", "\u{ff13}"], 2, "is not an integer"),
        case(SOFTMAX, &["--lr", "1_0"], 2, "is not a number"),
        case(SOFTMAX, &["--seed", "1_0"], 2, "is not a seed"),
        // Unavailable or malformed devices.
        case(SOFTMAX, &["--device", "tpu"], 2, "unknown device"),
        case(SOFTMAX, &["--device", "cuda:"], 2, "unknown device"),
        case(SOFTMAX, &["--device", "CUDA"], 2, "unknown device"),
        case(SOFTMAX, &["--device", "cuda:99"], 1, "not available"),
        case(SOFTMAX, &["--device", "cuda:99999999999999999999999"], 2, "unknown device"),
        case(AUTOGRAD, &["--device", "mps"], 2, "unknown device"),
        case(FC, &["--device", "cuda:-1"], 2, "unknown device"),
        case(ACTIVATIONS, &["--device", "cuda:99"], 1, "not available"),
        case(CLASSIFY, &["--device", "cuda:99"], 1, "not available"),
        // Missing, empty, truncated, wrong-format and wrong-shape input files.
        case(CLASSIFY, &["--load", "/nonexistent/m.safetensors"], 1, "checkpoint"),
        case(CLASSIFY, &["--load", &zero_ckpt], 1, "checkpoint"),
        case(CLASSIFY, &["--load", &garbage_ckpt], 1, "checkpoint"),
        case(CLASSIFY, &["--load", "/etc/hostname"], 1, "checkpoint"),
        case(CLASSIFY, &["--data-dir", "/nonexistent"], 1, "not found"),
        case(CLASSIFY, &["--data-dir", &wrong_header], 1, "the header has 3 columns, expected 65"),
        case(CLASSIFY, &["--data-dir", &inf], 1, "'inf' is not a finite number"),
        case(CLASSIFY, &["--data-dir", &underscore], 1, "'1_0' is not a finite number"),
        case(CLASSIFY, &["--data-dir", &f32_overflow], 1, "'1e39' is out of float32's range"),
        case(CLASSIFY, &["--data-dir", &short_row], 1, "3 fields, expected 65"),
        case(CLASSIFY, &["--data-dir", &only_header], 1, "has no samples"),
        case(CLASSIFY, &["--data-dir", &empty], 1, "is empty"),
        case(CLASSIFY, &["--data-dir", &binary], 1, "digits.csv"),
        // Labels out of range in a data file.
        case(CLASSIFY, &["--data-dir", &out_of_range], 1, "label 10 is out of range 0..9"),
        case(CLASSIFY, &["--data-dir", &negative], 1, "label -1 is out of range"),
        case(CLASSIFY, &["--data-dir", &not_int], 1, "label '2.5' is not an integer"),
        case(CLASSIFY, &["--data-dir", &huge_label], 1, "label '99999999999999999999' is not an integer"),
        // Input files that are not regular files, or larger than any of ours.
        case(CLASSIFY, &["--data-dir", &fifo], 1, "not a regular file"),
        case(CLASSIFY, &["--data-dir", &dev_zero], 1, "not a regular file"),
        case(CLASSIFY, &["--data-dir", &folder], 1, "it is a folder"),
        case(CLASSIFY, &["--data-dir", &sparse], 1, "more than the 67108864 bytes accepted"),
        case(CLASSIFY, &["--load", &ckpt_fifo], 1, "not a regular file"),
        case(CLASSIFY, &["--load", "/dev/zero"], 1, "not a regular file"),
        case(CLASSIFY, &["--load", &folder_out], 1, "it is a folder"),
        // Outputs in a missing folder, under a file, on a full device, a pipe with no reader,
        // a folder, with a wrong extension.
        case(SOFTMAX, &["--json", "/nonexistent/t.json"], 1, "cannot write"),
        case(SOFTMAX, &["--json", &file_as_dir], 1, "cannot write"),
        case(SOFTMAX, &["--json", &folder_out], 1, "not a file path"),
        case(SOFTMAX, &["--json", &out_fifo, "--epochs", "1"], 1, "No such device or address"),
        case(SOFTMAX, &["--json", &format!("{out_fifo}/x.json"), "--epochs", "1"], 1, "Not a directory"),
        case(SOFTMAX, &["--json", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        case(AUTOGRAD, &["--json", "/dev/full"], 1, "No space left on device"),
        case(FC, &["--json", "/nonexistent/t.json"], 1, "cannot write"),
        rust_only(ACTIVATIONS, &["--plot", "/nonexistent/p.svg"], 1, "cannot write"),
        rust_only(ACTIVATIONS, &["--plot", "/dev/full", "--epochs", "1"], 2, "no extension"),
        rust_only(ACTIVATIONS, &["--plot", "p.bmp"], 2, "unknown extension"),
        case(CLASSIFY, &["--save", "/nonexistent/m.safetensors"], 1, "cannot write"),
        case(CLASSIFY, &["--json", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        case(CLASSIFY, &["--save", "/dev/full", "--epochs", "1"], 1, "No space left on device"),
        // Divergence stops with the epoch (or step) named.
        case(SOFTMAX, &["--logits", "--lr", "1e38"], 1, "training diverged"),
        case(FC, &["--lr", "10", "--steps", "100"], 1, "the loss is inf at step"),
        case(CLASSIFY, &["--dataset", "breast-cancer", "--lr", "1e38"], 1, "the loss is nan at epoch 1"),
        // A path with a trailing slash names a folder, never a file to write.
        case(CLASSIFY, &["--json", "data/digits.csv/"], 1, "not a file path"),
        case(SOFTMAX, &["--json", &(path("t.json") + "/")], 1, "not a file path"),
        case(SOFTMAX, &["--json", &(path("t.json") + "/.")], 1, "not a file path"),
        case(CLASSIFY, &["--save", &(path("m.st") + "/."), "--epochs", "1"], 1, "not a file path"),
        rust_only(ACTIVATIONS, &["--plot", &(path("a.png") + "/.")], 1, "not a file path"),
        rust_only(AUTOGRAD, &["--graph", &(path("g.svg") + "/.")], 1, "not a file path"),
        case(SOFTMAX, &["--json", "/dev/stdin"], 1, "descriptor 0 is open for reading only"),
        case(SOFTMAX, &["--json", "/proc/self/fd/0"], 1, "descriptor 0 is open for reading only"),
        // clap checks a conflict before a requirement, and so does reference.py.
        case(CLASSIFY, &["--evaluate", "--epochs", "5"], 2, "cannot be used with '--epochs"),
        // bench_plot (scripts/bench.py's picture): its arguments, files and results checked.
        case(BENCH_PLOT, &[], 2, "<RESULTS.json> <OUT.png>"),
        case(BENCH_PLOT, &["a.json", "b.png", "c"], 2, "unexpected argument 'c'"),
        case(BENCH_PLOT, &[&results, "x.svg"], 2, "does not end in .png"),
        case(BENCH_PLOT, &[&same_png, &same_png], 2, "RESULTS and OUT name the same file"),
        case(BENCH_PLOT, &["/dev/zero", &out_png], 1, "not a regular file"),
        case(BENCH_PLOT, &[&ckpt_fifo, &out_png], 1, "not a regular file"),
        case(BENCH_PLOT, &[&path("none.json"), &out_png], 1, "No such file"),
        case(BENCH_PLOT, &[&results_with("[1]"), &out_png], 1, "no \"sweep\" array"),
        case(BENCH_PLOT, &[&results_with(r#"{"sweep": []}"#), &out_png], 1, "0 widths"),
        case(BENCH_PLOT, &[&sweep_with(4.5, "[7, 8]", "[1e-5, 2e-5]"), &out_png], 1, "features is not an integer"),
        case(BENCH_PLOT, &[&sweep_with(4.0, "[7, \"a\"]", "[1e-5, 2e-5]"), &out_png], 1, "rows[1] is not a number"),
        case(BENCH_PLOT, &[&sweep_with(4.0, "[7, 8]", "[0, 0]"), &out_png], 1, "rust[0] is not a number from"),
        case(BENCH_PLOT, &[&sweep_with(4.0, "[7, 8]", "[1e308, 1e-308]"), &out_png], 1, "rust[0] is not a number from"),
        case(BENCH_PLOT, &[&sweep_with(4.0, "[7, 8]", "[1e-5]"), &out_png], 1, "has 1 numbers, expected 2"),
        case(BENCH_PLOT, &[&sweep_with(4.0, "[8, 7]", "[1e-5, 2e-5]"), &out_png], 1, "not in increasing order"),
        case(BENCH_PLOT, &[&results, &(out_png.clone() + "/")], 1, "not a file path"),
    ];
    // Each case's program once (two at a time: the libtorch start-up is most of a case), then
    // the Python twins against the same outputs (warm: tests/common's `reference`).
    let outputs = in_parallel(&cases, |c| {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        run(c.bin, &args)
    });
    let mut passed = 0;
    for (c, out) in cases.iter().zip(&outputs) {
        let what = format!("{} {:?}", name(c.bin), c.args);
        assert_clean_failure(out, c.code, &c.needle, &what);
        passed += 1;
    }
    let twins: Vec<(&Case, &Output)> = cases.iter().zip(&outputs).filter(|(c, _)| c.twin).collect();
    let mismatches: Vec<String> = in_parallel(&twins, |(c, rust)| {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let py = reference(&[&[name(c.bin)], args.as_slice()].concat());
        let (rust_line, py_line) = (first_line(&rust.stderr), first_line(&py.stderr));
        (py.status.code() != rust.status.code() || py_line != rust_line).then(|| {
            format!(
                "{} {args:?}:\n  rust   {:?} {rust_line}\n  python {:?} {py_line}",
                name(c.bin),
                rust.status.code(),
                py.status.code()
            )
        })
    })
    .into_iter()
    .flatten()
    .collect();
    let twins = twins.len();
    assert!(
        mismatches.is_empty(),
        "the Python reference answers differently:\n{}",
        mismatches.join("\n")
    );
    println!(
        "bad inputs: {} tried, {passed} passed; {twins} answered identically by reference.py",
        cases.len()
    );
    assert!(cases.len() >= 90);
}

#[test]
fn every_program_piped_into_head_ends_quietly() {
    let programs = [
        "softmax --epochs 30000",
        "autograd_demo",
        "fc_demo --steps 5000",
        "activations --points 5000",
        "classify --dataset breast-cancer --epochs 3",
        "softmax --epochs 3000 --json -",
    ];
    for program in programs {
        let (bin, args) = program.split_once(' ').unwrap_or((program, ""));
        let exe = root().join("target/release").join(bin);
        let exe = if exe.exists() {
            exe
        } else {
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(bin)
        };
        let shell = format!(
            "{} {args} | head -1 > /dev/null; echo ${{PIPESTATUS[0]}}",
            exe.display()
        );
        let out = output_within(
            Command::new("bash")
                .arg("-c")
                .arg(&shell)
                .current_dir(root()),
        );
        let status: i32 = text(&out.stdout).trim().parse().unwrap();
        let stderr = text(&out.stderr);
        assert!(
            status == 0 || status == 141,
            "{program} | head -1: status {status}, stderr {stderr}"
        );
        assert!(stderr.is_empty(), "{program} | head -1: {stderr}");
    }
}

/// `f` on every item, on two threads, the results in the items' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let halves: Vec<_> = items
            .chunks(items.len().div_ceil(2).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Arguments that are not UTF-8 are refused by both sides with clap's line (a path option too:
/// `--save` used to write the file), and `-V` prints a version line, status 0, on both sides.
#[test]
fn non_utf8_arguments_and_the_version_flag_answer_alike() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::TempDir::new().unwrap();
    let bad = |name: &[u8]| dir.path().join(std::ffi::OsStr::from_bytes(name));
    let cases: [(&str, Vec<std::ffi::OsString>); 3] = [
        ("softmax", vec!["--json".into(), bad(b"\xff.json").into()]),
        (
            "classify",
            vec![
                "--epochs".into(),
                "1".into(),
                "--save".into(),
                bad(b"\xfe.st").into(),
            ],
        ),
        ("classify", vec!["--data-dir".into(), bad(b"\xfd").into()]),
    ];
    for (program, args) in &cases {
        let rust = output_within(
            Command::new(root().join("target/release").join(program))
                .args(args)
                .current_dir(root())
                .stdin(std::process::Stdio::null()),
        );
        let python = output_within(
            reference_command()
                .arg(program)
                .args(args)
                .stdin(std::process::Stdio::null()),
        );
        for (side, out) in [("rust", rust), ("python", python)] {
            assert_clean_failure(
                &out,
                2,
                "invalid UTF-8 was detected in one or more arguments",
                side,
            );
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a file was written"
    );
    for program in ["softmax", "classify"] {
        let rust = run_ok(
            &root()
                .join("target/release")
                .join(program)
                .to_string_lossy(),
            &["-V"],
        );
        let python = reference_ok(&[program, "--version"]);
        for out in [rust, python] {
            assert!(
                text(&out.stdout).starts_with(&format!("{program} (lesson_torch ")),
                "{}",
                text(&out.stdout)
            );
        }
    }
}
