//! 二、交叉熵损失函数: the lesson's softmax regression, `LinearNet` trained with
//! `CrossEntropyLoss` and SGD, as the lesson writes it; only parametrised (seed, samples, epochs,
//! lr, logits, device). Python twin: `scripts/lesson/softmax_regression.py`.
use super::fmt_value;
use crate::nn::linear::Linear;
use crate::nn::loss::CrossEntropyLoss;
use crate::nn::sgd::{Sgd, SgdConfig};
use crate::nn::softmax::Softmax;
use anyhow::Result;
use std::io::Write;
use tch::{Device, Kind, Tensor};

/// What a program sees of the training; the lesson itself needs none of it (`()` sees nothing).
pub trait Observer {
    /// Once: the net, the loss and the optimizer are made; the first epoch is next.
    fn start(&mut self, _net: &LinearNet) -> Result<()> {
        Ok(())
    }
    /// After each epoch's `optimizer.step()` and `train_l += l`, before the lesson's print
    /// (`epoch` counts from 0, as the loop's variable).
    fn epoch(&mut self, _epoch: i64, _train_l: f64) -> Result<()> {
        Ok(())
    }
}

impl Observer for () {}

// ANCHOR: net
/// 定义网络结构：一层全连接层 + Softmax层 (`logits` skips the softmax: `--logits`).
pub struct LinearNet {
    /// `self.dense = nn.Linear(4, 3)`.
    pub dense: Linear,
    /// `self.softmax = nn.Softmax(dim=1)`.
    pub softmax: Softmax,
    /// The raw scores, the correct input of `CrossEntropyLoss`.
    pub logits: bool,
}

impl LinearNet {
    /// `LinearNet()`: PyTorch's initialisation under the current seed.
    pub fn new(logits: bool, device: Device) -> Self {
        Self {
            dense: Linear::new(4, 3, device),
            softmax: Softmax::new(1),
            logits,
        }
    }

    /// `net(x)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.dense.f_forward(&x.f_view([-1, 4])?)?;
        if !self.logits {
            y = self.softmax.forward(&y)?;
        }
        Ok(y)
    }
}
// ANCHOR_END: net

/// 训练模型: the lesson's program from `torch.manual_seed` to the loop's print (into `out`), with
/// the lesson's numbers as parameters (`seed` 7, `samples` 7, `epochs` 70, `lr` 0.1); returns the
/// trained net and its data `X`, `target`.
#[allow(clippy::too_many_arguments)] // the lesson's parameters, as the Python twin takes them
pub fn train(
    seed: i64,
    samples: i64,
    epochs: i64,
    lr: f64,
    logits: bool,
    device: Device,
    observer: &mut impl Observer,
    out: &mut impl Write,
) -> Result<(LinearNet, Tensor, Tensor)> {
    // ANCHOR: data
    tch::manual_seed(seed);
    let x = Tensor::f_rand([samples, 2, 2], (Kind::Float, Device::Cpu))?.f_to_device(device)?;
    let target =
        Tensor::f_randint_low(0, 2, [samples], (Kind::Int64, Device::Cpu))?.f_to_device(device)?;
    // ANCHOR_END: data
    let net = LinearNet::new(logits, device);
    // ANCHOR: loss_and_optimizer
    let loss = CrossEntropyLoss::new(); // 交叉熵损失函数
    let mut optimizer = Sgd::new(net.dense.parameters(), SgdConfig::new(lr))?; // 随机梯度下降法

    // ANCHOR_END: loss_and_optimizer
    observer.start(&net)?;
    // ANCHOR: train
    for epoch in 0..epochs {
        let mut train_l = 0.0;
        let y_hat = net.forward(&x)?;
        let l = loss.forward(&y_hat, &target)?.f_sum(None::<Kind>)?;
        optimizer.zero_grad()?;
        l.f_backward()?;
        optimizer.step()?;
        train_l += l.f_double_value(&[])?;
        observer.epoch(epoch, train_l)?;
        writeln!(out, "epoch {}, loss {}", epoch + 1, fmt_value(train_l, 4))?;
    }
    // ANCHOR_END: train
    Ok((net, x, target))
}
