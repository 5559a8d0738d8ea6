//! Random valid configurations of `softmax` keep parity with the Python reference, bit for bit
//! (a seeded loop over a bounded number of cases, so that CI stays fast).
mod common;
use common::*;
use serde_json::Value;

/// A small deterministic generator (SplitMix64), so the cases are the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn without_version(mut v: Value) -> Value {
    v["torch_version"] = Value::Null;
    v
}

#[test]
fn random_softmax_configurations_keep_bit_parity() {
    let mut rng = SplitMix(2026);
    let cases = 8;
    for case in 0..cases {
        let seed = rng.below(1_000_000).to_string();
        let epochs = (1 + rng.below(120)).to_string();
        // Learning rates from 1e-4 to 10, log-uniform, written as Python and Rust both parse them.
        let lr = format!(
            "{:.6e}",
            10f64.powf(-4.0 + 5.0 * rng.below(10_000) as f64 / 10_000.0)
        );
        let samples = (1 + rng.below(64)).to_string();
        let mut args = vec![
            "--seed",
            &seed,
            "--epochs",
            &epochs,
            "--lr",
            &lr,
            "--samples",
            &samples,
        ];
        if rng.below(2) == 1 {
            args.push("--logits");
        }
        args.extend(["--allow-nan", "--json", "-"]);
        let rust = run(env!("CARGO_BIN_EXE_softmax"), &args);
        let python = reference(&[&["softmax"], &args[..]].concat());
        assert!(
            rust.status.success() && python.status.success(),
            "case {case} {args:?}"
        );
        let (r, p): (Value, Value) = (
            serde_json::from_slice(&rust.stdout).unwrap(),
            serde_json::from_slice(&python.stdout).unwrap(),
        );
        // serde_json reads both texts back to the same f64 only if the numbers are bit-identical.
        assert_eq!(
            without_version(r),
            without_version(p),
            "case {case}: softmax {args:?}"
        );
    }
}
