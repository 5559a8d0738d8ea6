//! `autograd_demo` and `fc_demo`: the values the lesson promises, and parity with PyTorch.
mod common;
use common::*;
use serde_json::Value;

const AUTOGRAD: &str = env!("CARGO_BIN_EXE_autograd_demo");
const FC: &str = env!("CARGO_BIN_EXE_fc_demo");

fn first(v: &Value) -> f64 {
    v[0].as_f64().unwrap_or_else(|| v.as_f64().unwrap())
}

#[test]
fn autograd_demo_shows_the_lessons_values() {
    let t = trace(AUTOGRAD, &[]);
    let b1 = block(&t, "lesson_graph");
    assert_eq!((first(&b1["w.grad"]), first(&b1["x.grad"])), (5.0, 2.0));
    let b2 = block(&t, "accumulation");
    assert_eq!(
        (
            first(&b2["w.grad after 2 passes"]),
            first(&b2["x.grad after 2 passes"])
        ),
        (10.0, 4.0)
    );
    assert_eq!(
        (
            first(&b2["w.grad after zeroing"]),
            first(&b2["x.grad after zeroing"])
        ),
        (5.0, 2.0)
    );
    let b3 = block(&t, "leaves");
    for name in ["w", "x"] {
        assert_eq!(b3[format!("{name}.is_leaf")], true);
    }
    for name in ["a", "b", "y"] {
        assert_eq!(b3[format!("{name}.is_leaf")], false);
        assert_eq!(b3[format!("{name}.requires_grad")], true);
    }
    // .grad is read from each tensor, leaf or not: the leaves' values, None for the non-leaves,
    // and a non-leaf's own gradient once it asked for it with retain_grad() (dy/da = b = 2).
    let values = b3.as_object().unwrap();
    assert_eq!(
        (first(&values["w.grad"]), first(&values["x.grad"])),
        (5.0, 2.0)
    );
    for name in ["a", "b", "y"] {
        assert_eq!(values[&format!("{name}.grad")], Value::Null, "{name}.grad");
    }
    assert_eq!(first(&values["a.grad with retain_grad"]), 2.0);
    assert_eq!(values["b.grad without"], Value::Null);
    let err = block(&t, "in_place_error")["in_place_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("leaf Variable that requires grad"), "{err}");
    let err = block(&t, "retain_graph")["second_backward_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("backward through the graph a second time"),
        "{err}"
    );
    let b6 = block(&t, "grad_tensors");
    assert_eq!((first(&b6["w.grad"]), first(&b6["x.grad"])), (9.0, 4.0));
    let b7 = block(&t, "create_graph");
    assert_eq!(
        (first(&b7["d1"]), first(&b7["d2"]), first(&b7["d3"])),
        (12.0, 12.0, 6.0)
    );
    // The same trace as PyTorch's, value for value.
    let mut py = python_trace(&["autograd_demo"]);
    let mut rs = t.clone();
    py["torch_version"] = Value::Null;
    rs["torch_version"] = Value::Null;
    assert_eq!(rs, py);
}

#[test]
fn fc_demo_gradients_match_the_hand_derivation_and_pytorch_bit_for_bit() {
    let rs = trace(FC, &[]);
    let py = python_trace(&["fc_demo"]);
    let (rb, pb) = (block(&rs, "backward_pass"), block(&py, "backward_pass"));
    for name in ["weight.grad", "bias.grad"] {
        let autograd = nums(&rb[name]);
        let hand = nums(&rb[format!("{name} by hand").as_str()]);
        for (a, h) in autograd.iter().zip(&hand) {
            assert!(
                (a - h).abs() <= 1e-5 * (1.0 + h.abs()),
                "{name}: {a} vs {h}"
            );
        }
        let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(autograd),
            bits(nums(&pb[name])),
            "{name} differs from PyTorch's"
        );
    }
    // bias.grad = 2/n (out - t) with n = 2, from the printed output itself.
    let out = nums(&block(&rs, "forward_pass")["output"]);
    let gb = nums(&rb["bias.grad"]);
    assert!((gb[0] - (out[0] - 4.0)).abs() < 1e-6 && (gb[1] - (out[1] - 5.0)).abs() < 1e-6);
    assert_eq!(block(&rs, "sgd_step")["step close"], true);
}

#[test]
fn fc_demo_steps_train_the_layer() {
    let t = trace(FC, &["--steps", "20"]);
    let losses = nums(&block(&t, "training")["losses"]);
    assert_eq!(losses.len(), 19);
    assert!(losses.last().unwrap() < &losses[0]);
}

#[test]
fn demos_reject_bad_input() {
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (FC, &["--steps", "0"], 2, "--steps"),
        (FC, &["--steps", "-1"], 2, "--steps"),
        (FC, &["--lr", "nan"], 2, "--lr"),
        (FC, &["--bogus"], 2, "--bogus"),
        (FC, &["--device", "npu"], 2, "unknown device"),
        (AUTOGRAD, &["--steps", "3"], 2, "--steps"),
        (AUTOGRAD, &["--device", "cuda:abc"], 2, "unknown device"),
        (
            AUTOGRAD,
            &["--json", "/nonexistent-folder/x.json"],
            1,
            "cannot write",
        ),
    ];
    for (bin, args, code, needle) in cases {
        assert_clean_failure(&run(bin, args), *code, needle, &format!("{bin} {args:?}"));
    }
    if tch::Cuda::device_count() == 0 {
        for bin in [FC, AUTOGRAD] {
            assert_clean_failure(&run(bin, &["--device", "cuda"]), 1, "no CUDA device", bin);
        }
    }
}

/// A Hessian-vector product through `autograd::backward(create_graph=true)` with a grad tensor
/// that itself requires grad: the result depends on it exactly as in `torch.autograd.backward`,
/// bit for bit against PyTorch, and the grad tensor's own `.grad` is left alone.
#[test]
fn backward_keeps_the_dependence_on_a_grad_tensor_that_requires_grad() {
    use lesson_torch::nn::autograd::{backward, grad, grad_of, Backward, Grad};
    use tch::Tensor;
    let x = Tensor::from_slice(&[0.5f32, -1.25, 2.0]).set_requires_grad(true);
    let v = Tensor::from_slice(&[1.5f32, 0.25, -0.75]).set_requires_grad(true);
    let f = (x.sin() * x.exp()).sum(None::<tch::Kind>)
        + x.select(0, 0) * x.select(0, 1) * x.select(0, 2);
    let g = grad(&[&f], &[&x], Grad::new().create_graph(true))
        .unwrap()
        .remove(0);
    backward(&[&g], Backward::new().grad_tensors([&v]).create_graph(true)).unwrap();
    let hv = grad_of(&x).unwrap();
    assert!(hv.requires_grad(), "x.grad = H v is differentiable");
    let s = hv.sum(None::<tch::Kind>);
    let dv = grad(&[&s], &[&v], Grad::new().create_graph(true))
        .unwrap()
        .remove(0); // d(sum H v)/dv = H^T 1
    let dx = grad(&[&s], &[&x], Grad::new()).unwrap().remove(0); // the third derivatives along v
    assert!(
        !grad_of(&v).unwrap().defined(),
        "v.grad stays None, as in PyTorch"
    );
    let values = |t: &Tensor| {
        Vec::<f32>::try_from(t.detach())
            .unwrap()
            .iter()
            .map(|&x| x as f64)
            .collect::<Vec<_>>()
    };
    let py = python_eval(
        "import json, warnings, torch\nwarnings.simplefilter('ignore')\n\
         x = torch.tensor([0.5, -1.25, 2.0], requires_grad=True)\n\
         v = torch.tensor([1.5, 0.25, -0.75], requires_grad=True)\n\
         f = (x.sin() * x.exp()).sum() + x[0] * x[1] * x[2]\n\
         (g,) = torch.autograd.grad(f, x, create_graph=True)\n\
         torch.autograd.backward([g], grad_tensors=[v], create_graph=True)\n\
         hv = x.grad\ns = hv.sum()\n\
         (dv,) = torch.autograd.grad(s, v, create_graph=True)\n(dx,) = torch.autograd.grad(s, x)\n\
         print(json.dumps([t.double().tolist() for t in (hv, dv, dx)] + [v.grad is None]))",
    );
    let py: Value = serde_json::from_str(py.trim()).unwrap();
    let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (i, (name, t)) in [("H v", &hv), ("d(sum H v)/dv", &dv), ("d(sum H v)/dx", &dx)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            bits(values(t)),
            bits(nums(&py[i])),
            "{name} differs from PyTorch's"
        );
    }
    assert_eq!(py[3], true);
    // By hand, for the cross term alone: H v has (x1 x2)' terms; the sum over H's columns of
    // x0 x1 x2 is (x1 + x2, x0 + x2, x0 + x1) = (0.75, 2.5, -0.75) plus the diagonal of sin*exp.
    let diag: Vec<f64> = [0.5f64, -1.25, 2.0]
        .iter()
        .map(|&a| 2.0 * a.cos() * a.exp())
        .collect();
    let expected = [0.75 + diag[0], 2.5 + diag[1], -0.75 + diag[2]];
    for (got, want) in values(&dv).iter().zip(expected) {
        assert!(
            (got - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{got} vs {want}"
        );
    }
}
