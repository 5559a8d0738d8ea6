//! 一、softmax的基本概念 (sigmoid, tanh, ReLU and softmax) and the cross-entropy of
//! 二、交叉熵损失函数, as the plain libtorch calls. Python twin: `scripts/lesson/activations.py`,
//! function for function.
use crate::nn::loss::cross_entropy as cross_entropy_loss;
use anyhow::Result;
use tch::{Kind, Reduction, Tensor};

// ANCHOR: activations
/// 一、Sigmoid: maps to (0, 1); 二分类问题选择sigmoid激活函数.
pub fn sigmoid(x: &Tensor) -> Tensor {
    x.sigmoid()
}

/// 一、Tanh: maps to (-1, 1), zero-centred.
pub fn tanh(x: &Tensor) -> Tensor {
    x.tanh()
}

/// 一、ReLU: max(0, x), gradient 1 for x > 0 and 0 for x < 0 (死亡ReLU).
pub fn relu(x: &Tensor) -> Tensor {
    x.relu()
}

/// 一、Softmax: scores to a probability distribution summing to 1; 多分类问题选择softmax激活函数.
pub fn softmax(z: &Tensor, dim: i64) -> Tensor {
    z.softmax(dim, None::<Kind>)
}
// ANCHOR_END: activations

// ANCHOR: cross_entropy
/// 二、交叉熵损失函数: `-sum_i y_i log(p_i)`, with one-hot `y` and `p = softmax(z)`, averaged.
pub fn cross_entropy_by_hand(z: &Tensor, one_hot: &Tensor) -> Tensor {
    -(one_hot * softmax(z, 1).log())
        .sum_dim_intlist(1, false, None::<Kind>)
        .mean(None::<Kind>)
}

/// 二、交叉熵损失函数: `nn.LogSoftmax()` then `nn.NLLLoss()`.
pub fn log_softmax_nll(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let log_p = z.f_log_softmax(1, None::<Kind>)?;
    Ok(log_p.f_nll_loss::<Tensor>(y, None, Reduction::Mean, -100)?)
}

/// 二、交叉熵损失函数: `nn.CrossEntropyLoss()`, both of them in one.
pub fn cross_entropy(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    cross_entropy_loss(z, y)
}
// ANCHOR_END: cross_entropy

// ANCHOR: binary_cross_entropy
/// 二分类: `-(y log(p) + (1 - y) log(1 - p))` with `p = sigmoid(z)`, averaged.
pub fn binary_cross_entropy_by_hand(z: &Tensor, y: &Tensor) -> Tensor {
    let p = sigmoid(z);
    let (one_minus_p, one_minus_y): (Tensor, Tensor) = (1.0 - &p, 1.0 - y);
    -(y * p.log() + one_minus_y * one_minus_p.log()).mean(None::<Kind>)
}

/// 二分类: sigmoid, then the binary cross-entropy.
pub fn binary_cross_entropy(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(sigmoid(z).f_binary_cross_entropy::<Tensor>(y, None, Reduction::Mean)?)
}

/// 二分类: sigmoid and the binary cross-entropy fused, on the logits.
pub fn binary_cross_entropy_with_logits(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(z.f_binary_cross_entropy_with_logits::<Tensor>(y, None, None, Reduction::Mean)?)
}
// ANCHOR_END: binary_cross_entropy
