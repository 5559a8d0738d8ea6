//! `nn.Softmax(dim)` as a module, the lesson's `self.softmax = nn.Softmax(dim=1)`.
use tch::{Kind, Tensor};

/// `nn.Softmax(dim)`: `exp(x) / exp(x).sum(dim)`, computed by libtorch's `softmax` (which
/// subtracts the largest value first, as PyTorch does).
///
/// # Example
///
/// ```
/// use lesson_torch::nn::softmax::Softmax;
/// use tch::Tensor;
///
/// // nn.Softmax(dim=1)(torch.tensor([[1., 2., 3.]])).tolist()
/// let p = Softmax::new(1).forward(&Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([1, 3]))?;
/// assert_eq!(Vec::<f32>::try_from(p.view([-1]))?, [0.09003057, 0.24472848, 0.66524094]);
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Softmax {
    /// The dimension that sums to 1.
    pub dim: i64,
}

impl Softmax {
    /// `nn.Softmax(dim=dim)`.
    pub fn new(dim: i64) -> Self {
        Self { dim }
    }

    /// `softmax(x)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        x.f_softmax(self.dim, None::<Kind>)
    }
}
