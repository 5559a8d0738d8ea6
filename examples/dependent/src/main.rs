//! lesson_torch's blocks from another crate: a Hessian-vector product (`grad` with
//! `create_graph`, then `backward` with grad tensors), the autograd graph as text, and a
//! `Linear` layer trained by `Sgd` for 10 steps. Every number is printed with its float32 bits;
//! `reference.py` beside this file prints the same lines from PyTorch.
use anyhow::Result;
use lesson_torch::nn::autograd::{backward, grad, Backward, Grad};
use lesson_torch::nn::graph::Graph;
use lesson_torch::nn::linear::Linear;
use lesson_torch::nn::loss::MSELoss;
use lesson_torch::nn::sgd::{Sgd, SgdConfig};
use tch::{Device, Kind, Tensor};

/// Each value of `t` as `value/0xbits`.
fn show(t: &Tensor) -> Result<String> {
    let values = Vec::<f32>::try_from(t.detach().to_kind(Kind::Float).flatten(0, -1))?;
    let shown: Vec<String> = values
        .iter()
        .map(|v| format!("{v:?}/{:#010x}", v.to_bits()))
        .collect();
    Ok(shown.join(" "))
}

fn main() -> Result<()> {
    // y = sum(x^3); g = dy/dx = 3x^2 (a graph itself); H v = d(g . v)/dx = 6x * v.
    let x = Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
    let y = x.pow_tensor_scalar(3).sum(Kind::Float);
    let g = grad(&[&y], &[&x], Grad::new().create_graph(true))?.remove(0);
    let v = Tensor::from_slice(&[1.0f32, 1.0]);
    backward(&[&g], Backward::new().grad_tensors([&v]))?;
    println!("grad {}", show(&g)?);
    println!("hvp {}", show(&x.grad())?);

    // The lesson's graph, y = (w + x) * (w + 1), as libtorch recorded it.
    let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let x1 = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
    let (a, b) = (&w + &x1, &w + Tensor::from(1.0f32));
    let y1 = &a * &b;
    let graph = Graph::of(&[("y", &y1)], &[("w", &w), ("x", &x1), ("a", &a), ("b", &b)])?;
    for line in graph.lines() {
        println!("graph {line}");
    }

    // nn.Linear(3, 2) under torch.manual_seed(0), MSELoss, SGD(lr=0.1), 10 steps.
    tch::manual_seed(0);
    let layer = Linear::new(3, 2, Device::Cpu);
    let mut optimizer = Sgd::new(layer.parameters(), SgdConfig::new(0.1))?;
    let input = Tensor::from_slice2(&[[1.0f32, 2.0, 3.0], [0.5, -1.0, 2.0]]);
    let target = Tensor::from_slice2(&[[1.0f32, 0.0], [0.0, 1.0]]);
    let criterion = MSELoss::new();
    for step in 1..=10 {
        optimizer.zero_grad()?;
        let loss = criterion.forward(&layer.f_forward(&input)?, &target)?;
        loss.f_backward()?;
        optimizer.step()?;
        println!("step {step} loss {}", show(&loss)?);
    }
    println!("weight {}", show(&layer.weight)?);
    println!("bias {}", show(&layer.bias)?);
    Ok(())
}
