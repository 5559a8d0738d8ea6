//! The Rust side's hot paths (`cargo bench`): one lesson training step, a faithful linear
//! layer's forward + backward, one SGD update. Rust-against-Python ratios: scripts/bench.py.
use criterion::{criterion_group, criterion_main, Criterion};
use lesson_torch::nn::linear::Linear;
use lesson_torch::nn::sgd::{Sgd, SgdConfig};
use lesson_torch::programs::softmax::{Config, Training};
use tch::{Device, Kind, Tensor};

fn hot_paths(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut run = Training::new(&Config::default()).unwrap();
    c.bench_function("lesson training step (7x4 -> 3, softmax, CE, SGD)", |b| {
        b.iter(|| run.epoch().unwrap())
    });

    tch::manual_seed(0);
    let layer = Linear::new(784, 10, Device::Cpu);
    let x = Tensor::randn([256, 784], (Kind::Float, Device::Cpu));
    c.bench_function("linear 256x784 -> 10 forward + backward", |b| {
        b.iter(|| layer.forward(&x).sum(None::<Kind>).backward())
    });

    let mut sgd = Sgd::new(layer.parameters(), SgdConfig::new(0.01)).unwrap();
    c.bench_function("SGD update of Linear(784, 10)", |b| {
        b.iter(|| sgd.step().unwrap())
    });
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
