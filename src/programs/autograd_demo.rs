//! The lesson's autograd section (3), step by step: the graph `y = (w + x) * (w + 1)`,
//! accumulation, leaves, in-place errors, `retain_graph`, `grad_tensors`, `create_graph`, and
//! the computation graph itself as libtorch records it.
//! `scripts/reference.py autograd_demo` runs the same steps in Python.
use crate::io::report::{fmt_tensor, py_bool, Block, Report};
use crate::io::trace::tensor_json;
use crate::lesson::autograd;
use crate::nn::autograd::grad_of;
use crate::nn::graph::Graph as AutogradGraph;
use anyhow::Result;
use serde_json::{json, Value};
use tch::{Device, Tensor};

const D: usize = 4;

fn show(t: &Tensor) -> String {
    fmt_tensor(t, D)
}

/// `.grad` as Python prints it: the values, or `None`.
fn show_grad(t: &Tensor) -> String {
    let g = t.grad();
    if g.defined() {
        show(&g)
    } else {
        "None".to_string()
    }
}

/// A tensor's `.grad`, leaf or not, read from the tensor: the text (`None` when undefined, as
/// Python prints it) and the trace value (`null`).
fn read_grad(t: &Tensor) -> Result<(String, Value)> {
    let g = grad_of(t)?;
    Ok(if g.defined() {
        (show(&g), tensor_json(&g))
    } else {
        ("None".to_string(), Value::Null)
    })
}

/// The lesson's graph on fresh leaves `w = [1.]`, `x = [2.]`.
struct Graph {
    w: Tensor,
    x: Tensor,
    a: Tensor,
    b: Tensor,
    y: Tensor,
}

impl Graph {
    /// [`autograd::graph`].
    fn new(device: Device) -> Result<Self> {
        let [w, x, a, b, y] = autograd::graph(device)?;
        Ok(Self { w, x, a, b, y })
    }

    fn record_grads(&self, block: &mut Block, suffix: &str) {
        record_grads(block, &self.w, &self.x, suffix);
    }
}

/// `w.grad` and `x.grad`, in the text and the trace.
fn record_grads(block: &mut Block, w: &Tensor, x: &Tensor, suffix: &str) {
    block.line(format!("w.grad = {}", show_grad(w)));
    block.line(format!("x.grad = {}", show_grad(x)));
    block.tensor(&format!("w.grad{suffix}"), &w.grad());
    block.tensor(&format!("x.grad{suffix}"), &x.grad());
}

/// Runs every step and returns the report; libtorch errors that a step provokes on purpose are
/// shown in the text, any other error is returned.
pub fn walkthrough(device: Device) -> Result<Report> {
    Ok(walkthrough_with_graphs(device)?.0)
}

/// The two graphs that block 8 shows, for `autograd_demo --graph`: the lesson's, and the graph
/// of the derivative of `x^3` that `create_graph=True` records.
pub struct Graphs {
    /// The graph of the lesson's `y`: `y.grad_fn` and its `next_functions`.
    pub lesson: AutogradGraph,
    /// The graph of `d1 = torch.autograd.grad(y, x, create_graph=True)[0]` for `y = x ** 3`.
    pub derivative: AutogradGraph,
}

/// The captions of the two graphs, in the text and in the picture.
pub const LESSON_GRAPH: &str = "y = (w + x) * (w + 1)";
/// The caption of the derivative's graph.
pub const DERIVATIVE_GRAPH: &str = "d1 = dy/dx of y = x ** 3, with create_graph=True";

/// The names of the walkthrough's blocks in order: each is the function (here and in
/// `scripts/reference.py`) that makes the block.
pub const BLOCKS: [&str; 8] = [
    "lesson_graph",
    "accumulation",
    "leaves",
    "in_place_error",
    "retain_graph",
    "grad_tensors",
    "create_graph",
    "computation_graph",
];

/// [`walkthrough`], with the graphs it shows: the blocks in the order of [`BLOCKS`].
pub fn walkthrough_with_graphs(device: Device) -> Result<(Report, Graphs)> {
    let mut report = Report::new("autograd_demo", device, json!({}));
    let g = Graph::new(device)?;
    report.push(lesson_graph(&g)?);
    report.push(accumulation(&g)?);
    report.push(leaves(&g, device)?);
    report.push(in_place_error(&g));
    report.push(retain_graph(device)?);
    report.push(grad_tensors(device)?);
    report.push(create_graph(device)?);
    let (block, graphs) = computation_graph(device)?;
    report.push(block);
    Ok((report, graphs))
}

/// 1. The lesson's graph.
fn lesson_graph(g: &Graph) -> Result<Block> {
    let mut block = Block::new("1. The lesson's graph: y = (w + x) * (w + 1)");
    block
        .line(format!(
            "w = {}, x = {} (leaves, requires_grad=True)",
            show(&g.w),
            show(&g.x)
        ))
        .line(format!("a = torch.add(w, x) = {}", show(&g.a)))
        .line(format!("b = torch.add(w, 1) = {}", show(&g.b)))
        .line(format!("y = torch.mul(a, b) = {}", show(&g.y)))
        .line("y.backward(retain_graph=True)")
        .tensor("y", &g.y);
    autograd::backward(&g.y)?;
    g.record_grads(&mut block, "");
    block.line("dy/dw = b + a = 2 + 3 = 5, dy/dx = b = 2");
    Ok(block)
}

/// 2. Accumulation.
fn accumulation(g: &Graph) -> Result<Block> {
    let mut block = Block::new("2. Gradients accumulate: backward does not zero them");
    block.line("y.backward(retain_graph=True) again, on the retained graph");
    autograd::accumulate(&g.y)?;
    g.record_grads(&mut block, " after 2 passes");
    block.line("w.grad.zero_(); x.grad.zero_(); y.backward(retain_graph=True)");
    autograd::zero_grad(&g.w, &g.x);
    autograd::backward(&g.y)?;
    g.record_grads(&mut block, " after zeroing");
    Ok(block)
}

/// 3. Leaves and non-leaves.
fn leaves(g: &Graph, device: Device) -> Result<Block> {
    let mut block = Block::new("3. Leaves and non-leaves");
    block.line("name  is_leaf  requires_grad  grad");
    let nodes = [
        ("w", &g.w),
        ("x", &g.x),
        ("a", &g.a),
        ("b", &g.b),
        ("y", &g.y),
    ];
    for ((name, leaf, requires_grad), (_, t)) in
        autograd::requires_grad(&nodes).into_iter().zip(nodes)
    {
        // Read from the tensor itself, leaf or not: a non-leaf's .grad is undefined (None)
        // unless retain_grad() was called before backward.
        let (shown, value) = read_grad(t)?;
        block.line(format!(
            "{name:<5} {:<8} {:<14} {shown}",
            py_bool(leaf),
            py_bool(requires_grad)
        ));
        block.value(&format!("{name}.is_leaf"), json!(leaf));
        block.value(&format!("{name}.requires_grad"), json!(requires_grad));
        block.value(&format!("{name}.grad"), value);
    }
    block.line("a, b and y require grad because they depend on a leaf that does;");
    block.line("only leaves keep .grad after backward (non-leaves need retain_grad()).");
    let (a, b) = autograd::retain_grad(device)?;
    let ((a_shown, a_value), (b_shown, b_value)) = (read_grad(&a)?, read_grad(&b)?);
    block.line(format!(
        "on a fresh graph, a.retain_grad(); y.backward(): a.grad = {a_shown} (dy/da = b = 2), b.grad = {b_shown}"
    ));
    block
        .value("a.grad with retain_grad", a_value)
        .value("b.grad without", b_value);
    Ok(block)
}

/// 4. In-place change of a leaf.
fn in_place_error(g: &Graph) -> Block {
    let mut block = Block::new("4. A leaf that requires grad cannot be changed in place");
    let outcome = match autograd::add_in_place(&g.w) {
        Ok(()) => "no error".to_string(),
        Err(e) => format!("RuntimeError: {}", crate::torch_message(&e)),
    };
    block.line("w.add_(1)").line(format!("-> {outcome}"));
    block.line(format!("w is unchanged: {}", show(&g.w)));
    block
        .value("in_place_error", json!(outcome))
        .tensor("w after", &g.w);
    block
}

/// 5. retain_graph.
fn retain_graph(device: Device) -> Result<Block> {
    let mut block = Block::new(
        "5. retain_graph: a graph is freed by the backward pass that does not retain it",
    );
    block.line(
        "y = (w + x) * (w + 1); y.backward()  # retain_graph defaults to create_graph, here False",
    );
    let second = match autograd::retain_graph(device)? {
        Ok(()) => "no error".to_string(),
        Err(e) => format!("RuntimeError: {e}"),
    };
    block.line("y.backward()").line(format!("-> {second}"));
    block.value("second_backward_error", json!(second));
    Ok(block)
}

/// 6. grad_tensors.
fn grad_tensors(device: Device) -> Result<Block> {
    let mut block = Block::new("6. grad_tensors: several outputs in one pass, weighted");
    let [w, x, y0, y1] = autograd::grad_tensors(device)?;
    block
        .line(format!(
            "y0 = a * b = {}, y1 = a + b = {}",
            show(&y0),
            show(&y1)
        ))
        .line("torch.autograd.backward([y0, y1], grad_tensors=[tensor([1.]), tensor([2.])])");
    record_grads(&mut block, &w, &x, "");
    block.line("w.grad = 1 * 5 + 2 * 2 = 9, x.grad = 1 * 2 + 2 * 1 = 4");
    Ok(block)
}

/// 7. create_graph.
fn create_graph(device: Device) -> Result<Block> {
    let mut block = Block::new("7. create_graph: higher-order derivatives of y = x^3 at x = 2");
    // torch.autograd.grad rather than backward(create_graph=True): the latter stores a
    // gradient that refers back to x in x.grad, a reference cycle that PyTorch warns about.
    let [x, y, d1] = autograd::create_graph(device)?;
    let [d2, d3] = autograd::higher_order(&x, &d1)?;
    block
        .line(format!("y = x ** 3 = {}", show(&y)))
        .line(format!(
            "d1 = torch.autograd.grad(y, x, create_graph=True) = {} (3x^2), d1.requires_grad = {}",
            show(&d1),
            py_bool(d1.requires_grad())
        ));
    block.line(format!(
        "d2 = torch.autograd.grad(d1, x, create_graph=True) = {} (6x)",
        show(&d2)
    ));
    block.line(format!(
        "d3 = torch.autograd.grad(d2, x) = {} (6)",
        show(&d3)
    ));
    block.line("create_graph=True records the backward pass itself, so its result can be differentiated again;");
    block.line("backward(y, create_graph=True) does the same into x.grad (and PyTorch warns of a reference cycle).");
    block.tensor("d1", &d1).tensor("d2", &d2).tensor("d3", &d3);
    Ok(block)
}

/// 8. The graphs themselves.
fn computation_graph(device: Device) -> Result<(Block, Graphs)> {
    let mut block = Block::new(
        "8. The computation graph, read from libtorch (grad_fn.next_functions): gradients flow along ->",
    );
    let g8 = Graph::new(device)?;
    let lesson = AutogradGraph::of(
        &[("y", &g8.y)],
        &[("w", &g8.w), ("x", &g8.x), ("a", &g8.a), ("b", &g8.b)],
    )?;
    let [x, y, d1] = autograd::create_graph(device)?;
    let derivative = AutogradGraph::of(&[("d1", &d1)], &[("x", &x), ("y", &y)])?;
    for (caption, graph, key) in [
        (LESSON_GRAPH, &lesson, "graph y"),
        (DERIVATIVE_GRAPH, &derivative, "graph d1"),
    ] {
        block.line(format!(
            "{caption}: {} nodes, {} edges",
            graph.nodes.len(),
            graph.edges.len()
        ));
        for line in graph.lines() {
            block.line(format!("  {line}"));
        }
        block.value(key, graph.to_json());
    }
    block.line("AccumulateGrad (w) is reached from both AddBackward0 nodes: w's gradient is the sum of both paths;");
    block.line("None is an input that gets no gradient (the constant 1, the incoming gradient of d1's graph).");
    Ok((block, Graphs { lesson, derivative }))
}
