//! The lesson's losses, as PyTorch's modules compute them: `nn.CrossEntropyLoss()` and
//! `nn.MSELoss()` with their default arguments.
use anyhow::{Context, Result};
use tch::{Reduction, Tensor};

/// `nn.CrossEntropyLoss()` (mean over the batch, no weight, ignore_index -100, no smoothing).
///
/// # Example
///
/// ```
/// use lesson_torch::nn::loss::cross_entropy;
/// use tch::Tensor;
///
/// // nn.CrossEntropyLoss()(torch.tensor([[1., 2., 3.]]), torch.tensor([2])).item()
/// let scores = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([1, 3]);
/// let loss = cross_entropy(&scores, &Tensor::from_slice(&[2i64]))?;
/// assert_eq!(loss.double_value(&[]), 0.40760594606399536); // PyTorch's float32, bit for bit
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn cross_entropy(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    input
        .f_cross_entropy_loss::<Tensor>(target, None, Reduction::Mean, -100, 0.0)
        .context("cross-entropy failed")
}

/// `nn.MSELoss()`: the mean of the squared differences.
///
/// # Example
///
/// ```
/// use lesson_torch::nn::loss::mse;
/// use tch::Tensor;
///
/// // nn.MSELoss()(torch.tensor([[1., 2.]]), torch.tensor([[4., 5.]])): (3² + 3²) / 2
/// let output = Tensor::from_slice(&[1.0f32, 2.0]).view([1, 2]).set_requires_grad(true);
/// let target = Tensor::from_slice(&[4.0f32, 5.0]).view([1, 2]);
/// let loss = mse(&output, &target)?;
/// assert_eq!(loss.double_value(&[]), 9.0);
/// loss.f_backward()?; // loss.backward(): d/d output = 2/n (output - target)
/// assert_eq!(Vec::<f32>::try_from(&output.grad().flatten(0, -1))?, [-3.0, -3.0]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn mse(output: &Tensor, target: &Tensor) -> Result<Tensor> {
    output
        .f_mse_loss(target, Reduction::Mean)
        .context("MSE loss failed")
}

/// `nn.CrossEntropyLoss()` as a module: `loss = CrossEntropyLoss::new(); loss.forward(&y_hat,
/// &target)` is the lesson's `loss = nn.CrossEntropyLoss(); loss(y_hat, target)` ([`cross_entropy`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropyLoss;

impl CrossEntropyLoss {
    /// `nn.CrossEntropyLoss()`, its default arguments.
    pub fn new() -> Self {
        Self
    }

    /// `loss(input, target)`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        cross_entropy(input, target)
    }
}

/// `nn.MSELoss()` as a module: `criterion = MSELoss::new(); criterion.forward(&output, &target)`
/// is the lesson's `criterion = nn.MSELoss(); criterion(output, target_output)` ([`mse`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MSELoss;

impl MSELoss {
    /// `nn.MSELoss()`, its default arguments.
    pub fn new() -> Self {
        Self
    }

    /// `criterion(output, target)`.
    pub fn forward(&self, output: &Tensor, target: &Tensor) -> Result<Tensor> {
        mse(output, target)
    }
}
