//! The lesson's programs, one module per program, each named as its binary (`src/bin/`) and as
//! its `scripts/reference.py` subcommand.
pub mod activations;
pub mod autograd_demo;
pub mod bench;
pub mod classify;
pub mod fc_demo;
pub mod softmax;
