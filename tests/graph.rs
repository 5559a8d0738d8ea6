//! The autograd graph read from libtorch (src/nn/graph.rs) against PyTorch's own `grad_fn` and
//! `next_functions`, on graphs of several shapes built the same way on both sides.
mod common;
use common::*;
use lesson_torch::nn::autograd::retain_grad;
use lesson_torch::nn::graph::{Graph, NodeKind};
use serde_json::Value;
use tch::{Kind, Tensor};

fn leaf(values: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values)
        .view(shape)
        .set_requires_grad(true)
}

type Named = Vec<(&'static str, Tensor)>;

/// The shapes, each as (outputs, named tensors); PYTHON below builds the same ones.
fn shapes() -> Vec<(&'static str, Named, Named)> {
    let mut out = Vec::new();

    // The lesson's graph: a branch (w feeds both additions), a constant operand (None).
    let (w, x) = (leaf(&[1.0], &[1]), leaf(&[2.0], &[1]));
    let a = &w + &x;
    let b = &w + Tensor::from(1.0f32); // torch.add(w, 1): the 1 is a tensor operand
    let y = &a * &b;
    out.push((
        "lesson",
        vec![("y", y)],
        vec![("w", w), ("x", x), ("a", a), ("b", b)],
    ));

    // The same with a Scalar operand (aten::add.Scalar): AddBackward1, one edge only.
    let w = leaf(&[1.0], &[1]);
    let b = &w + 1.0;
    out.push(("scalar operand", vec![("b", b)], vec![("w", w)]));

    // A shared leaf: both inputs of one multiplication are w.
    let w = leaf(&[3.0], &[1]);
    let z = &w * &w;
    out.push(("shared leaf", vec![("z", z)], vec![("w", w)]));

    // A detached input: c requires grad, but c.detach() has no history.
    let (w, c) = (leaf(&[1.0, 2.0], &[2]), leaf(&[3.0, 4.0], &[2]));
    let z = (&w * c.detach()).sum(None::<Kind>);
    out.push(("detached input", vec![("z", z)], vec![("w", w), ("c", c)]));

    // A non-leaf that retains its grad, used twice.
    let w = leaf(&[0.5, -1.0], &[2]);
    let a = w.exp();
    retain_grad(&a).unwrap();
    let y = (&a * &a).sum(None::<Kind>);
    out.push((
        "retained non-leaf",
        vec![("y", y)],
        vec![("w", w), ("a", a)],
    ));

    // Two outputs sharing a matmul, a transpose and a node with several outputs (unbind).
    let x = leaf(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let m = leaf(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[3, 2]);
    let h = x.matmul(&m);
    let o1 = h.sigmoid().sum(None::<Kind>);
    let mut parts = h.unbind(0);
    let (p1, p0) = (parts.pop().unwrap(), parts.pop().unwrap());
    let o2 = h.tr().mean(None::<Kind>) + p0.sum(None::<Kind>) * p1.sum(None::<Kind>);
    // p0 and p1 share one UnbindBackward0: the first name given wins.
    out.push((
        "two outputs",
        vec![("o1", o1), ("o2", o2)],
        vec![("x", x), ("m", m), ("h", h), ("p0", p0), ("p1", p1)],
    ));

    // An output that is a leaf: no grad_fn at all.
    let w = leaf(&[1.0], &[1]);
    out.push((
        "leaf output",
        vec![("w", w.shallow_clone())],
        vec![("w", w)],
    ));
    out
}

const PYTHON: &str = r#"
import json, sys, torch
sys.path.insert(0, "scripts")
import reference

def leaf(values, shape):
    return torch.tensor(values).view(shape).requires_grad_(True)

def shapes():
    out = []
    w, x = leaf([1.], [1]), leaf([2.], [1])
    a = torch.add(w, x); b = torch.add(w, 1); y = torch.mul(a, b)
    out.append(("lesson", [("y", y)], [("w", w), ("x", x), ("a", a), ("b", b)]))
    w = leaf([1.], [1])
    b = torch.ops.aten.add.Scalar(w, 1.0)
    out.append(("scalar operand", [("b", b)], [("w", w)]))
    w = leaf([3.], [1])
    out.append(("shared leaf", [("z", w * w)], [("w", w)]))
    w, c = leaf([1., 2.], [2]), leaf([3., 4.], [2])
    out.append(("detached input", [("z", (w * c.detach()).sum())], [("w", w), ("c", c)]))
    w = leaf([0.5, -1.], [2])
    a = w.exp(); a.retain_grad()
    out.append(("retained non-leaf", [("y", (a * a).sum())], [("w", w), ("a", a)]))
    x = leaf([1., 2., 3., 4., 5., 6.], [2, 3]); m = leaf([.1, .2, .3, .4, .5, .6], [3, 2])
    h = x.matmul(m)
    p0, p1 = h.unbind(0)
    o1 = h.sigmoid().sum(); o2 = h.t().mean() + p0.sum() * p1.sum()
    out.append(("two outputs", [("o1", o1), ("o2", o2)], [("x", x), ("m", m), ("h", h), ("p0", p0), ("p1", p1)]))
    w = leaf([1.], [1])
    out.append(("leaf output", [("w", w)], [("w", w)]))
    return out

def canon(outputs, named):
    """PyTorch's own view, independent of reference.py: every grad_fn breadth first, its class
    name, its next_functions (by position in that order, None as None), the leaf it feeds."""
    order, queue = [], [t.grad_fn for _, t in outputs if t.grad_fn is not None]
    while queue:
        f = queue.pop(0)
        if any(f is g for g in order):
            continue
        order.append(f)
        queue += [n for n, _ in f.next_functions if n is not None]
    index = lambda f: next(i for i, g in enumerate(order) if g is f)
    lines = []
    for f in order:
        nexts = ["None" if n is None else str(index(n)) for n, _ in f.next_functions]
        line = "%s [%s]" % (type(f).__name__, ", ".join(nexts))
        if hasattr(f, "variable"):
            line += " leaf=" + next((n for n, t in named if t is f.variable), "?")
        lines.append(line)
    return lines

result = {}
for name, outputs, named in shapes():
    g = reference.autograd_graph(outputs, named)
    result[name] = {"canon": canon(outputs, named), "lines": reference.graph_lines(g), "graph": g}
    if name == "retained non-leaf":
        outputs[0][1].backward()
        a = dict(named)["a"]
        result[name]["a.grad"] = a.grad.double().tolist()
print(json.dumps(result))
"#;

/// The same canonical form from our graph: operations in walk order, their edges in order.
fn canon(g: &Graph) -> Vec<String> {
    let ops: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].kind == NodeKind::Operation)
        .collect();
    let ordinal = |i: usize| ops.iter().position(|&o| o == i).unwrap();
    ops.iter()
        .map(|&i| {
            let mut nexts = Vec::new();
            let mut leaf = None;
            for e in g.edges.iter().filter(|e| e.from == i) {
                match e.to {
                    None => nexts.push("None".to_string()),
                    Some(t) if g.nodes[t].kind == NodeKind::Leaf => {
                        leaf = Some(g.nodes[t].name.clone())
                    }
                    Some(t) => nexts.push(ordinal(t).to_string()),
                }
            }
            let mut line = format!("{} [{}]", g.nodes[i].name, nexts.join(", "));
            if let Some(l) = leaf {
                line += &format!(" leaf={l}");
            }
            line
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn graphs_of_several_shapes_match_pytorch_next_functions() {
    let python: Value = serde_json::from_str(&python_eval(PYTHON)).unwrap();
    let shapes = shapes();
    assert_eq!(shapes.len(), python.as_object().unwrap().len());
    for (name, outputs, named) in &shapes {
        let outs: Vec<(&str, &Tensor)> = outputs.iter().map(|(n, t)| (*n, t)).collect();
        let nm: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (*n, t)).collect();
        let g = Graph::of(&outs, &nm).unwrap();
        let py = &python[*name];
        assert_eq!(canon(&g), strings(&py["canon"]), "{name}: next_functions");
        assert_eq!(g.lines(), strings(&py["lines"]), "{name}: graph text");
        assert_eq!(g.to_json(), py["graph"], "{name}: graph in the trace");
    }

    // What PyTorch says, spelled out for the shapes the lesson is about.
    let by_name = |n: &str| &python[n]["canon"];
    assert_eq!(
        strings(by_name("lesson")),
        [
            "MulBackward0 [1, 2]",
            "AddBackward0 [3, 4]",
            "AddBackward0 [3, None]",
            "AccumulateGrad [] leaf=w",
            "AccumulateGrad [] leaf=x",
        ]
    );
    assert_eq!(
        strings(by_name("scalar operand")),
        ["AddBackward1 [1]", "AccumulateGrad [] leaf=w"]
    );
    assert_eq!(
        strings(by_name("shared leaf")),
        ["MulBackward0 [1, 1]", "AccumulateGrad [] leaf=w"]
    );
    assert_eq!(
        strings(by_name("detached input")),
        [
            "SumBackward0 [1]",
            "MulBackward0 [2, None]",
            "AccumulateGrad [] leaf=w"
        ]
    );
    assert!(strings(by_name("leaf output")).is_empty());
    let lines = strings(&python["two outputs"]["lines"]);
    assert!(lines.contains(&"SumBackward0 #2 -> UnbindBackward0 (p0)".to_string()));
    let lines = strings(&python["retained non-leaf"]["lines"]);
    assert!(lines.contains(&"MulBackward0 -> ExpBackward0 (a)".to_string()));

    // The retained non-leaf keeps its gradient, bit for bit PyTorch's (2a).
    let (_, outputs, named) = &shapes[4];
    let a = &named[1].1;
    assert!(a.retains_grad());
    lesson_torch::nn::autograd::backward_scalar(&outputs[0].1, false).unwrap();
    let grad: Vec<f64> = Vec::try_from(a.grad().to_kind(Kind::Double)).unwrap();
    let expected: Vec<f64> = python["retained non-leaf"]["a.grad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(grad, expected);
}

#[test]
fn retain_grad_of_a_constant_is_an_error() {
    let c = Tensor::from_slice(&[1.0f32]);
    let err = retain_grad(&c).unwrap_err().to_string();
    assert!(err.contains("requires_grad=False"), "{err}");
    assert!(!err.contains('\n'));
}

const AUTOGRAD: &str = env!("CARGO_BIN_EXE_autograd_demo");

#[test]
fn the_programs_graph_text_is_pythons() {
    let rust = run(AUTOGRAD, &["--graph", "-"]);
    let python = reference(&["autograd_demo", "--graph", "-"]);
    assert!(rust.status.success(), "{}", text(&rust.stderr));
    assert!(python.status.success(), "{}", text(&python.stderr));
    let rust = text(&rust.stdout);
    assert_eq!(rust, text(&python.stdout));
    assert!(rust.contains("\n  AddBackward0 (b) -> None\n"), "{rust}");
    assert!(
        rust.contains("\n  MulBackward1 -> PowBackward0\n"),
        "{rust}"
    );
    // The whole walkthrough ends with the same block.
    let full = text(&run(AUTOGRAD, &[]).stdout);
    assert!(full.ends_with(&rust), "{full}");
}

#[test]
fn graph_pictures_are_drawn_and_bad_paths_fail_before_any_work() {
    let dir = temp_dir();
    for name in ["g.svg", "g.png", "G.PNG"] {
        let path = dir.join(name);
        let out = run(AUTOGRAD, &["--graph", path.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with("svg") {
            let svg = String::from_utf8(bytes).unwrap();
            for label in [
                "MulBackward0",
                "AccumulateGrad",
                "PowBackward0",
                "adds into w.grad",
            ] {
                assert!(svg.contains(label), "{label} missing from the SVG");
            }
            // a and b, left to right, as the text lists MulBackward0's inputs.
            let x_of = |label: &str| -> f64 {
                let end = svg.find(&format!(">{label}</text>")).unwrap();
                let start = svg[..end].rfind("<text x=\"").unwrap() + "<text x=\"".len();
                let value = &svg[start..];
                value[..value.find('"').unwrap()].parse().unwrap()
            };
            assert!(
                x_of("a.grad_fn") < x_of("b.grad_fn"),
                "b is drawn left of a"
            );
        } else {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
            assert!(bytes.len() > 20_000, "{name}: {} bytes", bytes.len());
        }
    }
    assert_no_temp_files(&dir);
    // A link to a device is written in place, never replaced: /dev/null takes the picture,
    // /dev/full fails with one line once the picture is drawn.
    let null = dir.join("null.svg");
    let full = dir.join("full.png");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let out = run(AUTOGRAD, &["--graph", null.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(&null)
        .unwrap()
        .file_type()
        .is_symlink());
    let out = run(AUTOGRAD, &["--graph", full.to_str().unwrap()]);
    assert_clean_failure(&out, 1, "No space left", "/dev/full");
    assert!(std::fs::symlink_metadata(&full)
        .unwrap()
        .file_type()
        .is_symlink());

    let missing = dir.join("no/such/folder/g.png");
    let a_dir = dir.join("folder.svg");
    std::fs::create_dir_all(&a_dir).unwrap();
    let png = dir.join("cuda.png");
    let slash = format!("{}/", dir.join("g.svg").display());
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--graph", "g.jpg"], 2, "unknown extension '.jpg'"),
        (vec!["--graph", "graph"], 2, "no extension"),
        (vec!["--graph"], 2, "--graph"),
        (vec!["--graph", "-", "--json", "-"], 2, "cannot both write to stdout"),
        (vec!["--graph", missing.to_str().unwrap()], 1, "cannot write"),
        (vec!["--graph", a_dir.to_str().unwrap()], 1, "not a file path"),
        (vec!["--graph", "/dev/full"], 2, "no extension"),
        (vec!["--graph", &slash], 1, "not a file path"),
    ];
    let mut cases = cases;
    if tch::Cuda::device_count() == 0 {
        cases.push((
            vec!["--device", "cuda", "--graph", png.to_str().unwrap()],
            1,
            "no CUDA device",
        ));
    }
    for (args, code, needle) in cases {
        let out = run(AUTOGRAD, &args);
        assert_clean_failure(&out, code, needle, &format!("{args:?}"));
        assert!(
            out.stdout.is_empty(),
            "{args:?}: work was done before the error"
        );
    }
    assert!(!png.exists(), "no picture without a device");
    let python = reference(&["autograd_demo", "--graph", "g.svg"]);
    assert_eq!(python.status.code(), Some(2), "{}", text(&python.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A graph of `n` chained additions (a small model's backward graph is a few thousand nodes).
fn chain(n: usize) -> lesson_torch::nn::graph::Graph {
    let x = tch::Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let mut y = x.shallow_clone();
    for _ in 0..n {
        y = &y + &x;
    }
    lesson_torch::nn::graph::Graph::of(&[("y", &y)], &[("x", &x)]).unwrap()
}

/// Drawing is bounded: a 5,000-node graph is refused at once, naming the limit; the largest
/// graph that is drawn is drawn (its time printed, not asserted); `Graph::of` stays linear.
#[test]
fn a_large_graph_is_refused_at_once_and_the_largest_drawn_is_drawn() {
    use lesson_torch::io::graph_plot::{svg, MAX_NODES};
    let big = chain(5000);
    assert!(big.nodes.len() > 5000);
    let err = svg("big", &[("y", &big)]).unwrap_err().to_string();
    assert!(err.contains(&format!("more than the {MAX_NODES}")), "{err}");
    // chain(n) has n AddBackward0 nodes, x's AccumulateGrad, x and y.
    let largest = chain(MAX_NODES - 3);
    assert_eq!(largest.nodes.len(), MAX_NODES);
    let start = std::time::Instant::now();
    let picture = svg("largest", &[("y", &largest)]).unwrap();
    eprintln!(
        "graph_plot: {MAX_NODES} nodes drawn in {:?}",
        start.elapsed()
    );
    assert!(picture.matches("AddBackward0").count() >= MAX_NODES - 3);
}
