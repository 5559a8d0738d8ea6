//! The pitfalls of docs/porting.md, one test each: what the naive tch line does (measured, and
//! printed with `--nocapture`), and that the project's port does what PyTorch does.
//!
//! `cargo test --release --test porting -- --nocapture --test-threads 1` prints the numbers the
//! guide quotes.
mod common;
use common::output_within;
use lesson_torch::io::report::fmt_value;
use lesson_torch::nn::autograd::{backward, grad, grad_of, retain_grad, Backward, Grad};
use lesson_torch::nn::linear::{bias_bound, kaiming_uniform_bound, Linear};
use lesson_torch::nn::loss::cross_entropy;
use lesson_torch::nn::sgd::{Sgd, SgdConfig};
use lesson_torch::programs::softmax::{Config, LinearNet, Training};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::Mutex;
use tch::{nn, COptimizer, Device, Kind, Tensor};

/// `catch_unwind` without the panic's message and backtrace on stderr.
fn quiet_catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    static HOOK: Mutex<()> = Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.detach().flatten(0, -1)).unwrap()
}

/// The distance in units in the last place between two finite f32 of the same sign.
fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

/// `torch.manual_seed(7); nn.Linear(4, 3)` in PyTorch 2.11.0 (the f32 values, printed exactly
/// as their f64 widenings by `weight.tolist()`).
const PT_WEIGHT: [f64; 12] = [
    0.03492254018783569,
    -0.301196813583374,
    0.15921169519424438,
    0.15689027309417725,
    -0.26723843812942505,
    -0.07493859529495239,
    -0.2929139733314514,
    0.12973636388778687,
    -0.13468384742736816,
    0.35126835107803345,
    0.3549431562423706,
    0.050935208797454834,
];
const PT_BIAS: [f64; 3] = [
    -0.21316099166870117,
    -0.2936806082725525,
    -0.05490982532501221,
];

#[test]
fn pitfall_nn_linear_init_differs_from_pytorch() {
    let pt_w: Vec<f32> = PT_WEIGHT.iter().map(|&v| v as f32).collect();
    let pt_b: Vec<f32> = PT_BIAS.iter().map(|&v| v as f32).collect();

    // The naive port: tch's nn::linear.
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let naive = nn::linear(vs.root(), 4, 3, Default::default());
    let (naive_w, naive_b) = (floats(&naive.ws), floats(naive.bs.as_ref().unwrap()));
    let max_w = naive_w.iter().map(|v| v.abs()).fold(0f32, f32::max);
    let diff = naive_w
        .iter()
        .zip(&pt_w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let equal = naive_w.iter().zip(&pt_w).filter(|(a, b)| a == b).count()
        + naive_b.iter().zip(&pt_b).filter(|(a, b)| a == b).count();
    println!(
        "nn::linear(4, 3), seed 7: weight bound sqrt(6/4) = {:.4} (largest |w| drawn {max_w:.4}) \
         against PyTorch's {:.4}; {equal} of 15 values equal PyTorch's; largest weight \
         difference {diff:.4}",
        (6f64 / 4.0).sqrt(),
        kaiming_uniform_bound(4)
    );
    assert!(
        max_w as f64 > kaiming_uniform_bound(4),
        "tch's wider bound shows"
    );
    assert_eq!(equal, 0);

    // The exact port.
    tch::manual_seed(7);
    let layer = Linear::new(4, 3, Device::Cpu);
    assert_eq!(floats(&layer.weight), pt_w);
    assert_eq!(floats(&layer.bias), pt_b);
    assert_eq!(kaiming_uniform_bound(4), 0.49999999999999994);
    assert_eq!(bias_bound(4), 0.5);
}

#[test]
fn pitfall_sgd_update_rounds_once() {
    const N: i64 = 1_000_000;
    let lr = 0.1;
    tch::manual_seed(0);
    let p0 = Tensor::randn([N], (Kind::Float, Device::Cpu));
    let g = Tensor::randn([N], (Kind::Float, Device::Cpu));

    // The naive port: p - lr * g, two roundings.
    let naive = floats(&(&p0 - lr * &g));
    // The exact port: libtorch's SGD, `param.add_(grad, alpha=-lr)`.
    let p = p0.copy().set_requires_grad(true);
    let mut sgd = Sgd::new([&p], SgdConfig::new(lr)).unwrap();
    (&p * &g).sum(Kind::Float).backward(); // p.grad = g
    sgd.step().unwrap();
    let fused = floats(&p);

    let (p0, g) = (floats(&p0), floats(&g));
    // What add_ with alpha computes: one rounding, a fused multiply-add in f32.
    let fma: Vec<f32> = p0
        .iter()
        .zip(&g)
        .map(|(&p, &g)| (-lr as f32).mul_add(g, p))
        .collect();
    assert!(fused == fma, "SGD's step is fma(-lr, g, p), rounded once");

    let mut differ: Vec<u32> = fused
        .iter()
        .zip(&naive)
        .filter(|(a, b)| a != b)
        .map(|(&a, &b)| ulps(a, b))
        .collect();
    differ.sort_unstable();
    let one_ulp = differ.iter().filter(|&&u| u == 1).count();
    println!(
        "p - lr * g against add_(g, alpha=-lr), {N} f32 randn pairs, lr 0.1: {} differ ({:.2}%), \
         {one_ulp} of them by 1 ulp, median {} ulp, largest {} ulps",
        differ.len(),
        100.0 * differ.len() as f64 / N as f64,
        differ[differ.len() / 2],
        differ.last().unwrap()
    );
    assert!(!differ.is_empty());

    // On the lesson: 70 epochs of the softmax regression with each update.
    let exact = {
        let mut run = Training::new(&Config::default()).unwrap();
        let losses: Vec<f32> = (0..70)
            .map(|_| run.epoch().unwrap().double_value(&[]) as f32)
            .collect();
        (
            losses,
            floats(&run.net.dense.weight),
            floats(&run.net.dense.bias),
        )
    };
    let naive = {
        tch::manual_seed(7);
        let x = Tensor::rand([7, 2, 2], (Kind::Float, Device::Cpu));
        let target = Tensor::randint_low(0, 2, [7], (Kind::Int64, Device::Cpu));
        let mut net = LinearNet::new(false, Device::Cpu);
        let mut losses = Vec::new();
        for _ in 0..70 {
            let l = cross_entropy(&net.forward(&x).unwrap(), &target)
                .unwrap()
                .sum(None::<Kind>);
            net.dense.weight.zero_grad();
            net.dense.bias.zero_grad();
            l.backward();
            tch::no_grad(|| {
                for p in [&mut net.dense.weight, &mut net.dense.bias] {
                    let update = &*p - lr * p.grad();
                    p.copy_(&update);
                }
            });
            losses.push(l.double_value(&[]) as f32);
        }
        (losses, floats(&net.dense.weight), floats(&net.dense.bias))
    };
    let loss_differ: Vec<(usize, u32)> = exact
        .0
        .iter()
        .zip(&naive.0)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (&a, &b))| (i + 1, ulps(a, b)))
        .collect();
    let lines_differ = exact
        .0
        .iter()
        .zip(&naive.0)
        .filter(|(a, b)| fmt_value(**a as f64, 4) != fmt_value(**b as f64, 4))
        .count();
    let params_differ = exact.1.iter().zip(&naive.1).filter(|(a, b)| a != b).count()
        + exact.2.iter().zip(&naive.2).filter(|(a, b)| a != b).count();
    println!(
        "the lesson's 70 epochs with p - lr * g: {} losses differ (first at epoch {:?}, largest \
         {} ulps), {lines_differ} printed lines differ, {params_differ} of 15 final parameters \
         differ",
        loss_differ.len(),
        loss_differ.first().map(|d| d.0),
        loss_differ.iter().map(|d| d.1).max().unwrap_or(0)
    );
    assert!(params_differ > 0, "the naive update drifts from PyTorch's");
}

#[test]
fn pitfall_tensor_backward_has_no_flags_and_panics() {
    // The lesson's y = (w + x) * (w + 1), then a second backward pass.
    let leaf = |v: f32| Tensor::from_slice(&[v]).set_requires_grad(true);
    let (w, x) = (leaf(1.0), leaf(2.0));
    let y = (&w + &x) * (&w + Tensor::from(1.0f32));
    y.backward(); // no retain_graph: the graph is freed
    let second = quiet_catch(|| y.backward());
    let message = match &second {
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
        Ok(()) => String::new(),
    };
    println!(
        "tch's y.backward() twice: panics = {}: {}",
        second.is_err(),
        message
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>()
    );
    assert!(second.is_err());
    assert!(message.contains("backward through the graph a second time"));

    // The exact port: retain_graph as the lesson asks; errors are values.
    let (w, x) = (leaf(1.0), leaf(2.0));
    let y = (&w + &x) * (&w + Tensor::from(1.0f32));
    backward(&[&y], Backward::new().retain_graph(true)).unwrap();
    backward(&[&y], Backward::new()).unwrap();
    assert_eq!(
        (w.grad().double_value(&[0]), x.grad().double_value(&[0])),
        (10.0, 4.0)
    );
    let err = backward(&[&y], Backward::new()).unwrap_err().to_string();
    assert!(err.contains("second time"), "{err}");
    let z = Tensor::from_slice(&[1.0f32]);
    assert!(backward(&[&z], Backward::new()).is_err());
}

#[test]
fn pitfall_scalar_operand_panics_on_a_libtorch_error() {
    // `w.add_(1)` on a leaf that requires grad: a RuntimeError in PyTorch.
    let mut w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let naive = quiet_catch(|| {
        let mut w = w.shallow_clone();
        w.f_add_scalar_(1.0).map(|_| ())
    });
    println!(
        "f_add_scalar_(1.0) on a leaf that requires grad: {}",
        match &naive {
            Err(_) => "panics (the Scalar's drop unwraps the pending error)",
            Ok(Err(_)) => "returns Err",
            Ok(Ok(())) => "succeeds",
        }
    );
    assert!(naive.is_err(), "tch panics instead of returning Err");
    // The exact port: a tensor operand, and the Err carries libtorch's message.
    let one = Tensor::ones_like(&w).detach();
    let err = w.f_add_(&one).unwrap_err();
    let message = lesson_torch::torch_message(&err);
    assert!(
        message.starts_with("a leaf Variable that requires grad is being used in an in-place"),
        "{message}"
    );
    assert_eq!(w.double_value(&[0]), 1.0);
}

#[test]
fn pitfall_zero_grad_sets_none() {
    // p is used in step 1 only; SGD with momentum 0.9 and lr 0.1, as torch.optim.SGD.
    let run = |tch_zero_grad: bool| -> (f32, bool) {
        let mut p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let mut opt = COptimizer::sgd(0.1, 0.9, 0.0, 0.0, false).unwrap();
        opt.add_parameters(&p, 0).unwrap();
        (&p * &p).sum(Kind::Float).backward(); // grad 2
        opt.step().unwrap();
        if tch_zero_grad {
            p.zero_grad(); // tch: grad filled with zeros
        } else {
            opt.zero_grad().unwrap(); // libtorch: grad set to None, as PyTorch
        }
        let defined = p.grad().defined();
        opt.step().unwrap(); // p takes no part in this step
        (floats(&p)[0], defined)
    };
    let (naive, naive_defined) = run(true);
    let (exact, exact_defined) = run(false);
    println!(
        "after zero_grad and a step that p takes no part in (momentum 0.9): tch's \
         Tensor::zero_grad leaves grad defined = {naive_defined}, p = {naive}; set_to_none: \
         grad defined = {exact_defined}, p = {exact}"
    );
    assert!(naive_defined && !exact_defined);
    assert_eq!(exact, 0.8); // 1 - 0.1 * 2: the second step skips p, as PyTorch
    assert_ne!(naive, exact);
    // And the project's Sgd.
    let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let mut sgd = Sgd::new([&p], SgdConfig::new(0.1)).unwrap();
    (&p * &p).sum(Kind::Float).backward();
    sgd.zero_grad().unwrap();
    assert!(!p.grad().defined());
}

#[test]
fn pitfall_nan_prints_nan_not_rust_nan() {
    let rust: Vec<String> = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.97380888]
        .iter()
        .map(|v| format!("{v:.4}"))
        .collect();
    println!("Rust's {{:.4}}: {rust:?}; Python's %.4f: [\"nan\", \"inf\", \"-inf\", \"0.9738\"]");
    assert_eq!(rust, ["NaN", "inf", "-inf", "0.9738"]);
    assert_eq!(fmt_value(f64::NAN, 4), "nan");
    assert_eq!(fmt_value(f64::INFINITY, 4), "inf");
    assert_eq!(fmt_value(f64::NEG_INFINITY, 4), "-inf");
    // The exact binary value, rounded half to even, as %.4f: 0.00005 is 5.0000000000000002396e-05.
    assert_eq!(format!("{:.4}", 0.00005f64), "0.0001");
    assert_eq!(format!("{:.1}", 0.25f64), "0.2");
    assert_eq!(fmt_value(0.25, 1), "0.2");
}

#[test]
fn pitfall_scalar_add_records_another_node() {
    use lesson_torch::nn::graph::Graph;
    let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let names = |t: &Tensor| Graph::of(&[("b", t)], &[("w", &w)]).unwrap().lines();
    let naive = names(&(&w + 1.0));
    let exact = names(&(&w + Tensor::from(1.0f32)));
    println!("&w + 1.0: {naive:?}\n&w + Tensor::from(1.0f32): {exact:?}");
    assert!(naive.iter().any(|l| l.contains("AddBackward1")));
    assert!(exact.iter().any(|l| l.contains("AddBackward0")));
    assert!(exact.iter().any(|l| l.ends_with("-> None")));
}

/// Runs one named test of this file in a child process with `PORTING_CHILD` set; its stderr.
fn child_stderr(test: &str, mode: &str) -> String {
    let out = output_within(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env("PORTING_CHILD", mode),
    );
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn pitfall_non_leaf_grad_warns() {
    if let Ok(mode) = std::env::var("PORTING_CHILD") {
        let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let a = &w * 2.0;
        let y = &a * 3.0;
        y.backward();
        let g = if mode == "tch" {
            a.grad()
        } else {
            grad_of(&a).unwrap()
        };
        assert!(!g.defined(), "None, as Python");
        return;
    }
    let naive = child_stderr("pitfall_non_leaf_grad_warns", "tch");
    let exact = child_stderr("pitfall_non_leaf_grad_warns", "grad_of");
    let warning = |s: &str| s.lines().filter(|l| l.contains("not a leaf")).count();
    println!(
        "reading a non-leaf's .grad: tch's grad() writes {} bytes to stderr ({} warning \
         lines), grad_of writes {} bytes",
        naive.len(),
        warning(&naive),
        exact.len()
    );
    assert!(warning(&naive) >= 1, "{naive}");
    assert_eq!(warning(&exact), 0, "{exact}");
    // A retained grad reads as a tensor.
    let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let a = &w * 2.0;
    retain_grad(&a).unwrap();
    (&a * 3.0).backward();
    assert_eq!(grad_of(&a).unwrap().double_value(&[0]), 3.0);
}

#[test]
fn pitfall_grad_tensors_need_the_engine() {
    // f(x) = x0^2 x1, g = df/dx with create_graph; backward([g], [v], create_graph=True).
    let make = || {
        let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
        let v = Tensor::from_slice(&[1.0f64, 1.0]).set_requires_grad(true);
        let f = (x.get(0) * x.get(0) * x.get(1)).reshape([1]);
        let g = grad(&[&f], &[&x], Grad::new().create_graph(true))
            .unwrap()
            .remove(0);
        (x, v, g)
    };
    // The naive port: tch's backward takes no grad tensors, so weight and sum by hand.
    let (x, v, g) = make();
    (&g * &v).sum(Kind::Double).backward();
    let naive = (floats(&x.grad().to_kind(Kind::Float)), v.grad().defined());
    let naive_differentiable = x.grad().requires_grad();
    // The exact port.
    let (x, v, g) = make();
    backward(&[&g], Backward::new().grad_tensors([&v]).create_graph(true)).unwrap();
    let exact = (floats(&x.grad().to_kind(Kind::Float)), v.grad().defined());
    println!(
        "backward([g], [v]) as (g * v).sum().backward(): x.grad {:?}, v.grad defined = {}; \
         through libtorch's engine: x.grad {:?}, v.grad defined = {} (PyTorch: None); x.grad \
         requires grad: {naive_differentiable} against {}",
        naive.0,
        naive.1,
        exact.0,
        exact.1,
        x.grad().requires_grad()
    );
    assert_eq!(exact.0, [6.0, 2.0]); // H v with H = [[2 x1, 2 x0], [2 x0, 0]]
    assert!(naive.1, "the hand-made sum leaks a gradient into v");
    assert!(!exact.1);
    assert!(!naive_differentiable);
    assert!(
        x.grad().requires_grad(),
        "create_graph: H v is differentiable"
    );
}

#[test]
fn pitfall_float_literals_make_double_tensors() {
    let naive = Tensor::from_slice(&[0.1]).set_requires_grad(true);
    let exact = Tensor::from_slice(&[0.1f32]).set_requires_grad(true);
    let (naive_y, exact_y) = (
        (&naive * 3.0).sigmoid().double_value(&[0]),
        (&exact * 3.0).sigmoid().double_value(&[0]),
    );
    println!(
        "torch.tensor([0.1]) as from_slice(&[0.1]): {:?}; sigmoid(3 x) = {naive_y:?} against \
         PyTorch's float32 {exact_y:?} (difference {:e})",
        naive.kind(),
        (naive_y - exact_y).abs()
    );
    assert_eq!(naive.kind(), Kind::Double);
    assert_eq!(exact.kind(), Kind::Float);
    assert_ne!(naive_y, exact_y);
}

/// Every pitfall of docs/porting.md names at least one test, and every test it names exists
/// (as a `fn` in tests/ or src/); `cargo test` runs them all.
#[test]
fn every_pitfall_in_the_guide_names_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/porting.md")).unwrap();
    let mut sources = String::new();
    for dir in ["src", "src/bin", "tests"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && dir == "src" {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
    }
    let sections: Vec<&str> = guide.split("\n## ").skip(2).collect();
    assert!(sections.len() >= 10, "{} pitfalls", sections.len());
    for section in sections {
        let title = section.lines().next().unwrap();
        let tests = section
            .split("**Test:**")
            .nth(1)
            .unwrap_or_else(|| panic!("pitfall {title:?} names no test"));
        let names: Vec<&str> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
            })
            .map(|s| s.rsplit("::").next().unwrap())
            .collect();
        assert!(!names.is_empty(), "pitfall {title:?} names no test");
        for name in names {
            assert!(
                sources.contains(&format!("fn {name}(")),
                "pitfall {title:?}: no test named {name}"
            );
        }
    }
}
