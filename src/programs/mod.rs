//! The lesson's programs, one module per program, each named as its binary (`src/bin/`) and as
//! its `scripts/reference.py` subcommand.
//!
//! A program's `Config` (softmax, fc_demo, activations, classify, bench; autograd_demo has only
//! its `--graph` output) is its command line: a `clap::Args` struct whose doc comments are the
//! `--help` text and whose `default_value`s are the defaults, `Config::default()` included (the
//! twin of the subcommand's `argparse` parser in `reference.py`). The binary flattens it with
//! [`crate::cli::CommonArgs`] (`--device`, `--json`), resolves the device, runs and prints.
pub mod activations;
pub mod autograd_demo;
pub mod bench;
pub mod classify;
pub mod fc_demo;
pub mod softmax;
