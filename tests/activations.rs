//! `activations`: every property the lesson names, asserted with the numbers it prints.
mod common;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_activations");

#[test]
fn activation_properties_hold_in_the_numbers() {
    let t = trace(BIN, &[]);
    let b = block(&t, "activation_properties");
    let (lo, hi) = (num(&b["sigmoid min"]), num(&b["sigmoid max"]));
    assert!(0.0 < lo && hi < 1.0, "sigmoid in (0, 1): {lo} {hi}");
    assert_eq!(num(&b["sigmoid' max"]), 0.25, "sigmoid'(0) = 1/4");
    assert_eq!(num(&b["sigmoid' argmax x"]), 0.0);
    let grads = nums(&block(&t, "activation_table")["sigmoid'"]);
    assert!(
        grads[0] < 0.003 && grads[grads.len() - 1] < 0.003,
        "vanishing at the ends"
    );
    assert!(-1.0 < num(&b["tanh min"]) && num(&b["tanh max"]) < 1.0);
    assert_eq!(num(&b["tanh(0)"]), 0.0);
    assert!(num(&b["tanh odd gap"]) <= 1e-7);
    assert_eq!(num(&b["tanh' max"]), 1.0);
    assert_eq!(b["relu' is 1 for x > 0"], true);
    assert_eq!(b["relu' is 0 for x < 0"], true);
    let b1 = block(&t, "activation_table");
    for (x, g) in nums(&b1["x"]).iter().zip(nums(&b1["relu'"])) {
        assert_eq!(g, if *x > 0.0 { 1.0 } else { 0.0 }, "relu'({x})");
    }
    let dead = block(&t, "dead_relu");
    assert!(nums(&dead["dead z"]).iter().all(|z| *z < 0.0));
    assert!(nums(&dead["dead w.grad"])
        .iter()
        .chain(nums(&dead["dead b.grad"]).iter())
        .all(|g| *g == 0.0));
    assert!(nums(&dead["live w.grad"]).iter().all(|g| *g > 0.0));
}

#[test]
fn softmax_properties_hold_in_the_numbers() {
    let t = trace(BIN, &[]);
    let b = block(&t, "softmax_stability");
    assert!(num(&b["largest |sum - 1|"]) <= 4.0 * f32::EPSILON as f64);
    assert!(num(&b["shift difference"]) <= 1e-6);
    // softmax([1000, 1001, 1002]) = softmax([0, 1, 2]), by hand: e^k / (1 + e + e^2).
    let denom = 1.0 + 1f64.exp() + 2f64.exp();
    for (k, p) in nums(&b["softmax large"]).iter().enumerate() {
        assert!((p - (k as f64).exp() / denom).abs() < 1e-6, "{k}: {p}");
    }
    assert!(nums(&b["naive large"]).iter().all(|p| p.is_nan()));
}

#[test]
fn cross_entropy_forms_agree_and_double_softmax_is_bounded() {
    let t = trace(BIN, &[]);
    let b = block(&t, "cross_entropy_three_ways");
    let (hand, nll, ce) = (
        num(&b["by hand"]),
        num(&b["nll_loss"]),
        num(&b["cross_entropy"]),
    );
    assert!(
        (hand - ce).abs() <= 1e-6 && (nll - ce).abs() <= 1e-6,
        "{hand} {nll} {ce}"
    );
    let b = block(&t, "binary_cross_entropy_fused");
    assert!((num(&b["bce"]) - num(&b["bce with logits"])).abs() <= 1e-6);
    assert!(num(&b["large by hand"]).is_infinite());
    assert_eq!(
        num(&b["large bce"]),
        80.0,
        "(100 + 40 + 100) / 3: log clamped at -100"
    );
    assert!((num(&b["large bce with logits"]) - 90.0).abs() < 1e-4);
    let b = block(&t, "double_softmax");
    let bound = (std::f64::consts::E + 2.0).ln() - 1.0;
    assert_eq!(num(&b["lower bound"]), bound);
    assert!((num(&b["one-hot loss"]) - bound).abs() < 1e-6);
    assert!(num(&b["grad norm double softmax"]) < num(&b["grad norm logits"]));
    assert!(num(&b["double softmax final loss"]) > bound);
    assert!(num(&b["logits final loss"]) < num(&b["double softmax final loss"]));
}

#[test]
fn plots_are_written_and_decode() {
    let dir = temp_dir();
    let svg = dir.join("act.svg");
    let png = dir.join("act.png");
    for path in [&svg, &png] {
        let out = run(BIN, &["--epochs", "1", "--plot", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(std::fs::metadata(path).unwrap().len() > 1000);
    }
    assert!(read(&svg).contains("<svg"));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1280, 840));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temp files left: {leftovers:?}");
}

#[test]
fn bad_input_fails_cleanly_and_leaves_no_file() {
    let dir = temp_dir();
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let under_file = blocker.join("plot.svg");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--points", "1"], 2, "--points"),
        (vec!["--points", "-4"], 2, "--points"),
        (vec!["--points", "ten"], 2, "--points"),
        (vec!["--plot", "curves.jpg"], 2, "unknown extension '.jpg'"),
        (vec!["--plot", "curves"], 2, "no extension"),
        (
            vec!["--plot", "/nonexistent-folder/curves.svg"],
            1,
            "cannot write",
        ),
        (
            vec!["--plot", under_file.to_str().unwrap()],
            1,
            "cannot write",
        ),
        (vec!["--epochs", "0"], 2, "--epochs"),
    ];
    for (args, code, needle) in &cases {
        let out = run(BIN, args);
        assert_clean_failure(&out, *code, needle, &format!("activations {args:?}"));
        assert!(
            out.stdout.is_empty(),
            "nothing printed before a failure: {args:?}"
        );
    }
    assert!(!std::path::Path::new("curves.jpg").exists());
}
