//! The two readers of untrusted files, fed thousands of random and mutated inputs: the
//! checkpoint reader (safetensors with classify's metadata) and the data-set CSV reader. Each
//! input gives a valid result or an error, never a panic (proptest reports a panic as a
//! failure and shrinks it to the smallest input that still panics).
mod common;
use common::*;
use lesson_torch::io::checkpoint::{self, TrainingRun};
use lesson_torch::io::dataset::{self, DatasetName};
use lesson_torch::nn::linear::Linear;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use std::path::Path;
use tch::Device;

/// A valid checkpoint of each kind, as `classify --save` writes it.
fn valid_checkpoints() -> Vec<Vec<u8>> {
    let dir = tempfile::TempDir::new().unwrap();
    [DatasetName::BreastCancer, DatasetName::Digits]
        .into_iter()
        .map(|dataset| {
            tch::manual_seed(3);
            let layer = Linear::new(
                dataset.features() as i64,
                checkpoint::outputs(dataset),
                Device::Cpu,
            );
            let run = TrainingRun {
                dataset,
                seed: 5,
                test_fraction: 0.25,
                mean: vec![0.5; dataset.features()],
                std: vec![2.0; dataset.features()],
            };
            let path = dir.path().join("m.safetensors");
            checkpoint::save(&path, &layer, &run).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect()
}

/// A valid breast-cancer CSV of a few rows, as scripts/make_datasets.py writes it.
fn valid_csv() -> Vec<u8> {
    let features = DatasetName::BreastCancer.features();
    let mut text = (0..features)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",target\n";
    for row in 0..6 {
        let values: Vec<String> = (0..features)
            .map(|i| format!("{}", (row * 31 + i) as f64 * 0.125 - 3.0))
            .collect();
        text += &format!("{},{}\n", values.join(","), row % 2);
    }
    text.into_bytes()
}

/// A mutation of `base`: some bytes overwritten, inserted or removed, or the file cut short.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop::collection::vec((0..len.max(1), any::<u8>(), 0u8..4), 1..8).prop_map(move |edits| {
        let mut bytes = base.clone();
        for (at, byte, how) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match how {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        bytes
    })
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(2026),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

fn read_checkpoint(bytes: &[u8]) {
    let _ = checkpoint::from_bytes(bytes, "fuzz.safetensors", Device::Cpu);
}

fn read_csv(bytes: &[u8]) {
    for name in [DatasetName::BreastCancer, DatasetName::Digits] {
        let _ = dataset::parse_csv(bytes, Path::new("fuzz.csv"), name);
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn random_bytes_never_panic_the_checkpoint_reader(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        read_checkpoint(&bytes);
    }

    #[test]
    fn random_headers_never_panic_the_checkpoint_reader(
        json in "\\{(\"[a-z_.]{1,8}\":(\\{\"dtype\":\"[A-Z0-9_]{2,6}\",\"shape\":\\[[0-9,]{0,6}\\],\"data_offsets\":\\[[0-9]{1,3},[0-9]{1,3}\\]\\}|\"[a-z0-9 .]{0,8}\"),?){0,3}\\}",
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json.as_bytes());
        bytes.extend_from_slice(&tail);
        read_checkpoint(&bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_csv_reader(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        read_csv(&bytes);
    }

    #[test]
    fn random_csv_text_never_panics_the_csv_reader(text in "([-+0-9.eEinfa_, \"]{0,12}\n?){0,40}") {
        read_csv(text.as_bytes());
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn mutated_checkpoints_never_panic_the_reader(
        bytes in prop::sample::select(valid_checkpoints()).prop_flat_map(mutated)
    ) {
        read_checkpoint(&bytes);
    }

    #[test]
    fn mutated_csv_files_never_panic_the_reader(bytes in mutated(valid_csv())) {
        read_csv(&bytes);
    }
}

/// The unmutated inputs are read, so the mutations start from files the readers accept.
#[test]
fn the_seeds_of_the_mutations_are_valid() {
    for bytes in valid_checkpoints() {
        let loaded = checkpoint::from_bytes(&bytes, "valid.safetensors", Device::Cpu).unwrap();
        assert!(loaded.run.is_some());
    }
    let data = dataset::parse_csv(
        &valid_csv(),
        Path::new("valid.csv"),
        DatasetName::BreastCancer,
    )
    .unwrap();
    assert_eq!(data.samples, 6);
    let _ = root();
}
