//! `nn.Linear` with PyTorch's initialisation, draw for draw.
//!
//! tch's `nn::linear` draws the bias before the weight and bounds the weight by sqrt(6/fan_in).
//! PyTorch's `reset_parameters` runs `kaiming_uniform_(weight, a=sqrt(5))` and then
//! `uniform_(bias, -1/sqrt(fan_in), 1/sqrt(fan_in))`; the bounds are computed in f64 exactly as
//! `torch.nn.init` does, so the same seed gives the same parameters bit for bit.
use tch::{Device, Kind, Tensor};

/// `torch.nn.Linear(in_features, out_features)`: `y = x W^T + b`.
///
/// Use it instead of tch's `nn::linear`, whose initialisation differs (draw order and bound):
/// the same seed then gives PyTorch's parameters bit for bit.
///
/// # Example
///
/// ```
/// use lesson_torch::nn::linear::Linear;
/// use tch::{Device, Kind, Tensor};
///
/// // torch.manual_seed(7); dense = nn.Linear(4, 3)
/// tch::manual_seed(7);
/// let dense = Linear::new(4, 3, Device::Cpu);
/// // PyTorch's values under seed 7 (`dense.weight[0, 0].item()`, `dense.bias[0].item()`).
/// assert_eq!(dense.weight.double_value(&[0, 0]), 0.03492254018783569);
/// assert_eq!(dense.bias.double_value(&[0]), -0.21316099166870117);
/// // kaiming_uniform_(a=sqrt(5)) bounds the weight by 1/sqrt(fan_in) = 1/2.
/// assert!(dense.weight.abs().max().double_value(&[]) <= 0.5);
/// // dense(x)
/// let y = dense.forward(&Tensor::ones([2, 4], (Kind::Float, Device::Cpu)));
/// assert_eq!(y.size(), [2, 3]);
/// assert!(y.requires_grad());
/// ```
#[derive(Debug)]
pub struct Linear {
    /// `nn.Linear.weight`, `[out_features, in_features]`.
    pub weight: Tensor,
    /// `nn.Linear.bias`, `[out_features]`.
    pub bias: Tensor,
}

/// A [`Linear`] is a `tch::nn::Module`, so it composes as `nn.Sequential` does:
///
/// ```
/// use lesson_torch::nn::linear::Linear;
/// use tch::nn::Module;
/// use tch::{Device, Kind, Tensor};
///
/// // torch.manual_seed(1); nn.Sequential(nn.Linear(4, 3), nn.ReLU())(torch.ones(2, 4))
/// tch::manual_seed(1);
/// let net = tch::nn::seq().add(Linear::new(4, 3, Device::Cpu)).add_fn(|x| x.relu());
/// let out = net.forward(&Tensor::ones([2, 4], (Kind::Float, Device::Cpu)));
/// // PyTorch 2.11.0: out[0].tolist() == [0.35731029510498047, 0.0, 0.13517838716506958]
/// assert_eq!(out.double_value(&[0, 0]), 0.35731029510498047);
/// assert_eq!(out.double_value(&[0, 1]), 0.0);
/// assert_eq!(out.double_value(&[0, 2]), 0.13517838716506958);
/// // out.sum().item() == 0.9849773645401001
/// assert_eq!(out.sum(Kind::Float).double_value(&[]), 0.9849773645401001);
/// ```
impl tch::nn::Module for Linear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        Linear::forward(self, xs)
    }
}

/// `torch.nn.init.kaiming_uniform_`'s bound for `a = sqrt(5)`, `leaky_relu`, `fan_in` mode:
/// `gain = sqrt(2 / (1 + a^2))`, `std = gain / sqrt(fan_in)`, `bound = sqrt(3) * std`.
///
/// ```
/// // math.sqrt(3) * math.sqrt(2 / (1 + 5)) / math.sqrt(4) in Python: 0.49999999999999994
/// assert_eq!(lesson_torch::nn::linear::kaiming_uniform_bound(4), 0.49999999999999994);
/// ```
pub fn kaiming_uniform_bound(fan_in: i64) -> f64 {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    3f64.sqrt() * std
}

/// `nn.Linear`'s bias bound: `1 / sqrt(fan_in)` (0 when fan_in is 0).
///
/// ```
/// assert_eq!(lesson_torch::nn::linear::bias_bound(4), 0.5);
/// ```
pub fn bias_bound(fan_in: i64) -> f64 {
    if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    }
}

impl Linear {
    /// Draws the parameters on the CPU with the default generator (as `nn.Linear(...)` does),
    /// then moves them to `device` (as `.to(device)` does), as f32 leaves that require grad.
    pub fn new(in_features: i64, out_features: i64, device: Device) -> Self {
        let (weight, bias) = tch::no_grad(|| {
            let mut weight = Tensor::empty([out_features, in_features], (Kind::Float, Device::Cpu));
            let w_bound = kaiming_uniform_bound(in_features);
            let _ = weight.uniform_(-w_bound, w_bound);
            let mut bias = Tensor::empty([out_features], (Kind::Float, Device::Cpu));
            let b_bound = bias_bound(in_features);
            let _ = bias.uniform_(-b_bound, b_bound);
            (weight.to_device(device), bias.to_device(device))
        });
        Self {
            weight: weight.set_requires_grad(true),
            bias: bias.set_requires_grad(true),
        }
    }

    /// Builds the layer from given parameters (a checkpoint), as leaves that require grad.
    pub fn from_parameters(weight: Tensor, bias: Tensor) -> Self {
        Self {
            weight: weight.detach().set_requires_grad(true),
            bias: bias.detach().set_requires_grad(true),
        }
    }

    /// `F.linear(x, weight, bias)`, the very op `nn.Linear.forward` calls.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }

    /// [`Linear::forward`] that returns libtorch's error (memory that runs out) instead of
    /// panicking, in the manner of tch's `f_` functions.
    pub fn f_forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        x.f_linear(&self.weight, Some(&self.bias))
    }

    /// The parameters in `named_parameters()` order.
    pub fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    /// `(name, tensor)` pairs with the names of `nn.Linear`'s state_dict.
    pub fn named_parameters(&self) -> [(&'static str, &Tensor); 2] {
        [("weight", &self.weight), ("bias", &self.bias)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_pytorch_formula() {
        // sqrt(3) * sqrt(1/3) / sqrt(4) = 1/2 up to rounding; the bias bound is 1/sqrt(4) = 1/2.
        assert!((kaiming_uniform_bound(4) - 0.5).abs() < 1e-15);
        assert_eq!(bias_bound(4), 0.5);
        assert_eq!(bias_bound(0), 0.0);
    }

    #[test]
    fn shapes_and_leaves() {
        let _rng = crate::global_rng();
        tch::manual_seed(0);
        let layer = Linear::new(3, 2, Device::Cpu);
        assert_eq!(layer.weight.size(), [2, 3]);
        assert_eq!(layer.bias.size(), [2]);
        assert!(layer.weight.is_leaf() && layer.weight.requires_grad());
        let bound = kaiming_uniform_bound(3) as f32;
        let max = layer.weight.abs().max().double_value(&[]) as f32;
        assert!(max <= bound);
    }
}
