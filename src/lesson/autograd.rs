//! 三、自动微分模块: the lesson's graph `y = (w + x) * (w + 1)` and its backward pass, its three
//! 注意点, and the arguments of `torch.autograd.backward`; only parametrised (device). Python
//! twin: `scripts/lesson/autograd.py`, function for function.
// ANCHOR: graph
use crate::nn::autograd::{
    backward as autograd_backward, grad, retain_grad as keep_grad, Backward, Grad,
};
use anyhow::Result;
use tch::{Device, Tensor};

/// `torch.tensor([v], requires_grad=True, device=device)`.
pub fn leaf(v: f32, device: Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&[v])
        .f_to_device(device)?
        .set_requires_grad(true))
}

/// 三、自动微分模块: the lesson's graph on fresh leaves `w = [1.]`, `x = [2.]`: `[w, x, a, b, y]`.
/// (`torch.add(w, 1)` adds a tensor operand, aten::add.Tensor, so `b` adds one too: `&w + 1.0`
/// would be aten::add.Scalar, another graph node with the same value.)
pub fn graph(device: Device) -> Result<[Tensor; 5]> {
    let w = leaf(1.0, device)?;
    let x = leaf(2.0, device)?;
    let a = w.f_add(&x)?;
    let b = w.f_add(&Tensor::from(1.0f32))?;
    let y = a.f_mul(&b)?;
    Ok([w, x, a, b, y])
}

/// The lesson's backward pass: dy/dw into `w.grad`, dy/dx into `x.grad`, the graph kept.
pub fn backward(y: &Tensor) -> Result<()> {
    autograd_backward(&[y], Backward::new().retain_graph(true))
}
// ANCHOR_END: graph

// ANCHOR: accumulate
/// 注意点：梯度不自动清零 — another backward pass adds to `w.grad` and `x.grad`.
pub fn accumulate(y: &Tensor) -> Result<()> {
    autograd_backward(&[y], Backward::new().retain_graph(true))
}

/// ...so they are zeroed by hand before the next pass (`optimizer.zero_grad()` does this).
pub fn zero_grad(w: &Tensor, x: &Tensor) {
    tch::no_grad(|| {
        let _ = w.grad().zero_();
        let _ = x.grad().zero_();
    });
}
// ANCHOR_END: accumulate

// ANCHOR: leaf_rules
/// 注意点：依赖于叶子节点的节点，requires_grad默认为True — each node's `is_leaf` and
/// `requires_grad`, in the order given.
pub fn requires_grad<'a>(nodes: &[(&'a str, &Tensor)]) -> Vec<(&'a str, bool, bool)> {
    nodes
        .iter()
        .map(|(name, t)| (*name, t.is_leaf(), t.requires_grad()))
        .collect()
}

/// Only leaves keep `.grad` after backward; a non-leaf keeps it when `retain_grad()` came
/// first: `(a, b)` of a fresh graph after `a.retain_grad(); y.backward()`.
pub fn retain_grad(device: Device) -> Result<(Tensor, Tensor)> {
    let [_w, _x, a, b, y] = graph(device)?;
    keep_grad(&a)?;
    autograd_backward(&[&y], Backward::new())?;
    Ok((a, b))
}

/// 注意点：叶子节点不可执行in-place — `w.add_(1)` is a libtorch error, `w` stays as it was.
/// (A tensor operand, not a Scalar: tch's fallible ops that take a Scalar panic on an error.)
pub fn add_in_place(w: &Tensor) -> Result<(), tch::TchError> {
    let one = Tensor::ones_like(w).detach();
    w.shallow_clone().f_add_(&one).map(|_| ())
}
// ANCHOR_END: leaf_rules

// ANCHOR: backward_arguments
/// retain_graph：保存计算图 — without it, a backward pass frees the graph: the second fails.
pub fn retain_graph(device: Device) -> Result<Result<()>> {
    let [_w, _x, _a, _b, y] = graph(device)?;
    autograd_backward(&[&y], Backward::new())?;
    Ok(autograd_backward(&[&y], Backward::new()))
}

/// grad_tensors：多梯度权重 — `y0 = a * b` and `y1 = a + b` in one pass, weighted 1 and 2:
/// `[w, x, y0, y1]`.
pub fn grad_tensors(device: Device) -> Result<[Tensor; 4]> {
    let [w, x, a, b, _y] = graph(device)?;
    let y0 = a.f_mul(&b)?;
    let y1 = a.f_add(&b)?;
    let weights = Tensor::from_slice(&[1.0f32, 2.0]).f_to_device(device)?;
    let (w0, w1) = (weights.f_narrow(0, 0, 1)?, weights.f_narrow(0, 1, 1)?);
    autograd_backward(&[&y0, &y1], Backward::new().grad_tensors([&w0, &w1]))?;
    Ok([w, x, y0, y1])
}

/// create_graph：创建导数计算图，用于高阶求导 — `d1 = dy/dx` of `y = x ** 3` is a graph
/// itself: `[x, y, d1]`.
pub fn create_graph(device: Device) -> Result<[Tensor; 3]> {
    let x = leaf(2.0, device)?;
    let y = x.f_pow_tensor_scalar(3)?;
    let d1 = grad(&[&y], &[&x], Grad::new().create_graph(true))?.remove(0);
    Ok([x, y, d1])
}

/// create_graph: `d1` differentiated again, `d2 = 6x` (a graph too), then `d3 = 6`.
pub fn higher_order(x: &Tensor, d1: &Tensor) -> Result<[Tensor; 2]> {
    let d2 = grad(&[d1], &[x], Grad::new().create_graph(true))?.remove(0);
    let d3 = grad(&[&d2], &[x], Grad::new())?.remove(0);
    Ok([d2, d3])
}
// ANCHOR_END: backward_arguments
