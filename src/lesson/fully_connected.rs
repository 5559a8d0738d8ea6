//! 神经网络全连接层: the lesson's `SimpleFC`, one forward pass, `loss.backward()` and
//! `optimizer.step()`, as the lesson writes them; only parametrised (seed, lr, device), and
//! trained on for `steps` (beyond the lesson's one step). Python twin:
//! `scripts/lesson/fully_connected.py`.
use crate::nn::linear::Linear;
use crate::nn::loss::MSELoss;
use crate::nn::sgd::{Sgd, SgdConfig};
use anyhow::Result;
use tch::{Device, Tensor};

/// What a program sees between the lesson's steps; the lesson itself needs none of it (`()`).
pub trait Observer {
    /// Once: the data, the model, the loss and the optimizer are made; the forward pass is next.
    fn start(&mut self, _model: &SimpleFC) -> Result<()> {
        Ok(())
    }
    /// After `output = model(input_data)` and `loss = criterion(...)`, before `loss.backward()`.
    fn forward(
        &mut self,
        _input_data: &Tensor,
        _target_output: &Tensor,
        _output: &Tensor,
        _loss: &Tensor,
    ) -> Result<()> {
        Ok(())
    }
    /// After `loss.backward()` filled the `.grad` of `model.fc`'s parameters, before the step.
    fn backward(&mut self, _model: &SimpleFC) -> Result<()> {
        Ok(())
    }
    /// After `optimizer.step()` changed the parameters.
    fn step(&mut self, _model: &SimpleFC) -> Result<()> {
        Ok(())
    }
    /// Beyond the lesson, for `steps` above 1: after each further step (2 to `steps`).
    fn training_step(&mut self, _step: i64, _loss: &Tensor) -> Result<()> {
        Ok(())
    }
}

impl Observer for () {}

// ANCHOR: model
/// 建立一个简单的全连接层：`nn.Linear(input_size, output_size)`.
pub struct SimpleFC {
    /// `self.fc = nn.Linear(input_size, output_size)`.
    pub fc: Linear,
}

impl SimpleFC {
    /// `SimpleFC(input_size, output_size)`.
    pub fn new(input_size: i64, output_size: i64, device: Device) -> Self {
        Self {
            fc: Linear::new(input_size, output_size, device),
        }
    }

    /// `model(x)`: `self.fc(x)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.fc.f_forward(x)?)
    }
}
// ANCHOR_END: model

/// 神经网络全连接层: the lesson's program, one step; then `steps - 1` more; returns the model.
pub fn train(
    seed: i64,
    lr: f64,
    steps: i64,
    device: Device,
    observer: &mut impl Observer,
) -> Result<SimpleFC> {
    tch::manual_seed(seed);
    // ANCHOR: step
    let input_data = Tensor::from_slice2(&[[1.0f32, 2.0, 3.0]]).f_to_device(device)?;
    let target_output = Tensor::from_slice2(&[[4.0f32, 5.0]]).f_to_device(device)?;
    let model = SimpleFC::new(3, 2, device);
    let criterion = MSELoss::new();
    let mut optimizer = Sgd::new(model.fc.parameters(), SgdConfig::new(lr))?;
    observer.start(&model)?;
    let output = model.forward(&input_data)?;
    let loss = criterion.forward(&output, &target_output)?;
    observer.forward(&input_data, &target_output, &output, &loss)?;
    loss.f_backward()?;
    observer.backward(&model)?;
    optimizer.step()?;
    observer.step(&model)?;
    // ANCHOR_END: step
    // ANCHOR: train_on
    for step in 2..=steps {
        optimizer.zero_grad()?;
        let loss = criterion.forward(&model.forward(&input_data)?, &target_output)?;
        loss.f_backward()?;
        optimizer.step()?;
        observer.training_step(step, &loss)?;
    }
    // ANCHOR_END: train_on
    Ok(model)
}
