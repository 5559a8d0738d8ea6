//! The PyTorch-faithful building blocks: each has PyTorch's exact semantics, draw for draw and
//! operation for operation, so that the programs match `scripts/reference.py` bit for bit.
pub mod autograd;
pub mod graph;
pub mod linear;
pub mod loss;
pub mod sgd;
pub mod softmax;
