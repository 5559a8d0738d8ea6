//! The lesson's losses, as PyTorch's modules compute them: `nn.CrossEntropyLoss()` and
//! `nn.MSELoss()` with their default arguments.
use anyhow::{Context, Result};
use tch::{Reduction, Tensor};

/// `nn.CrossEntropyLoss()` (mean over the batch, no weight, ignore_index -100, no smoothing).
pub fn cross_entropy(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    input
        .f_cross_entropy_loss::<Tensor>(target, None, Reduction::Mean, -100, 0.0)
        .context("cross-entropy failed")
}

/// `nn.MSELoss()`: the mean of the squared differences.
pub fn mse(output: &Tensor, target: &Tensor) -> Result<Tensor> {
    output
        .f_mse_loss(target, Reduction::Mean)
        .context("MSE loss failed")
}
